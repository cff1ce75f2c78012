"""Warehouse figures: a 1.5M-row PostgreSQL orders table as the source.

    .venv/bin/python bench/warehouse_load.py [--rows 1500000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Prints: the extra memory of reading the table alone (source iteration, no sending), whether the events equal
those of a Parquet copy of the same rows (digest of the dry-run output), events/s and peak RSS loading it into
the mock server unthrottled, and a kill -9 at ~50% followed by a resume by key.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from harness import KEY, MockProcess, run_loader

MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
key = ["order_id"]
data_json = "props"
data_columns = ["order_id", "total_amount", "currency", "item_count", "status", "due"]
"""
READ_ONLY = """
import resource, sys
from spotzee_loader.config import SourceOptions
from spotzee_loader.pipeline import load_mapping_file
from spotzee_loader.sources import ResumePoint, open_source
src = open_source(sys.argv[1], SourceOptions(table="bench_orders"))
src.prepare(load_mapping_file(__import__("pathlib").Path(sys.argv[2])))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = sum(part.batch.num_rows for part in src.batches(ResumePoint(), None))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(rows, before // 1024, after // 1024)
"""


def make_table(admin_url: str, rows: int) -> str:
    db = "spotzee_bench"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            admin.execute(f"CREATE DATABASE {db}")
    url = admin_url.rsplit("/", 1)[0] + "/" + db
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'bench_orders'").fetchone()
        if exists and exists[0] and conn.execute("SELECT count(*) FROM bench_orders").fetchone() == (rows,):
            return url
        conn.execute("DROP TABLE IF EXISTS bench_orders")
        conn.execute("""CREATE TABLE bench_orders (order_id bigint PRIMARY KEY, customer_id bigint,
            ordered_at timestamptz NOT NULL, total_amount numeric(12,2), currency text, item_count int, status text,
            due date, props jsonb)""")
        conn.execute(f"""INSERT INTO bench_orders SELECT i, 1 + i % 150000,
            timestamptz '1992-01-01 00:00:00+00' + i * interval '3 minutes', (i % 500000) / 100.0 + 0.01, 'USD',
            1 + i % 7, CASE WHEN i % 3 = 0 THEN 'F' ELSE 'O' END, date '1992-01-01' + (i % 2400),
            jsonb_build_object('clerk', 'Clerk#' || (i % 1000), 'priority', i % 5)
            FROM generate_series(1, {int(rows)}) AS i""")
        conn.execute("ANALYZE bench_orders")
    return url


def export_parquet(url: str, path: Path) -> None:
    """The same rows, in key order, with the natural Arrow types (streamed: a server-side cursor)."""
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("ordered_at", pa.timestamp("us", tz="UTC")),
            ("total_amount", pa.decimal128(12, 2)),
            ("currency", pa.string()),
            ("item_count", pa.int32()),
            ("status", pa.string()),
            ("due", pa.date32()),
            ("props", pa.string()),
        ]
    )
    with psycopg.connect(url) as conn, conn.cursor(name="export") as cur, pq.ParquetWriter(path, schema) as writer:
        cur.execute("SELECT * FROM bench_orders ORDER BY order_id")
        while rows := cur.fetchmany(100_000):
            cols = list(zip(*rows, strict=True))
            cols[8] = tuple(json.dumps(p, separators=(",", ":")) for p in cols[8])
            writer.write_table(pa.table(dict(zip(schema.names, cols, strict=True)), schema=schema))


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotzee-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    url = make_table(args.pg, args.rows)
    mapping = args.workdir / "bench_orders.toml"
    mapping.write_text(MAPPING)
    print(f"table ready ({args.rows:,} rows) in {time.monotonic() - started:.0f}s")

    out = subprocess.run(
        [sys.executable, "-c", READ_ONLY, url, str(mapping)], capture_output=True, text=True, check=True
    ).stdout.split()
    print(
        f"reading the table alone: {int(out[0]):,} rows, peak RSS {out[1]} MiB before the first row and "
        f"{out[2]} MiB after the last: +{int(out[2]) - int(out[1])} MiB"
    )

    parquet = args.workdir / "bench_orders.parquet"
    if not parquet.exists():
        export_parquet(url, parquet)
    outputs = {}
    for label, source in (("postgres", [url, "--table", "bench_orders"]), ("parquet", [str(parquet)])):
        target = args.workdir / f"events-{label}.jsonl"
        t = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "spotzee_loader",
                *source,
                "--mapping",
                str(mapping),
                "--dry-run",
                "--output",
                str(target),
                "-q",
            ],
            check=True,
            capture_output=True,
        )
        outputs[label] = digest(target)
        print(f"dry run from {label}: {time.monotonic() - t:.1f}s, events digest {outputs[label]}")
        target.unlink()
    print("events identical from PostgreSQL and Parquet:", outputs["postgres"] == outputs["parquet"])

    with MockProcess(ip_limits=False) as mock:
        base = [sys.executable, "-m", "spotzee_loader", url, "--table", "bench_orders", "--mapping", str(mapping),
                "--api-key", KEY, "--base-url", mock.base_url, "--rate-limit", "0", "-q",
                "--checkpoint", str(args.workdir / "checkpoints.sqlite")]  # fmt: skip
        run = run_loader([*base, "--job", "pg-full", "--restart"])
        assert run.code == 0, run.code
        print(
            f"load from PostgreSQL: {args.rows:,} rows in {run.seconds:.1f}s = {args.rows / run.seconds:,.0f} "
            f"events/s, peak RSS {run.peak_rss / 2**20:.0f} MiB"
        )
        mock.reset()
        report = args.workdir / "pg-resume.json"
        killed = run_loader([*base, "--job", "pg-kill", "--restart"], lambda: mock.stats()["events"] >= args.rows // 2)
        at_kill = mock.stats()["events"]
        run = run_loader([*base, "--job", "pg-kill", "--report", str(report)])
        assert run.code == 0, run.code
        r = json.loads(report.read_text())
        print(
            f"kill -9 after {killed.seconds:.1f}s ({at_kill:,} recorded); resume by key took {run.seconds:.1f}s, "
            f"read {r['rows_read']:,} rows after row {r['resumed_from_row']:,}; server total "
            f"{mock.stats()['events']:,}"
        )


if __name__ == "__main__":
    main()
