"""TPC-H orders loaded from MariaDB against the same rows from a local Parquet file: events/s unthrottled, peak RSS
of each (what reading from MariaDB adds), and whether the same event set arrives (a dry run of each, compared).

Target (issue 15): from MariaDB, the same event set; reading adds <= 50 MiB of peak RSS over the Parquet load.

    ../.venv/bin/python mysql_load.py [--scale 1]   # MariaDB at 127.0.0.1:3306, root, database test
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pymysql
from harness import KEY, MockProcess, run_loader
from s3_load import MAPPING, WORK, tpch

URL = "mysql://root@127.0.0.1:3306/test"
TABLE = "tpch_orders"
DDL = f"""CREATE TABLE {TABLE} (
  o_orderkey BIGINT PRIMARY KEY, o_custkey BIGINT NOT NULL, o_orderstatus CHAR(1), o_totalprice DECIMAL(15,2),
  o_orderdate DATE, o_orderpriority VARCHAR(15), o_clerk VARCHAR(15), o_shippriority INT, o_comment VARCHAR(79)
) CHARACTER SET utf8mb4"""


def load_table(parquet: Path) -> int:
    """The Parquet rows into MariaDB through LOAD DATA LOCAL INFILE (a CSV written by Arrow)."""
    table = pq.read_table(parquet)
    table = table.cast(pa.schema([pa.field(f.name, pa.string() if f.type == pa.string_view() else f.type)
                                  for f in table.schema]))  # fmt: skip  # Arrow's CSV writer has no string_view
    csv = WORK / "orders-for-mariadb.csv"
    pacsv.write_csv(table, csv, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    conn = pymysql.connect(host="127.0.0.1", user="root", database="test", local_infile=True, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL local_infile = 1")
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(DDL)
        cur.execute(
            f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE {TABLE} CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' "
            "OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n'"
        )
        cur.execute(f"SELECT COUNT(*) FROM {TABLE}")
        (rows,) = cur.fetchone()  # type: ignore[misc]
    conn.close()
    return int(rows)


def base(source: list[str], job: str) -> list[str]:
    return [sys.executable, "-m", "spotzee_loader", *source, "--mapping", str(MAPPING), "--api-key", KEY,
            "--checkpoint", str(WORK / "mysql-bench.sqlite"), "--job", job, "--restart", "-q"]  # fmt: skip


def digest(path: Path) -> str:
    """The event set: a hash of the sorted lines (the two sources are both read in key order anyway)."""
    return hashlib.sha256(b"".join(sorted(path.read_bytes().splitlines(keepends=True)))).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="1")
    args = parser.parse_args()
    parquet = tpch(args.scale)
    print(f"MariaDB table {TABLE}: {load_table(parquet):,} rows", flush=True)
    sources = {"parquet": [str(parquet)], "mariadb": [URL, "--table", TABLE]}
    rss = {}
    for label, source in sources.items():
        with MockProcess(ip_limits=False) as mock:
            run = run_loader([*base(source, f"mysql-bench-{label}"), "--base-url", mock.base_url, "--rate-limit", "0"])
            events = mock.stats()["events"]
        rss[label] = run.peak_rss
        print(
            f"{label}: {events:,} events in {run.seconds:.1f}s = {events / run.seconds:,.0f} events/s, "
            f"peak RSS {run.peak_rss / 2**20:.0f} MiB, exit {run.code}",
            flush=True,
        )
    digests = {}
    for label, source in sources.items():
        out = WORK / f"mysql-bench-{label}.jsonl"
        subprocess.run([*base(source, f"mysql-dry-{label}"), "--dry-run", "--output", str(out)], check=True)
        digests[label] = digest(out)
    same = "the same event set" if len(set(digests.values())) == 1 else f"DIFFERENT event sets {digests}"
    print(f"MariaDB adds {(rss['mariadb'] - rss['parquet']) / 2**20:+.0f} MiB of peak RSS; {same}")


if __name__ == "__main__":
    main()
