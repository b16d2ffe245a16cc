"""`numaplane explain vm`: why a VM is where it is, or why it is nowhere yet.

The shape for scripts (`--output json|yaml`):

    name, state, policy, host, nodes, reason, reasons [str], decided_at,
    considered [{host, nodes, score (null when rejected), rejected (null when valid),
                 chosen (bool)}]

The table for people: the verdict first, then the policy's reasons, then every
candidate it looked at — the chosen one first, valid ones with their score, rejected
ones with why.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from numaplane.controller.cli.fmt import clock
from numaplane.controller.cli.tables import state_text
from numaplane.v1.admin_pb2 import ExplainVmResponse


def _nodes(nodes: Any) -> str:
    return ",".join(str(n) for n in nodes) or "-"


def _chosen(e: ExplainVmResponse, index: int) -> bool:
    """The first valid candidate with the placement's host and nodes is the chosen one."""
    if not e.host or e.state in ("pending", ""):
        return False
    for i, c in enumerate(e.considered):
        if not c.rejected and c.host == e.host and list(c.nodes) == list(e.nodes):
            return i == index
    return False


def explain_dict(e: ExplainVmResponse) -> dict[str, Any]:
    return {
        "name": e.name,
        "state": e.state,
        "policy": e.policy or None,
        "host": e.host or None,
        "nodes": list(e.nodes),
        "reason": e.reason,
        "reasons": list(e.reasons),
        "decided_at": e.decided_at or None,
        "considered": [
            {
                "host": c.host,
                "nodes": list(c.nodes),
                "score": c.score if c.has_score else None,
                "rejected": c.rejected or None,
                "chosen": _chosen(e, i),
            }
            for i, c in enumerate(e.considered)
        ],
    }


def explain_report(e: ExplainVmResponse) -> RenderableType:
    head = Text(f"VM {e.name}: ")
    head.append_text(state_text(e.state))
    if e.host and e.state != "pending":
        head.append(f" on {e.host} nodes {_nodes(e.nodes)}")
    if e.policy:
        decided = f", decided {clock(e.decided_at)}" if e.decided_at else ""
        head.append(f" (policy {e.policy}{decided})")
    parts: list[RenderableType] = [head]
    if e.reason:
        parts.append(Text(f"Reason: {e.reason}"))
    if e.reasons:
        parts.append(Text(""))
        parts.append(Text("Why", style="bold"))
        parts.extend(Text(f"  - {r}") for r in e.reasons)
    if e.considered:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("HOST", "NODES", "SCORE", "VERDICT"):
            table.add_column(column, justify="right" if column == "SCORE" else "left")
        for i, c in enumerate(e.considered):
            if c.rejected:
                verdict = Text(f"rejected: {c.rejected}", style="yellow")
            elif _chosen(e, i):
                verdict = Text("chosen", style="green")
            else:
                verdict = Text("valid")
            score = f"{c.score:.4f}" if c.has_score else "-"
            table.add_row(c.host, _nodes(c.nodes), score, verdict)
        title = "Considered (scores as the policy ranks them, see Why)"
        parts.extend([Text(""), Text(title, style="bold"), table])
    return Group(*parts)
