"""Code both sides share: the domain model of hosts and VMs, units, settings loading.

`common` imports neither `controller` nor `hostagent` (enforced by .importlinter).
"""
