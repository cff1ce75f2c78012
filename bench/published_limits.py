"""Spotzee's corrected limits (September 2026), measured against the mock that enforces them by default.

    .venv/bin/python bench/published_limits.py [--events 1000000] [--workdir /tmp/spotzee-limits] [--before REF]

Prints, for the record (asserts nothing about time):
1. events/s and 429s of one load, two loads sharing a budget (two slices), and a CLI run beside two slices, each
   against the published per-IP rules (8,000 requests in any 60 s, else a 120-s block; 4,000 per 10 s) and long
   enough that the minute window binds (``--events`` 1,000,000 at 125 requests/s is 80 s);
2. duplicates under injected ack-then-drop faults (1% of requests recorded, then the connection dropped) with
   idempotency keys ignored, as on the Main API today: this version, and with ``--before REF`` the loader at a
   git ref from before the read-back (checked out with ``git worktree`` into the workdir).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import requests
from harness import KEY, MockProcess, pace

REPO = Path(__file__).resolve().parent.parent


def orders(path: Path, first: int, rows: int) -> Path:
    ids = pa.array(range(first, first + rows), pa.int64())
    table = pa.table(
        {
            "order_id": ids,
            "customer_id": pa.compute.cast(pa.compute.divide(ids, 7), pa.string()),
            "ordered_at": pa.array([1_600_000_000_000 + i * 1000 for i in range(rows)], pa.timestamp("ms", tz="UTC")),
            "total": pa.array([1.5] * rows),
        }
    )
    pq.write_table(table, path, row_group_size=100_000)
    return path


def loader(src: Path, mock: MockProcess, checkpoint: Path, *extra: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", "spotzee_loader", str(src), "--preset", "orders", "--base-url", mock.base_url,
            "--checkpoint", str(checkpoint), "-q", *extra]  # fmt: skip


def run_together(commands: list[list[str]], env: dict[str, str] | None = None) -> None:
    procs = [subprocess.Popen(c, env={**_env(), **(env or {})}, stdout=subprocess.DEVNULL) for c in commands]
    for proc in procs:
        assert proc.wait() == 0, proc.args


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "SPOTZEE_API_KEY": KEY}


def shapes(work: Path, events: int) -> None:
    half = events // 2
    files = [orders(work / f"part{i}.parquet", 1 + i * events, n) for i, n in enumerate((events, half, half, half))]
    cases = {
        "one load": [[0]],
        "two slices sharing a budget": [[1], [2]],
        "a CLI beside two slices": [[1], [2], [3]],
    }
    for label, groups in cases.items():
        with MockProcess() as mock:
            checkpoint = work / f"{label.replace(' ', '-')}.sqlite"
            run_together([loader(files[g[0]], mock, checkpoint) for g in groups])
            stats = mock.stats()
            print(f"{label}: {pace(stats)}; 429s {stats['statuses'].get('429', 0)}, IP blocks {stats['ip_blocks']}")


def duplicates(work: Path, rows: int, python: str, label: str) -> None:
    src = orders(work / "dupes.parquet", 1, rows)
    with MockProcess("--fail-rate", "0.01", "--faults", "ack_drop", "--seed", "7", store=True) as mock:
        cmd = loader(src, mock, work / f"dupes-{label}.sqlite", "--concurrency", "4", python=python)
        subprocess.run(cmd, env=_env(), check=True, stdout=subprocess.DEVNULL, cwd=work)
        events = requests.get(f"{mock.base_url.split('/api')[0]}/_mock/events", timeout=60).json()
        counts = Counter(e["data"]["order_id"] for e in events)
        dropped = sum(1 for r in requests.get(f"{mock.base_url.split('/api')[0]}/_mock/requests", timeout=60).json()
                      if r.get("dropped"))  # fmt: skip
        doubled = sum(c - 1 for c in counts.values())
        print(f"ack-then-drop, keys ignored, {label}: {rows:,} rows, {dropped} answers dropped after recording, "
              f"{len(counts):,} distinct ids, {doubled:,} events recorded twice")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dupes-rows", type=int, default=150_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotzee-limits"))
    parser.add_argument("--before", help="a git ref of the loader before the read-back, for the duplicates' contrast")
    parser.add_argument("--skip-shapes", action="store_true")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    if not args.skip_shapes:
        shapes(args.workdir, args.events)
    duplicates(args.workdir, args.dupes_rows, sys.executable, "this version")
    if args.before:
        old = args.workdir / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.before], check=True)
        try:
            env_python = f"{sys.executable}"
            # The old tree runs with this venv's packages, its own package first on the path.
            wrapper = args.workdir / "old-python"
            wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={old} exec {env_python} "$@"\n')
            wrapper.chmod(0o700)
            duplicates(args.workdir, args.dupes_rows, str(wrapper), f"before ({args.before})")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    print(json.dumps({"workdir": str(args.workdir)}))


if __name__ == "__main__":
    main()
