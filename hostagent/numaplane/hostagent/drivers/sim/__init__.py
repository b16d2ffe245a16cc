"""The simulated host: a real model of NUMA memory and vCPU placement, deterministic under a seed.

It is what the demo's agents, the scale tests and the benchmark harness run on, so it
models the behaviours that matter to placement: first-touch allocation that spills to the
nearest node, strict and preferred memory bindings, a least-loaded vCPU scheduler, memory
migration at a bandwidth, and a guest whose balloon can push it into swap.
"""

from numaplane.hostagent.drivers.sim.backend import SimBackend
from numaplane.hostagent.drivers.sim.binding import MemoryBinding
from numaplane.hostagent.drivers.sim.host import SimError, SimHost
from numaplane.hostagent.drivers.sim.spec import SimHostSpec, SimNodeSpec, SimSpecError
from numaplane.hostagent.drivers.sim.spec_dict import host_spec_from_dict, load_host_spec
from numaplane.hostagent.drivers.sim.vm import SimVmState

__all__ = [
    "MemoryBinding",
    "SimBackend",
    "SimError",
    "SimHost",
    "SimHostSpec",
    "SimNodeSpec",
    "SimSpecError",
    "SimVmState",
    "host_spec_from_dict",
    "load_host_spec",
]
