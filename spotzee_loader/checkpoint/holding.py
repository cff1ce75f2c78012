"""Chunks Spotzee acknowledged, on their way into the checkpoint store, held while the store is away.

Normally the chunks answered since the last commit are committed at once. While the store is away (a restart, a
failover) the load keeps sending and the acknowledged chunks wait here, up to ``max_held``; past that the load
pauses until the store is back. Each try is spaced by the store's backoff; when the retry budget is spent the run
stops and names the acknowledged chunks the next run will send again. Spotzee's Main API ignores idempotency keys
today, so their events would then be recorded twice: the sentence names their rows, so a user knows exactly which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..errors import CheckpointStoreError, FatalRunError, InterruptedRunError, JobLockedError
from .base import CheckpointStore, StoreAwayError
from .records import AckedChunk, JobState

MAX_HELD_CHUNKS = 2_000
"""Acknowledged chunks held while the store is away: 200,000 events, about 20 s at Spotzee's pace."""


class CommitQueue:
    """Commits acknowledged chunks in order of answer; holds them (bounded) through a store outage.

    A store that cannot take them any more (the budget spent, a full disk) is given up on: ``failure`` says why,
    the chunks acknowledged after that are held too, and ``flush`` raises with the count of them all.
    """

    def __init__(
        self,
        store: CheckpointStore,
        job: str,
        state: JobState,
        *,
        wait: Callable[[float], bool],
        max_held: int = MAX_HELD_CHUNKS,
    ) -> None:
        """``wait(seconds)`` sleeps and returns True when the run is asked to stop meanwhile."""
        self.store, self.job, self.state = store, job, state
        self.max_held = max_held
        self.held: list[AckedChunk] = []
        self.failure: FatalRunError | None = None
        self._wait = wait
        self._retry_at = 0.0

    def add(self, chunks: Sequence[AckedChunk]) -> None:
        """Commit these chunks (and any held ones) now, or hold them until the store is back."""
        self.held.extend(chunks)
        if self.failure is not None or not self.held:
            return
        if time.monotonic() >= self._retry_at:
            self._try()
        while len(self.held) > self.max_held and self.failure is None:
            if self._wait(max(0.0, self._retry_at - time.monotonic())):
                return  # stopping: the run drains and ``flush`` says what is left out
            self._try()

    def flush(self) -> None:
        """Commit every held chunk, waiting for the store inside the retry budget; raise when it cannot."""
        while self.held and self.failure is None:
            if self._wait(max(0.0, self._retry_at - time.monotonic())):
                raise InterruptedRunError(f"stopped on request while the checkpoint store was away.{self.unsaved()}")
            self._try()
        if self.failure is not None:
            failure = type(self.failure)(f"{self.failure}{self.unsaved()}")
            raise failure from None

    def unsaved(self) -> str:
        """What a stop now leaves out of the checkpoint, as a sentence (empty when nothing)."""
        if not self.held:
            return ""
        events = sum(c.events for c in self.held)
        spans: list[list[int]] = []
        for chunk in sorted(self.held, key=lambda c: c.start_row):
            if spans and spans[-1][1] == chunk.start_row:
                spans[-1][1] = chunk.end_row  # contiguous chunks are one span of rows
            else:
                spans.append([chunk.start_row, chunk.end_row])
        shown = [f"{start:,}-{end - 1:,}" for start, end in spans[:20]]
        more = f" and {len(spans) - 20:,} more spans" if len(spans) > 20 else ""
        return (
            f" {len(self.held):,} chunks Spotzee acknowledged ({events:,} events) could not be checkpointed: the next "
            "run sends them again under the same idempotency keys; Spotzee replays them only where it enforces keys "
            "(its Main API ignores them today), so their events may be recorded twice: source rows "
            f"{', '.join(shown)}{more}."
        )

    def _try(self) -> None:
        try:
            self.store.try_commit_chunks(self.job, self.state, self.held)
        except StoreAwayError as exc:
            try:
                delay = self.store.outage.next_try_in(f"{exc}; holding {len(self.held):,} acknowledged chunks")
            except CheckpointStoreError as spent:
                self.failure = spent
                return
            self._retry_at = time.monotonic() + delay
            return
        except (CheckpointStoreError, JobLockedError) as exc:  # a full disk; the job taken over meanwhile
            self.failure = exc
            return
        self.held = []
        self.store.outage.recovered()
