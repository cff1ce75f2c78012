"""Parquet exports in object storage, read through Arrow's S3 filesystem from a real S3-compatible server on
loopback (moto's standalone server), credentials and endpoint from the standard AWS variables."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.examples import example_orders

from .conftest import AZURITE_KEY, Cli, kill_once_sending, s3_client

BUCKET = "history"


def _upload(env: dict[str, str], prefix: str, parts: list[tuple[int, int]], tmp_path: Path) -> list[int]:
    """Parquet files ``part-N.parquet`` under ``prefix`` (each ``(first id, rows)``, row groups of 1,000)."""
    client = s3_client(env)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    ids: list[int] = []
    for n, (first, rows) in enumerate(parts):
        table = example_orders(rows, seed=first)
        table = table.set_column(0, "order_id", pa.array(range(first, first + rows), pa.int64()))
        local = tmp_path / f"part-{n}.parquet"
        pq.write_table(table, local, row_group_size=1_000)
        client.upload_file(str(local), BUCKET, f"{prefix}/part-{n}.parquet")
        ids += range(first, first + rows)
    return ids


def _cli(tmp_path: Path, mock: MockSpotzee, s3: dict[str, str]) -> Cli:
    cli = Cli(tmp_path, mock)
    cli.env.update(s3)
    return cli


def test_a_prefix_in_s3_loads_every_file_once(tmp_path: Path, mock: MockSpotzee, s3: dict[str, str]) -> None:
    ids = _upload(s3, "a/exports", [(1, 2_500), (10_001, 1_500), (20_001, 3_000)], tmp_path)
    cli = _cli(tmp_path, mock, s3)
    report = tmp_path / "report.json"
    result = cli(f"s3://{BUCKET}/a/exports/", "--preset", "orders", "--report", str(report))
    assert result.returncode == 0, result.stderr[-2000:]
    got = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(got) == ids and set(got.values()) == {1}
    r = json.loads(report.read_text())
    assert r["rows_total"] == len(ids) and r["source"] == f"s3://{BUCKET}/a/exports/"
    # A glob picks files by key, sorted.
    globbed = cli(f"s3://{BUCKET}/a/exports/part-[02].parquet", "--preset", "orders", "--dry-run")
    assert globbed.returncode == 0 and "rows read 5,500" in globbed.stdout


def test_a_killed_load_from_s3_resumes_and_a_new_file_is_reported(
    tmp_path: Path, mock: MockSpotzee, s3: dict[str, str]
) -> None:
    mock.configure({"enforce_idempotency": True})  # the chunks in flight at the kill are replayed by key
    ids = _upload(s3, "b/exports", [(1, 3_000), (50_001, 3_000)], tmp_path)
    cli = _cli(tmp_path, mock, s3)
    args = [f"s3://{BUCKET}/b/exports/", "--preset", "orders", "--job", "from-s3"]
    kill_once_sending(cli.popen(*args, "--rate-limit", "20", "--concurrency", "2"), mock, 1_000)
    assert mock.event_count < 6_000
    assert cli(*args, "--rate-limit", "0").returncode == 0
    got = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(got) == ids and set(got.values()) == {1}

    # A file added under the prefix after the job ran (a daily drop; the earlier files uploaded again, the same bytes
    # under a new time) is loaded by the next run of the job, and only it.
    _upload(s3, "b/exports", [(1, 3_000), (50_001, 3_000), (90_001, 100)], tmp_path)
    report = tmp_path / "report.json"
    grown = cli(*args, "--report", str(report))
    assert grown.returncode == 0, grown.stderr[-1000:]
    got = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(got) == [*ids, *range(90_001, 90_101)] and set(got.values()) == {1}
    r = json.loads(report.read_text())
    assert (r["files_added"], r["rows_skipped"], r["events_sent"]) == (
        [f"s3://{BUCKET}/b/exports/part-2.parquet"],
        0,
        100,
    )

    # A file read by the job and rewritten in place stops it, named; nothing is sent.
    client = s3_client(s3)
    other = tmp_path / "other.parquet"
    pq.write_table(example_orders(3_000, seed=7), other, row_group_size=1_000)
    client.upload_file(str(other), BUCKET, "b/exports/part-1.parquet")
    changed = cli(*args)
    assert changed.returncode == 1 and "Traceback" not in changed.stderr
    assert f"s3://{BUCKET}/b/exports/part-1.parquet changed in place" in changed.stderr, changed.stderr[-1000:]
    assert mock.event_count == 6_100


def test_a_missing_bucket_is_one_sentence(tmp_path: Path, mock: MockSpotzee, s3: dict[str, str]) -> None:
    result = _cli(tmp_path, mock, s3)("s3://no-such-bucket/exports/", "--preset", "orders")
    assert result.returncode == 2
    assert "the bucket does not exist" in result.stderr and "Traceback" not in result.stderr
    assert mock.event_count == 0


def test_csv_and_json_lines_in_s3_load_like_local_files(tmp_path: Path, mock: MockSpotzee, s3: dict[str, str]) -> None:
    import pyarrow.csv as pacsv

    client = s3_client(s3)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    first, second = example_orders(2_000, seed=1), example_orders(1_500, seed=2)
    second = second.set_column(0, "order_id", pa.array(range(900_001, 901_501), pa.int64()))
    local = tmp_path / "part-0.csv.gz"
    with pa.CompressedOutputStream(str(local), "gzip") as out:
        pacsv.write_csv(first, out)
    client.upload_file(str(local), BUCKET, "c/exports/part-0.csv.gz")
    lines = b"".join(
        json.dumps({**row, "ordered_at": row["ordered_at"].isoformat(), "total": float(row["total"])}).encode() + b"\n"
        for row in second.to_pylist()
    )
    client.put_object(Bucket=BUCKET, Key="c/exports/part-1.csv.gz.json/ignored", Body=b"")  # not a data file name
    client.put_object(Bucket=BUCKET, Key="d/archive/2024/01/0001.gz", Body=__import__("gzip").compress(lines))
    cli = _cli(tmp_path, mock, s3)

    csv = cli(f"s3://{BUCKET}/c/exports/", "--preset", "orders")
    assert csv.returncode == 0, csv.stderr[-2000:]
    jsonl = cli(f"s3://{BUCKET}/d/archive/", "--format", "jsonl", "--preset", "orders")
    assert jsonl.returncode == 0, jsonl.stderr[-2000:]
    got = Counter(e["data"]["order_id"] for e in mock.events)
    expected = first.column("order_id").to_pylist() + second.column("order_id").to_pylist()
    assert sorted(got) == sorted(expected) and set(got.values()) == {1}


def test_access_denied_is_one_sentence(tmp_path: Path, mock: MockSpotzee, s3: dict[str, str]) -> None:
    """An IAM user that may list the bucket but not read its objects, on a server that checks credentials."""
    import boto3
    from moto import settings

    _upload(s3, "e/exports", [(1, 100)], tmp_path)
    iam = boto3.client("iam", endpoint_url=s3["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing-secret")  # fmt: skip
    iam.create_user(UserName="lister")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    iam.put_user_policy(UserName="lister", PolicyName="list-only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="lister")["AccessKey"]
    cli = _cli(tmp_path, mock, s3)
    cli.env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on the server checks every request's credentials
    try:
        result = cli(f"s3://{BUCKET}/e/exports/", "--preset", "orders")
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before
    assert result.returncode == 2, result.stderr[-2000:]
    assert "access denied: the credentials in use may not read it" in result.stderr
    assert "Traceback" not in result.stderr and key["SecretAccessKey"] not in result.stderr + result.stdout
    assert mock.event_count == 0


def test_a_prefix_in_gcs_loads_every_file_once(tmp_path: Path, mock: MockSpotzee, gcs: dict[str, str]) -> None:
    import pyarrow.fs as pafs
    import requests

    bucket = requests.post(f"{gcs['STORAGE_EMULATOR_HOST']}/storage/v1/b?project=test", json={"name": "gcs-history"})
    assert bucket.status_code == 200, bucket.text
    fs = pafs.GcsFileSystem(anonymous=True, endpoint_override=gcs["STORAGE_EMULATOR_HOST"][7:], scheme="http")
    ids = _write_parts(fs, "gcs-history/exports/part-{}.parquet", [(1, 2_000), (50_001, 1_200)])
    _assert_loads_once(tmp_path, mock, gcs, "gs://gcs-history/exports/", ids)


def test_a_container_in_azure_loads_every_file_once(tmp_path: Path, mock: MockSpotzee, azurite: dict[str, str]) -> None:
    import pyarrow.fs as pafs

    endpoint = azurite["AZURE_STORAGE_CONNECTION_STRING"].split("BlobEndpoint=http://")[1].split("/")[0]
    fs = pafs.AzureFileSystem(account_name="devstoreaccount1", account_key=AZURITE_KEY,
                              blob_storage_authority=endpoint, blob_storage_scheme="http",
                              dfs_storage_authority=endpoint, dfs_storage_scheme="http")  # fmt: skip
    fs.create_dir("history")
    ids = _write_parts(fs, "history/exports/part-{}.csv.gz", [(1, 1_500), (70_001, 900)])  # gzipped: named .gz
    result = _assert_loads_once(tmp_path, mock, azurite, "az://history/exports/", ids)
    assert AZURITE_KEY not in result.stdout + result.stderr


def _write_parts(fs: Any, name: str, parts: list[tuple[int, int]]) -> list[int]:
    """Example orders as files ``name.format(n)`` in ``fs`` (Parquet or CSV by the name), each ``(first id, rows)``."""
    import pyarrow.csv as pacsv

    ids: list[int] = []
    for n, (first, rows) in enumerate(parts):
        table = example_orders(rows, seed=first)
        table = table.set_column(0, "order_id", pa.array(range(first, first + rows), pa.int64()))
        with fs.open_output_stream(name.format(n)) as out:
            if ".csv" in name:
                pacsv.write_csv(table, out)
            else:
                pq.write_table(table, out, row_group_size=500)
        ids += range(first, first + rows)
    return ids


def _assert_loads_once(tmp_path: Path, mock: MockSpotzee, env: dict[str, str], source: str, ids: list[int]) -> Any:
    cli = Cli(tmp_path, mock)
    cli.env.update(env)
    result = cli(source, "--preset", "orders")
    assert result.returncode == 0, result.stderr[-2000:]
    got = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(got) == ids and set(got.values()) == {1}
    return result
