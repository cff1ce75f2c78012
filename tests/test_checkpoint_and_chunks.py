"""Chunking is deterministic and resumable; the checkpoint keeps prefix, out-of-order acks and rejects."""

from __future__ import annotations

import copy
import itertools
import json
import multiprocessing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotzee_loader.checkpoint import AckedChunk, JobIdentity, SQLiteCheckpointStore
from spotzee_loader.checkpoint.records import Acked
from spotzee_loader.errors import CheckpointMismatchError, JobLockedError
from spotzee_loader.mapping import BuiltBatch, Reject
from spotzee_loader.pipeline.chunking import Chunk, Chunker

IDENTITY = JobIdentity("job-a", "src", "sfp", "map", "mfp", "http://x")


def batch(first: int, n: int, bad: set[int]) -> BuiltBatch:
    events = [(first + i, f'{{"i":{first + i}}}'.encode()) for i in range(n) if first + i not in bad]
    rejects = [Reject(row=first + i, code="x", field=None, message="m") for i in range(n) if first + i in bad]
    return BuiltBatch(first_row=first, events=events, rejects=rejects)


def cut(start: int, total: int, bad: set[int], first_seq: int = 0, batch_rows: int = 37) -> list[Chunk]:
    chunker = Chunker(10, first_seq=first_seq, start_row=start)
    out: list[Chunk] = []
    for first in range(start, total, batch_rows):
        out += chunker.feed(batch(first, min(batch_rows, total - first), bad))
    return out + list(chunker.finish(total))


def test_chunks_cover_every_row_once() -> None:
    bad = {0, 5, 99, 100, 101, 249}
    chunks = cut(0, 250, bad)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start_row == 0 and chunks[-1].end_row == 250
    assert all(a.end_row == b.start_row for a, b in itertools.pairwise(chunks))
    assert sum(len(c.events) for c in chunks) == 250 - len(bad)
    assert sorted(r.row for c in chunks for r in c.rejects) == sorted(bad)
    assert all(len(c.events) == 10 for c in chunks[:-1])


@pytest.mark.parametrize("batch_rows", [1, 7, 37, 1000])
def test_resuming_at_any_chunk_start_cuts_the_same_chunks(batch_rows: int) -> None:
    bad = {3, 4, 50, 51, 52, 199}
    full = cut(0, 200, bad, batch_rows=batch_rows)
    for k, chunk in enumerate(full):
        again = cut(chunk.start_row, 200, bad, first_seq=chunk.seq, batch_rows=batch_rows)
        assert [(c.seq, c.start_row, c.end_row, c.body()) for c in again] == [
            (c.seq, c.start_row, c.end_row, c.body()) for c in full[k:]
        ]


def test_batch_boundaries_do_not_change_chunks() -> None:
    bodies = {n: [c.body() for c in cut(0, 333, {7, 8, 300}, batch_rows=n)] for n in (1, 10, 33, 500)}
    assert len({tuple(v) for v in bodies.values()}) == 1


def test_out_of_order_acks_advance_the_prefix_only_when_contiguous(tmp_path: Path) -> None:
    path = str(tmp_path / "cp.sqlite")
    store = SQLiteCheckpointStore(path)
    state = store.open_job(IDENTITY, restart=False)
    store.commit_chunks("job-a", state, [AckedChunk(1, 10, 20, None, 10, [])])
    store.commit_chunks("job-a", state, [AckedChunk(2, 20, 30, None, 9, [{"row": 25, "reason": "r"}])])
    assert (state.prefix_seq, state.prefix_row, {s: a.end_row for s, a in state.acked.items()}) == (
        -1,
        0,
        {1: 20, 2: 30},
    )
    store.close()

    store = SQLiteCheckpointStore(path)  # a new run after a crash
    state = store.open_job(IDENTITY, restart=False)
    assert (state.prefix_seq, state.prefix_row, {s: a.end_row for s, a in state.acked.items()}) == (
        -1,
        0,
        {1: 20, 2: 30},
    )
    store.commit_chunks("job-a", state, [AckedChunk(0, 0, 10, None, 10, [])])
    assert (state.prefix_seq, state.prefix_row, state.acked) == (2, 30, {})
    assert (state.events_sent, state.rejected, state.rows_done) == (29, 1, 30)
    assert [b'"row":25' in r for r in store.rejects("job-a")] == [True]
    store.close()


def test_changed_source_or_mapping_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "cp.sqlite")
    store = SQLiteCheckpointStore(path)
    store.open_job(IDENTITY, restart=False)
    store.close()
    changed = JobIdentity("job-a", "src", "sfp", "map", "OTHER", "http://x")
    store = SQLiteCheckpointStore(path)
    with pytest.raises(CheckpointMismatchError, match=r"mapping of job 'job-a' changed.*--restart"):
        store.open_job(changed, restart=False)
    store.close()
    store = SQLiteCheckpointStore(path)
    state = store.open_job(changed, restart=True)
    assert state.generation == 2
    store.close()


def test_restart_changes_the_idempotency_keys(tmp_path: Path) -> None:
    store = SQLiteCheckpointStore(str(tmp_path / "cp.sqlite"))
    first = store.open_job(IDENTITY, restart=False).idempotency_prefix(IDENTITY)
    store.close()
    store = SQLiteCheckpointStore(str(tmp_path / "cp.sqlite"))
    resumed = store.open_job(IDENTITY, restart=False).idempotency_prefix(IDENTITY)
    store.close()
    store = SQLiteCheckpointStore(str(tmp_path / "cp.sqlite"))
    restarted = store.open_job(IDENTITY, restart=True).idempotency_prefix(IDENTITY)
    store.close()
    assert first == resumed != restarted


