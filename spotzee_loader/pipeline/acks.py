"""What happens to one chunk between the mapper and the checkpoint: sent (on a sender's thread, under a key naming
its body), then, once answered, its acknowledgement and dead letters built for the commit, and counted."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

from ..api import Delivery, SpotzeeClient
from ..checkpoint import AckedChunk
from ..errors import InterruptedRunError
from . import deadletter
from .chunking import Chunk
from .progress import Progress
from .report import RunReport

log = logging.getLogger(__name__)


def send_chunk(client: SpotzeeClient, events: list[bytes], key_stem: str, abort: threading.Event) -> Delivery:
    """Deliver one chunk's events; ``abort`` set: not sent (the run is stopping), and set by any failure here."""
    # A chunk still queued when the run started stopping (bad key, Ctrl-C) is never sent.
    if abort.is_set():
        raise InterruptedRunError("the run is stopping; this chunk was not sent.")
    # The body's digest in the key: a chunk whose rows changed (a live table) gets a new key
    # instead of a 409 mismatch; an unchanged one is replayed by Spotzee, not recorded twice.
    # Hashed here, on the sender's thread, not on the one that maps and checkpoints.
    digest = hashlib.sha256(b"\n".join(events)).hexdigest()[:12]
    try:
        return client.deliver(events, f"{key_stem}-{digest}")
    except BaseException:
        # Whatever ends a delivery ends the run (a refused key, the budget spent): stop here, on the sender's
        # thread, so that no chunk queued behind this one goes out before the main thread hears of it.
        abort.set()
        raise


def acked_chunks(
    job: str, answered: list[tuple[Chunk, Delivery]], locate: Callable[[int], tuple[str, int]], key: list[str]
) -> list[AckedChunk]:
    """The checkpoint records of answered chunks: their ranges, accepted counts, and dead letters (the rows the
    mapper rejected and the events Spotzee refused)."""
    acked: list[AckedChunk] = []
    for chunk, delivery in answered:
        records = [deadletter.local_record(job, r, locate(r.row), key) for r in chunk.rejects]
        records += deadletter.server_records(job, delivery.rejected, chunk.event_rows, chunk.events,
                                             chunk.event_keys, locate)  # fmt: skip
        acked.append(AckedChunk(chunk.seq, chunk.start_row, chunk.end_row, chunk.end_key, delivery.accepted, records))
    return acked


def count_acknowledged(
    report: RunReport, progress: Progress, answered: list[tuple[Chunk, Delivery]], acked: list[AckedChunk]
) -> None:
    for (chunk, delivery), done in zip(answered, acked, strict=True):
        log.debug(
            "chunk %d acknowledged: rows %d..%d, %d events, %d rejected, %d requests",
            chunk.seq,
            chunk.start_row,
            chunk.end_row - 1,
            delivery.accepted,
            len(done.rejects),
            delivery.requests,
        )
        report.count_chunk(chunk.seq, delivery, done.rejects)
        progress.advance(chunk.rows, delivery.accepted, len(done.rejects))
