"""`numaplane vm create|delete`, `numaplane explain vm`, `numaplane host cordon|uncordon|drain`.

Creating and deleting record intent and return at once; the leader places, starts and
stops. `--wait` polls the VM until it runs (exit 0), fails (exit 1) or the wait times
out (exit 1, saying what it is still waiting for — usually the pending reason). Sizes and
node lists are checked here (exit 2, nothing sent); everything else — names, sizes that
contradict each other, unknown hosts or nodes, vCPUs no host has, duplicates — is
checked by the controller, which stores nothing on a refusal (exit 1, its one line).
"""

from __future__ import annotations

import time

import click
import grpc

from numaplane.controller.cli.errors import CliError
from numaplane.controller.cli.explain_report import explain_dict, explain_report
from numaplane.controller.cli.names import check_name
from numaplane.controller.cli.output import Format, console, emit, output_option
from numaplane.controller.cli.params import NODE_LIST, SIZE
from numaplane.controller.cli.session import Session, pass_session
from numaplane.controller.policy.placement import PLACEMENT_POLICIES
from numaplane.v1.admin_pb2 import CreateVmRequest, Vm

POLL_INTERVAL_S = 0.2

_WAIT_TIMEOUT = click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With --wait: give up after this long (exit 1).",
)


@click.command("create")
@click.argument("name", callback=check_name)
@click.option("--vcpus", type=click.IntRange(min=1), required=True, help="Number of vCPUs.")
@click.option("--memory", type=SIZE, required=True, help="Memory size: 512M, 4G, 4GiB, bytes.")
@click.option("--reservation", type=SIZE, default=None,
              help="Memory guaranteed (never ballooned below); at most the limit.")
@click.option("--limit", type=SIZE, default=None,
              help="Most memory the VM is given (it boots there); at most --memory.")
@click.option("--shares", type=click.IntRange(min=1), default=None,
              help="Balloon shares under memory pressure (default 1000).")
@click.option("--host", default=None, metavar="HOST", callback=check_name,
              help="Only this host.")
@click.option("--nodes", type=NODE_LIST, default=None,
              help="Only these NUMA nodes of --host, e.g. 0,1.")
@click.option("--group", default=None, metavar="GROUP", callback=check_name,
              help="Placement group (with --affinity or --anti-affinity).")
@click.option("--affinity", "rule", flag_value="affinity", default=None,
              help="Keep the group on the hosts that already run members.")
@click.option("--anti-affinity", "rule", flag_value="anti-affinity",
              help="Keep members of the group on distinct hosts.")
@click.option("--policy", type=click.Choice(sorted(PLACEMENT_POLICIES)), default=None,
              help="Placement policy (default: the cluster's, numaplane unless set).")
@click.option("--wait", is_flag=True, help="Wait until it runs (exit 0) or fails (exit 1).")
@_WAIT_TIMEOUT
@pass_session
def create(
    session: Session,
    name: str,
    vcpus: int,
    memory: int,
    reservation: int | None,
    limit: int | None,
    shares: int | None,
    host: str | None,
    nodes: tuple[int, ...] | None,
    group: str | None,
    rule: str | None,
    policy: str | None,
    wait: bool,
    wait_timeout: float,
) -> None:
    """Create a VM: record it, and let the leader place and start it.

    numaplane chooses the host and NUMA nodes together (see `numaplane explain vm`),
    reserves the memory in etcd so that parallel creates cannot overfill a node,
    and starts the VM with its vCPUs and memory bound to those nodes. A VM that fits
    nowhere stays `pending` with the reason and starts when room appears.

    \b
    Examples:
      numaplane vm create web-1 --vcpus 4 --memory 8G
      numaplane vm create db-1 --vcpus 8 --memory 32G --reservation 24G --wait
      numaplane vm create pin-1 --vcpus 2 --memory 4G --host hv-01 --nodes 1
      numaplane vm create web-2 --vcpus 2 --memory 4G --group web --anti-affinity
    """
    if nodes is not None and host is None:
        raise click.UsageError("--nodes needs --host")
    if rule is not None and group is None:
        raise click.UsageError(f"--{rule} needs --group")
    request = CreateVmRequest(
        name=name,
        vcpus=vcpus,
        memory_bytes=memory,
        reservation_bytes=reservation or 0,
        limit_bytes=limit or 0,
        shares=shares or 0,
        host=host or "",
        nodes=list(nodes or ()),
        group=group or "",
        affinity=rule or "",
        policy=policy or "",
    )
    reply = session.client.create_vm(request)
    click.echo(reply.message or f"VM {name} created")
    if wait:
        _wait_running(session, name, wait_timeout)


