"""The README's commands run (issue 19, item 9): every command line of its ```bash blocks either runs here, offline,
against the mock server, in a sandbox holding the files it names, and ends with the exit code expected below — or
is listed in NOT_RUN_HERE with the reason. A command added to the README is therefore run by the suite, or someone
decides, in this file, why it cannot be.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.examples import example_orders

from .conftest import API_KEY, s3_client
from .test_warehouse import duck_orders

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The README first, then the site's pages in the order of its navigation (the tutorial's steps run in order).
PAGES = [README, ROOT / "docs" / "index.md", ROOT / "docs" / "tutorial.md", *sorted((ROOT / "docs").glob("*/*.md"))]

_AIRFLOW = "an Airflow deployment: test_dags.py and test_deployment.py run these on a real one"
_MOCK_SERVER = "a server that runs until Ctrl-C, its optional flags in brackets: the mock fixture is that server"
_HOST_DB = "the reader's own host db: test_warehouse.py runs these against a real PostgreSQL"
NOT_RUN_HERE = {
    (
        "python3 -m venv .venv && .venv/bin/pip install -q uv && .venv/bin/uv pip install -q --compile-bytecode "
        "--python .venv/bin/python -e '.[test]' && .venv/bin/ruff check . && .venv/bin/ruff format --check . && "
        ".venv/bin/mypy && .venv/bin/mkdocs build --strict -q && .venv/bin/pytest"
    ): "the test command: it runs this test",
    "spotzee-loader postgresql://loader@db:5432/shop --table analytics.orders --mapping orders.toml": _HOST_DB,
    (
        "spotzee-loader postgresql://loader@db/shop --sql-file sql/actions.sql --preset actions --since 2024-01-01 "
        "--until 2025-01-01 --checkpoint postgresql://loader@db/ops"
    ): _HOST_DB,
    (
        "airflow dags test spotzee_migration --conf "
        """'{"path": "/data/orders.parquet", "mapping": "/cfg/orders.toml"}'"""
    ): _AIRFLOW,
    (
        "airflow dags trigger spotzee_migration --conf "
        """'{"table": "analytics.orders", "mapping": "orders", "since": "2019-01-01", "until": "2025-01-01", """
        """"slice_days": 31}'"""
    ): _AIRFLOW,
    (
        "spotzee-loader mock-server --port 8787 --api-key sk_test [--fail-rate 0.05] "
        "[--faults 500,503,429,drop,stall,ack_drop]"
    ): _MOCK_SERVER,
    "[--block-retry-after seconds|date|none] [--no-ip-limits] [--processing-delay 0.2]": _MOCK_SERVER,
    "[--key-rate-limit 600 --key-rate-window 60] [--enforce-idempotency]": _MOCK_SERVER,
    "[--reject-name NAME] [--no-store]": _MOCK_SERVER,
}

# Exit codes other than 0, and why. The sandbox's orders hold two rows without a time (so the dead-letter and
# resend steps have something to work on): a real run of them rejects 2 rows past --max-rejected 0.
EXPECTED_EXIT = {
    "spotzee-loader orders.parquet --dry-run": 3,  # a rehearsal says so too
    "spotzee-loader orders.parquet --preset orders --report run.json": 3,
    "spotzee-loader history.parquet --preset orders --job orders-2019-2024 --stamp backfill_job --dry-run": 3,
    # The sample holds the two rows without a time (rows 10 and 20).
    "spotzee-loader history.parquet --preset orders --job orders-2019-2024 --stamp backfill_job --limit 100": 3,
    "spotzee-loader history.parquet --preset orders --job orders-2019-2024 --stamp backfill_job --report run.json": 3,
    # The two rows are sent again as they are (the README says to fix them first): rejected again.
    "spotzee-loader resend ~/.local/state/spotzee-loader/dead-letter/orders-2019-2024.jsonl": 3,
    # The tutorial: its plan names the two rows (no reject tolerated there), and it resends them as they are.
    "spotzee-loader my-orders.parquet --preset orders --job tutorial --dry-run": 3,
    "spotzee-loader resend ~/.local/state/spotzee-loader/dead-letter/tutorial.jsonl": 3,
}
# The README's placeholder for a key; the mock's key stands in for it.
PLACEHOLDERS = {"sk_...": API_KEY}


def readme_commands() -> list[tuple[int, str, str]]:
    """``(story, where, command)`` of every command of the README's and the site's ```bash blocks: continuations
    joined, comments and blank lines dropped, ``a && b`` kept whole; ``where`` is ``file:line``. A story is one of
    the README's blocks, or one page of the site (a walk-through across blocks, as the tutorial)."""
    commands: list[tuple[int, str, str]] = []
    number = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        number += page != README
        for block in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M):
            number += page == README
            first_line = text[: block.start()].count("\n") + 2
            pending, start = "", 0
            for offset, raw in enumerate(block.group(1).splitlines()):
                line = re.sub(r"\s+#\s.*$", "", raw).rstrip()  # a trailing comment (after blanks)
                if not pending and (not line.strip() or line.lstrip().startswith("#")):
                    continue
                if not pending:
                    start = first_line + offset
                if line.endswith("\\"):
                    pending += line[:-1].strip() + " "
                    continue
                where = f"{page.relative_to(ROOT)}:{start}"
                commands.append((number, where, " ".join((pending + line.strip()).split())))
                pending = ""
    return commands


