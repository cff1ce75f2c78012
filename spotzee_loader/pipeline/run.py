"""One run of a load: the stream read, mapped, cut into chunks and sent by a bounded pool of senders, each answered
chunk checkpointed; chunks whose answer was lost settled on a pool of their own.

The main thread reads, maps and commits; the senders hold at most ``2 × concurrency`` chunks, so memory does not
depend on the input size. A chunk whose request went out and got no answer is settled apart (Spotzee's reads asked
whether it was recorded, its missing events sent again), so the other chunks go on meanwhile; at most
``_CHECKING`` chunks wait there at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import IO

from ..api import Delivery, RateLimiter, SpotzeeClient
from ..checkpoint import (
    CheckpointStore,
    CommitQueue,
    JobIdentity,
    JobState,
)
from ..config import LoadSettings
from ..errors import (
    InterruptedRunError,
    SourceReadError,
    SpotzeeLoaderError,
)
from ..files import open_private, writing
from ..mapping import BatchMapper, Mapping
from ..redaction import redact
from ..sources import ResumePoint, Source, is_database_url
from .acks import acked_chunks, count_acknowledged, send_chunk
from .budget import SharedBudget, share_budget
from .chunking import Chunk, Chunker
from .growth import check_files
from .keyed import KeyLedger, without_repeats
from .overlap import refuse_overlap
from .plan import announce_plan, journey_warning, read_journeys
from .progress import Progress
from .reading import key_ledger, within_limit
from .report import RunReport

log = logging.getLogger(__name__)
_CHECKING = 16
"""Chunks settled at once after an ambiguous request (each mostly waits for Spotzee to process); past that the
main thread waits, which slows the load only when answers are being lost wholesale."""


class Run:
    """The state of one run: the stream position, the chunks in flight, the counts."""

    def __init__(
        self,
        settings: LoadSettings,
        progress: Progress,
        stop: threading.Event,
        source: Source,
        mapping: Mapping,
        store: CheckpointStore,
        identity: JobIdentity,
        report: RunReport,
    ) -> None:
        self.s, self.progress, self.stop = settings, progress, stop
        self.source, self.mapping, self.store, self.identity, self.report = source, mapping, store, identity, report
        self.abort = threading.Event()
        self.inflight: dict[Future[Delivery], Chunk] = {}
        self.checking: set[Future[Delivery]] = set()
        """The futures of ``inflight`` that settle an ambiguous chunk (they do not hold a sender)."""
        self.fatal: BaseException | None = None
        self.output: IO[bytes] | None = None
        self.warned_of_journeys = False
        self.limited = False
        """``--limit`` rows were read: the run stops there, finished for now."""
        self.ledger: KeyLedger | None = None
        """The keys a file source's rows have held (``None`` without a key, or for a database, which checks)."""
        self.client: SpotzeeClient | None = None
        self.limiter: RateLimiter | None = None
        self.budget: SharedBudget | None = None
        self.state: JobState
        self.commits: CommitQueue

    def execute(self) -> None:
        s, report = self.s, self.report
        try:
            self.state = self.store.open_job(self.identity, s.restart, keep_out_of_order=self.source.stable)
            check_files(self.store, self.source, self.identity.name, report)
            self.commits = CommitQueue(self.store, self.identity.name, self.state, wait=self.stop.wait)
            report.resumed_from_row = self.state.prefix_row
            report.rows_done_earlier = self.state.rows_done
            if self.state.rows_done == 0 and not s.allow_overlap and not s.dry_run:  # nothing sent: a second copy?
                refuse_overlap(self.store, self.identity, s.source_options)
            last = self.store.last_report(self.identity.name)  # where its dead letters went, and what they held
            report.dead_letter, report.dead_letter_sha256 = last.get("dead_letter"), last.get("dead_letter_sha256")
            if not s.dry_run:
                self.limiter = limiter = RateLimiter(s.api.rate_limit)
                self.budget = share_budget(s.checkpoint, s.budget, s.api.rate_limit, limiter, self.store.location)
                self.client = SpotzeeClient(s.api, limiter=limiter, sleep=self._interruptible_sleep)
            read_journeys(report, s.api, self.limiter, s.no_live_journeys and not s.dry_run)
            if s.output is not None:
                with self._writing_output():
                    self.output = os.fdopen(open_private(s.output), "wb")
            if not s.dry_run:
                announce_plan(self.identity.name, report, self.state, self.mapping, self.source, s.source_options)
                self.store.set_state(self.identity.name, "running", report.as_dict(), None)
            self.progress.start(report.rows_total, self.state.rows_done)
            self._stream()
            if self.output is not None:
                with self._writing_output():
                    self.output.flush()
            report.status = "dry_run" if s.dry_run else "limited" if self.limited else "finished"
            if report.rows_read == 0 and self.state.rows_done > 0:
                report.status = "nothing_to_do"
            report.source_empty = report.rows_read == 0 and self.state.rows_done == 0
        except BaseException as exc:
            self.abort.set()
            interrupted = isinstance(exc, (InterruptedRunError, KeyboardInterrupt))
            report.status = "interrupted" if interrupted else "failed"
            report.error = redact(str(exc) if isinstance(exc, SpotzeeLoaderError) else f"{type(exc).__name__}: {exc}")
            report.error_request_id = getattr(exc, "request_id", None)
            if isinstance(exc, SpotzeeLoaderError):
                exc.report = report  # type: ignore[attr-defined]
            raise
        finally:
            if self.limiter is not None:
                report.blocks = self.limiter.blocks
            self.progress.close()
            if self.output is not None:
                with contextlib.suppress(OSError):  # a failed run's output is incomplete anyway
                    self.output.close()
            if self.client is not None:
                self.client.close()
            if self.budget is not None:
                self.budget.close()
            if self.ledger is not None:
                self.ledger.close()

    def _stream(self) -> None:
        state, report = self.state, self.report
        now = dt.datetime.now(dt.UTC)
        opts = self.s.source_options
        # Files are windowed here, on the mapped created_at; databases already select the window in SQL.
        window = (None, None) if is_database_url(self.s.source) else (opts.since, opts.until)
        mapper = BatchMapper(self.mapping, now, window)
        self.ledger = key_ledger(self.s, self.mapping, self.identity.name)
        chunker = Chunker(self.s.chunk_size, state.prefix_seq + 1, state.prefix_row)
        columns = self.mapping.read_columns()
        end_row = state.prefix_row
        self.workers = max(1, self.s.api.concurrency)
        self.key_prefix = state.idempotency_prefix(self.identity)
        with (
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="spotzee-send") as self.pool,
            ThreadPoolExecutor(max_workers=_CHECKING, thread_name_prefix="spotzee-check") as self.checkers,
        ):
            try:
                for part in self.source.batches(ResumePoint(state.prefix_row, state.prefix_key), columns):
                    if self._stopping():
                        break
                    if self.s.limit is not None:
                        part, self.limited = within_limit(part, state.prefix_row, self.s.limit)
                    built = mapper.build(part.batch, part.first_row)
                    if self.ledger is not None:
                        built = without_repeats(built, self.ledger, self.source.locate)
                    for note in built.notes:
                        log.warning("%s", note)
                    # Positions jump over row groups the source skipped unread (wholly outside the window).
                    unread = part.first_row - end_row
                    report.rows_read += unread + part.batch.num_rows
                    report.rows_outside_window += unread + built.outside
                    report.rows_filtered += built.filtered.total()
                    report.rows_filtered_by_value.update(built.filtered)
                    report.events_by_name.update(built.names)
                    report.note_times(built.first_created_at, built.last_created_at)
                    end_row = part.first_row + part.batch.num_rows
                    for chunk in chunker.feed(built, part.keys):
                        if self._stopping():
                            break  # a bad key or a stop request: not one more request
                        self._dispatch(chunk)
                    if self._stopping():
                        break
                    if self.limited:  # --limit reached: the rows read go out and are checkpointed, no more
                        for chunk in chunker.finish(end_row):
                            self._dispatch(chunk)
                        break
                else:
                    for chunk in chunker.finish(end_row):
                        self._dispatch(chunk)
            except SourceReadError:
                # The source failed part-way (a corrupt row group, a database gone past the budget): every row read
                # before it still goes out and is checkpointed, then the run stops.
                if not self._stopping():
                    for chunk in chunker.finish(end_row):
                        self._dispatch(chunk)
                raise
            finally:
                if self._stopping():
                    self.abort.set()
                while self.inflight:
                    self._collect()
                # What Spotzee acknowledged while the checkpoint store was away is committed before the run ends.
                self.commits.flush()
        r = report
        r.rows_unfinished = (
            r.rows_read - r.events_sent - r.rejected - r.rows_skipped - r.rows_outside_window - r.rows_filtered
        )
        if self.fatal is not None:
            raise self.fatal
        if self.stop.is_set():
            raise InterruptedRunError(
                "stopped on request; every acknowledged chunk is checkpointed: re-run the same command to resume."
            )

    def _stopping(self) -> bool:
        return self.fatal is not None or self.stop.is_set()

    def _dispatch(self, chunk: Chunk) -> None:
        if chunk.seq in self.state.acked:
            # Its events and rejects: rows of its range outside a window were counted as such when mapped.
            self.report.rows_skipped += len(chunk.events) + len(chunk.rejects)
            return
        if self.client is None or not chunk.events:
            if self.output is not None:
                with self._writing_output():
                    self.output.writelines(body + b"\n" for body in chunk.events)
            self._commit([(chunk, Delivery(accepted=len(chunk.events)))])
            return
        while len(self.inflight) - len(self.checking) >= 2 * self.workers or len(self.checking) >= _CHECKING:
            self._collect()
        if self._stopping():
            return  # the answer just collected was fatal: this chunk is sent by the next run
        if not self.warned_of_journeys:  # a run that sends nothing (finished, empty, all rejected) warns of nothing
            log.warning("%s", journey_warning(self.report))
            self.warned_of_journeys = True
        key_stem = f"{self.key_prefix}-c{chunk.seq}"
        future = self.pool.submit(send_chunk, self.client, chunk.events, key_stem, self.abort)
        self.inflight[future] = chunk

    def _writing_output(self) -> contextlib.AbstractContextManager[None]:
        return writing("the events", self.s.output, "free space or choose another --output.")

    def _collect(self) -> None:
        done, _ = wait(list(self.inflight), return_when=FIRST_COMPLETED)
        answered: list[tuple[Chunk, Delivery]] = []
        for future in sorted(done, key=lambda f: self.inflight[f].seq):
            chunk = self.inflight.pop(future)
            was_checking = future in self.checking
            self.checking.discard(future)
            try:
                delivery = future.result()
            except BaseException as exc:  # noqa: BLE001 - kept and re-raised after the drain
                self.report.count_attempts(getattr(exc, "partial", None))
                if self.fatal is None and not isinstance(exc, InterruptedRunError):
                    self.fatal = exc
                self.abort.set()
                if was_checking:
                    self._unsettled(chunk)
                continue
            if delivery.ambiguous:
                if self._stopping():
                    self._unsettled(chunk)
                    continue
                settling = self.checkers.submit(self._settle, chunk, delivery)
                self.inflight[settling] = chunk
                self.checking.add(settling)
                continue
            answered.append((chunk, delivery))
        self._commit(answered)

    def _settle(self, chunk: Chunk, delivery: Delivery) -> Delivery:
        assert self.client is not None  # only sent chunks are settled
        try:
            self.client.settle(chunk.events, delivery, self.s.api.retry.confirm_wait_s)
        except BaseException:
            self.abort.set()
            raise
        return delivery

    def _unsettled(self, chunk: Chunk) -> None:
        self.report.note_unsettled(chunk.seq, chunk.start_row, chunk.end_row, len(chunk.events))

    def _commit(self, answered: list[tuple[Chunk, Delivery]]) -> None:
        """Checkpoint every chunk answered since the last commit, in one transaction (held while the store is
        away), and count them."""
        acked = acked_chunks(self.identity.name, answered, self.source.locate, list(self.mapping.key))
        self.commits.add(acked)
        if self.commits.failure is not None and self.fatal is None:
            self.fatal = self.commits.failure  # stop sending; ``flush`` raises it with the count left out
            self.abort.set()
        count_acknowledged(self.report, self.progress, answered, acked)

    def _interruptible_sleep(self, seconds: float) -> None:
        if self.abort.wait(seconds):
            raise InterruptedRunError("the run is stopping; this retry was abandoned.")
