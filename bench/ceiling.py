"""Throughput and memory at the ceiling, on TPC-H ``orders`` (tpchgen-cli), side by side in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/ceiling.py [--scales 0.1,1] [--workdir /tmp/spotzee-ceiling] [--skip-naive] [--skip-dlt]

Prints, for the record (asserts nothing about time):
1. events/s end to end against the mock server with ``--rate-limit 0``, at each scale (the median of
   ``--repeat`` runs: this shared machine varies ~10% between runs), with peak RSS, and the fixed cost of
   any run (interpreter, imports, opening the checkpoint: a 1,000-row file);
2. the same work done naively (pandas ``read_parquet`` + ``iterrows`` + ``requests.post`` per 100) and with
   dlt's ``@dlt.destination(batch_size=100)``, and the ratios;
3. with default settings against the mock's published per-IP rules (8,000 requests in any 60 s, else a 120-s
   block): events/s between the first and the last request, and the number of 429s;
4. peak RSS per scale and the ratio between them;
5. resume cost: ``kill -9`` at ~90% of the largest scale, then the time to finish, next to the time the
   full run spent on its last 10%, with and without the fixed cost of starting a run;
6. the same table in PostgreSQL as the source (needs PostgreSQL on 127.0.0.1:5432).

The loader, the mock server and the alternatives share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
from harness import KEY, MockProcess, pace, run_loader

HERE = Path(__file__).resolve().parent
MAPPING = HERE / "tpch_orders.toml"
NAIVE = HERE / "naive_loader.py"
DLT = HERE / "dlt_loader.py"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def tpch_orders(workdir: Path, scale: str) -> Path:
    """TPC-H orders at ``scale`` as Parquet (decimal128, date32 and string_view columns), made once."""
    out = workdir / f"sf{scale}"
    path = out / "orders.parquet"
    if not path.exists():
        cli = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
        subprocess.run([cli, "parquet", "-s", scale, "--tables=orders", f"--output-dir={out}"], check=True)
    return path


def loader_cmd(source: str, base_url: str, checkpoint: Path, job: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "spotzee_loader",
        source,
        "--mapping",
        str(MAPPING),
        "--api-key",
        KEY,
        "--base-url",
        base_url,
        "--checkpoint",
        str(checkpoint),
        "--job",
        job,
        "-q",
        *extra,
    ]


def pg_copy(parquet: Path) -> str:
    """The Parquet table copied into PostgreSQL (database spotzee_bench, table tpch_orders), made once."""
    rows = pq.ParquetFile(parquet).metadata.num_rows
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'spotzee_bench'").fetchone():
            admin.execute("CREATE DATABASE spotzee_bench")
    url = PG_ADMIN.rsplit("/", 1)[0] + "/spotzee_bench"
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'tpch_orders'").fetchone()
        if found and found[0] and conn.execute("SELECT count(*) FROM tpch_orders").fetchone() == (rows,):
            return url
        conn.execute("DROP TABLE IF EXISTS tpch_orders")
        conn.execute(
            "CREATE TABLE tpch_orders (o_orderkey bigint PRIMARY KEY, o_custkey bigint NOT NULL,"
            " o_orderstatus text, o_totalprice numeric(15,2), o_orderdate date, o_orderpriority text,"
            " o_clerk text, o_shippriority int, o_comment text)"
        )
        with conn.cursor().copy("COPY tpch_orders FROM STDIN") as copy:
            for batch in pq.ParquetFile(parquet).iter_batches(batch_size=50_000):
                for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
                    copy.write_row(row)
        conn.execute("ANALYZE tpch_orders")
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="0.1,1")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotzee-ceiling"))
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scale in [1]; the median is reported")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    scales = args.scales.split(",")
    files = {scale: tpch_orders(args.workdir, scale) for scale in scales}
    checkpoint = args.workdir / "checkpoints.sqlite"
    figures: dict[str, object] = {}

    with MockProcess(ip_limits=False) as mock:
        # 1 + 4: unthrottled, each scale.
        rates: dict[str, float] = {}
        peaks: dict[str, float] = {}
        full_seconds = 0.0
        for scale, path in files.items():
            rows = pq.ParquetFile(path).metadata.num_rows
            runs = []
            for _ in range(args.repeat):
                mock.reset()
                mock_cpu = mock.cpu_s()
                run = run_loader(loader_cmd(str(path), mock.base_url, checkpoint, f"sf{scale}", "--rate-limit", "0",
                                            "--restart"))  # fmt: skip
                assert run.code == 0 and mock.stats()["events"] == rows, (run.code, mock.stats())
                runs.append(run)
                print(
                    f"    scale {scale}: {rows:,} events in {run.seconds:.1f}s = {rows / run.seconds:,.0f} events/s, "
                    f"peak RSS {run.peak_rss / 2**20:.0f} MiB, CPU {run.cpu_s:.1f}s "
                    f"(mock server {mock.cpu_s() - mock_cpu:.1f}s)"
                )
            seconds = statistics.median(r.seconds for r in runs)
            rates[scale], peaks[scale] = rows / seconds, max(r.peak_rss for r in runs) / 2**20
            full_seconds = seconds
            spread = ", ".join(f"{rows / r.seconds:,.0f}" for r in runs)
            print(
                f"[1] loader, scale {scale}: median {rates[scale]:,.0f} events/s over {len(runs)} runs ({spread}), "
                f"peak RSS {peaks[scale]:.0f} MiB"
            )
        small = args.workdir / "first-1000.parquet"
        pq.write_table(pq.ParquetFile(files[scales[0]]).read_row_group(0).slice(0, 1000), small)
        mock.reset()
        startup = statistics.median(
            run_loader(loader_cmd(str(small), mock.base_url, checkpoint, "startup", "--rate-limit", "0", "--restart"))
            .seconds for _ in range(3)
        )  # fmt: skip
        print(f"[1] fixed cost of a run (1,000 rows: start, imports, checkpoint, 10 requests): {startup:.2f}s")
        if len(scales) > 1:
            print(f"[4] peak RSS scale {scales[-1]} / scale {scales[0]}: {peaks[scales[-1]] / peaks[scales[0]]:.2f}x")
        figures.update(rates=rates, peaks=peaks)

        # 2: the alternatives on the same files.
        for label, script, skip in (("naive", NAIVE, args.skip_naive), ("dlt", DLT, args.skip_dlt)):
            if skip:
                continue
            for scale, path in files.items():
                rows = pq.ParquetFile(path).metadata.num_rows
                mock.reset()
                run = run_loader([sys.executable, str(script), str(path), mock.base_url, KEY])
                sent = mock.stats()["events"]
                rate = sent / run.seconds
                print(
                    f"[2] {label}, scale {scale}: {sent:,} of {rows:,} events in {run.seconds:.1f}s = {rate:,.0f} "
                    f"events/s, peak RSS {run.peak_rss / 2**20:.0f} MiB; the loader is {rates[scale] / rate:.1f}x "
                    f"faster (exit {run.code})"
                )

        # 5: kill -9 at ~90% of the largest scale, then finish.
        scale, path = scales[-1], files[scales[-1]]
        rows = pq.ParquetFile(path).metadata.num_rows
        mock.reset()
        base = loader_cmd(str(path), mock.base_url, checkpoint, "resume", "--rate-limit", "0")
        killed = run_loader([*base, "--restart"], kill_when=lambda: mock.stats()["events"] >= rows * 0.9)
        at_kill = mock.stats()["events"]
        report = args.workdir / "resume-report.json"
        run = run_loader([*base, "--report", str(report)])
        r = json.loads(report.read_text())
        tail = (full_seconds - startup) * (rows - at_kill) / rows
        print(
            f"[5] kill -9 after {killed.seconds:.1f}s at {at_kill:,} events ({at_kill / rows:.0%}); finishing took "
            f"{run.seconds:.1f}s (re-read {r['rows_read']:,} rows from row {r['resumed_from_row']:,}, sent "
            f"{r['events_sent']:,}); the full run spent {tail:.1f}s on the same share: {run.seconds / tail:.2f}x, "
            f"{(run.seconds - startup) / tail:.2f}x without the fixed cost of a run; "
            f"server total {mock.stats()['events']:,} for {rows:,} rows"
        )

    # 3: default settings against the published per-IP rules (8,000 a minute, else a 120-s block).
    path = files[scales[0]]
    rows = pq.ParquetFile(path).metadata.num_rows
    with MockProcess() as mock:
        run = run_loader(loader_cmd(str(path), mock.base_url, checkpoint, "paced", "--restart"))
        print(
            f"[3] default pace vs the published per-IP rules, scale {scales[0]}: {pace(mock.stats())}; exit {run.code}"
        )

    # 6: PostgreSQL as the source.
    if not args.skip_pg:
        scale, path = scales[-1], files[scales[-1]]
        rows = pq.ParquetFile(path).metadata.num_rows
        url = pg_copy(path)
        with MockProcess(ip_limits=False) as mock:
            source = [url, "--table", "tpch_orders"]
            dry = run_loader(loader_cmd(source[0], mock.base_url, checkpoint, "pg-dry", *source[1:], "--dry-run"))
            run = run_loader(
                loader_cmd(source[0], mock.base_url, checkpoint, "pg", *source[1:], "--rate-limit", "0", "--restart")
            )
            assert run.code == 0 and mock.stats()["events"] == rows, (run.code, mock.stats())
            parquet_dry = run_loader(loader_cmd(str(path), mock.base_url, checkpoint, "pq-dry", "--dry-run"))
            print(
                f"[6] PostgreSQL source, scale {scale}: {rows:,} events in {run.seconds:.1f}s = "
                f"{rows / run.seconds:,.0f} events/s, peak RSS {run.peak_rss / 2**20:.0f} MiB; dry run (read + map, "
                f"no sending) peak RSS {dry.peak_rss / 2**20:.0f} MiB vs {parquet_dry.peak_rss / 2**20:.0f} MiB "
                f"from Parquet: reading PostgreSQL adds {(dry.peak_rss - parquet_dry.peak_rss) / 2**20:+.0f} MiB"
            )


if __name__ == "__main__":
    main()
