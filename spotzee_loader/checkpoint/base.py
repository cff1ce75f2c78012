"""The checkpoint store: which chunks of a job Spotzee acknowledged, and the job's rejected rows.

A chunk is recorded only after its 2xx, together with its rejects, in one transaction: a kill at any
instant leaves either the whole chunk or nothing. Chunks acknowledged out of order (concurrent
requests) are kept individually; the *prefix* (every chunk up to ``prefix_seq``) is summarised by
where the next run starts reading: ``prefix_row`` and, for database sources, ``prefix_key``.

Two backends share this logic and ``checkpoint_store.sql``: the embedded SQLite file (``sqlite.py``) and
PostgreSQL for workers on several machines (``postgres.py``). This module holds what they share: the store's
logic and the DDL; ``connection`` the interface the backends implement (statements, locks, outages), ``records``
the job records and the lock ids.

A store that goes away mid-run (a PostgreSQL restart or failover, a SQLite file locked past its busy timeout) is
an outage, not a fault: every operation is tried again after a reconnect, inside the retry budget. A commit is
written so that trying it again is harmless even when the first try landed and only its answer was lost.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from importlib import resources
from typing import Any

import orjson

from ..errors import CheckpointMismatchError
from .connection import StoreAwayError, StoreConnection
from .records import RESTART_OR_RENAME, Acked, AckedChunk, JobIdentity, JobState

__all__ = ["DDL", "CheckpointStore", "StoreAwayError"]


DDL = resources.files(__package__).joinpath("checkpoint_store.sql").read_text(encoding="utf-8")
_JOB_COLUMNS = (
    "source_fp, mapping_fp, target, generation, state, prefix_seq, prefix_row, prefix_key, rows_done, "
    "events_sent, rejected"
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class CheckpointStore(StoreConnection):
    """The store's logic over a DB-API connection; backends supply connection, locking, placeholders."""

    # -- job lifecycle -------------------------------------------------------------------

    def open_job(self, identity: JobIdentity, restart: bool, keep_out_of_order: bool = True) -> JobState:
        """Lock the job and return where it stands; ``restart`` forgets its progress.

        ``keep_out_of_order=False`` forgets chunks acknowledged beyond the prefix: a source whose rows
        may change between runs (a live table) cannot promise that they would be cut the same again.
        """
        return self.retrying(lambda: self._open_job(identity, restart, keep_out_of_order))

    def _open_job(self, identity: JobIdentity, restart: bool, keep_out_of_order: bool) -> JobState:
        if identity.name not in self.held:
            self._lock(identity.name)
        self.held.add(identity.name)
        rows = self._run(f"SELECT {_JOB_COLUMNS} FROM spotzee_jobs WHERE job = ?", (identity.name,))
        if rows and not restart:
            row = rows[0]
            self._check_same(identity, row)
            if not keep_out_of_order:
                self._forget_out_of_order(identity.name)
                row = self._run(f"SELECT {_JOB_COLUMNS} FROM spotzee_jobs WHERE job = ?", (identity.name,))[0]
            acked = {
                seq: Acked(end_row, end_key)
                for seq, end_row, end_key in self._run(
                    "SELECT seq, end_row, end_key FROM spotzee_chunks WHERE job = ? AND seq > ?",
                    (identity.name, row[5]),
                )
            }
            return JobState(
                generation=row[3],
                state=row[4],
                prefix_seq=row[5],
                prefix_row=row[6],
                prefix_key=row[7],
                acked=acked,
                rows_done=row[8],
                events_sent=row[9],
                rejected=row[10],
            )
        generation = rows[0][3] + 1 if rows else 1
        now = _now()
        with self._transaction():
            for table in ("spotzee_chunks", "spotzee_rejects", "spotzee_files", "spotzee_jobs"):
                self._run(f"DELETE FROM {table} WHERE job = ?", (identity.name,))
            self._run(
                "INSERT INTO spotzee_jobs (job, source, source_fp, mapping, mapping_fp, target, generation, state,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    identity.name,
                    identity.source,
                    identity.source_fp,
                    identity.mapping,
                    identity.mapping_fp,
                    identity.target,
                    generation,
                    now,
                    now,
                ),
            )
        return JobState(generation=generation, prefix_seq=-1, prefix_row=0)

    def _forget_out_of_order(self, job: str) -> None:
        """Drop the chunks beyond the prefix, their rejects and their share of the totals: they will be
        cut and sent again."""
        with self._transaction():
            dropped = self._run(
                "SELECT coalesce(sum(end_row - start_row), 0), coalesce(sum(events), 0), coalesce(sum(rejected), 0)"
                " FROM spotzee_chunks WHERE job = ?",
                (job,),
            )[0]
            self._run(
                "DELETE FROM spotzee_rejects WHERE job = ? AND seq IN (SELECT seq FROM spotzee_chunks WHERE job = ?)",
                (job, job),
            )
            self._run("DELETE FROM spotzee_chunks WHERE job = ?", (job,))
            self._run(
                "UPDATE spotzee_jobs SET rows_done = rows_done - ?, events_sent = events_sent - ?,"
                " rejected = rejected - ? WHERE job = ?",
                (*dropped, job),
            )

    def _check_same(self, identity: JobIdentity, row: tuple[Any, ...]) -> None:
        before = identity.source_fp_before
        if row[0] != identity.source_fp and before is not None and row[0] == before():
            # A job begun before file records: its files are as they were; from now on it is bound the new way.
            self._run("UPDATE spotzee_jobs SET source_fp = ? WHERE job = ?", (identity.source_fp, identity.name))
            row = (identity.source_fp, *row[1:])
        changed = [
            what
            for what, old, new in (
                ("source", row[0], identity.source_fp),
                ("mapping", row[1], identity.mapping_fp),
                ("target URL", row[2], identity.target),
            )
            if old != new
        ]
        if changed:
            raise CheckpointMismatchError(
                f"the {' and '.join(changed)} of job {identity.name!r} changed since it was checkpointed; "
                f"{RESTART_OR_RENAME}"
            )

    def files(self, job: str) -> dict[str, str]:
        """The files the job's last run read: ``{name: record}`` (the source's JSON)."""
        rows = self.retrying(lambda: self._run("SELECT name, record FROM spotzee_files WHERE job = ?", (job,)))
        return dict(rows)

    def record_files(self, job: str, records: dict[str, str]) -> None:
        """What this run reads, in place of what the last one read (before the first event of the run is sent)."""

        def write() -> None:
            with self._transaction():
                self._run("DELETE FROM spotzee_files WHERE job = ?", (job,))
                rows = [(job, name, record) for name, record in records.items()]
                if rows:
                    self._run_many("INSERT INTO spotzee_files (job, name, record) VALUES (?, ?, ?)", rows)

        self.retrying(write)

    def commit_chunks(self, job: str, state: JobState, chunks: Sequence[AckedChunk]) -> None:
        """Record acknowledged chunks and their rejects, and advance the prefix, in one transaction.

        Committing the chunks answered since the last commit together keeps the checkpoint exact (each
        chunk is in or out as a whole) at a fraction of a transaction per chunk; in the common case,
        in order and without rejects, it is one UPDATE. Waits out outages; ``try_commit_chunks`` does not.
        """
        self.retrying(lambda: self._commit_chunks(job, state, chunks))

    def try_commit_chunks(self, job: str, state: JobState, chunks: Sequence[AckedChunk]) -> None:
        """``commit_chunks`` once: ``StoreAwayError`` when the store is away, the chunks to be committed again later."""
        self.attempt(lambda: self._commit_chunks(job, state, chunks))

    def _commit_chunks(self, job: str, state: JobState, chunks: Sequence[AckedChunk]) -> None:
        if not chunks:
            return
        try:
            self._write_chunks(job, state, chunks)
        except BaseException:
            self._unsure = True
            raise
        self._unsure = False

    def _write_chunks(self, job: str, state: JobState, chunks: Sequence[AckedChunk]) -> None:
        acked = dict(state.acked)
        for chunk in chunks:
            acked[chunk.seq] = Acked(chunk.end_row, chunk.end_key)
        prefix_seq, prefix_row, prefix_key = state.prefix_seq, state.prefix_row, state.prefix_key
        while prefix_seq + 1 in acked:
            prefix_seq += 1
            done = acked.pop(prefix_seq)
            prefix_row, prefix_key = done.end_row, done.end_key
        # After a commit whose answer was lost, the same chunks may already be stored: clear them first.
        unsure = self._unsure
        stored_now_in_prefix = unsure or any(seq <= prefix_seq for seq in state.acked)
        beyond = [c for c in chunks if c.seq > prefix_seq]
        rejects = [(job, c.seq, r["row"], orjson.dumps(r).decode()) for c in chunks for r in c.rejects]
        rows = sum(c.end_row - c.start_row for c in chunks)
        events = sum(c.events for c in chunks)
        # One statement is atomic on its own (both backends run in autocommit): no BEGIN/COMMIT round.
        with self._transaction() if rejects or stored_now_in_prefix or beyond else nullcontext():
            if unsure:
                seqs = [(job, c.seq) for c in chunks]
                self._run_many("DELETE FROM spotzee_rejects WHERE job = ? AND seq = ?", seqs)
                self._run_many("DELETE FROM spotzee_chunks WHERE job = ? AND seq = ?", seqs)
            if rejects:
                self._run_many("INSERT INTO spotzee_rejects (job, seq, row_no, record) VALUES (?, ?, ?, ?)", rejects)
            if stored_now_in_prefix:
                self._run("DELETE FROM spotzee_chunks WHERE job = ? AND seq <= ?", (job, prefix_seq))
            if beyond:
                self._run_many(
                    "INSERT INTO spotzee_chunks (job, seq, start_row, end_row, end_key, events, rejected)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(job, c.seq, c.start_row, c.end_row, c.end_key, c.events, len(c.rejects)) for c in beyond],
                )
            # Totals as values, not increments: this process holds the job, so its state mirrors the row, and
            # writing the same commit twice leaves the same row.
            self._run(
                "UPDATE spotzee_jobs SET prefix_seq = ?, prefix_row = ?, prefix_key = ?, rows_done = ?,"
                " events_sent = ?, rejected = ?, updated_at = ? WHERE job = ?",
                (
                    prefix_seq,
                    prefix_row,
                    prefix_key,
                    state.rows_done + rows,
                    state.events_sent + events,
                    state.rejected + len(rejects),
                    _now(),
                    job,
                ),
            )
        state.acked = acked
        state.prefix_seq, state.prefix_row, state.prefix_key = prefix_seq, prefix_row, prefix_key
        state.rows_done += rows
        state.events_sent += events
        state.rejected += len(rejects)

    def set_state(self, job: str, state: str, report: dict[str, Any] | None, error: str | None) -> None:
        """Mark the job finished, failed or interrupted, with the run's report and last error."""
        self.retrying(lambda: self._set_state(job, state, report, error))

    def _set_state(self, job: str, state: str, report: dict[str, Any] | None, error: str | None) -> None:
        with self._transaction():
            self._run(
                "UPDATE spotzee_jobs SET state = ?, report = ?, last_error = ?, updated_at = ? WHERE job = ?",
                (state, orjson.dumps(report).decode() if report else None, error, _now(), job),
            )

    def last_report(self, job: str) -> dict[str, Any]:
        """The report the job's last run stored (empty for a new job)."""
        rows = self.retrying(lambda: self._run("SELECT report FROM spotzee_jobs WHERE job = ?", (job,)))
        return orjson.loads(rows[0][0]) if rows and rows[0][0] else {}

    def totals(self, job: str) -> dict[str, int]:
        """The job's cumulative counts across all its runs."""
        sql = "SELECT rows_done, events_sent, rejected FROM spotzee_jobs WHERE job = ?"
        rows = self.retrying(lambda: self._run(sql, (job,)))
        return {"rows_done": rows[0][0], "events_sent": rows[0][1], "rejected": rows[0][2]} if rows else {}

    def jobs(self) -> list[dict[str, Any]]:
        """Every job in the store, newest activity first, with its out-of-order chunk count."""
        columns = (
            "job, source, mapping, target, generation, state, prefix_seq, rows_done, events_sent, rejected, "
            "created_at, updated_at, last_error, report"
        )
        rows = self._run(f"SELECT {columns} FROM spotzee_jobs ORDER BY updated_at DESC, job")
        beyond = dict(self._run("SELECT job, count(*) FROM spotzee_chunks GROUP BY job"))
        names = [c.strip() for c in columns.split(",")]
        out = []
        for row in rows:
            job = dict(zip(names, row, strict=True))
            job["chunks"] = job["prefix_seq"] + 1 + int(beyond.get(job["job"], 0))
            job["report"] = orjson.loads(job["report"]) if job["report"] else None
            out.append(job)
        return out

    @abc.abstractmethod
    def is_running(self, job: str) -> bool:
        """Whether a process holds the job's lock right now (a 'running' job nobody holds is stale)."""

    @abc.abstractmethod
    def rejects(self, job: str) -> Iterator[bytes]:
        """Every rejected row of the job, in row order, as JSON bytes (streamed)."""
