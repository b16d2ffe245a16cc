"""The etcd keyspace, in one place (README.md keeps a copy: keep them equal).

    /numaplane/v1/hosts/<host>/info       topology, capabilities, agent version   (on Hello)
    /numaplane/v1/hosts/<host>/alive      bound to a lease: the host is up while it exists
    /numaplane/v1/hosts/<host>/status     last report summary (material changes, rate-limited)
    /numaplane/v1/hosts/<host>/schedule   operator's cordon/drain state (absent = schedulable)
    /numaplane/v1/vms/<vm>/status         observed: host, memory per node, vCPUs, locality, balloon
    /numaplane/v1/vms/<vm>/spec           desired: size, constraints, policy (admin CreateVm)
    /numaplane/v1/vms/<vm>/placement      the reconciler's decision and its state, with reasons
    /numaplane/v1/vms/<vm>/balloon        operator's balloon intent of a VM without a spec
    /numaplane/v1/claims/<host>/<vm>      memory reserved per node between decision and observation
                                          (a start's, or a live migration's on its target host)
    /numaplane/v1/ledgers/<host>          CAS guard rewritten by every claim made on the host
    /numaplane/v1/commands/<host>/<id>    journal: command, epoch, state
                                          (pending/sent/applied/failed)
    /numaplane/v1/requests/<id>           operator requests for a command, turned into commands
                                          by the leader
    /numaplane/v1/moves/<vm>              the last move journaled for a VM (rebalancer or operator):
                                          what its cool-down counts from
    /numaplane/v1/rebalance/now           an operator's `rebalance now`; the leader runs a pass
    /numaplane/v1/leader                  election key; its create revision is the fencing epoch
    /numaplane/v1/config/policy           cluster-wide policy knobs
"""

from __future__ import annotations

import re

ROOT = "/numaplane/v1/"
HOSTS = ROOT + "hosts/"
VMS = ROOT + "vms/"
COMMANDS = ROOT + "commands/"
REQUESTS = ROOT + "requests/"
LEADER = ROOT + "leader"
POLICY = ROOT + "config/policy"
CLAIMS = ROOT + "claims/"
LEDGERS = ROOT + "ledgers/"
MOVES = ROOT + "moves/"
REBALANCE_NOW = ROOT + "rebalance/now"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def valid_name(name: str) -> bool:
    """Host and VM names become key segments: no slashes, bounded length."""
    return bool(_NAME.match(name))


def host_info(host: str) -> str:
    return f"{HOSTS}{host}/info"


def host_alive(host: str) -> str:
    return f"{HOSTS}{host}/alive"


def host_status(host: str) -> str:
    return f"{HOSTS}{host}/status"


def vm_status(vm: str) -> str:
    return f"{VMS}{vm}/status"


def host_schedule(host: str) -> str:
    return f"{HOSTS}{host}/schedule"


def vm_spec(vm: str) -> str:
    return f"{VMS}{vm}/spec"


def vm_placement(vm: str) -> str:
    return f"{VMS}{vm}/placement"


def vm_balloon(vm: str) -> str:
    return f"{VMS}{vm}/balloon"


def claim(host: str, vm: str) -> str:
    return f"{CLAIMS}{host}/{vm}"


def ledger(host: str) -> str:
    return f"{LEDGERS}{host}"


def host_commands(host: str) -> str:
    return f"{COMMANDS}{host}/"


def command(host: str, command_id: str) -> str:
    return f"{COMMANDS}{host}/{command_id}"


def vm_move(vm: str) -> str:
    return f"{MOVES}{vm}"


def request(request_id: str) -> str:
    return f"{REQUESTS}{request_id}"


def split(key: str) -> tuple[str, ...]:
    """Segments after ROOT: hosts/h/info -> ("hosts", "h", "info")."""
    return tuple(key[len(ROOT) :].split("/")) if key.startswith(ROOT) else ()