def _sandbox(tmp: Path, s3: dict[str, str]) -> Path:
    """The files and buckets the README's commands name, made from the shipped example and small generated data."""
    box = tmp / "box"
    (box / "exports").mkdir(parents=True)
    table = example_orders(1000)
    times = table.column("ordered_at").to_pylist()
    times[10] = times[20] = None  # two rows without a time: dead letters
    table = table.set_column(table.schema.get_field_index("ordered_at"), "ordered_at",
                             pa.array(times, table.schema.field("ordered_at").type))  # fmt: skip
    pq.write_table(table, box / "orders.parquet")
    pq.write_table(table, box / "history.parquet")  # the migration walk-through's own source
    pq.write_table(table, box / "my-orders.parquet")  # the tutorial's
    shutil.copytree(ROOT / "sql", box / "sql")
    csv = box / "exports" / "orders-2019.csv.gz"
    with pa.CompressedOutputStream(str(csv), "gzip") as out:
        pacsv.write_csv(example_orders(300, seed=19), out)
    for part in range(2):
        actions = pa.table({
            "action_id": [part * 100 + i for i in range(100)],
            "user_id": [f"u{i % 17}" for i in range(100)],
            "action": ["signed_in" if i % 3 else "viewed_product" for i in range(100)],
            "occurred_at": pa.array([1_700_000_000_000 + (part * 100 + i) * 60_000 for i in range(100)],
                                    pa.timestamp("ms", tz="UTC")),
        })  # fmt: skip
        pq.write_table(actions, box / "exports" / f"actions-{part}.parquet")
    (box / "actions.toml").write_text(
        'name_column = "action"\nexternal_id = "user_id"\ncreated_at = "occurred_at"\nkey = ["action_id"]\n'
    )
    duck_orders(box / "warehouse.duckdb", 3000)
    client = s3_client(s3)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="acme-segment")
    calls = [
        {"type": "track", "event": "Order Completed", "userId": "u1", "timestamp": "2024-03-01T10:00:00Z",
         "properties": {"total": 30}, "messageId": "m1"},
        {"type": "identify", "userId": "u1", "timestamp": "2024-03-01T09:00:00Z", "traits": {"plan": "pro"},
         "messageId": "m2"},
        {"type": "track", "event": "Signed In", "anonymousId": "a9", "timestamp": "2024-03-02T08:00:00Z",
         "properties": {}, "messageId": "m3"},
    ]  # fmt: skip
    body = gzip.compress(b"".join(json.dumps(c).encode() + b"\n" for c in calls))
    client.put_object(Bucket="acme-segment", Key="segment-logs/src/1709251200000/part-0.gz", Body=body)
    return box


def test_every_readme_command_runs_or_says_why_not(mock: MockSpotzee, s3: dict[str, str], tmp_path: Path) -> None:
    commands = readme_commands()
    assert len(commands) >= 15, commands  # the parser found the blocks
    box = _sandbox(tmp_path, s3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTZEE_", "XDG_"))}
    env.update(s3)
    env.update({"HOME": str(box), "SPOTZEE_BASE_URL": mock.base_url, "PATH": f"{Path(sys.executable).parent}:"
                f"{env['PATH']}"})  # fmt: skip
    skipped, ran, block = set(), [], 0
    for number, line, command in commands:
        if number != block:
            mock.reset()  # each story on its own (a walk-through is verified against its own sends)
            block = number
        if command in NOT_RUN_HERE:
            skipped.add(command)
            continue
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            env[name] = PLACEHOLDERS.get(value, value)
            continue
        # The first block's install-and-run chain: the run is what is tested (the install is this environment).
        run = command.rsplit(" && ", 1)[-1].replace(".venv/bin/", "")
        cwd = ROOT if "spotzee_loader/examples/" in run else box
        result = subprocess.run(["bash", "-c", run], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                                check=False)  # fmt: skip
        expected = EXPECTED_EXIT.get(command, 0)
        assert result.returncode == expected, f"{line}: {command}\n{result.stdout[-1500:]}\n" + (result.stderr[-3000:])
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr, (line, result.stderr)
        ran.append(command)

    assert skipped == set(NOT_RUN_HERE), set(NOT_RUN_HERE) - skipped  # a listed command left the README
    assert set(EXPECTED_EXIT) <= set(ran)
    assert len(ran) >= 10, ran


def test_the_docs_dags_of_ones_own_are_the_ones_the_deployment_runs() -> None:
    from .test_deployment import OWN_DAGS

    text = (ROOT / "docs" / "how-to" / "airflow.md").read_text()
    for dag_id, source in OWN_DAGS.items():
        assert f"```python\n{source}```" in text, f"the docs' {dag_id} is not the DAG tests/test_deployment.py runs"


def test_ci_runs_exactly_the_readme_s_second_command() -> None:
    """.ci/run may start services first, but what it runs is the README's test command, word for word."""
    second = [c for _, _, c in readme_commands() if c.startswith("python3 -m venv") and "pytest" in c]
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert len(second) == 1 and ci_lines[-1] == second[0]
