"""``verify`` against a mock held to the published contract: years of days and several names paged through,
the exact shortfall of a half-finished migration, a window, throttled pages, UTC day boundaries."""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli

START = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)  # six years, all in the past
DAYS, NAMES, CUTOVER = 2_190, ("order_placed", "product_viewed", "order_refunded"), 1_000  # six years
MAPPING = """
name_column = "event"
external_id = "user_id"
created_at = "at"
key = ["id"]
data_columns = ["id"]
"""


def history() -> pa.Table:
    """Three event names a day for 2,190 days (six years), a second event on every fifth day, and events on
    both sides of UTC midnight (23:59:59.999 and 00:00:00.000), so the day bucket is tested at its edges."""
    rows: list[tuple[int, str, str, dt.datetime]] = []
    for day in range(DAYS):
        midnight = START + dt.timedelta(days=day)
        for n, name in enumerate(NAMES):
            rows.append((len(rows), name, f"u{day % 97}", midnight + dt.timedelta(hours=6 + n)))
        if day % 5 == 0:
            rows.append((len(rows), NAMES[0], "late", midnight + dt.timedelta(days=1, milliseconds=-1)))
            rows.append((len(rows), NAMES[1], "early", midnight))
    ids, events, users, times = zip(*rows, strict=True)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "event": pa.array(events),
            "user_id": pa.array(users),
            "at": pa.array(times, pa.timestamp("ms", tz="UTC")),
        }
    )


def day_counts(table: pa.Table) -> Counter[tuple[str, str]]:
    return Counter(
        (at.astimezone(dt.UTC).date().isoformat(), name)
        for name, at in zip(table.column("event").to_pylist(), table.column("at").to_pylist(), strict=True)
    )


