"""Presets for the platforms teams migrate from (issue 28): a sample export of each, generated here after the
platform's published export schema, loaded without naming the preset (detected from the columns), with the exact
events: names, ids, properties without the platform's bookkeeping, created_at to the millisecond."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli


def _lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _events(mock: MockSpotzee) -> list[tuple[Any, ...]]:
    return [
        (e["name"], e.get("external_id"), e.get("anonymous_id"), e["created_at"], e.get("data")) for e in mock.events
    ]


def _load(cli: Cli, source: Path, job: str) -> Any:
    result = cli(str(source), "--job", job, "--max-rejected", "5")
    assert result.returncode == 0, result.stderr
    return result


def test_a_mixpanel_raw_export(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = _lines(
        tmp_path / "mixpanel.jsonl",
        [
            {"event": "Signed Up", "properties": {"time": 1551565200, "distinct_id": "$device:d-1", "$device_id": "d-1",
             "$insert_id": "ins-1", "$browser": "Chrome", "$city": "Berlin", "mp_lib": "web", "plan": "pro"}},
            {"event": "Purchase", "properties": {"time": 1551565260.5, "distinct_id": "u-42", "$user_id": "u-42",
             "$device_id": "d-1", "$insert_id": "ins-2", "amount": 12.5, "mp_processing_time_ms": 1551565261000,
             "token": "project-token"}},
            # The same event sent twice (Mixpanel deduplicates on $insert_id): sent once.
            {"event": "Purchase", "properties": {"time": 1551565260.5, "distinct_id": "u-42", "$user_id": "u-42",
             "$insert_id": "ins-2", "amount": 12.5}},
        ],
    )  # fmt: skip
    report = tmp_path / "report.json"
    result = cli(str(source), "--job", "mixpanel", "--max-rejected", "5", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "the columns fit preset 'mixpanel'" in result.stderr
    assert _events(mock) == [
        ("Signed Up", None, "$device:d-1", "2019-03-02T22:20:00.000Z", {"plan": "pro"}),
        ("Purchase", "u-42", "u-42", "2019-03-02T22:21:00.500Z", {"amount": 12.5}),
    ]
    assert json.loads(report.read_text())["rejects_by_reason"] == {"duplicate_key": 1}


def test_an_amplitude_export(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = _lines(
        tmp_path / "amplitude.json",
        [
            {"event_type": "Song Played", "user_id": "u-1", "device_id": "d-1",
             "event_time": "2019-03-02 22:20:00.123000", "event_properties": {"genre": "jazz", "$insert_id": "x"},
             "user_properties": {"plan": "pro"},
             "insert_id": "i-1", "amplitude_id": 123, "uuid": "5f1e", "library": "http/2.0",
             "server_upload_time": "2019-03-02 22:20:01.000000", "client_event_time": "2019-03-02 22:19:59.000000"},
            {"event_type": "App Opened", "user_id": None, "device_id": "d-2",
             "event_time": "2019-03-03 08:00:00.000001", "event_properties": {}, "user_properties": {},
             "insert_id": "i-2", "amplitude_id": 124, "uuid": "5f1f",
             "library": "ios", "server_upload_time": "2019-03-03 08:00:01.000000",
             "client_event_time": "2019-03-03 08:00:00.000000"},
        ],
    )  # fmt: skip
    result = cli(str(source), "--format", "jsonl", "--job", "amplitude")
    assert result.returncode == 0, result.stderr
    assert "the columns fit preset 'amplitude'" in result.stderr
    assert _events(mock) == [
        ("Song Played", "u-1", "d-1", "2019-03-02T22:20:00.123Z", {"genre": "jazz"}),
        ("App Opened", None, "d-2", "2019-03-03T08:00:00.000Z", None),
    ]


GA4_PARAM = pa.struct(
    [
        ("key", pa.string()),
        (
            "value",
            pa.struct(
                [
                    ("string_value", pa.string()),
                    ("int_value", pa.int64()),
                    ("float_value", pa.float64()),
                    ("double_value", pa.float64()),
                ]
            ),
        ),
    ]
)
GA4_ITEM = pa.struct([("item_id", pa.string()), ("price", pa.float64()), ("quantity", pa.int64())])


def _param(key: str, **value: Any) -> dict[str, Any]:
    return {"key": key, "value": {"string_value": None, "int_value": None, "float_value": None, "double_value": None,
                                  **value}}  # fmt: skip


GA4_ROWS = [
    {"event_date": "20190302", "event_timestamp": 1551565200123456, "event_name": "page_view", "user_id": None,
     "user_pseudo_id": "1234.5678", "event_params": [_param("page_title", string_value="Home"),
                                                      _param("ga_session_id", int_value=99)], "items": []},
    {"event_date": "20190302", "event_timestamp": 1551565260000000, "event_name": "purchase", "user_id": "u-9",
     "user_pseudo_id": "1234.5678", "event_params": [_param("value", double_value=25.5),
                                                      _param("engagement_time_msec", int_value=12)],
     "items": [{"item_id": "SKU-1", "price": 25.5, "quantity": 1}]},
]  # fmt: skip
GA4_EXPECTED = [
    ("page_view", None, "1234.5678", "2019-03-02T22:20:00.123Z", {"page_title": "Home", "items": []}),
    (
        "purchase",
        "u-9",
        "1234.5678",
        "2019-03-02T22:21:00.000Z",
        {"value": 25.5, "items": [{"item_id": "SKU-1", "price": 25.5, "quantity": 1}]},
    ),
]


def test_a_ga4_bigquery_export_as_parquet(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    schema = pa.schema(
        [
            ("event_date", pa.string()),
            ("event_timestamp", pa.int64()),
            ("event_name", pa.string()),
            ("user_id", pa.string()),
            ("user_pseudo_id", pa.string()),
            ("event_params", pa.list_(GA4_PARAM)),
            ("items", pa.list_(GA4_ITEM)),
        ]
    )
    pq.write_table(pa.Table.from_pylist(GA4_ROWS, schema=schema), tmp_path / "events_20190302.parquet")
    result = _load(cli, tmp_path / "events_20190302.parquet", "ga4-parquet")
    assert "the columns fit preset 'ga4'" in result.stderr
    assert _events(mock) == GA4_EXPECTED


def test_a_ga4_bigquery_export_as_json_lines(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    """BigQuery's JSON export writes INT64 as strings: the timestamp and int_value arrive as text."""
    rows = []
    for row in GA4_ROWS:
        params = [{**p, "value": {k: str(v) if k == "int_value" and v is not None else v for k, v in p["value"].items()
                                  if v is not None}} for p in row["event_params"]]  # fmt: skip
        rows.append({**row, "event_timestamp": str(row["event_timestamp"]), "event_params": params})
    _load(cli, _lines(tmp_path / "events.jsonl", rows), "ga4-json")
    assert _events(mock) == GA4_EXPECTED


def test_a_posthog_export(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = _lines(
        tmp_path / "posthog.jsonl",
        [
            {"uuid": "0189a1b2-0000-7000-8000-000000000001", "event": "$pageview", "distinct_id": "anon-1",
             "timestamp": "2019-03-02T22:20:00.123000+00:00", "properties": {"$current_url": "https://shop.example/",
             "$lib": "web", "$session_id": "s-1", "$geoip_city_name": "Lyon", "token": "phc_x", "plan": "pro"}},
            {"uuid": "0189a1b2-0000-7000-8000-000000000002", "event": "order placed", "distinct_id": "anon-1",
             "timestamp": "2019-03-02T23:20:00.5+01:00", "properties": {"$lib": "posthog-node", "total": 30}},
        ],
    )  # fmt: skip
    result = _load(cli, source, "posthog")
    assert "the columns fit preset 'posthog'" in result.stderr
    assert _events(mock) == [
        ("$pageview", None, "anon-1", "2019-03-02T22:20:00.123Z", {"plan": "pro"}),
        ("order placed", None, "anon-1", "2019-03-02T22:20:00.500Z", {"total": 30}),
    ]
