"""Core loader figures: events/s on a 1M-row Parquet file against the mock server (unthrottled),
peak RSS of the loader process, and the cost of a kill -9 at ~50% followed by a resume.

    .venv/bin/python bench/core_load.py [--rows 1000000] [--workdir /tmp/spotzee-bench]

Prints figures; asserts nothing about time (speed is measured here, never in tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
from harness import KEY, MockProcess, run_loader

from spotzee_loader.examples import example_orders


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotzee-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"orders_{args.rows}.parquet"
    if not data.exists():
        pq.write_table(example_orders(args.rows, seed=1), data, row_group_size=100_000)
    with MockProcess(ip_limits=False) as mock:
        base = [sys.executable, "-m", "spotzee_loader", str(data), "--preset", "orders", "--api-key", KEY,
                "--base-url", mock.base_url, "--rate-limit", "0", "-q",
                "--checkpoint", str(args.workdir / "checkpoints.sqlite")]  # fmt: skip
        run = run_loader([*base, "--job", "full", "--restart"])
        assert run.code == 0, run.code
        print(
            f"full load: {args.rows:,} rows in {run.seconds:.1f}s = {args.rows / run.seconds:,.0f} events/s, "
            f"peak RSS {run.peak_rss / 2**20:.0f} MiB"
        )
        mock.reset()
        report = args.workdir / "resume-report.json"
        killed = run_loader([*base, "--job", "kill", "--restart"], lambda: mock.stats()["events"] >= args.rows // 2)
        at_kill = mock.stats()["events"]
        run = run_loader([*base, "--job", "kill", "--report", str(report)])
        assert run.code == 0, run.code
        r = json.loads(report.read_text())
        total = mock.stats()["events"]
        print(
            f"kill -9 after {killed.seconds:.1f}s with {at_kill:,} events recorded; resume took {run.seconds:.1f}s, "
            f"re-read {r['rows_read']:,} rows from row {r['resumed_from_row']:,}, "
            f"{r['rows_skipped']:,} skipped as already acknowledged, {r['events_sent']:,} sent; "
            f"server total {total:,} for {args.rows:,} rows (duplicates {total - args.rows:,}: "
            "bodies resent under the same keys are replayed, not recorded)"
        )


if __name__ == "__main__":
    main()
