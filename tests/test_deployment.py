"""The DAGs in a real Airflow deployment, as a user runs them: PostgreSQL metadata database, LocalExecutor,
``airflow api-server``, ``scheduler`` and ``dag-processor`` as separate processes, connections, variables and
the pool created through the CLI, runs started with ``airflow dags trigger`` and ``airflow backfill create``,
and the mock Spotzee refusing more than 1,000 requests in any 10 seconds (the published per-IP limit).

What ``airflow dags test`` cannot show is checked here: slices running side by side in the pool under one
shared API budget, a load task killed with SIGKILL and retried by the scheduler, backfilled intervals.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotzee_loader.api.mock import MockConfig, MockSpotzee
from spotzee_loader.examples import example_orders

from .airflow_deployment import Deployment, deployed
from .conftest import API_KEY, PG_ADMIN_URL
from .test_dags import NIGHTLY_ACTIONS, NIGHTLY_ORDERS


@pytest.fixture(scope="module")
def edge() -> Iterator[MockSpotzee]:
    """The mock Spotzee, held to the corrected contract by default: the per-IP rules with their blocks, keys
    ignored (a test about a replay by key turns enforcement on for itself)."""
    server = MockSpotzee(MockConfig(api_key=API_KEY)).start()
    try:
        yield server
    finally:
        server.stop()


# A DAG of one's own on the operator, through the connection a person creates in the UI (spotzee_ui, project
# acme-ui), and a DAG scheduled on the asset it updates.
OWN_DAGS = {
    "own_orders_to_spotzee": '''"""The warehouse's orders into Spotzee: an Airflow DAG of one's own."""

from airflow.sdk import dag
from spotzee_loader.provider.operators import SpotzeeLoadOperator


@dag(schedule=None)
def own_orders_to_spotzee():
    SpotzeeLoadOperator(task_id="load", table="provider_orders", mapping="orders", spotzee_conn_id="spotzee_ui")


own_orders_to_spotzee()
''',
    "after_orders_landed": '''"""When order_placed history landed in Spotzee: an Airflow DAG on the load's asset."""

from airflow.sdk import Asset, dag, get_current_context, task

ORDERS = Asset("spotzee://acme-ui/events/order_placed")


@dag(schedule=[ORDERS])
def after_orders_landed():
    @task
    def landed():
        events = get_current_context()["triggering_asset_events"][ORDERS]
        return [{"uri": ORDERS.uri, **e.extra} for e in events]

    landed()


after_orders_landed()
''',
}


# A warehouse job that refreshes a table (its asset, as the postgres provider names it) and a migration scheduled on
# that asset, made with the shipped DAG's factory: it starts when the table is refreshed, with the form's defaults.
UPSTREAM_DAGS = {
    "refresh_paid_orders": '''"""Refreshes the paid orders in the warehouse (an Airflow DAG upstream of Spotzee)."""
from airflow.sdk import Asset, dag, task


@dag(schedule=None)
def refresh_paid_orders():
    @task(outlets=[Asset("postgres://127.0.0.1:5432/{db}/public/paid_orders")])
    def refresh():
        return "refreshed"

    refresh()


refresh_paid_orders()
''',
    "paid_orders_to_spotzee": '''"""Paid orders into Spotzee whenever the warehouse refreshed them (an Airflow DAG)."""
from airflow.sdk import Asset
from spotzee_loader.provider.migration_dag import migration_dag

