"""The `numaplane` command: a gRPC client of the controller's admin API.

One module per concern: `main` (the command tree and error policy), `session` and
`client` (the connection), `shapes` (messages as plain data for JSON/YAML), `tables`
and `topology_drawing` (what a person sees), and one `cmd_*` module per command family.
"""
