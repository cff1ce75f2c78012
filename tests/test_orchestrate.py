"""Slicing, params and summaries of the DAGs' work, without Airflow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotzee_loader.config import ApiSettings, Secret, SourceOptions
from spotzee_loader.errors import ConfigError, TooManyRejectsError
from spotzee_loader.orchestrate.nightly import NightlyConfig, nightly_slices
from spotzee_loader.orchestrate.params import MigrationParams
from spotzee_loader.orchestrate.plan import (
    file_slices,
    parquet_slices,
    plan_migration,
    window_slices,
)
from spotzee_loader.orchestrate.tasks import budget_for_tasks, summarize
from spotzee_loader.sources import ResumePoint, open_source

UTC = dt.UTC


def write(path: Path, rows: int, group: int) -> Path:
    pq.write_table(pa.table({"order_id": range(rows)}), path, row_group_size=group)
    return path


@pytest.mark.parametrize(
    ("conf", "fragment"),
    [
        ({}, "exactly one source"),
        ({"path": "a.parquet", "table": "t"}, "exactly one source"),
        ({"table": "t", "since": "2024-02-01", "until": "2024-01-01"}, "since must be before until"),
        ({"path": "a.parquet", "since": "2024-02-01", "until": "2024-01-01"}, "since must be before until"),
        ({"sql": "SELECT 1", "since": "2024-01-01"}, "needs since and until"),
        ({"table": "t", "since": "yesterday"}, "since='yesterday' is not a date"),
        ({"table": "t", "slice_rows": 0}, "slice_rows must be a whole number of at least 1"),
        ({"table": "t", "max_rejected": "5"}, "max_rejected must be a whole number"),
        ({"table": "t", "mapping": "nowhere.toml"}, "neither a preset"),
        ({"table": "t", "pth": "x"}, "unknown param(s) pth"),
    ],
    ids=[
        "none",
        "two",
        "window-order",
        "window-order-on-parquet",
        "sql-window",
        "bad-date",
        "slice-rows",
        "str-int",
        "mapping",
        "typo",
    ],
)
def test_migration_params_are_validated(conf: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        MigrationParams.from_conf(conf)
    assert fragment in str(info.value)


def test_unknown_conf_keys_are_refused_by_the_plan() -> None:
    params = {"path": "x.parquet", "mapping": None}
    with pytest.raises(ConfigError, match="unknown param\\(s\\) paht"):
        plan_migration({"paht": "x.parquet"}, params, lambda conn_id: "")


def test_job_names_come_from_params_not_runs() -> None:
    a = MigrationParams.from_conf({"table": "orders", "since": "2024-01-01", "until": "2024-02-01"})
    b = MigrationParams.from_conf(
        {"table": "orders", "since": "2024-01-01", "until": "2024-02-01", "dry_run": True, "restart": True}
    )
    c = MigrationParams.from_conf({"table": "orders", "since": "2024-01-01", "until": "2024-03-01"})
    assert a.base_job() == b.base_job() != c.base_job()
    assert MigrationParams.from_conf({"table": "t", "job": "history"}).base_job() == "history"


def test_parquet_slices_split_big_files_and_pack_small_ones(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "a_big.parquet", 2_500, 500)  # 5 row groups
    for name in ("b", "c", "d"):
        write(folder / f"{name}_small.parquet", 300, 300)
    params = MigrationParams.from_conf({"path": str(folder), "slice_rows": 1_000})
    slices = parquet_slices(params)
    assert [(Path(s.files[0]).name, len(s.files), s.row_groups, s.rows) for s in slices] == [
        ("a_big.parquet", 1, [0, 2], 1_000),
        ("a_big.parquet", 1, [2, 4], 1_000),
        ("a_big.parquet", 1, [4, 5], 500),
        ("b_small.parquet", 3, None, 900),
    ]
    assert len({s.job for s in slices}) == 4
    assert parquet_slices(params) == slices  # deterministic
    # Every row is covered exactly once by the slices.
    seen: list[int] = []
    for s in slices:
        groups = (s.row_groups[0], s.row_groups[1]) if s.row_groups else None
        source = open_source(str(folder), SourceOptions(files=tuple(s.files), row_groups=groups))
        for part in source.batches(ResumePoint(), None):
            seen += part.batch.column("order_id").to_pylist()
    assert sorted(seen) == sorted(list(range(2_500)) + list(range(300)) * 3)
    # A window (the cutover) travels with every file slice, and names other jobs than the whole load.
    windowed = parquet_slices(MigrationParams.from_conf({**params.__dict__, "since": "2024-01-01", "until": None}))
    assert {(s.since, s.until) for s in windowed} == {("2024-01-01T00:00:00+00:00", None)}
    assert not {s.job for s in windowed} & {s.job for s in slices}


def test_too_many_slices_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "x.parquet", 50, 1)
    with pytest.raises(ConfigError, match="over the 10 Airflow can map; raise slice_rows"):
        parquet_slices(MigrationParams.from_conf({"path": str(path), "slice_rows": 1}), max_slices=10)


def test_window_slices_cover_the_window_half_open() -> None:
    params = MigrationParams.from_conf({"table": "t", "slice_days": 10})
    since, until = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 25, tzinfo=UTC)
    slices = window_slices(params, since, until)
    assert [(s.since, s.until) for s in slices] == [
        ("2024-01-01T00:00:00+00:00", "2024-01-11T00:00:00+00:00"),
        ("2024-01-11T00:00:00+00:00", "2024-01-21T00:00:00+00:00"),
        ("2024-01-21T00:00:00+00:00", "2024-01-25T00:00:00+00:00"),
    ]


def test_nightly_slices_one_job_per_source_and_interval(tmp_path: Path) -> None:
    config = NightlyConfig.from_dict(None, tmp_path)
    start, end = dt.datetime(2024, 3, 1, 2, tzinfo=UTC), dt.datetime(2024, 3, 2, 2, tzinfo=UTC)
    slices = nightly_slices(config, start, end)
    assert [(s.source, s.job) for s in slices] == [
        ("orders", "nightly-orders-20240301T020000Z-20240302T020000Z"),
        ("actions", "nightly-actions-20240301T020000Z-20240302T020000Z"),
    ]
    assert config.source("orders").sql_file == str(tmp_path / "orders.sql")


@pytest.mark.parametrize(
    ("start", "end"), [(None, None), (dt.datetime(2024, 1, 1, tzinfo=UTC),) * 2], ids=["no-interval", "empty-interval"]
)
def test_nightly_without_a_data_interval_fails_plainly(tmp_path: Path, start: Any, end: Any) -> None:
    with pytest.raises(ConfigError, match=r"no data interval.*airflow backfill create"):
        nightly_slices(NightlyConfig.from_dict(None, tmp_path), start, end)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"sources": [{"name": "o", "mapping": "orders"}]}, "exactly one of sql_file or table"),
        ({"sources": [{"name": "o", "mapping": "orders", "table": "t", "colour": "red"}]}, "bad source"),
        (
            {
                "sources": [
                    {"name": "o", "mapping": "orders", "table": "t"},
                    {"name": "o", "mapping": "orders", "table": "u"},
                ]
            },
            "must be unique",
        ),
        ({"max_rejcted": 3}, "unknown key(s) max_rejcted"),
    ],
    ids=["no-source", "typo-in-source", "duplicate", "typo"],
)
def test_nightly_config_errors(tmp_path: Path, raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        NightlyConfig.from_dict(raw, tmp_path)
    assert fragment in str(info.value)


def test_every_task_gets_the_whole_budget_to_share_live_and_a_static_share_as_fallback() -> None:
    api = ApiSettings(api_key=Secret("k"), concurrency=4)
    shared, budget = budget_for_tasks(api, 95, 4, "egress-a")
    assert shared.rate_limit == 95 and budget.name == "egress-a" and budget.fallback_share == 0.25
    assert budget_for_tasks(api, 95, 1, "default")[1].fallback_share == 1.0
    assert budget_for_tasks(api, 0, 4, "default")[0].rate_limit == 0  # unthrottled stays unthrottled


def report(slice_: str, read: int, sent: int, rejected: int) -> dict[str, Any]:
    return {
        "slice": slice_,
        "job": f"j-{slice_}",
        "rows_read": read,
        "events_sent": sent,
        "rejected": rejected,
        "rows_skipped": 0,
        "requests": sent // 100,
        "retries": 1,
        "duration_s": 2.0,
        "status": "finished",
        "job_totals": {"rejected": rejected},
        "dead_letter": f"/dl/{slice_}.jsonl" if rejected else None,
    }


def test_summary_totals_and_rejects_allowance() -> None:
    reports = [report("a", 1000, 998, 2), report("b", 500, 500, 0)]
    summary = summarize(reports, max_rejected=2)
    assert summary["totals"] == {
        "rows_read": 1500,
        "events_sent": 1498,
        "rejected": 2,
        "rows_skipped": 0,
        "requests": 14,
        "retries": 2,
    }
    assert [s["slice"] for s in summary["per_slice"]] == ["a", "b"]
    with pytest.raises(TooManyRejectsError, match=r"2 rows were rejected, more than the 1 allowed.*/dl/a\.jsonl"):
        summarize(reports, max_rejected=1)


def test_csv_and_json_lines_files_are_one_slice_each(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for n in range(3):
        (folder / f"part-{n}.csv.gz").write_bytes(b"")
    (folder / "_SUCCESS").write_text("")
    params = MigrationParams.from_conf({"path": str(folder), "mapping": "orders", "until": "2024-06-01"})
    slices = file_slices(params)
    assert [s.label for s in slices] == ["part-0.csv.gz", "part-1.csv.gz", "part-2.csv.gz"]
    assert [s.files for s in slices] == [[str(folder / f"part-{n}.csv.gz")] for n in range(3)]
    assert len({s.job for s in slices}) == 3 and all(s.until == "2024-06-01T00:00:00+00:00" for s in slices)
    assert file_slices(params) == slices  # the same jobs on every trigger
