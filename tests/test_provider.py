"""The package as an Airflow provider, as Airflow itself sees it (its ProvidersManager and CLI, in a subprocess), and
a DAG of one's own on ``SpotzeeLoadOperator`` and ``SpotzeeVerifyOperator`` run by ``airflow dags test`` against the
mock and a real PostgreSQL. The UI's connection form, assets that start another DAG and OpenLineage need the real
deployment: ``tests/test_deployment.py``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import spotzee_loader
from spotzee_loader.api.mock import MockSpotzee

from .airflow_local import ROOT, Airflow, output
from .conftest import API_KEY

PROVIDER_SCRIPT = """
import json
from importlib.metadata import entry_points
from airflow.providers_manager import ProvidersManager
import importlib

(point,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("spotzee_loader")]
info = point.load()()
manager = ProvidersManager()
provider = manager.providers["spotzee-loader"]
hook = manager.hooks["spotzee"]
widgets = {name: {"title": w.field["schema"].get("title"), "secret": w.is_sensitive, "default": w.field["value"]}
           for name, w in manager.connection_form_widgets.items() if name.startswith("extra__spotzee__")}
paths = [c["hook-class-name"] for c in info["connection-types"]]
paths += [u[k] for u in info["asset-uris"] for k in ("handler", "factory", "to_openlineage_converter")]
modules = [m for kind in ("hooks", "operators") for entry in info[kind] for m in entry["python-modules"]]
print(json.dumps({
    "entry_point": point.value, "version": provider.version,
    "registered": {k: v for k, v in provider.data.items() if k in info} == info,
    "hook": [hook.hook_class_name, hook.hook_name, hook.connection_id_attribute_name, hook.connection_testable],
    "widgets": widgets, "behaviour": manager.field_behaviours["spotzee"],
    "imports": [callable(getattr(importlib.import_module(p.rpartition(".")[0]), p.rpartition(".")[2])) for p in paths]
    + [bool(importlib.import_module(m)) for m in modules],
    "asset_handler": "spotzee" in manager.asset_uri_handlers,
}))
"""


def _ran(
    *cmd: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``cmd`` run to its end, asserting it succeeded (its output's tail otherwise)."""
    done = subprocess.run(
        [str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, output(done)[-3000:]
    return done


def _last_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout.strip().splitlines()[-1])


def _python(airflow: Airflow, script: str, *args: str) -> Any:
    return _last_json(_ran(sys.executable, "-c", script, *args, env=airflow.env))


def test_airflow_finds_the_provider_its_connection_form_and_its_asset_uris(airflow: Airflow) -> None:
    found = _python(airflow, PROVIDER_SCRIPT)
    assert found["entry_point"] == "spotzee_loader.provider:get_provider_info" and found["registered"]
    assert found["version"] == spotzee_loader.__version__
    assert found["hook"] == ["spotzee_loader.provider.hooks.SpotzeeHook", "Spotzee", "spotzee_conn_id", True]
    assert found["widgets"] == {
        "extra__spotzee__base_url": {
            "title": "Base URL", "secret": False, "default": "https://apix.spotzee.com/api/client",
        },
        "extra__spotzee__project": {"title": "Project", "secret": False, "default": None},
        "extra__spotzee__budget": {"title": "Budget name", "secret": False, "default": None},
        "extra__spotzee__rate_limit": {"title": "Requests per second", "secret": False, "default": 125.0},
    }  # fmt: skip
    assert found["behaviour"] == {
        "hidden_fields": ["host", "schema", "login", "port", "extra"],
        "relabeling": {"password": "API key"},
        "placeholders": {"password": "sk_... (the project's secret key)"},
    }
    assert found["imports"] == [True] * 6 and found["asset_handler"]

    listed = _ran(sys.executable, "-m", "airflow", "providers", "list", "-o", "json", env=airflow.env)
    providers = json.loads(listed.stdout[listed.stdout.index("[") :])
    assert [p["package_name"] for p in providers if p["package_name"] == "spotzee-loader"] == ["spotzee-loader"]


HOOK_SCRIPT = """
import json, sys
from spotzee_loader.provider.hooks import SpotzeeHook
hooks = [SpotzeeHook(conn_id) for conn_id in sys.argv[1:]]
print(json.dumps([[*h.test_connection(), h.connection.api.base_url, h.connection.project] for h in hooks]))
"""


def _conn(conn_type: str, key: str, **extra: Any) -> str:
    return json.dumps({"conn_type": conn_type, "password": key, "extra": extra})


def test_the_hook_tests_a_connection_with_a_real_read(airflow: Airflow, mock: MockSpotzee) -> None:
    airflow.env["AIRFLOW_CONN_GOOD"] = _conn("spotzee", API_KEY, extra__spotzee__base_url=mock.base_url)
    airflow.env["AIRFLOW_CONN_NAMED"] = _conn("spotzee", API_KEY, base_url=mock.base_url, project="acme-eu")
    airflow.env["AIRFLOW_CONN_REVOKED"] = _conn("spotzee", "sk_revoked_0000", extra__spotzee__base_url=mock.base_url)
    airflow.env["AIRFLOW_CONN_OLD"] = json.dumps({"conn_type": "http", "host": mock.base_url, "password": API_KEY})
    done = _ran(sys.executable, "-c", HOOK_SCRIPT, "good", "named", "revoked", "old", env=airflow.env)
    results = _last_json(done)
    # The http connection of earlier releases still works, saying once that it is deprecated.
    assert output(done).count("connection 'old' is of type http, deprecated for Spotzee: create it again") == 1
    assert API_KEY not in output(done)

    revoked_id = next(r["request_id"] for r in mock.reads if r["status"] == 401)
    assert results == [
        [True, f"Spotzee accepted the API key at {mock.base_url}.", mock.base_url, "good"],
        [True, f"Spotzee accepted the API key at {mock.base_url}.", mock.base_url, "acme-eu"],
        [False, f"Spotzee did not accept the API key (401, request {revoked_id}): check the project's secret key.",
         mock.base_url, "revoked"],
        [True, f"Spotzee accepted the API key at {mock.base_url}.", mock.base_url, "old"],
    ]  # fmt: skip
    # One real read each, of one journey.
    journeys = ("/api/client/journeys", "limit=1")
    assert [(r["path"], r["query"], r["status"]) for r in mock.reads] == [(*journeys, s) for s in (200, 200, 401, 200)]
    assert mock.requests == []  # nothing sent


def _orders_table(conn: Any, table: str, rows: int, without_time: int | None = None) -> None:
    """Orders 1..rows a minute apart from 2024-03-01, in the ``orders`` preset's columns; order ``without_time``
    has no ``ordered_at`` (a row that cannot be an event)."""
    conn.execute(f"CREATE TABLE {table} (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {table} SELECT i, mod(i, 40), CASE WHEN i = %s THEN NULL ELSE timestamptz '2024-03-01' + "
        "(i - 1) * interval '1 minute' END FROM generate_series(1, %s) i",
        (without_time or 0, rows),
    )


OWN_DAG = '''
"""A DAG of one's own (an Airflow DAG): the warehouse's orders into Spotzee, then a check of what landed."""
from airflow.sdk import dag
from spotzee_loader.provider.operators import SpotzeeLoadOperator, SpotzeeVerifyOperator


@dag(schedule=None)
def own_orders():
    load = SpotzeeLoadOperator(task_id="load", table="{table}", mapping="orders", spotzee_conn_id="spotzee_acme")
    load >> SpotzeeVerifyOperator(task_id="verify", target="own_orders.load", spotzee_conn_id="spotzee_acme")


own_orders()
'''


def test_a_dag_of_ones_own_loads_verifies_and_updates_its_event_asset(
    airflow: Airflow, mock: MockSpotzee, pg: Any, tmp_path: Path
) -> None:
    url, conn, schema = pg
    _orders_table(conn, f"{schema}.orders", 1500)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "own_orders.py").write_text(textwrap.dedent(OWN_DAG).replace("{table}", f"{schema}.orders"))
    airflow.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    airflow.env["AIRFLOW_CONN_SPOTZEE_WAREHOUSE"] = url
    airflow.env["AIRFLOW_CONN_SPOTZEE_ACME"] = _conn("spotzee", API_KEY, base_url=mock.base_url, project="acme")
    mock.configure({"processing_delay_s": 0})  # verify runs the moment the load ends: no settling to wait for here

    result = airflow.dags_test("own_orders")
    assert result.returncode == 0, output(result)[-3000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == list(range(1, 1501)) and set(ids.values()) == {1}
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = 'own_orders'").fetchall())
        events = db.execute(
            "SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id ORDER BY e.id"
        ).fetchall()
        verification = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'own_orders' AND task_id = 'verify' AND key = 'verification'"
        ).fetchone()
    assert states == {"load": "success", "verify": "success"}
    assert [(uri, json.loads(extra)["events"]) for uri, extra in events] == [
        ("spotzee://acme/events/order_placed", 1500)
    ]
    checked = json.loads(verification[0])
    assert (checked["differences"], checked["source_events"], checked["spotzee_events"]) == (0, 1500, 1500)


