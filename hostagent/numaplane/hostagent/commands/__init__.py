"""Applying the controller's commands: fenced by epoch, at most once per id.

`executor` dispatches each command to its handler and records the result in the
`applied_log` (kept in the state directory across restarts); `long_commands` runs
migrations once across restarts with progress; `vm`, `moves` and `balloon` are the
handlers, each over the part of the host driver it needs.
"""
