"""Loads sharing one API budget on one host, against Spotzee's edge as the contract states it (the per-IP rules:
8,000 requests in any 60 s, else a 120-s block): one CLI run alone, then two started together, then a second
joining halfway. (bench/published_limits.py runs longer loads, over the minute window.)

A last case gives each load its own budget name, which is what every load did before budgets were shared.
Prints, for each case, the events/s between the first and the last request the mock server saw, requests/s,
and the share of 429 answers. Target: together within the budget (125 requests/s by default) and >= 90% of it,
no 429.

    ../.venv/bin/python shared_budget.py [--rows 30000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from harness import KEY, MockProcess, pace

from spotzee_loader.examples import example_orders


def orders(path: Path, first_id: int, rows: int) -> Path:
    table = example_orders(rows, seed=first_id)
    pq.write_table(table.set_column(0, "order_id", pa.array(range(first_id, first_id + rows), pa.int64())), path)
    return path


def start(source: Path, mock: MockProcess, checkpoint: Path, budget: str = "default") -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "spotzee_loader", str(source), "--preset", "orders", "--api-key", KEY]
    cmd += [
        "--base-url",
        mock.base_url,
        "--checkpoint",
        str(checkpoint),
        "--restart",
        "--yes",
        "-q",
        "--budget",
        budget,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def report(label: str, mock: MockProcess, runs: list[subprocess.Popen[str]]) -> None:
    codes = [run.wait() for run in runs]
    print(f"{label}: {pace(mock.stats())}; exits {codes}")
    mock.reset()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30_000, help="rows per load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, MockProcess() as mock:
        work = Path(tmp)
        checkpoint = work / "checkpoints.sqlite"
        first, second = orders(work / "a.parquet", 1, args.rows), orders(work / "b.parquet", 10**7, args.rows)
        report("one load alone", mock, [start(first, mock, checkpoint)])
        report("two loads started together", mock, [start(first, mock, checkpoint), start(second, mock, checkpoint)])
        alone = start(first, mock, checkpoint)
        time.sleep(args.rows / 100 / 125 / 2)  # halfway through the first load
        report("a second load joining halfway", mock, [alone, start(second, mock, checkpoint)])
        # What each load did before budgets were shared: the whole rate each, blind to the other.
        blind = [start(first, mock, checkpoint, "a"), start(second, mock, checkpoint, "b")]
        report("two loads with separate budgets (no sharing)", mock, blind)


if __name__ == "__main__":
    main()
