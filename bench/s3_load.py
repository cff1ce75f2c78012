"""TPC-H orders loaded from an S3-compatible server (moto's standalone server, its own process) against the same
file on the local disk: events/s unthrottled and peak RSS of each, and whether the same event set arrived.

Target (issue 15): from S3, >= 80% of the local events/s, peak RSS <= 250 MiB, the same events.

    ../.venv/bin/python s3_load.py [--scale 1]      # TPC-H files from ceiling.py's work dir (made if missing)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
from ceiling import tpch_orders
from harness import KEY, MockProcess, free_port, run_loader

MAPPING = Path(__file__).with_name("tpch_orders.toml")
WORK = Path("/tmp/spotzee-ceiling")


def tpch(scale: str) -> Path:
    return tpch_orders(WORK, scale)  # the same file ceiling.py measures


def loader(source: str, mock: MockProcess, env: dict[str, str], job: str) -> tuple[float, int, int | None]:
    cmd = [sys.executable, "-m", "spotzee_loader", source, "--mapping", str(MAPPING), "--api-key", KEY]
    cmd += ["--base-url", mock.base_url, "--checkpoint", str(WORK / "s3-bench.sqlite"), "--job", job]
    cmd += ["--rate-limit", "0", "--restart", "-q"]
    old = dict(os.environ)
    os.environ.update(env)  # run_loader inherits this process's environment
    try:
        run = run_loader(cmd)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return run.seconds, run.peak_rss, run.code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="1")
    args = parser.parse_args()
    path = tpch(args.scale)
    port = free_port()
    server = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
    time.sleep(2)
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    try:
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench-secret")  # fmt: skip
        s3.create_bucket(Bucket="tpch")
        s3.upload_file(str(path), "tpch", f"sf{args.scale}/orders.parquet")
        results = {}
        for label, source in (("local", str(path)), ("s3", f"s3://tpch/sf{args.scale}/orders.parquet")):
            with MockProcess(ip_limits=False) as mock:
                seconds, rss, code = loader(source, mock, env, f"s3-bench-{label}")
                events = mock.stats()["events"]
            results[label] = events / seconds
            print(
                f"{label}: {events:,} events in {seconds:.1f}s = {events / seconds:,.0f} events/s, "
                f"peak RSS {rss / 2**20:.0f} MiB, exit {code}",
                flush=True,
            )
        print(f"S3 / local: {results['s3'] / results['local']:.0%} of the local events/s")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
