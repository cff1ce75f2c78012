"""Defects found by trying the tool as a new user would (issue 18), each pinned by a test that failed before."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from typing import Any

import pyarrow as pa

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.mapping.events import EventBuilder
from spotzee_loader.mapping.spec import Mapping

from .conftest import Cli, kill_once_sending
from .test_cli import orders


def _status(cli: Cli, job: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "spotzee_loader", "status", job, "--checkpoint", str(cli.checkpoint), "--json"]
    done = subprocess.run(cmd, env=cli.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    (status,) = json.loads(done.stdout)
    return status  # type: ignore[no-any-return]


def _moving(cli: Cli, mock: MockSpotzee, path: str, job: str) -> subprocess.Popen[str]:
    """A load of ``job`` that is sending now, slowly (20 requests/s), so it is still running when asked."""
    run = cli.popen(path, "--preset", "orders", "--job", job, "--rate-limit", "20")
    while mock.event_count < 300:
        assert run.poll() is None, "the load ended before it was seen running"
        time.sleep(0.05)
    return run


def test_a_refused_second_run_leaves_the_running_job_alone(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    path = str(write_parquet(orders(20_000)))
    first = _moving(cli, mock, path, "busy")
    try:
        second = cli(path, "--preset", "orders", "--job", "busy")
        assert second.returncode == 1 and "being run by another process" in second.stderr
        assert second.stdout.splitlines()[-1].startswith("Checkpoint store:")  # no "Job ...: failed." summary
        status = _status(cli, "busy")
        assert (status["state"], status["last_error"]) == ("running", None)
        # The total is known from the plan while the job runs, and the ETA with it.
        assert status["rows_total"] == 20_000 and 0 < status["rows_done"] < 20_000
        assert status["eta_s"] is not None and status["eta_s"] > 0
    finally:
        kill_once_sending(first, mock, 0)
    assert _status(cli, "busy")["state"] == "stale"  # its runner is gone; not "failed" by the refused run


def test_status_shows_the_total_of_a_running_job(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    path = str(write_parquet(orders(20_000)))
    run = _moving(cli, mock, path, "moving")
    try:
        cmd = [sys.executable, "-m", "spotzee_loader", "status", "moving", "--checkpoint", str(cli.checkpoint)]
        text = subprocess.run(cmd, env=cli.env, capture_output=True, text=True, timeout=60, check=False).stdout
        assert "/20,000" in text and "eta" in text.lower(), text
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(30)


def test_a_far_future_time_names_the_bound_it_breaks() -> None:
    mapping = Mapping.from_dict({"name": "e", "external_id": "id", "created_at": "t"}, origin="m.toml")
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    far = dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
    old = dt.datetime(1850, 1, 1, tzinfo=dt.UTC)
    for column in (pa.array([far, old], pa.timestamp("ms", tz="UTC")), pa.array([far.isoformat(), old.isoformat()])):
        batch = pa.record_batch({"id": ["1", "2"], "t": column})
        rejects = EventBuilder(mapping, batch.schema, now).build(batch, 0).rejects
        assert [r.code for r in rejects] == ["created_at_future", "created_at_too_old"]
        assert rejects[0].message.startswith(
            "column 't' is more than a day in the future (after 2026-11-26T12:00:00Z)"
        ), rejects[0].message
        assert rejects[1].message.startswith("column 't' is before 1900-01-01, the earliest time accepted")
