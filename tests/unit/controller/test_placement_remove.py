"""remove_txn: everything stored about a removed VM goes in one guarded transaction."""

from __future__ import annotations

from numaplane.controller.placement.transactions import remove_txn
from numaplane.controller.state import keyspace
from numaplane.controller.state.snapshot import ClusterSnapshot, Versioned, VmRecord
from numaplane.v1 import state_pb2


def test_removal_deletes_spec_placement_claims_and_the_move_record() -> None:
    """The move record goes too: a VM re-created under the name starts without the old
    one's cool-down, and `moves/` does not grow with every VM ever moved."""
    vm = VmRecord(
        name="web",
        spec=Versioned(state_pb2.VmSpec(name="web", deleted=True), 11),
        placement=Versioned(state_pb2.VmPlacement(name="web", state="stopping"), 12),
    )
    snapshot = ClusterSnapshot(
        revision=20,
        vms={"web": vm},
        claims={
            ("b", "web"): Versioned(state_pb2.Claim(host="b", vm="web", move=True), 13),
            ("b", "db"): Versioned(state_pb2.Claim(host="b", vm="db"), 14),
        },
        moves={"web": Versioned(state_pb2.VmMove(vm="web"), 15)},
    )
    txn = remove_txn(vm, snapshot)
    assert txn.writes == []
    assert sorted(txn.deletes) == sorted(
        [
            (keyspace.vm_spec("web"), 11),
            (keyspace.vm_placement("web"), 12),
            (keyspace.claim("b", "web"), 13),
            (keyspace.vm_move("web"), 15),
        ]
    )
