"""Defects found on messy data by a new user (issue 26), each pinned by a test that failed before its fix."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli, kill_once_sending
from .test_cli import orders

MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
key = ["order_id"]
[data]
order_id = "order_id"
total = "total"
[types]
total = "number"
"""


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("order_id,customer_id,ordered_at,total,email\n" + "".join(r + "\n" for r in rows))
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_holding_rows_are_the_owners_alone_whatever_the_umask(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    cli.umask = 0  # the loosest: every mode below is set by the loader, not left to the umask
    source = _csv(
        tmp_path / "orders.csv",
        ["1,c1,2024-03-01T10:00:00Z,10.5,a@example.com", "2,c2,2024-03-01T11:00:00Z,N/A,b@example.com"],
    )
    (tmp_path / "m.toml").write_text(MAPPING)
    output, report = tmp_path / "out" / "events.jsonl", tmp_path / "run.json"
    args = ["--mapping", str(tmp_path / "m.toml"), "--job", "perm", "--report", str(report), "--max-rejected", "1"]
    rehearsal = cli(str(source), *args, "--dry-run", "--output", str(output))
    assert rehearsal.returncode == 0, rehearsal.stderr
    result = cli(str(source), *args)
    assert result.returncode == 0, result.stderr
    assert [e["data"]["order_id"] for e in mock.events] == [1]
    state = cli.checkpoint.parent
    dead_letter = state / "dead-letter" / "perm.jsonl"
    assert json.loads(dead_letter.read_text())["source"]["customer_id"] == "c2"
    files = [cli.checkpoint, dead_letter, output, report]
    assert {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}
    folders = [state, state / "dead-letter", output.parent]
    assert {str(f): _mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    kept = [state, *state.rglob("*")]  # SQLite's -wal and -shm too, when a run leaves them
    assert {str(p): _mode(p) for p in kept} == {str(p): 0o600 if p.is_file() else 0o700 for p in kept}

    dead_letter.write_text(dead_letter.read_text().replace('"total":null', '"total":"12.25"'))
    resend = cli("resend", str(dead_letter), "--mapping", str(tmp_path / "m.toml"))
    assert resend.returncode == 0, resend.stderr
    copies = sorted((state / "resend").rglob("*"))
    assert copies, "resend wrote no copy of the rows"
    assert {str(p): _mode(p) for p in copies} == {str(p): 0o600 if p.is_file() else 0o700 for p in copies}
    assert _mode(state / "resend") == 0o700


def test_lock_files_do_not_pile_up(cli: Cli, mock: MockSpotzee, write_parquet: object, tmp_path: Path) -> None:
    path = str(write_parquet(orders(3_000)))  # type: ignore[operator]
    for job in ("a", "b", "c"):
        assert cli(path, "--preset", "orders", "--job", job).returncode == 0
    assert sorted(cli.checkpoint.parent.glob("*.lock")) == []
    # A run killed mid-flight cannot remove its own: the next one on the store does, and finishes the job.
    killed = cli.popen(path, "--preset", "orders", "--job", "killed", "--rate-limit", "5")
    kill_once_sending(killed, mock, 9_200)  # 9,000 from the three jobs before
    assert len(list(cli.checkpoint.parent.glob("*.lock"))) == 1
    assert cli(path, "--preset", "orders", "--job", "other").returncode == 0
    assert sorted(cli.checkpoint.parent.glob("*.lock")) == []
    assert cli(path, "--preset", "orders", "--job", "killed").returncode == 0
    assert sorted(cli.checkpoint.parent.glob("*.lock")) == []