def _hold(path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event) -> None:
    store = SQLiteCheckpointStore(path)
    store.open_job(IDENTITY, restart=False)
    ready.set()
    done.wait(10)
    store.close()


def test_a_second_process_on_the_same_job_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "cp.sqlite")
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(path, ready, done))
    holder.start()
    try:
        assert ready.wait(10)
        store = SQLiteCheckpointStore(path)
        with pytest.raises(JobLockedError, match="another process"):
            store.open_job(IDENTITY, restart=False)
        store.close()
    finally:
        done.set()
        holder.join(10)
    store = SQLiteCheckpointStore(path)  # free again once the holder is gone
    store.open_job(IDENTITY, restart=False)
    store.close()


def test_forgetting_out_of_order_chunks_takes_back_their_counts_and_rejects(tmp_path: Path) -> None:
    path = str(tmp_path / "cp.sqlite")
    store = SQLiteCheckpointStore(path)
    state = store.open_job(IDENTITY, restart=False)
    store.commit_chunks("job-a", state, [AckedChunk(0, 0, 10, '["k9"]', 10, [])])
    store.commit_chunks("job-a", state, [AckedChunk(2, 20, 30, '["k29"]', 9, [{"row": 25, "reason": "r"}])])
    store.close()
    store = SQLiteCheckpointStore(path)  # a live table: chunk 2 may be cut differently now
    state = store.open_job(IDENTITY, restart=False, keep_out_of_order=False)
    assert (state.prefix_seq, state.prefix_key, state.acked) == (0, '["k9"]', {})
    assert (state.rows_done, state.events_sent, state.rejected) == (10, 10, 0)
    assert store.totals("job-a") == {"rows_done": 10, "events_sent": 10, "rejected": 0}
    assert list(store.rejects("job-a")) == []
    store.close()


def _store_contents(store: SQLiteCheckpointStore) -> tuple[object, ...]:
    job = store._run("SELECT prefix_seq, prefix_row, rows_done, events_sent, rejected FROM spotzee_jobs")
    chunks = store._run("SELECT seq, start_row, end_row, events, rejected FROM spotzee_chunks ORDER BY seq")
    return job, chunks, list(store.rejects("job-a"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(12)), cuts=st.sets(st.integers(1, 11)), reopen_at=st.integers(0, 12))
def test_a_group_commit_leaves_what_one_commit_per_chunk_leaves(
    tmp_path: Path, order: list[int], cuts: set[int], reopen_at: int
) -> None:
    """Chunks acknowledged in any order and committed in groups (with a crash-and-resume between two
    groups) leave, after every group, the checkpoint that committing them one by one leaves."""
    chunks = [
        AckedChunk(seq, seq * 10, seq * 10 + 10, None, 10 - seq % 3, [{"row": seq * 10 + k} for k in range(seq % 3)])
        for seq in range(12)
    ]
    acked = [chunks[i] for i in order]
    run = len(list(tmp_path.iterdir()))
    one_by_one = SQLiteCheckpointStore(str(tmp_path / f"single-{run}.sqlite"))
    single_state = one_by_one.open_job(IDENTITY, restart=False)
    after = [(_store_contents(one_by_one), single_state.prefix_seq, dict(single_state.acked))]
    for chunk in acked:
        one_by_one.commit_chunks("job-a", single_state, [chunk])
        after.append((_store_contents(one_by_one), single_state.prefix_seq, dict(single_state.acked)))
    one_by_one.close()

    path = str(tmp_path / f"grouped-{run}.sqlite")
    store = SQLiteCheckpointStore(path)
    state = store.open_job(IDENTITY, restart=False)
    for start, end in itertools.pairwise(sorted({0, len(acked), *cuts, reopen_at})):
        if start == reopen_at:  # a new run resumes from what the store holds
            store.close()
            store = SQLiteCheckpointStore(path)
            state = store.open_job(IDENTITY, restart=False)
        store.commit_chunks("job-a", state, acked[start:end])
        assert (_store_contents(store), state.prefix_seq, state.acked) == after[end], (start, end)
    store.close()
    job, stored_beyond, rejects = after[-1][0]
    assert job == [(11, 120, 120, sum(c.events for c in chunks), 12)] and stored_beyond == [] and len(rejects) == 12


def test_a_commit_whose_answer_was_lost_is_written_again_without_doubling(tmp_path: Path) -> None:
    """A store connection cut while COMMIT was on the wire: the commit may have landed, the loader cannot know, so
    it holds the chunks and writes them again with the next ones. The job's totals, its out-of-order chunks and
    its rejects must come out as if written once."""
    store = SQLiteCheckpointStore(str(tmp_path / "cp.sqlite"))
    state = store.open_job(IDENTITY, restart=False)
    before = copy.deepcopy(state)
    landed = [AckedChunk(0, 0, 10, None, 10, []), AckedChunk(2, 20, 30, None, 9, [{"row": 25, "reason": "r"}])]
    store.try_commit_chunks("job-a", state, landed)  # it landed...
    store._unsure = True  # ...but its answer was lost: the loader's state is still the one before
    store.try_commit_chunks("job-a", before, [*landed, AckedChunk(3, 30, 40, None, 10, [])])

    assert (before.prefix_seq, before.acked) == (0, {2: Acked(30, None), 3: Acked(40, None)})
    assert store.totals("job-a") == {"rows_done": 30, "events_sent": 29, "rejected": 1}
    assert [json.loads(r) for r in store.rejects("job-a")] == [{"row": 25, "reason": "r"}]
    reopened = SQLiteCheckpointStore(str(tmp_path / "cp.sqlite"))
    store.close()
    again = reopened.open_job(IDENTITY, restart=False)
    assert (again.prefix_seq, again.acked, again.rows_done) == (0, {2: Acked(30, None), 3: Acked(40, None)}, 30)
    reopened.close()
