"""A long command's progress, from the agent's CommandProgress into its journal entry.

Progress is advisory: it is written only while the entry is open (pending or sent), with
compare-and-swap so that it can never overwrite a result that arrived meanwhile, and a
lost race is simply dropped — the next progress message, or the result, follows. The
agent sends at most about two a second per command.
"""

from __future__ import annotations

import logging

from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import ClusterStore
from numaplane.v1 import link_pb2

log = logging.getLogger(__name__)


async def record_progress(
    store: ClusterStore, host: str, progress: link_pb2.CommandProgress
) -> bool:
    """Store the progress in the entry; False when the entry is unknown or finished."""
    key = keyspace.command(host, progress.id)
    kv = await store.get(key)
    if kv is None:
        log.debug("progress for unknown command %s on %s", progress.id, host)
        return False
    entry = journal.entry_from_kv(kv)
    if entry is None or entry.state not in journal.OPEN_STATES:
        return False
    entry.progress = min(1.0, max(0.0, progress.fraction))
    entry.progress_message = progress.message[:200]
    return await store.compare_and_swap(key, encode(entry), kv.mod_revision) is not None