@click.command("delete")
@click.argument("name", callback=check_name)
@click.option("--wait", is_flag=True, help="Wait until it is stopped and removed.")
@_WAIT_TIMEOUT
@pass_session
def delete(session: Session, name: str, wait: bool, wait_timeout: float) -> None:
    """Delete a VM: the leader stops it on its host, then removes its records.

    \b
    Examples:
      numaplane vm delete web-1
      numaplane vm delete web-1 --wait
    """
    reply = session.client.delete_vm(name)
    click.echo(reply.message or f"VM {name} marked for deletion")
    if wait:
        _wait_gone(session, name, wait_timeout)


@click.group("explain")
def explain() -> None:
    """Explain a decision.

    \b
    Example:
      numaplane explain vm web-1
    """


@explain.command("vm")
@click.argument("name", callback=check_name)
@output_option
@pass_session
def explain_vm(session: Session, name: str, output: Format) -> None:
    """Why a VM is where it is (or pending): the policy, its reasons, and every host
    and node set it considered, with scores and rejections.

    \b
    Examples:
      numaplane explain vm web-1
      numaplane explain vm web-1 -o json | jq '.considered[] | select(.rejected)'
    """
    found = session.client.explain_vm(name)
    if output == "table":
        console().print(explain_report(found))
    else:
        emit(explain_dict(found), output)


def _schedule_command(action: str, summary: str) -> click.Command:
    @click.command(action, help=summary)
    @click.argument("name", callback=check_name)
    @pass_session
    def run(session: Session, name: str) -> None:
        reply = session.client.set_host_schedule(name, action)
        if reply.draining:
            state = "draining (no new VMs; its VMs stay until moved)"
        elif reply.cordoned:
            state = "cordoned (no new VMs)"
        else:
            state = "schedulable"
        click.echo(f"host {name}: {state}")

    return run


cordon = _schedule_command(
    "cordon",
    "Take no new VMs on a host (its VMs stay).\n\n\b\nExample:\n  numaplane host cordon hv-01",
)
uncordon = _schedule_command(
    "uncordon",
    "Make a host schedulable again (ends cordon and drain).\n\n\b\nExample:\n"
    "  numaplane host uncordon hv-01",
)
drain = _schedule_command(
    "drain",
    "Mark a host draining: it takes no new VMs, and its VMs are to leave. Placement does\n"
    "not move them; move each with `numaplane vm migrate VM --host H`.\n\n\b\nExample:\n"
    "  numaplane host drain hv-01",
)


def _wait_running(session: Session, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        vm = session.client.get_vm(name)
        if vm.state == "running":
            click.echo(f"VM {name} running on {vm.host}{_nodes(vm)}")
            return
        if vm.state == "failed":
            raise CliError(f"VM {name} failed: {vm.reason}")
        if time.monotonic() >= deadline:
            why = f": {vm.reason}" if vm.reason else ""
            raise CliError(f"VM {name} is still {vm.state} after {timeout:g}s{why}")
        time.sleep(POLL_INTERVAL_S)


def _wait_gone(session: Session, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            vm = session.client.get_vm(name)
        except CliError as e:
            cause = e.__cause__
            if isinstance(cause, grpc.Call) and cause.code() == grpc.StatusCode.NOT_FOUND:
                click.echo(f"VM {name} deleted")
                return
            raise
        if time.monotonic() >= deadline:
            why = f": {vm.reason}" if vm.reason else ""
            raise CliError(f"VM {name} is still {vm.state} after {timeout:g}s{why}")
        time.sleep(POLL_INTERVAL_S)


def _nodes(vm: Vm) -> str:
    nodes = sorted({nm.node for nm in vm.observed.memory_by_node if nm.bytes > 0})
    return f" (memory on nodes {','.join(map(str, nodes))})" if nodes else ""
