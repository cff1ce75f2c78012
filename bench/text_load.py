"""CSV and JSON Lines sources (plain and gzipped) against the same rows as Parquet: events/s unthrottled against the
mock server (its own process), peak RSS of the loader, and the events each delivered, at two sizes so memory growth
with the input shows (it must not grow: text files are streamed).

Target: every format well above Spotzee's real pace of ~12,500 events/s from one egress IP (the headroom the
loader needs to keep the API, not the reader, the bottleneck), and peak RSS independent of the file size.

    ../.venv/bin/python text_load.py [--rows 1000000] [--workdir /tmp/spotzee-text-bench]

Prints figures; asserts nothing about time (speed is measured here, never in tests).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from pathlib import Path

import orjson
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from harness import KEY, MockProcess, run_loader

from spotzee_loader.examples import example_orders

FORMATS = ("parquet", "csv", "csv.gz", "jsonl", "jsonl.gz")
REAL_PACE = 12_500  # the default budget, 7,500 requests a minute, under the published 8,000
"""Events per second Spotzee accepts from one egress IP (100 requests/s of 100 events)."""


def write_formats(rows: int, folder: Path) -> dict[str, Path]:
    """The same orders in every format (made once, reused by later runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"orders_{rows}.{fmt}" for fmt in FORMATS}
    if all(p.exists() for p in paths.values()):
        return paths
    table = example_orders(rows, seed=1)
    pq.write_table(table, paths["parquet"], row_group_size=100_000)
    pacsv.write_csv(table, paths["csv"])
    with paths["jsonl"].open("wb") as out:
        for batch in table.to_batches(50_000):
            for row in batch.to_pylist():
                out.write(orjson.dumps(row, default=float) + b"\n")  # decimals as JSON numbers
    for plain in ("csv", "jsonl"):
        with paths[plain].open("rb") as src, gzip.open(paths[f"{plain}.gz"], "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotzee-text-bench"))
    args = parser.parse_args()
    sizes = (args.rows // 4, args.rows)
    print(f"{'format':9} {'rows':>10} {'MiB':>7} {'seconds':>8} {'events/s':>10} {'x real pace':>11} {'peak RSS':>9}")
    for rows in sizes:
        for fmt, path in write_formats(rows, args.workdir).items():
            with MockProcess(ip_limits=False) as mock:
                cmd = [sys.executable, "-m", "spotzee_loader", str(path), "--preset", "orders", "--api-key", KEY,
                       "--base-url", mock.base_url, "--rate-limit", "0", "-q", "--job", f"text-{fmt}-{rows}",
                       "--restart", "--checkpoint", str(args.workdir / "checkpoints.sqlite")]  # fmt: skip
                run = run_loader(cmd)
                events = mock.stats()["events"]
            rate = events / run.seconds
            flag = "" if run.code == 0 and events == rows else f"  exit {run.code}, {events:,} events of {rows:,}"
            print(
                f"{fmt:9} {rows:>10,} {path.stat().st_size / 2**20:>7.0f} {run.seconds:>8.1f} {rate:>10,.0f} "
                f"{rate / REAL_PACE:>11.1f} {run.peak_rss / 2**20:>6.0f} MiB{flag}",
                flush=True,
            )


if __name__ == "__main__":
    main()
