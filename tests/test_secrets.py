"""Passwords given anywhere (source, checkpoint store, proxy) appear nowhere the loader writes.

Real parts: a PostgreSQL role with a password (trust auth on loopback accepts it, but libpq and SQLAlchemy
carry it exactly as they would to a managed database), proxy.py asking for a password in front of the mock,
and the real CLI at ``-vv``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.redaction import redact

from .conftest import API_KEY, Cli, role_url

SOURCE_PW = "SrcPw-7f3a9c"
CHECKPOINT_PW = "CkptPw-2b8e1d"
PROXY_PW = "ProxyPw-5c4d"
PASSWORDS = (SOURCE_PW, CHECKPOINT_PW, PROXY_PW)
MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
key = ["order_id"]
data_columns = ["order_id"]
"""


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://loader:PW-1@db:5432/ops", "postgresql://loader:***@db:5432/ops"),
        ("postgresql+psycopg://loader:PW-1@db/ops", "postgresql+psycopg://loader:***@db/ops"),
        ("mysql://u:p@ss@h/db", "mysql://u:***@h/db"),
        ("http://:PW-1@proxy:3128", "http://:***@proxy:3128"),
        (
            "postgresql://loader@db/ops?password=PW-1&sslmode=require",
            "postgresql://loader@db/ops?password=***&sslmode=require",
        ),
        ("postgresql://db/ops?sslmode=require&PASSWORD=PW-1", "postgresql://db/ops?sslmode=require&PASSWORD=***"),
        ("host=db user=loader password=PW-1 dbname=ops", "host=db user=loader password=*** dbname=ops"),
        ("host=db password = 'P W\\'1' dbname=ops", "host=db password = *** dbname=ops"),
        ("cannot connect to postgresql://a:PW-1@h/d: refused", "cannot connect to postgresql://a:***@h/d: refused"),
        ("postgresql://loader@db/ops", "postgresql://loader@db/ops"),
        ("https://apix.spotzee.com/api/client", "https://apix.spotzee.com/api/client"),
        ("/data/orders@2024/part-0.parquet", "/data/orders@2024/part-0.parquet"),
    ],
    ids=[
        "userinfo",
        "sqlalchemy-driver",
        "raw-at-in-password",
        "proxy-without-user",
        "query-password",
        "query-password-upper",
        "libpq-keywords",
        "libpq-quoted",
        "inside-a-sentence",
        "no-password",
        "base-url",
        "file-path-with-at",
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


def _plain(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with exactly these arguments (``cli(...)`` adds the load's --base-url and --api-key)."""
    cmd = [sys.executable, "-m", "spotzee_loader", *args]
    return subprocess.run(cmd, env=cli.env, capture_output=True, text=True, timeout=60, check=False)


def _checkpoint_rows(conn: Any) -> str:
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'spotzee%'")]
    assert tables, "the checkpoint store has no tables"
    return "\n".join(str(row[0]) for t in tables for row in conn.execute(f"SELECT row_to_json(t)::text FROM {t} AS t"))


def test_no_password_in_anything_the_cli_writes(
    cli: Cli,
    mock: MockSpotzee,
    pg: tuple[str, Any, str],
    pg_database: str,
    secret_role: str,
    proxy_factory: Any,
    tmp_path: Path,
) -> None:
    _, conn, schema = pg
    assert secret_role  # a login role with SOURCE_PW as its password
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT i, i % 40, timestamptz '2024-01-01 00:00+00' + i * interval '1 minute' "
        "FROM generate_series(1, 300) i"
    )
    conn.execute(f"UPDATE {schema}.orders SET ordered_at = '2999-01-01' WHERE order_id = 150")  # one reject
    (tmp_path / "orders.toml").write_text(MAPPING)
    source = role_url(pg_database, secret_role, SOURCE_PW)
    checkpoint = role_url(pg_database, secret_role, CHECKPOINT_PW)
    proxy = proxy_factory("pxuser", PROXY_PW)
    cli.env.update({"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""})
    report, dead = tmp_path / "report.json", tmp_path / "dead.jsonl"
    common = ["--table", f"{schema}.orders", "--mapping", str(tmp_path / "orders.toml"), "--checkpoint", checkpoint]

    load = cli(source, *common, "-vv", "--report", str(report), "--dead-letter", str(dead), "--max-rejected", "1")

    assert load.returncode == 0, load.stderr[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == [i for i in range(1, 301) if i != 150] and set(ids.values()) == {1}
    assert [r["via"] for r in mock.requests] == ["1.1 proxy.py v2.4.10"] * 3  # each crossed the proxy
    assert f"Checkpoint store: postgresql://{secret_role}:***@127.0.0.1:5432/" in load.stdout
    assert json.loads(report.read_text())["source"].startswith(f"postgresql://{secret_role}:***@127.0.0.1")
    (rejected,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert rejected["key"] == {"order_id": 150} and f"{secret_role}:***@127.0.0.1" in rejected["file"]
    job = json.loads(report.read_text())["job"]

    status = _plain(cli, "status", "--checkpoint", checkpoint)
    status_json = _plain(cli, "status", job, "--checkpoint", checkpoint, "--json")
    verify = cli("verify", source, "--table", f"{schema}.orders", "--mapping", str(tmp_path / "orders.toml"))
    missing_db = source.rsplit("/", 1)[0] + "/no_such_database"
    bad_source = cli(missing_db, *common)
    in_query = role_url(pg_database, secret_role, CHECKPOINT_PW, in_query=True).replace(
        pg_database.rsplit("/", 1)[1], "no_such_database"
    )
    bad_checkpoint = cli(source, *common[:-1], in_query)
    assert status.returncode == 0 and status_json.returncode == 0, status.stderr + status_json.stderr
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert bad_source.returncode == 2 and f"{secret_role}:***@127.0.0.1" in bad_source.stderr, bad_source.stderr
    assert bad_checkpoint.returncode == 2 and "password=***" in bad_checkpoint.stderr, bad_checkpoint.stderr

    written = [load, status, status_json, verify, bad_source, bad_checkpoint]
    everything = "\n".join(r.stdout + r.stderr for r in written)
    everything += report.read_text() + dead.read_text() + _checkpoint_rows(conn)
    for password in PASSWORDS:
        assert password not in everything


def test_api_key_on_the_command_line_is_warned_about(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    from spotzee_loader.examples import example_orders

    path = write_parquet(example_orders(50))
    flag = cli(str(path), "--preset", "orders")
    assert flag.returncode == 0, flag.stderr
    assert "--api-key is visible to other users" in flag.stderr and "set SPOTZEE_API_KEY" in flag.stderr
    assert API_KEY not in flag.stdout + flag.stderr
    cli.env["SPOTZEE_API_KEY"] = API_KEY  # the advised way: no warning
    from_env = cli(str(path), "--preset", "orders", "--restart", "--yes", key=None)
    assert from_env.returncode == 0, from_env.stderr
    assert "--api-key is visible" not in from_env.stderr
    assert len(mock.events) == 100  # both runs delivered their 50 events
