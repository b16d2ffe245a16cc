"""Balloon rows as plain data (`numaplane balloon show -o json|yaml`) and as a table.

The JSON/YAML shape, one object per VM (sizes in bytes; null where unknown):

    vm, host, auto, cluster_auto, target_bytes, actual_bytes, max_bytes,
    requested_bytes (the operator's target, null = none), reservation_bytes,
    limit_bytes (null = the maximum), shares, driver, capabilities {guest_stats,
    deflate_on_oom, free_page_reporting}, guest {free_bytes, available_bytes,
    usable_bytes, swap_in_bytes, swap_out_bytes} | null, updated_at,
    command {id, state, target_bytes, message} | null
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from numaplane.controller.cli.fmt import age, format_size
from numaplane.v1.admin_pb2 import BalloonRow


def balloon_dict(row: BalloonRow) -> dict[str, Any]:
    s = row.state
    guest = (
        {
            "free_bytes": s.guest_free_bytes,
            "available_bytes": s.guest_available_bytes,
            "usable_bytes": s.guest_usable_bytes,
            "swap_in_bytes": s.swap_in_bytes,
            "swap_out_bytes": s.swap_out_bytes,
        }
        if s.has_guest_stats
        else None
    )
    command = (
        {
            "id": row.command_id,
            "state": row.command_state,
            "target_bytes": row.command_target_bytes,
            "message": row.command_message,
        }
        if row.command_state
        else None
    )
    return {
        "vm": row.vm,
        "host": row.host,
        "known": s.known,
        "auto": row.auto,
        "cluster_auto": row.cluster_auto,
        "target_bytes": s.target_bytes if s.known else None,
        "actual_bytes": s.actual_bytes if s.known else None,
        "max_bytes": row.max_bytes,
        "requested_bytes": row.requested_bytes or None,
        "reservation_bytes": row.reservation_bytes,
        "limit_bytes": row.limit_bytes or None,
        "shares": row.shares,
        "driver": s.driver or None,
        "capabilities": {
            "guest_stats": s.capabilities.guest_stats,
            "deflate_on_oom": s.capabilities.deflate_on_oom,
            "free_page_reporting": s.capabilities.free_page_reporting,
        },
        "guest": guest,
        "updated_at": s.updated_at or None,
        "command": command,
    }


def _size(value: int | None) -> str:
    return "-" if value is None else format_size(value)


def _auto(row: BalloonRow) -> str:
    if not row.auto:
        return "off"
    return "on" if row.cluster_auto else "on (cluster off)"


def _caps(row: BalloonRow) -> str:
    c = row.state.capabilities
    names = [n for n, on in (("stats", c.guest_stats), ("deflate-on-oom", c.deflate_on_oom),
                             ("free-page-reporting", c.free_page_reporting)) if on]
    return ",".join(names) or "-"


def _command(row: BalloonRow) -> str:
    if not row.command_state:
        return "-"
    return f"{row.command_state} {format_size(row.command_target_bytes)}"


def _guest(d: dict[str, Any], a: str, b: str) -> str:
    guest = d["guest"]
    return f"{format_size(guest[a])}/{format_size(guest[b])}" if guest else "-"


def balloons_table(rows: Sequence[BalloonRow]) -> Table:
    """One line per VM; `balloon show VM` has the rest (bounds, shares, capabilities)."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("VM", "HOST", "TARGET", "ACTUAL", "FREE/USABLE", "SWAP IN/OUT", "AUTO",
                   "DRIVER"):
        table.add_column(column, justify="left" if column in ("VM", "HOST") else "right",
                         no_wrap=column in ("VM", "HOST"))
    for row in rows:
        d = balloon_dict(row)
        table.add_row(
            row.vm,
            row.host or "-",
            _size(d["target_bytes"]),
            _size(d["actual_bytes"]),
            _guest(d, "free_bytes", "usable_bytes"),
            _guest(d, "swap_in_bytes", "swap_out_bytes"),
            _auto(row),
            d["driver"] or ("none" if not row.state.known else "-"),
        )
    return table


def balloon_detail(row: BalloonRow) -> Table:
    d = balloon_dict(row)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    limit = d["limit_bytes"]
    for label, value in (
        ("VM", row.vm),
        ("Host", row.host or "-"),
        ("Driver", d["driver"] or ("none: no balloon" if not row.state.known else "-")),
        ("Capabilities", _caps(row)),
        ("Target", _size(d["target_bytes"])),
        ("Actual", _size(d["actual_bytes"])),
        ("Maximum", format_size(row.max_bytes)),
        ("Requested", _size(d["requested_bytes"]) if d["requested_bytes"] else "- (none)"),
        ("Guest free/usable", _guest(d, "free_bytes", "usable_bytes")),
        ("Swap in/out", _guest(d, "swap_in_bytes", "swap_out_bytes")),
        ("Reservation", format_size(row.reservation_bytes)),
        ("Limit", _size(limit) if limit else "- (the maximum)"),
        ("Shares", str(row.shares)),
        ("Auto", _auto(row)),
        ("Last command", _command(row) + (f" ({row.command_message})"
                                          if row.command_message else "")),
        ("Updated", age(row.state.updated_at) if row.state.updated_at else "-"),
    ):
        grid.add_row(label, value)
    return grid