ONE_LINE = "from spotzee_loader.dags import *  # noqa: F403 - the Airflow DAGs of spotzee-loader\n"

PARSE_SCRIPT = """
import importlib, importlib.metadata, json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
import spotzee_loader

bag = DagBag(dag_folder=sys.argv[1])
points = [e.value for e in importlib.metadata.entry_points(group="apache_airflow_provider") if "spotzee" in e.value]
nightly = importlib.import_module("spotzee_loader.dags.spotzee_nightly_backfill")  # the module, not its DAG
sql = Path(nightly.__file__).resolve().parent.parent / "sql"
print(json.dumps({"dags": {d: bag.dags[d].fileloc for d in sorted(bag.dags)}, "errors": list(bag.import_errors),
    "package": spotzee_loader.__file__, "sql": sorted(p.name for p in sql.glob("*.sql")), "entry_points": points}))
"""


def test_the_built_wheel_carries_the_dags_and_their_sql_into_a_fresh_venv(airflow: Airflow, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _ran(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    _ran(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    _ran(py, "-m", "pip", "install", "-q", "--no-deps", wheel)
    # Airflow and the other dependencies from this venv, after the fresh one's own site-packages (a path in a .pth
    # file): the package, its metadata and its entry point come from the wheel.
    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "airflow").is_dir())
    (site / "zz_test_dependencies.pth").write_text(f"{ours}\n")
    dags = tmp_path / "dags_folder"
    dags.mkdir()
    (dags / "spotzee.py").write_text(ONE_LINE)
    env = {**airflow.env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    # Not the checkout as the working directory: python -c would import the package from it.
    found = _last_json(_ran(py, "-c", PARSE_SCRIPT, dags, env=env, cwd=tmp_path))
    assert found["errors"] == []
    one_line = str(dags / "spotzee.py")  # the DAGs belong to the one-line file, as a worker finds them
    assert found["dags"] == {"spotzee_migration": one_line, "spotzee_nightly_backfill": one_line}
    assert found["package"] == str(site / "spotzee_loader" / "__init__.py")
    assert found["sql"] == ["actions.sql", "checkpoint_store.sql", "orders.sql"]
    assert found["entry_points"] == ["spotzee_loader.provider:get_provider_info"]


REJECTING_DAG = '''
"""Orders with one row that cannot be an event (an Airflow DAG of one's own)."""
from airflow.sdk import dag
from spotzee_loader.provider.operators import SpotzeeLoadOperator


@dag(schedule=None)
def with_a_bad_row():
    SpotzeeLoadOperator(task_id="load", table="{table}", mapping="orders", max_rejected=1)


with_a_bad_row()
'''


def test_dead_letters_of_a_shared_store_stay_under_airflow_home_not_the_working_directory(
    airflow: Airflow, mock: MockSpotzee, pg: Any, tmp_path: Path
) -> None:
    url, conn, schema = pg
    _orders_table(conn, f"{schema}.orders", 300, without_time=7)
    dags, cwd = tmp_path / "dags", tmp_path / "worker-cwd"
    dags.mkdir()
    cwd.mkdir()
    (dags / "with_a_bad_row.py").write_text(textwrap.dedent(REJECTING_DAG).replace("{table}", f"{schema}.orders"))
    airflow.env.update({"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW_CONN_SPOTZEE_WAREHOUSE": url})
    airflow.env["AIRFLOW_CONN_SPOTZEE_CHECKPOINT"] = url  # a store shared by workers: no folder of its own
    _ran(sys.executable, "-m", "airflow", "dags", "test", "with_a_bad_row", env=airflow.env, cwd=cwd)
    assert sorted(Counter(e["data"]["order_id"] for e in mock.events)) == [i for i in range(1, 301) if i != 7]
    assert list(cwd.iterdir()) == []  # customer rows never land where the worker happens to run
    dead = airflow.home / "spotzee" / "dead-letter" / "with_a_bad_row.load.jsonl"
    (row,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (row["key"], row["field"]) == ({"order_id": 7}, "created_at") and dead.stat().st_mode & 0o777 == 0o600