paid_orders_to_spotzee = migration_dag(
    "paid_orders_to_spotzee", schedule=[Asset("postgres://127.0.0.1:5432/{db}/public/paid_orders")],
    table="paid_orders", mapping="orders", slice_days=1,
)
''',
}


@pytest.fixture(scope="module")
def deployment(pg_database: str, tmp_path_factory: pytest.TempPathFactory, edge: MockSpotzee) -> Iterator[Deployment]:
    store = pg_database.rsplit("/", 1)[1]  # the checkpoint store and the warehouse
    home = tmp_path_factory.mktemp("airflow-home")
    own = {**OWN_DAGS, **{dag_id: source.replace("{db}", store) for dag_id, source in UPSTREAM_DAGS.items()}}
    with deployed(PG_ADMIN_URL, home, edge, store, API_KEY, own_dags=own) as deployment:
        yield deployment


def _orders(path: Path, first_id: int, rows: int) -> str:
    table = example_orders(rows, seed=first_id)
    table = table.set_column(0, "order_id", pa.array(range(first_id, first_id + rows), pa.int64()))
    pq.write_table(table, path, row_group_size=rows // 4)
    return str(path)


def _ids(mock: MockSpotzee, low: int, high: int) -> Counter[int]:
    return Counter(e["data"]["order_id"] for e in mock.events if low <= e["data"].get("order_id", -1) < high)


def test_a_migration_runs_its_slices_side_by_side_under_one_budget(
    deployment: Deployment, edge: MockSpotzee, tmp_path: Path
) -> None:
    path = _orders(tmp_path / "orders.parquet", 1_000_000, 60_000)
    requests_before = len(edge.requests)
    conf = {"path": path, "mapping": "orders", "slice_rows": 30_000}
    deployment.cli("dags", "trigger", "spotzee_migration", "--run-id", "two-slices", "--conf", json.dumps(conf))

    assert deployment.wait_for_run("two-slices") == "success", deployment.task_logs("two-slices")[-3000:]
    ids = _ids(edge, 1_000_000, 1_060_000)
    assert len(ids) == 60_000 and set(ids.values()) == {1}
    answered = [r["status"] for r in edge.requests[requests_before:]]
    # Spotzee blocks the IP for 120 s at the first request over its rule: the slices together must never meet one.
    assert answered.count(429) == 0 and edge.stats()["ip_blocks"] == 0, Counter(answered)
    # The two slices ran at the same time, in the pool, each sending its live share of the one budget.
    spans = deployment.query(
        "SELECT start_date, end_date FROM task_instance WHERE run_id = 'two-slices' AND task_id = 'load'"
    )
    assert len(spans) == 2 and max(s for s, _ in spans) < min(e for _, e in spans)
    logs = deployment.task_logs("two-slices")
    assert logs.count("is shared live through the checkpoint store postgresql://postgres@127.0.0.1") == 2
    assert "2 load(s) running" in logs


def test_a_load_task_killed_mid_slice_is_retried_and_resumes(
    deployment: Deployment, edge: MockSpotzee, tmp_path: Path
) -> None:
    # A lost worker leaves its requests in flight unanswered: only a Spotzee that enforces keys replays them when the
    # retry sends them again (keys ignored, they would be recorded twice: README, Exactly once).
    edge.configure({"enforce_idempotency": True})
    path = _orders(tmp_path / "orders.parquet", 2_000_000, 60_000)
    conf = {"path": path, "mapping": "orders", "slice_rows": 30_000}
    deployment.cli("dags", "trigger", "spotzee_migration", "--run-id", "killed", "--conf", json.dumps(conf))
    deployment.wait(lambda: len(_ids(edge, 2_000_000, 2_030_000)) >= 5_000, 180, "the first slice to be sending")
    (pid,) = deployment.query(
        "SELECT pid FROM task_instance WHERE run_id = 'killed' AND task_id = 'load' AND map_index = 0"
    )[0]
    delivered_before_kill = len(_ids(edge, 2_000_000, 2_030_000))
    os.kill(pid, signal.SIGKILL)

    assert deployment.wait_for_run("killed") == "success", deployment.task_logs("killed")[-3000:]
    tries = deployment.query(
        "SELECT map_index, try_number FROM task_instance WHERE run_id = 'killed' AND task_id = 'load' ORDER BY 1"
    )
    assert tries == [(0, 2), (1, 1)]  # the killed slice ran again, the other once
    assert delivered_before_kill < 30_000  # the kill landed mid-slice
    ids = _ids(edge, 2_000_000, 2_060_000)
    edge.configure({"enforce_idempotency": False})
    assert len(ids) == 60_000 and set(ids.values()) == {1}  # nothing lost, nothing recorded twice


OTHERS = (
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend'"
)
"""The client connections to the test's database but the test's own."""


def test_a_load_whose_databases_blip_finishes_in_the_same_try(
    deployment: Deployment, edge: MockSpotzee, pg: tuple[str, Any, str]
) -> None:
    """Issue 17: the source table's connection and the checkpoint store's are cut three times mid-load (every
    backend of their database but the test's own); the load task rides through and succeeds in its first try."""
    _, conn, schema = pg
    first, rows = 3_000_000, 60_000
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT i, i % 977, timestamptz '2024-01-01 00:00+00' + i * interval '1 second' "
        f"FROM generate_series({first}, {first + rows - 1}) i"
    )
    conf = {"table": f"{schema}.orders", "mapping": "orders"}
    deployment.cli("dags", "trigger", "spotzee_migration", "--run-id", "blips", "--conf", json.dumps(conf))
    for blip in range(1, 4):
        deployment.wait(
            lambda b=blip: len(_ids(edge, first, first + rows)) >= b * 15_000, 180, f"{blip * 15_000} events"
        )
        # Cut when both are connected: just after a cut the load may be between its reconnects.
        deployment.wait(lambda: conn.execute(f"SELECT count(*) {OTHERS}").fetchone()[0] >= 2, 60, "two connections")
        cut = conn.execute(f"SELECT pg_terminate_backend(pid) {OTHERS}").fetchall()
        assert len(cut) >= 2, cut  # at least the source's connection and the checkpoint store's
        assert len(_ids(edge, first, first + rows)) < rows  # and the load was still going

    assert deployment.wait_for_run("blips") == "success", deployment.task_logs("blips")[-3000:]
    tries = deployment.query("SELECT try_number, state FROM task_instance WHERE run_id = 'blips' AND task_id = 'load'")
    assert tries == [(1, "success")]  # the same try: no Airflow retry was burnt
    ids = _ids(edge, first, first + rows)
    assert sorted(ids) == list(range(first, first + rows)) and set(ids.values()) == {1}
    logs = deployment.task_logs("blips")
    # Every cut was seen by the checkpoint store (it commits after each answer) and ridden through; the source's
    # reads see a cut only when they next query (test_outages.py counts those exactly).
    store_back = [
        line for line in logs.splitlines() if "the checkpoint store postgresql://" in line and "is back" in line
    ]
    assert len(store_back) == 3, logs[-5000:]
    assert "dropped the read" in logs and "internal error" not in logs


def test_a_nightly_backfill_loads_each_interval_once(
    deployment: Deployment, edge: MockSpotzee, pg: tuple[str, Any, str], tmp_path: Path
) -> None:
    _, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT 5000000 + i, i % 40, timestamptz '2024-01-01 02:00+00' + "
        "(i - 1) * interval '10 minutes' FROM generate_series(1, 600) i"
    )
    conn.execute(
        f"CREATE TABLE {schema}.actions (action_id int PRIMARY KEY, user_id text, action text, "
        "occurred_at timestamptz, properties jsonb)"
    )
    conn.execute(
        f"INSERT INTO {schema}.actions SELECT i, 'u' || (i % 9), 'backfilled', timestamptz "
        "'2024-01-01 02:00+00' + (i - 1) * interval '30 minutes', jsonb_build_object('n', i) "
        "FROM generate_series(1, 200) i"
    )
    sources = []
    for name, sql in (("orders", NIGHTLY_ORDERS), ("actions", NIGHTLY_ACTIONS)):
        (tmp_path / f"{name}.sql").write_text(sql.format(s=schema))
        sources.append({"name": name, "mapping": name, "sql_file": str(tmp_path / f"{name}.sql")})
    deployment.cli("variables", "set", "spotzee_nightly", json.dumps({"sources": sources}))
    days = ["--from-date", "2024-01-01", "--to-date", "2024-01-04"]  # logical dates Jan 1, 2, 3 at 02:00

    first = _backfill(deployment, *days)
    assert first == ["success"] * 3, first
    # Three nights, [Jan 1 02:00, Jan 4 02:00): 432 orders (every 10 min, of 600) and 144 actions (every 30 min).
    orders = _ids(edge, 5_000_000, 5_001_000)
    assert len(orders) == 432 and set(orders.values()) == {1}
    assert sum(1 for e in edge.events if e["name"] == "backfilled") == 144

    # The same nights again (the completed runs reprocessed): every interval's job is finished, nothing is sent.
    sent_before = len(edge.requests)
    again = _backfill(deployment, *days, "--reprocess-behavior", "completed")
    assert again == ["success"] * 3, again
    assert len(edge.requests) == sent_before


def _backfill(deployment: Deployment, *args: str) -> list[str]:
    """``airflow backfill create`` for the nightly DAG; the states of its runs once they all ended."""
    (before,) = deployment.query("SELECT coalesce(max(id), 0) FROM backfill")[0]
    deployment.cli("backfill", "create", "--dag-id", "spotzee_nightly_backfill", *args)
    (backfill,) = deployment.query("SELECT max(id) FROM backfill")[0]
    assert backfill > before, "no backfill was created"

    def states() -> list[str]:
        rows = deployment.query(
            "SELECT dr.state FROM backfill_dag_run b JOIN dag_run dr ON dr.id = b.dag_run_id "
            "WHERE b.backfill_id = %s ORDER BY b.logical_date",
            backfill,
        )
        return [str(state) for (state,) in rows]

    def completed() -> bool:  # the scheduler marks the backfill done a moment after its last run
        return deployment.query("SELECT completed_at FROM backfill WHERE id = %s", backfill)[0][0] is not None

    deployment.wait(completed, 240, "the backfill")
    return states()


# -- The migration as a person drives it: the Airflow trigger form and the outcome, in headless Chromium (Debian's
# ``chromium`` package, driven by Playwright) against this deployment. The tests also take the README's pictures
# (``docs/images/``), so they show what the UI really shows: into the ignored ``.screenshots/`` on every run, into
# ``docs/images/`` when refreshed on purpose (``SPOTZEE_SCREENSHOTS=docs/images``, docs "Contributing").

SCREENSHOTS = Path(os.environ.get("SPOTZEE_SCREENSHOTS") or Path(__file__).resolve().parent.parent / ".screenshots")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless on a machine without a network: no GPU, no sandbox (root in CI), and none of Chromium's own calls home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SECTIONS = [
    "Source: files",
    "Source: a warehouse table or query",
    "Mapping: how rows become events",
    "Time window (the cutover)",
    "Run options",
]

TITLES = (
    "Files", "Table", "Query", "Warehouse connection", "Mapping", "Since", "Until", "Dry run",
    "Rows per slice (files)", "Days per slice (tables)", "Rejected rows tolerated", "Restart", "Migration name",
)  # fmt: skip


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of headless Chromium; skips outside CI when Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        reason = f"Playwright is not installed ({exc})"
    else:
        reason = "" if Path(CHROMIUM).exists() else f"Debian's chromium is not installed at {CHROMIUM}"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the browser test (apt-get install chromium).")
        pytest.skip(f"{reason}; install it with: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def _open_trigger_form(page: Any, deployment: Deployment) -> Any:
    page.goto(f"{deployment.ui_url}/dags/spotzee_migration", wait_until="networkidle")
    page.get_by_role("button", name="Trigger").click()
    form = page.get_by_role("dialog")
    form.get_by_role("button", name=SECTIONS[0]).wait_for()
    return form


def _open(form: Any, section: str) -> None:
    """Open one section of the form (one is open at a time; the first may be open already)."""
    header = form.get_by_role("button", name=section)
    if header.get_attribute("aria-expanded") != "true":
        header.click()


def _xcom_page(page: Any, deployment: Deployment, run_id: str, task: str, expected: str) -> str:
    """The text of a task instance's XCom tab, once its values (loaded after the page) show ``expected``."""
    page.goto(f"{deployment.ui_url}/dags/spotzee_migration/runs/{quote(run_id)}/tasks/{task}/xcom")
    with contextlib.suppress(Exception):  # the caller's assertion shows what the page holds instead
        page.get_by_text(expected).first.wait_for(timeout=20_000)
    return str(page.inner_text("body"))


def test_a_person_starts_a_migration_from_the_trigger_form(
    deployment: Deployment,
    edge: MockSpotzee,
    page: Any,
    tmp_path: Path,
) -> None:
    path = _orders(tmp_path / "orders.parquet", 8_000_000, 20_000)
    form = _open_trigger_form(page, deployment)

    # A form a person can fill without the README: titles and descriptions, the presets offered, SQL in a
    # multi-line box, nothing marked required (a files run needs no warehouse field).
    labels = [text.strip() for text in form.locator("label").all_inner_texts()]
    for title in TITLES:
        assert title in labels, labels
    assert not [label for label in labels if label.endswith("*")], labels
    assert form.locator("#list_mapping option").evaluate_all("os => os.map(o => o.value)") == [
        "orders",
        "actions",
        "segment",
        "mixpanel",
        "amplitude",
        "ga4",
        "posthog",
    ]
    assert form.locator("#element_sql").evaluate("e => e.tagName") == "TEXTAREA"

    _open(form, "Mapping: how rows become events")
    form.locator("#element_mapping").fill("orders")
    _open(form, "Run options")
    form.locator("[name=element_slice_rows]").fill("10000")
    _open(form, "Source: files")
    form.locator("#element_path").fill(path)
    assert "s3://CONN_ID@bucket/prefix/ reads with that Airflow connection" in form.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    form.screenshot(path=str(SCREENSHOTS / "trigger-form.png"))
    form.get_by_role("button", name="Trigger", exact=True).click()
    page.wait_for_url("**/runs/**")
    run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("/")[0])

    assert deployment.wait_for_run(run_id) == "success", deployment.task_logs(run_id)[-3000:]
    ids = _ids(edge, 8_000_000, 8_020_000)
    assert sorted(ids) == list(range(8_000_000, 8_020_000)) and set(ids.values()) == {1}

    # The outcome where the person looks: the summarize task's XCom tab, without opening a log.
    shown = _xcom_page(page, deployment, run_id, "summarize", "events sent from")
    assert "20,000 events sent from 20,000 rows in 2 slices" in shown, shown[-2000:]
    assert "Rejected: 0 (none). Retries: 0. Dead letters: none." in shown
    page.screenshot(path=str(SCREENSHOTS / "finished-run.png"))


def test_a_failed_migration_shows_its_sentence_and_request_id(
    deployment: Deployment,
    edge: MockSpotzee,
    page: Any,
    tmp_path: Path,
) -> None:
    path = _orders(tmp_path / "orders.parquet", 8_100_000, 1_000)
    requests_before = len(edge.requests)
    edge.configure({"api_key": "sk_rotated_elsewhere"})  # the key in the connection was revoked
    try:
        form = _open_trigger_form(page, deployment)
        _open(form, "Mapping: how rows become events")
        form.locator("#element_mapping").fill("orders")
        _open(form, "Source: files")
        form.locator("#element_path").fill(path)
        form.get_by_role("button", name="Trigger", exact=True).click()
        page.wait_for_url("**/runs/**")
        run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("/")[0])
        assert deployment.wait_for_run(run_id) == "failed"
    finally:
        edge.configure({"api_key": API_KEY})
    refused = {r["request_id"] for r in edge.requests[requests_before:] if r["status"] == 401}
    assert refused, "the load never reached Spotzee"
    shown = _xcom_page(page, deployment, run_id, "load/mapped/0", "Spotzee did not accept")
    assert "Spotzee did not accept the API key" in shown, shown[-2000:]
    # The request that stopped the load (several were in flight, each refused), as its own XCom too.
    assert len([rid for rid in refused if "request_id\t" in shown and rid in shown]) == 1, (refused, shown[-800:])
    assert not _ids(edge, 8_100_000, 8_101_000)
    page.screenshot(path=str(SCREENSHOTS / "failed-run.png"))


def test_a_connection_made_in_the_form_loads_a_dag_of_ones_own_and_its_asset_starts_another(
    deployment: Deployment, edge: MockSpotzee, page: Any, pg_database: str
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as db:
        db.execute(
            "CREATE TABLE provider_orders (order_id bigint PRIMARY KEY, customer_id int, ordered_at timestamptz)"
        )
        db.execute(
            "INSERT INTO provider_orders SELECT i, i % 50, timestamptz '2024-05-01' + (i - 9000000) * interval '1 min' "
            "FROM generate_series(9000001, 9003000) AS i"
        )
    # The Spotzee connection as a person creates it: the type offered, its fields labelled, the key a secret.
    page.goto(f"{deployment.ui_url}/connections", wait_until="networkidle")
    page.get_by_role("button", name="Add Connection").click()
    form = page.get_by_role("dialog")
    form.locator("[name=connection_id]").fill("spotzee_ui")
    form.get_by_role("combobox").click()
    page.keyboard.type("Spotz")
    assert page.get_by_role("option").all_inner_texts() == ["Spotzee"]
    page.keyboard.press("Enter")
    form.locator("[name=password]").fill(API_KEY)
    assert form.locator("[name=password]").get_attribute("type") == "password"
    form.get_by_role("button", name="Extra Fields", exact=True).click()
    assert form.locator("#element_base_url").input_value() == "https://apix.spotzee.com/api/client"
    assert form.locator("[name=element_rate_limit]").input_value() == "125"
    form.locator("#element_base_url").fill(edge.base_url)
    form.locator("#element_project").fill("acme-ui")
    labels = [text.strip() for text in form.locator("label").all_inner_texts()]
    assert [t for t in labels if t in ("API key", "Base URL", "Project", "Budget name", "Requests per second")] == [
        "API key", "Base URL", "Project", "Budget name", "Requests per second",
    ]  # fmt: skip
    assert not {"Host", "Schema", "Login", "Port", "Password"} & set(labels), labels
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    form.screenshot(path=str(SCREENSHOTS / "spotzee-connection.png"))
    form.get_by_role("button", name="Save").click()
    form.wait_for(state="hidden")
    # Testing the saved connection answers from the API: one real read with its key. (Airflow 3.3.2's Test button
    # refuses every connection without a port before asking the hook, apache/airflow#73298: the CLI asks it.)
    reads_before = len(edge.reads)
    assert "Connection success!" in deployment.cli("connections", "test", "spotzee_ui").stdout
    edge.configure({"api_key": "sk_rotated_elsewhere"})  # the same key, revoked
    try:
        refused = deployment.cli("connections", "test", "spotzee_ui", fails=True).stdout
    finally:
        edge.configure({"api_key": API_KEY})
    reads = [(r["path"], r["status"]) for r in edge.reads[reads_before:]]
    assert reads == [("/api/client/journeys", 200), ("/api/client/journeys", 401)]
    rid = edge.reads[-1]["request_id"]
    assert f"Spotzee did not accept the API key (401, request {rid}): check the project's secret key." in refused

    deployment.cli("dags", "trigger", "own_orders_to_spotzee", "--run-id", "own-1")
    assert deployment.wait_for_run("own-1") == "success", deployment.task_logs("own-1")[-3000:]
    ids = _ids(edge, 9_000_001, 9_003_001)
    assert sorted(ids) == list(range(9_000_001, 9_003_001)) and set(ids.values()) == {1}

    # The load's asset started the DAG scheduled on it, with what landed.
    downstream = "SELECT run_id, run_type FROM dag_run WHERE dag_id = 'after_orders_landed'"
    deployment.wait(lambda: deployment.query(downstream), 120, "the asset-scheduled DAG to start")
    ((run_id, run_type),) = deployment.query(downstream)
    assert run_type == "asset_triggered" and deployment.wait_for_run(run_id) == "success"
    ((value,),) = deployment.query(
        "SELECT value FROM xcom WHERE dag_id = 'after_orders_landed' AND task_id = 'landed' AND key = 'return_value'"
    )
    landed = value if isinstance(value, list) else json.loads(value)
    assert [(e["uri"], e["events"], e["job"], e["status"]) for e in landed] == [
        ("spotzee://acme-ui/events/order_placed", 3000, "own_orders_to_spotzee.load", "finished")
    ]

    # OpenLineage (its provider installed, a file transport): the table read, the event written.
    events = [json.loads(line) for line in deployment.lineage.read_text().splitlines()]
    complete = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == "own_orders_to_spotzee.load"]
    assert len(complete) == 1
    database = pg_database.rsplit("/", 1)[1]
    assert [(d["namespace"], d["name"]) for d in complete[0]["inputs"]] == [
        ("postgres://127.0.0.1:5432", f"{database}.provider_orders")
    ]
    assert [(d["namespace"], d["name"]) for d in complete[0]["outputs"]] == [("spotzee://acme-ui", "order_placed")]


def test_a_migration_scheduled_on_the_warehouse_tables_asset_runs_when_it_is_refreshed(
    deployment: Deployment, edge: MockSpotzee, pg_database: str
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as db:
        db.execute("CREATE TABLE paid_orders (order_id bigint PRIMARY KEY, customer_id int, ordered_at timestamptz)")
        db.execute(
            "INSERT INTO paid_orders SELECT i, i % 50, timestamptz '2024-06-01' + (i - 9100000) * interval '1 min' "
            "FROM generate_series(9100001, 9102000) AS i"
        )
    deployment.cli("dags", "trigger", "refresh_paid_orders", "--run-id", "refresh-1")
    assert deployment.wait_for_run("refresh-1") == "success"
    started = "SELECT run_id, run_type FROM dag_run WHERE dag_id = 'paid_orders_to_spotzee'"
    deployment.wait(lambda: deployment.query(started), 120, "the migration scheduled on the table's asset to start")
    ((run_id, run_type),) = deployment.query(started)
    assert run_type == "asset_triggered"
    assert deployment.wait_for_run(run_id) == "success", deployment.task_logs(run_id)[-3000:]
    ids = _ids(edge, 9_100_001, 9_102_001)
    assert sorted(ids) == list(range(9_100_001, 9_102_001)) and set(ids.values()) == {1}
    # The table's first to last minute in daily slices, each load task labelled with its window.
    labels = deployment.query(
        "SELECT rendered_map_index FROM task_instance WHERE run_id = %s AND task_id = 'load' ORDER BY map_index", run_id
    )
    assert [label for (label,) in labels] == [
        "2024-06-01 00:01..2024-06-02 00:01",
        "2024-06-02 00:01..2024-06-02 09:20",
    ]
    # The run updated the event's asset once, from its summarize task (the connection names no project: its id does).
    updates = deployment.query(
        "SELECT a.uri, count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE e.source_dag_id = 'paid_orders_to_spotzee' GROUP BY a.uri"
    )
    assert updates == [("spotzee://spotzee_default/events/order_placed", 1)]
