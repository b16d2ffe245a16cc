"""`numaplane vms` and `numaplane vm show`."""

from __future__ import annotations

import click
import grpc

from numaplane.controller.cli.errors import CliError
from numaplane.controller.cli.names import check_name
from numaplane.controller.cli.output import Format, console, emit, output_option
from numaplane.controller.cli.session import Session, pass_session
from numaplane.controller.cli.shapes import vm_dict
from numaplane.controller.cli.tables import vm_detail, vms_table


@click.command("vms")
@click.option(
    "--host",
    "host",
    default=None,
    metavar="HOST",
    callback=check_name,
    help="Only the VMs last observed on this host.",
)
@output_option
@pass_session
def vms(session: Session, host: str | None, output: Format) -> None:
    """List VMs: host, state, vCPUs, memory per NUMA node, locality, balloon.

    A VM's state is what its host's agent observed while the host is up, and
    `unknown` while the host is down (its last observation is still shown).

    \b
    Examples:
      numaplane vms
      numaplane vms --host hv-01 --output yaml
    """
    found = session.client.list_vms(host=host or "")
    if output == "table":
        console().print(vms_table(found))
    else:
        emit([vm_dict(v) for v in found], output)


@click.group("vm")
def vm() -> None:
    """Create, show and delete VMs.

    \b
    Examples:
      numaplane vm create web-1 --vcpus 2 --memory 4G --wait
      numaplane vm show web-1
      numaplane vm delete web-1
    """


@vm.command("show")
@click.argument("name", callback=check_name)
@output_option
@pass_session
def show(session: Session, name: str, output: Format) -> None:
    """Show a VM: host, nodes used, memory per node, locality, balloon.

    Locality is the share of the VM's memory on the NUMA nodes where its vCPUs
    last ran; the table marks each node's memory as local or not.

    \b
    Examples:
      numaplane vm show web-1
      numaplane vm show web-1 --output json
    """
    found = session.client.get_vm(name)
    if output != "table":
        emit(vm_dict(found), output)
        return
    host = None
    if found.host:
        try:
            host = session.client.get_host(found.host)
        except CliError as e:
            # The VM is still worth showing without its host's topology.
            if not _is_not_found(e):
                raise
    console().print(vm_detail(found, host))


def _is_not_found(error: CliError) -> bool:
    cause = error.__cause__
    return isinstance(cause, grpc.Call) and cause.code() == grpc.StatusCode.NOT_FOUND
