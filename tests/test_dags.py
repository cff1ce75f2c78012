"""The DAGs in a real Airflow 3 (SQLite metadata DB), against the mock server and a real PostgreSQL.

Each test gets its own AIRFLOW_HOME (a copy of one migrated at session start) and runs Airflow in a
subprocess, as ``airflow dags test`` or ``dag.test()``. Every test checks what really arrived.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.config import DEFAULT_CONCURRENCY
from spotzee_loader.examples import example_orders

from .airflow_local import Airflow, output
from .breakables import PrivateCluster
from .conftest import role_url, s3_client

ROOT = Path(__file__).resolve().parent.parent


def test_dag_integrity(airflow: Airflow) -> None:
    script = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {},
       "pipeline_imported": "spotzee_loader.pipeline" in sys.modules}
for dag_id, dag in bag.dags.items():
    load = dag.get_task("load")
    out["dags"][dag_id] = {"tags": sorted(dag.tags), "timetable": type(dag.timetable).__name__,
        "tz": str(getattr(dag.timetable, "timezone", "")), "cron": getattr(dag.timetable, "expression", None),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs, "retries": load.retries, "pool": load.pool,
        "params": sorted(dag.params.keys()), "tasks": sorted(dag.task_ids),
        "load": getattr(load, "operator_class", type(load)).__name__,
        "assets_by": [(t.task_id, [o.name for o in t.outlets], t.max_active_tis_per_dag)
                      for t in dag.tasks if t.outlets]}
print(json.dumps(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "dags")],
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, output(done)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["errors"] == {}
    assert not info["pipeline_imported"]  # no top-level work: the package loads inside tasks only
    migration, nightly = info["dags"]["spotzee_migration"], info["dags"]["spotzee_nightly_backfill"]
    assert migration["timetable"] == "NullTimetable"
    assert nightly["timetable"] == "CronDataIntervalTimetable" and nightly["tz"] == "UTC"
    assert nightly["cron"] == "0 2 * * *"
    for dag in (migration, nightly):
        assert "spotzee" in dag["tags"] and dag["retries"] >= 2 and dag["pool"] == "spotzee_api"
        assert dag["tasks"] == ["load", "plan", "summarize"] and dag["max_active_runs"] == 1
        # The load is the provider's operator; the run's event assets are updated once, by summarize, one run at
        # a time (parallel tasks creating the same new asset fail in Airflow 3.3: update_event_assets).
        assert dag["load"] == "SpotzeeLoadOperator"
        assert dag["assets_by"] == [["summarize", ["spotzee-events:spotzee_default"], 1]]
    assert {"path", "mapping", "since", "until", "slice_rows", "dry_run", "restart"} <= set(migration["params"])


def test_migration_of_parquet_over_mapped_slices_then_retrigger(
    airflow: Airflow, mock: MockSpotzee, tmp_path: Path
) -> None:
    """A folder: a big file cut into row-group slices, small files packed into one slice. Retriggered after an export
    drop, the finished slices send nothing and the new file joins the last pack, whose job is the same job (named by
    its first file), so only its rows go; restart sends everything again."""
    drop = tmp_path / "drop"
    drop.mkdir()

    def part(name: str, first: int, rows: int, **kwargs: Any) -> None:
        table = example_orders(rows, seed=first)
        ids = pa.array(range(first, first + rows), pa.int64())
        pq.write_table(table.set_column(0, "order_id", ids), drop / name, **kwargs)

    part("a-orders.parquet", 1, 25_000, row_group_size=5_000)
    part("b-day.parquet", 25_001, 300)
    conf = {"path": str(drop), "mapping": "orders", "slice_rows": 10_000}
    first = airflow.dags_test("spotzee_migration", conf=conf)
    assert first.returncode == 0, output(first)[-3000:]
    assert Counter(e["data"]["order_id"] for e in mock.events) == Counter(range(1, 25_301))
    assert "Spotzee load summary" in output(first) and "row groups 4-4" in output(first)
    part("c-day.parquet", 25_301, 200)
    again = airflow.dags_test("spotzee_migration", conf=conf)
    assert again.returncode == 0, output(again)[-3000:]
    assert Counter(e["data"]["order_id"] for e in mock.events) == Counter(range(1, 25_501))
    assert f"1 new file(s) since the job's last run, read after those it read: {drop / 'c-day.parquet'}" in output(
        again
    )
    restarted = airflow.dags_test("spotzee_migration", conf={**conf, "restart": True})
    assert restarted.returncode == 0
    assert set(Counter(e["data"]["order_id"] for e in mock.events).values()) == {2}


def test_migration_from_s3_with_an_airflow_connection(
    airflow: Airflow, mock: MockSpotzee, s3: dict[str, str], tmp_path: Path
) -> None:
    """``s3://conn_id@bucket/prefix/`` (Airflow's ObjectStoragePath idiom): the bucket is read with the
    connection's keys and endpoint, none in the worker's environment."""
    client = s3_client(s3)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="dag-history")
    local = tmp_path / "orders.parquet"
    pq.write_table(example_orders(12_000, seed=5), local, row_group_size=3_000)
    client.upload_file(str(local), "dag-history", "exports/orders.parquet")
    for name in [k for k in airflow.env if k.startswith("AWS_")]:  # moto's server leaves AWS_* in os.environ
        del airflow.env[name]
    airflow.env["AIRFLOW_CONN_HISTORY_S3"] = json.dumps(
        {"conn_type": "aws", "login": s3["AWS_ACCESS_KEY_ID"], "password": s3["AWS_SECRET_ACCESS_KEY"],
         "extra": {"endpoint_url": s3["AWS_ENDPOINT_URL"], "region_name": "us-east-1"}}
    )  # fmt: skip
    conf = {"path": "s3://history_s3@dag-history/exports/", "mapping": "orders", "slice_rows": 6_000}
    result = airflow.dags_test("spotzee_migration", conf=conf)
    assert result.returncode == 0, output(result)[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == sorted(example_orders(12_000, seed=5).column("order_id").to_pylist())
    assert set(ids.values()) == {1} and "row groups 2-3" in output(result)
    assert s3["AWS_SECRET_ACCESS_KEY"] not in output(result)


def test_migration_of_a_mariadb_table_through_a_mysql_connection(
    airflow: Airflow, mock: MockSpotzee, mariadb: tuple[Any, str]
) -> None:
    conn, table = mariadb
    cursor = conn.cursor()
    cursor.execute(f"CREATE TABLE {table} (order_id INT PRIMARY KEY, customer_id INT, ordered_at DATETIME)")
    rows = [(i, i % 40, dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i - 1)) for i in range(1, 4001)]
    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)
    airflow.env["AIRFLOW_CONN_SPOTZEE_WAREHOUSE"] = json.dumps(
        {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"}
    )
    conf = {"table": table, "mapping": "orders", "since": "2024-01-01", "until": "2024-01-03", "slice_days": 1}
    result = airflow.dags_test("spotzee_migration", conf=conf)
    assert result.returncode == 0, output(result)[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == list(range(1, 2881)) and set(ids.values()) == {1}  # two days of minutes
    assert "2024-01-02 00:00..2024-01-03 00:00" in output(result)


def test_migration_of_a_pg_table_by_time_slices(airflow: Airflow, mock: MockSpotzee, pg) -> None:
    url, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT i, i % 40, timestamptz '2024-01-01 00:00+00' + "
        "(i - 1) * interval '1 minute' FROM generate_series(1, 4000) i"
    )
    airflow.env["AIRFLOW_CONN_SPOTZEE_WAREHOUSE"] = url
    conf = {
        "table": f"{schema}.orders",
        "mapping": "orders",
        "since": "2024-01-01",
        "until": "2024-01-03",
        "slice_days": 1,
    }
    result = airflow.dags_test("spotzee_migration", conf=conf)
    assert result.returncode == 0, output(result)[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == list(range(1, 2881)) and set(ids.values()) == {1}  # two days of minutes
    assert "2024-01-02 00:00..2024-01-03 00:00" in output(result)


def _job_count(conn: Any) -> int:
    """Jobs in the PostgreSQL checkpoint store of the test database (0 before the store made its tables)."""
    if conn.execute("SELECT to_regclass('spotzee_jobs')").fetchone()[0] is None:
        return 0
    return int(conn.execute("SELECT count(*) FROM spotzee_jobs").fetchone()[0])


def test_passwords_stay_out_of_airflow_task_logs(
    airflow: Airflow, mock: MockSpotzee, pg, pg_database: str, secret_role: str, proxy_factory: Any
) -> None:
    _, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT i, i % 40, timestamptz '2024-01-01 00:00+00' + "
        "(i - 1) * interval '1 minute' FROM generate_series(1, 500) i"
    )
    warehouse_pw, checkpoint_pw, proxy_pw = "WhPw-91ac3e", "CkPw-40d7b2", "PxPw-6e15f8"
    db = pg_database.rsplit("/", 1)[1]
    jobs_before = _job_count(conn)  # other tests of this session may have used the same store
    airflow.env["AIRFLOW_CONN_SPOTZEE_WAREHOUSE"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "schema": db,
            "login": secret_role,
            "password": warehouse_pw,
        }
    )
    # The store's password inside a URL in the extra: Airflow's own masker does not know it.
    checkpoint = role_url(pg_database, secret_role, checkpoint_pw, in_query=True)
    airflow.env["AIRFLOW_CONN_SPOTZEE_CHECKPOINT"] = json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "extra": {"sqlalchemy_url": checkpoint}}
    )
    proxy = proxy_factory("pxuser", proxy_pw)
    airflow.env.update({"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""})

    result = airflow.dags_test("spotzee_migration", conf={"table": f"{schema}.orders", "mapping": "orders"})

    assert result.returncode == 0, output(result)[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == list(range(1, 501)) and set(ids.values()) == {1}
    assert [r["via"] for r in mock.requests] == ["1.1 proxy.py v2.4.10"] * 5  # each crossed the proxy
    assert _job_count(conn) == jobs_before + 1  # the shared store in PostgreSQL was the one used
    logs = "\n".join(p.read_text(errors="replace") for p in (airflow.home / "logs").rglob("*") if p.is_file())
    assert "Spotzee load summary" in output(result) + logs
    for password in (warehouse_pw, checkpoint_pw, proxy_pw):
        assert password not in output(result) + logs


@pytest.mark.parametrize(
    ("conf", "fragment"),
    [
        ({"path": "/nowhere.parquet", "table": "orders"}, "give exactly one source"),
        ({"path": "/nowhere.parquet", "pth": "typo"}, "unknown param(s) pth"),
    ],
    ids=["two-sources", "unknown-key"],
)
def test_migration_refuses_bad_params(airflow: Airflow, mock: MockSpotzee, conf: dict[str, Any], fragment: str) -> None:
    result = airflow.dags_test("spotzee_migration", conf=conf)
    assert result.returncode != 0
    assert fragment in output(result)
    assert mock.requests == []


def test_bad_key_fails_the_task_at_once_without_retries(airflow: Airflow, mock: MockSpotzee, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(example_orders(3_000), path)
    airflow.connect_spotzee(mock.base_url, "sk_revoked_key_value")
    result = airflow.dags_test("spotzee_migration", conf={"path": str(path), "mapping": "orders"})
    assert result.returncode != 0
    text = output(result)
    assert "did not accept the API key" in text and "sk_revoked_key_value" not in text
    # One attempt of the task, stopped at the first 401s: no retries.
    assert len(mock.requests) <= 2 * DEFAULT_CONCURRENCY
    assert mock.event_count == 0


def test_a_failed_slice_is_retried_and_resumes_without_loss(
    airflow: Airflow, mock: MockSpotzee, tmp_path: Path
) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(example_orders(8_000, seed=5), path, row_group_size=2_000)
    # Two 503s per sender (12): a chunk meeting its second has waited past the 1-s budget, and the try fails; the
    # 503s it leaves are fewer than the senders, so Airflow's retry meets at most one each and finishes.
    mock.configure({"script": ["ok"] * 20 + ["503"] * 24, "retry_after_s": 0.2})
    airflow.env["SPOTZEE_RETRY_BUDGET"] = "1"  # the outage outlasts the budget: the task fails, Airflow retries
    result = airflow.dags_test("spotzee_migration", conf={"path": str(path), "mapping": "orders"})
    assert result.returncode == 0, output(result)[-3000:]
    text = output(result)
    assert "retrying batch" in text and "kept failing (503)" in text
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert len(ids) == 8_000 and set(ids.values()) == {1}


def test_a_warehouse_down_when_the_migration_starts_is_retried_not_failed(
    airflow: Airflow, mock: MockSpotzee, private_pg: PrivateCluster
) -> None:
    with psycopg.connect(private_pg.url, autocommit=True) as db:
        db.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id bigint, ordered_at timestamptz)")
        db.execute(
            "INSERT INTO orders SELECT i, i % 97, timestamptz '2024-01-01 00:00+00' + i * interval '1 minute' "
            "FROM generate_series(1, 3000) AS i"
        )
    private_pg.crash()
    warehouse = {"conn_type": "postgres", "host": "127.0.0.1", "port": private_pg.port, "schema": "postgres"}
    airflow.env["AIRFLOW_CONN_SPOTZEE_WAREHOUSE"] = json.dumps({**warehouse, "login": "postgres"})
    airflow.env["SPOTZEE_RETRY_BUDGET"] = "1"
    conf = json.dumps({"table": "orders", "mapping": "orders"})
    cmd = [sys.executable, "-m", "airflow", "dags", "test", "spotzee_migration", "--conf", conf]
    proc = subprocess.Popen(cmd, env=airflow.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()
    try:
        # The first try of the plan fails with the sentence and is put up for retry; then the warehouse is back.
        seen: list[str] = []
        for line in proc.stdout or ():
            seen.append(line)
            if "new_state=up_for_retry" in line:
                break
        private_pg.start()
        rest, _ = proc.communicate()
    finally:
        watchdog.cancel()
    text = "".join(seen) + rest

    assert proc.returncode == 0, text[-3000:]
    assert (
        f"the source database postgresql+psycopg://postgres@127.0.0.1:{private_pg.port}/postgres is unreachable "
        f'(connection failed: connection to server at "127.0.0.1", port {private_pg.port} failed: Connection refused),'
        " tried for 1 s; nothing was sent" in "".join(seen)
    )
    assert "AirflowFailException" not in text
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == list(range(1, 3001)) and set(ids.values()) == {1}


def test_missing_pool_fails_fast_with_the_command_to_create_it(
    airflow: Airflow, mock: MockSpotzee, tmp_path: Path
) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(example_orders(100), path)
    airflow.env["SPOTZEE_POOL"] = "spotzee_missing"
    result = airflow.dags_test("spotzee_migration", conf={"path": str(path), "mapping": "orders"})
    assert result.returncode != 0
    assert "airflow pools set spotzee_missing" in output(result)
    assert mock.requests == []


NIGHTLY_ORDERS = (
    "SELECT order_id, customer_id, ordered_at FROM {s}.orders WHERE ordered_at >= :since AND ordered_at < :until"
)
NIGHTLY_ACTIONS = (
    "SELECT action_id, user_id, action, occurred_at, properties FROM {s}.actions "
    "WHERE occurred_at >= :since AND occurred_at < :until"
)


def test_nightly_loads_each_interval_once(airflow: Airflow, mock: MockSpotzee, pg, tmp_path: Path) -> None:
    url, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT i, i % 40, timestamptz '2024-01-01 02:00+00' + "
        "(i - 1) * interval '10 minutes' FROM generate_series(1, 600) i"
    )
    conn.execute(
        f"CREATE TABLE {schema}.actions (action_id int PRIMARY KEY, user_id text, action text, "
        "occurred_at timestamptz, properties jsonb)"
    )
    conn.execute(
        f"INSERT INTO {schema}.actions SELECT i, 'u' || (i % 9), 'viewed', timestamptz "
        "'2024-01-01 02:00+00' + (i - 1) * interval '30 minutes', jsonb_build_object('n', i) "
        "FROM generate_series(1, 200) i"
    )
    for name, sql in (("orders", NIGHTLY_ORDERS), ("actions", NIGHTLY_ACTIONS)):
        (tmp_path / f"{name}.sql").write_text(sql.format(s=schema))
    airflow.env["AIRFLOW_CONN_SPOTZEE_WAREHOUSE"] = url
    airflow.env["AIRFLOW_VAR_SPOTZEE_NIGHTLY"] = json.dumps(
        {
            "sources": [
                {"name": "orders", "mapping": "orders", "sql_file": str(tmp_path / "orders.sql")},
                {"name": "actions", "mapping": "actions", "sql_file": str(tmp_path / "actions.sql")},
            ]
        }
    )
    for day in ("2024-01-02", "2024-01-03"):
        result = airflow.dags_test("spotzee_nightly_backfill", f"{day}T02:00:00+00:00")
        assert result.returncode == 0, output(result)[-3000:]
    # Two nights: [Jan 1 02:00, Jan 3 02:00) holds 288 orders (every 10 min) and 96 actions (every 30 min).
    names = Counter(e["name"] for e in mock.events)
    assert names["order_placed"] == 288 and names["viewed"] == 96
    assert set(Counter(e["data"].get("order_id") for e in mock.events if e["name"] == "order_placed").values()) == {1}
    assert max(e["created_at"] for e in mock.events) < "2024-01-03T02:00:00"
    requests_before = len(mock.requests)
    rerun = airflow.dags_test("spotzee_nightly_backfill", "2024-01-03T02:00:00+00:00")
    assert rerun.returncode == 0 and len(mock.requests) == requests_before  # a finished interval sends nothing


def test_nightly_without_a_data_interval_fails_fast(airflow: Airflow, mock: MockSpotzee) -> None:
    result = airflow.dag_test_without_interval("spotzee_nightly_backfill")
    assert "RUN STATE failed" in result.stdout, output(result)[-3000:]
    assert "no data interval" in output(result) and "airflow backfill create" in output(result)
    assert mock.requests == []


def test_migration_names_live_journeys_sends_a_stamped_sample_then_the_rest(
    airflow: Airflow, mock: MockSpotzee, tmp_path: Path
) -> None:
    """Issue 27 in Airflow: the plan names the live journeys (and no_live_journeys stops there), a sample of N rows
    per slice goes out stamped, and a re-trigger without the limit sends the rest, nothing twice."""
    mock.configure({"journeys": [{"id": 7, "name": "Win-back", "status": "live", "tags": ["retention"]}]})
    path = tmp_path / "orders.parquet"
    pq.write_table(example_orders(6_000, seed=5), path, row_group_size=1_000)
    conf = {"path": str(path), "mapping": "orders", "slice_rows": 3_000, "stamp": "backfill_job"}
    refused = airflow.dags_test("spotzee_migration", conf={**conf, "no_live_journeys": True})
    assert refused.returncode != 0
    assert "1 journey(s) are live: 'Win-back' (id 7, tags retention); --no-live-journeys refuses" in output(refused)
    assert mock.requests == []

    sample = airflow.dags_test("spotzee_migration", conf={**conf, "limit": 250})
    assert sample.returncode == 0, output(sample)[-3000:]
    assert "1 journey(s) of this Spotzee project are live: 'Win-back' (id 7, tags retention)" in output(sample)
    assert len(mock.events) == 2 * 250  # two slices, the first 250 rows of each
    jobs = {e["data"]["backfill_job"] for e in mock.events}
    assert len(jobs) == 2 and all(job.startswith("migration-") for job in jobs)

    rest = airflow.dags_test("spotzee_migration", conf=conf)
    assert rest.returncode == 0, output(rest)[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert len(ids) == 6_000 and set(ids.values()) == {1}
    assert {e["data"]["backfill_job"] for e in mock.events} == jobs