def _verify(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("verify", *args, "--json")
    assert result.returncode in (0, 4), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def migration(cli: Cli, mock: MockSpotzee, write_parquet: Any, tmp_path: Path) -> tuple[Path, pa.Table, pa.Table]:
    """The whole history as one file, and the part a migration stopped at day 1,000 had delivered."""
    table = history()
    (tmp_path / "history.toml").write_text(MAPPING)
    cutover = START + dt.timedelta(days=CUTOVER)
    at = table.column("at").to_pylist()
    sent = table.filter(pa.array([t < cutover for t in at]))
    rest = table.filter(pa.array([t >= cutover for t in at]))
    write_parquet(table, "history.parquet")
    write_parquet(sent, "sent.parquet")
    write_parquet(rest, "rest.parquet")
    load = cli(str(tmp_path / "sent.parquet"), "--mapping", str(tmp_path / "history.toml"))
    assert load.returncode == 0, load.stderr[-2000:]
    assert [r["path"] for r in mock.reads] == ["/api/client/journeys"]  # the load's plan: its live journeys
    mock.reads.clear()  # verify's reads from here
    return tmp_path, sent, rest


def test_verify_finds_exactly_the_shortfall_then_nothing(
    cli: Cli, mock: MockSpotzee, migration: tuple[Path, pa.Table, pa.Table]
) -> None:
    folder, sent, rest = migration
    source = [str(folder / "history.parquet"), "--mapping", str(folder / "history.toml")]

    code, half = _verify(cli, *source)

    assert code == 4
    differences = {(d["day"], d["event_name"]): d["difference"] for d in half["days"] if d["difference"]}
    assert differences == {key: -count for key, count in day_counts(rest).items()}
    assert sum(differences.values()) == -rest.num_rows
    assert sum(d["spotzee"] for d in half["days"]) == sent.num_rows == mock.event_count
    # Six years asked in windows of at most 366 days (the published limit), each paged to its last page, every page
    # the contract's way.
    pages = [urllib.parse.parse_qs(r["query"]) for r in mock.reads]
    assert all(r["status"] == 200 and r["path"].endswith("/events/aggregations") for r in mock.reads)
    end = START + dt.timedelta(days=DAYS)
    expected_windows = []
    while (START + dt.timedelta(days=366 * len(expected_windows))) < end:
        first = START + dt.timedelta(days=366 * len(expected_windows))
        expected_windows.append((first, min(end, first + dt.timedelta(days=366))))
    assert len(expected_windows) == 6
    asked = [(q["from"][0], q["to"][0]) for q in pages]
    for first, last in expected_windows:
        window = (first.strftime("%Y-%m-%dT%H:%M:%SZ"), last.strftime("%Y-%m-%dT%H:%M:%SZ"))
        groups = sum(1 for day, _ in day_counts(sent) if first.date().isoformat() <= day < last.date().isoformat())
        assert asked.count(window) == max(1, math.ceil(groups / 100)), (window, groups)
    assert len(asked) == sum(asked.count(w) for w in set(asked))  # nothing asked outside those windows
    for query in pages:
        assert query["limit"] == ["100"] and query["group_by"] == ["event_name", "day"]
        assert sorted(query["event_name"]) == sorted(NAMES)
        since, until = (dt.datetime.fromisoformat(query[k][0].replace("Z", "+00:00")) for k in ("from", "to"))
        assert until - since <= dt.timedelta(days=366)
    firsts = [q for q in pages if "cursor" not in q]
    assert len(firsts) == len(expected_windows)  # each window's first page has no cursor; the others carry one

    # The migration finishes; a page throttled on the way is waited for, and everything matches.
    assert cli(str(folder / "rest.parquet"), "--mapping", str(folder / "history.toml")).returncode == 0
    mock.reads.clear()
    mock.configure({"read_script": ["ok", "429"]})
    code, whole = _verify(cli, *source)
    assert code == 0 and all(d["difference"] == 0 for d in whole["days"])
    assert len(whole["days"]) == len(day_counts(history())) == DAYS * 3
    assert [r["status"] for r in mock.reads][:3] == [200, 429, 200]
    assert mock.reads[1]["query"] == mock.reads[2]["query"]  # the same page asked again, same cursor

    human = cli("verify", *source)
    assert human.returncode == 0
    assert human.stdout.splitlines()[1:] == [  # no table when everything matches: one line
        f"All {DAYS * 3:,} (day, event) pairs over {DAYS:,} day(s) match: {history().num_rows:,} events in the source "
        "and in Spotzee."
    ]


def test_verify_a_window_of_a_long_migration(
    cli: Cli, mock: MockSpotzee, migration: tuple[Path, pa.Table, pa.Table]
) -> None:
    folder, sent, rest = migration
    source = [str(folder / "history.parquet"), "--mapping", str(folder / "history.toml")]
    before = ["--since", "2020-01-01", "--until", (START + dt.timedelta(days=CUTOVER)).date().isoformat()]
    code, delivered = _verify(cli, *source, *before)
    assert code == 0
    assert delivered["days"][0]["day"] == "2020-01-01"
    window = Counter({k: v for k, v in day_counts(sent).items() if k[0] >= "2020-01-01"})
    assert sum(d["source"] for d in delivered["days"]) == sum(window.values())
    assert urllib.parse.parse_qs(mock.reads[0]["query"])["from"] == ["2020-01-01T00:00:00Z"]
    mock.reads.clear()

    code, after = _verify(cli, *source, "--since", "2023-09-27T12:00:00+02:00")  # 10:00 UTC, mid-day
    assert code == 4
    expected = sum(1 for t in rest.column("at").to_pylist() if t >= dt.datetime(2023, 9, 27, 10, tzinfo=dt.UTC))
    assert -sum(d["difference"] for d in after["days"]) == expected
    assert urllib.parse.parse_qs(mock.reads[0]["query"])["from"] == ["2023-09-27T10:00:00Z"]

    # The table shows the pairs that differ, and says how many others match; --all shows every pair.
    since = ["--since", (START + dt.timedelta(days=CUTOVER - 5)).date().isoformat()]  # 5 days sent, then a shortfall
    differ = cli("verify", *source, *since)
    assert differ.returncode == 4
    lines = differ.stdout.splitlines()
    table = [line for line in lines[2:] if line[:4].isdigit()]
    assert table and all(line.endswith("<-") for line in table)
    whole = cli("verify", *source, *since, "--all")
    every = [line for line in whole.stdout.splitlines()[2:] if line[:4].isdigit()]
    assert len(every) == len(_verify(cli, *source, *since)[1]["days"]) > len(table)
    matching = len(every) - len(table)
    days = len({line[:10] for line in every})
    assert (
        f"{len(table):,} of {len(every):,} (day, event) pairs over {days:,} day(s) differ; the other {matching:,} "
        "match (--all shows them)."
    ) in differ.stdout


def test_the_day_is_the_utc_calendar_day(
    cli: Cli, mock: MockSpotzee, migration: tuple[Path, pa.Table, pa.Table]
) -> None:
    folder, _, _ = migration
    code, result = _verify(
        cli, str(folder / "sent.parquet"), "--mapping", str(folder / "history.toml"), "--until", "2019-01-03"
    )
    assert code == 0
    rows = {(d["day"], d["event_name"]): d["source"] for d in result["days"]}
    # Day 0 at 23:59:59.999 stays on day 0; the "early" event of day 0 is at 00:00:00.000 of day 0 itself.
    assert rows[("2019-01-01", "order_placed")] == 2 and rows[("2019-01-01", "product_viewed")] == 2
    assert rows[("2019-01-02", "order_placed")] == 1 and rows[("2019-01-02", "order_refunded")] == 1
