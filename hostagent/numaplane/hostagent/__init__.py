"""The numaplane host agent: observes a hypervisor host and executes commands.

`hostagent` never imports `controller` (enforced by .importlinter).
"""

__version__ = "0.1.0"
