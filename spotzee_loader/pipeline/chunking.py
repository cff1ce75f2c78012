"""Cut the stream of mapped rows into request-sized chunks, deterministically.

Chunk ``n`` covers the source rows ``[start_row, end_row)``: its events and the rejected rows in that
range. ``end_row`` is the row after its last event, so the next chunk starts exactly there and a run
that resumes at a chunk's ``start_row`` cuts the very same chunks again (same bodies, same
idempotency keys). Rejects count as part of the chunk that holds them, so they are recorded exactly
once, in the same transaction as the chunk's acknowledgement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..mapping import BuiltBatch, Reject
from ..sources import RowKey, encode_key

# A long run of bad rows still closes a chunk now and then, so memory stays bounded.
MAX_REJECTS_PER_CHUNK = 1000


@dataclass
class Chunk:
    """Up to ``chunk_size`` events plus the rejected rows between them."""

    seq: int
    start_row: int
    end_row: int = 0
    end_key: str | None = None
    """Key of the chunk's last row (database sources), where a resumed run continues after."""
    events: list[bytes] = field(default_factory=list)
    event_rows: list[int] = field(default_factory=list)
    event_keys: list[dict[str, Any] | None] = field(default_factory=list)
    """The mapping's key of each event's row (``None`` without a key)."""
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.end_row - self.start_row

    def body(self) -> bytes:
        """The request body: a JSON array of the chunk's events, byte-identical on every attempt."""
        return b"[" + b",".join(self.events) + b"]"


class Chunker:
    """Feeds on built batches in row order and yields closed chunks."""

    def __init__(self, chunk_size: int, first_seq: int, start_row: int) -> None:
        self._size = chunk_size
        self._open = Chunk(seq=first_seq, start_row=start_row)
        self._keys: list[RowKey] | None = None
        self._keys_first_row = 0

    def _close(self, end_row: int) -> Chunk:
        done = self._open
        done.end_row = end_row
        if self._keys is not None:
            done.end_key = encode_key(self._keys[end_row - 1 - self._keys_first_row])
        self._open = Chunk(seq=done.seq + 1, start_row=end_row)
        return done

    def feed(self, built: BuiltBatch, keys: list[RowKey] | None = None) -> Iterator[Chunk]:
        """Chunks closed by this batch (the last, partial one stays open for the next batch).

        ``keys`` are the batch's row keys when the source is read in key order.
        """
        self._keys, self._keys_first_row = keys, built.first_row
        rejects = built.rejects
        r = 0
        event_keys = built.event_keys
        for i, (row, body) in enumerate(built.events):
            while r < len(rejects) and rejects[r].row < row:
                yield from self._add_reject(rejects[r])
                r += 1
            chunk = self._open
            chunk.events.append(body)
            chunk.event_rows.append(row)
            chunk.event_keys.append(event_keys[i] if event_keys is not None else None)
            if len(chunk.events) >= self._size:
                yield self._close(row + 1)
        for reject in rejects[r:]:
            yield from self._add_reject(reject)

    def _add_reject(self, reject: Reject) -> Iterator[Chunk]:
        self._open.rejects.append(reject)
        if len(self._open.rejects) >= MAX_REJECTS_PER_CHUNK:
            yield self._close(reject.row + 1)

    def finish(self, end_row: int) -> Iterator[Chunk]:
        """The last chunk at the end of the source, if it holds anything."""
        if self._open.events or self._open.rejects:
            yield self._close(end_row)
