"""The loader's dependencies blip mid-run and it rides through (issue 17): a source database connection that is
terminated is reconnected and the read resumes after the last key, within the same run; what a person must fix
(a table that is not there, a permission refused) still stops the run at once with one sentence and exit 2."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli, wait_for_events

ROWS = 150_000


def _orders(conn: Any, schema: str, rows: int) -> None:
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT i, i % 977, timestamptz '2024-01-01 00:00+00' + i * interval '1 second' "
        f"FROM generate_series(1, {rows}) i"
    )


def test_the_source_connection_terminated_five_times_is_one_run(
    cli: Cli, mock: MockSpotzee, pg: tuple[str, Any, str], tmp_path: Path
) -> None:
    url, conn, schema = pg
    _orders(conn, schema, ROWS)
    source = f"{url}?application_name=spotzee-chaos-source"  # to find the loader's backend, and only it
    report = tmp_path / "report.json"
    proc = cli.popen(source, "--table", f"{schema}.orders", "--preset", "orders", "--page-rows", "20000",
                     "--rate-limit", "300", "--report", str(report))  # fmt: skip
    for blip in range(1, 6):
        wait_for_events(proc, mock, blip * 24_000, timeout=120)
        terminated = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'spotzee-chaos-source'"
        ).fetchall()
        assert terminated == [(True,)]  # the loader's one source connection, cut mid-run
    _, stderr = proc.communicate(timeout=180)

    assert proc.returncode == 0, stderr[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == list(range(1, ROWS + 1)) and set(ids.values()) == {1}
    assert stderr.count("dropped the read") == 5, stderr[-3000:]  # each blip seen, and ridden through
    r = json.loads(report.read_text())
    assert r["status"] == "finished" and r["events_sent"] == ROWS and r["rows_read"] == ROWS


def test_what_a_person_must_fix_still_stops_at_once(cli: Cli, mock: MockSpotzee, pg: tuple[str, Any, str]) -> None:
    url, conn, schema = pg
    _orders(conn, schema, 10)
    role = f"reader_{schema}"
    conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        missing = cli(url, "--table", f"{schema}.no_such_table", "--preset", "orders")
        assert missing.returncode == 2 and "Traceback" not in missing.stderr
        assert "does not exist" in missing.stderr, missing.stderr[-2000:]

        refused = cli(url.replace("postgres@", f"{role}@"), "--table", f"{schema}.orders", "--preset", "orders")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "permission denied" in refused.stderr, refused.stderr[-2000:]
        assert "dropped the read" not in missing.stderr + refused.stderr  # not taken for outages
        assert mock.event_count == 0
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def test_which_driver_errors_are_outages() -> None:
    import sqlite3

    import psycopg
    import pymysql
    import sqlalchemy as sa

    from spotzee_loader.outages import is_transient

    outages = [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.IdleSessionTimeout("terminating connection due to idle-session timeout"),
        psycopg.errors.IdleInTransactionSessionTimeout("terminating connection due to idle-in-transaction timeout"),
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.OperationalError("the connection is lost"),
        # A cluster back from a crash, replaying its WAL: psycopg's connect error carries no SQLSTATE, only the text.
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system '
            "is not yet accepting connections"
        ),
        psycopg.OperationalError("FATAL:  the database system is in recovery mode"),
        pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
        pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock"),
        sa.exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(2006, "MySQL server has gone away")),
        # The SQLite checkpoint file kept locked by another process past the busy timeout.
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("database table is locked"),
    ]
    faults = [
        psycopg.errors.UndefinedTable('relation "orders" does not exist'),
        psycopg.errors.InsufficientPrivilege("permission denied for table orders"),
        psycopg.errors.InvalidPassword("password authentication failed"),
        pymysql.err.OperationalError(1045, "Access denied for user"),
        pymysql.err.ProgrammingError(1146, "Table 'test.orders' doesn't exist"),
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("attempt to write a readonly database"),
    ]
    assert [is_transient(e) for e in outages] == [True] * len(outages)
    assert [is_transient(e) for e in faults] == [False] * len(faults)
