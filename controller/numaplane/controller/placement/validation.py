"""Checks on a CreateVm request, against the cluster as stored, before anything is written.

Everything an operator can get wrong is caught here with one sentence naming the value
and the rule, so that a bad `numaplane vm create` stores nothing and says exactly why.
Pure: the caller reads the hosts and VMs (`ClusterSnapshot`) and writes the spec.

Rules, in the order they are checked (the first failure is reported):

* the name is a valid key segment, and no VM by that name is specified or observed;
* 1 <= vcpus <= the most online CPUs any known host has (and, with a host, that host's,
  or its chosen nodes' when nodes are given): otherwise the VM could never be placed;
* memory > 0; reservation <= limit <= memory, where an unset limit is the memory size;
* nodes only with a host, each a node of that host, none repeated; the host is known;
* a group name is a valid name; an affinity rule needs a group and is `affinity` or
  `anti-affinity`;
* a policy, when named, is a registered placement policy.

Shares of 0 mean "not given" (proto3 cannot tell them apart) and become DEFAULT_SHARES.
"""

from __future__ import annotations

import time
from enum import Enum

from numaplane.common.units import format_size
from numaplane.controller.policy.placement import PLACEMENT_POLICIES
from numaplane.controller.state import keyspace
from numaplane.controller.state.snapshot import ClusterSnapshot
from numaplane.v1.admin_pb2 import CreateVmRequest
from numaplane.v1.state_pb2 import VmSpec

DEFAULT_SHARES = 1000
"""Balloon shares of a VM created without `--shares` (as VMware's "normal")."""

AFFINITIES = ("affinity", "anti-affinity")


class Refusal(Enum):
    """Why a request was refused, in the terms of a gRPC status."""

    INVALID = "invalid"
    EXISTS = "exists"
    UNKNOWN = "unknown"


class VmRequestError(Exception):
    """A refused request: `kind` picks the gRPC status, `message` is the operator's line."""

    def __init__(self, kind: Refusal, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _invalid(message: str) -> VmRequestError:
    return VmRequestError(Refusal.INVALID, message)


def validate_create(
    request: CreateVmRequest, snapshot: ClusterSnapshot, *, now: float | None = None
) -> VmSpec:
    """The spec to store for `request`; raises VmRequestError naming the first problem."""
    name = request.name
    if not keyspace.valid_name(name):
        raise _invalid(
            f"invalid VM name {name!r} (letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 128 characters)"
        )
    _check_absent(name, snapshot)
    _check_sizes(request)
    _check_placement_constraints(request, snapshot)
    if request.group and not keyspace.valid_name(request.group):
        raise _invalid(f"invalid group name {request.group!r}")
    if request.affinity and request.affinity not in AFFINITIES:
        raise _invalid(
            f"unknown affinity {request.affinity!r} (expected affinity or anti-affinity)"
        )
    if request.affinity and not request.group:
        raise _invalid(f"an {request.affinity} rule needs a group (--group)")
    if request.policy and request.policy not in PLACEMENT_POLICIES:
        known = ", ".join(sorted(PLACEMENT_POLICIES))
        raise _invalid(f"unknown placement policy {request.policy!r} (known: {known})")
    return VmSpec(
        name=name,
        vcpus=request.vcpus,
        memory_bytes=request.memory_bytes,
        reservation_bytes=request.reservation_bytes,
        limit_bytes=request.limit_bytes,
        shares=request.shares or DEFAULT_SHARES,
        host=request.host,
        nodes=list(request.nodes),
        group=request.group,
        affinity=request.affinity,
        policy=request.policy,
        created_at=time.time() if now is None else now,
    )


def _check_absent(name: str, snapshot: ClusterSnapshot) -> None:
    vm = snapshot.vms.get(name)
    if vm is None:
        return
    if vm.spec is not None:
        state = " (being deleted)" if vm.spec.value.deleted else ""
        raise VmRequestError(Refusal.EXISTS, f"VM {name!r} already exists{state}")
    if vm.status is not None:
        host = vm.status.value.host
        raise VmRequestError(
            Refusal.EXISTS, f"a VM named {name!r} already runs on host {host}"
        )


def _check_sizes(request: CreateVmRequest) -> None:
    if request.vcpus < 1:
        raise _invalid("a VM needs at least 1 vCPU")
    if request.memory_bytes <= 0:
        raise _invalid("memory must be greater than 0")
    memory = request.memory_bytes
    limit = request.limit_bytes or memory
    if request.limit_bytes and request.limit_bytes > memory:
        raise _invalid(
            f"limit {format_size(request.limit_bytes)} is above the memory size "
            f"{format_size(memory)}"
        )
    if request.reservation_bytes > limit:
        what = "limit" if request.limit_bytes else "memory size"
        raise _invalid(
            f"reservation {format_size(request.reservation_bytes)} is above the {what} "
            f"{format_size(limit)}"
        )


def _check_placement_constraints(request: CreateVmRequest, snapshot: ClusterSnapshot) -> None:
    most = snapshot.max_host_cpus()
    if request.vcpus > most:
        have = f"the largest has {most}" if most else "no host is known yet"
        raise _invalid(f"{request.vcpus} vCPUs: no host has that many CPUs ({have})")
    if request.nodes and not request.host:
        raise _invalid("nodes can only be given with a host (--host)")
    if not request.host:
        return
    if not keyspace.valid_name(request.host):
        raise _invalid(f"invalid host name {request.host!r}")
    record = snapshot.hosts.get(request.host)
    if record is None or record.info is None:
        raise _invalid(f"unknown host {request.host!r}")
    topology = record.info.topology
    ids = [n.id for n in topology.nodes]
    seen: set[int] = set()
    for node in request.nodes:
        if node in seen:
            raise _invalid(f"node {node} is given twice")
        seen.add(node)
    missing = [n for n in request.nodes if n not in ids]
    if missing:
        raise _invalid(
            f"host {request.host} has no node {','.join(map(str, missing))} "
            f"(its nodes: {','.join(map(str, ids))})"
        )
    usable = sum(len(n.cpus) for n in topology.nodes if not seen or n.id in seen)
    if request.vcpus > usable:
        where = f"nodes {','.join(map(str, request.nodes))} of " if seen else ""
        raise _invalid(f"{request.vcpus} vCPUs: {where}host {request.host} have {usable} CPUs")
