"""Observe: the agents' side of the controller.

The AgentLink servicer (`servicer`) checks a Hello and registers the host; the host's
`session` holds its stream (reports in, journaled commands out); `validation` checks every
message against the topology the agent announced; `ingest` writes what changed materially
to etcd, at a bounded rate. Nothing here decides: the leader's loops read what it wrote.
"""
