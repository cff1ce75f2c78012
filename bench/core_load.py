"""Core loader figures: events/s on a 1M-row Parquet file against the mock server (unthrottled),
peak RSS of the loader process, and the cost of a kill -9 at ~50% followed by a resume.

    .venv/bin/python bench/core_load.py [--rows 1000000] [--workdir /tmp/spotzee-bench]

Prints figures; asserts nothing about time (speed is measured here, never in tests).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import requests

from spotzee_loader.examples import example_orders

KEY = "sk_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mock_stats(port: int) -> dict[str, int]:
    return requests.get(f"http://127.0.0.1:{port}/_mock/stats", timeout=5).json()  # type: ignore[no-any-return]


def run_loader(cmd: list[str], kill_at: int | None, port: int) -> tuple[float, int, int | None]:
    """Run the CLI; returns (seconds, peak RSS bytes, exit code or None when killed)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        if kill_at is not None and mock_stats(port)["events"] >= kill_at:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return time.monotonic() - started, peak, None
        time.sleep(0.05)
    return time.monotonic() - started, peak, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotzee-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"orders_{args.rows}.parquet"
    if not data.exists():
        pq.write_table(example_orders(args.rows, seed=1), data, row_group_size=100_000)
    port = free_port()
    mock = subprocess.Popen(
        [sys.executable, "-m", "spotzee_loader", "mock-server", "--port", str(port), "--api-key", KEY, "--no-store"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert mock.stdout is not None and "listening" in mock.stdout.readline()
    base = [
        sys.executable,
        "-m",
        "spotzee_loader",
        str(data),
        "--preset",
        "orders",
        "--api-key",
        KEY,
        "--base-url",
        f"http://127.0.0.1:{port}/api/client",
        "--rate-limit",
        "0",
        "-q",
        "--checkpoint",
        str(args.workdir / "checkpoints.sqlite"),
    ]
    try:
        seconds, peak, code = run_loader([*base, "--job", "full", "--restart"], None, port)
        assert code == 0, code
        print(
            f"full load: {args.rows:,} rows in {seconds:.1f}s = {args.rows / seconds:,.0f} events/s, "
            f"peak RSS {peak / 2**20:.0f} MiB"
        )

        requests.post(f"http://127.0.0.1:{port}/_mock/reset", timeout=5)
        report = args.workdir / "resume-report.json"
        killed_after, _, _ = run_loader([*base, "--job", "kill", "--restart"], args.rows // 2, port)
        at_kill = mock_stats(port)["events"]
        seconds, _, code = run_loader([*base, "--job", "kill", "--report", str(report)], None, port)
        assert code == 0, code
        r = json.loads(report.read_text())
        total = mock_stats(port)["events"]
        print(
            f"kill -9 after {killed_after:.1f}s with {at_kill:,} events recorded; resume took {seconds:.1f}s, "
            f"re-read {r['rows_read']:,} rows from row {r['resumed_from_row']:,}, "
            f"{r['rows_skipped']:,} skipped as already acknowledged, {r['events_sent']:,} sent; "
            f"server total {total:,} for {args.rows:,} rows (duplicates {total - args.rows:,}: "
            "bodies resent under the same keys are replayed, not recorded)"
        )
    finally:
        mock.terminate()
        mock.wait(10)


if __name__ == "__main__":
    main()
