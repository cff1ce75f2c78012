"""Rows -> events: what arrives at Spotzee, value by value, and every reject reason."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest

from spotzee_loader.mapping import Mapping
from spotzee_loader.mapping.events import EventBuilder

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
T0 = dt.datetime(2024, 3, 1, 12, 30, 15, 123456)


def build(columns: dict[str, Any], **mapping: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    table = pa.table(columns)
    fields = {"name": "ev", "external_id": "id", "created_at": "t", **mapping}
    builder = EventBuilder(Mapping(**fields), table.schema, NOW)
    built = builder.build(table.to_batches()[0], first_row=0)
    return [orjson.loads(body) for _, body in built.events], built.rejects


def test_integer_ids_with_nulls_never_gain_a_decimal_point() -> None:
    # pandas promotes an int column with nulls to float64: the classic "36901.0" bug.
    ids = pa.array([36901.0, None, 7.0, 2.0**53], pa.float64())
    events, rejects = build({"id": ids, "t": [T0] * 4})
    assert [e["external_id"] for e in events] == ["36901", "7", "9007199254740992"]
    assert [r.code for r in rejects] == ["id_missing"]


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([36901], pa.int64()), "36901"),
        (pa.array([36901], pa.uint32()), "36901"),
        (pa.array([decimal.Decimal("36901.00")], pa.decimal128(10, 2)), "36901"),
        (pa.array(["cust-9f4b21"]), "cust-9f4b21"),
        (pa.array(["cust-9f4b21"], pa.large_string()), "cust-9f4b21"),
        (pa.array(["cust-9f4b21"]).dictionary_encode(), "cust-9f4b21"),
        (pa.array([b"\x12\x34\x56\x78" * 4], pa.binary(16)), "12345678-1234-5678-1234-567812345678"),
    ],
    ids=["int64", "uint32", "decimal", "string", "large_string", "dictionary", "uuid-bytes"],
)
def test_id_types(array: pa.Array, expected: str) -> None:
    events, _ = build({"id": array, "t": [T0]})
    assert events[0]["external_id"] == expected


def test_money_stays_exact_and_integers_stay_integers() -> None:
    events, _ = build(
        {
            "id": ["a"],
            "t": [T0],
            "total": pa.array([decimal.Decimal("194029.55")], pa.decimal128(12, 2)),
            "big": pa.array([2**53 + 1], pa.int64()),
            "qty": pa.array([3], pa.int32()),
            "price": pa.array([19.99], pa.float64()),
        },
        data_columns="*",
    )
    raw = orjson.dumps(events[0])
    assert b'"total":194029.55' in raw
    assert b'"big":9007199254740993' in raw
    assert events[0]["data"]["qty"] == 3 and isinstance(events[0]["data"]["qty"], int)
    assert events[0]["data"]["price"] == 19.99


def test_decimal_body_bytes_are_exact() -> None:
    table = pa.table({"id": ["a"], "t": [T0], "total": pa.array([decimal.Decimal("0.10")], pa.decimal128(5, 2))})
    built = EventBuilder(
        Mapping(name="ev", external_id="id", created_at="t", data=(("total", "total"),)), table.schema, NOW
    ).build(table.to_batches()[0], 0)
    assert b'"data":{"total":0.10}' in built.events[0][1]


def test_nan_infinity_and_nulls_are_dropped_not_sent() -> None:
    events, _ = build(
        {
            "id": ["a", "b", "c", "d"],
            "t": [T0] * 4,
            "x": pa.array([float("nan"), float("inf"), float("-inf"), None], pa.float64()),
            "y": pa.array([1.5, None, 2.5, 3.5]),
        },
        data_columns="*",
    )
    assert [e.get("data") for e in events] == [{"y": 1.5}, None, {"y": 2.5}, {"y": 3.5}]


@pytest.mark.parametrize(
    ("array", "timezone", "expected"),
    [
        (pa.array([T0], pa.timestamp("us")), "UTC", "2024-03-01T12:30:15.123Z"),
        (pa.array([T0], pa.timestamp("us")), "Europe/Paris", "2024-03-01T11:30:15.123Z"),
        (pa.array([T0], pa.timestamp("ns")), "UTC", "2024-03-01T12:30:15.123Z"),
        (pa.array([T0.replace(microsecond=0)], pa.timestamp("s")), "UTC", "2024-03-01T12:30:15.000Z"),
        (pa.array([T0], pa.timestamp("us", tz="America/New_York")), "Europe/Paris", "2024-03-01T12:30:15.123Z"),
        (pa.array([dt.date(2024, 3, 1)], pa.date32()), "UTC", "2024-03-01T00:00:00.000Z"),
        (pa.array([dt.date(2024, 3, 1)], pa.date32()), "Asia/Tokyo", "2024-02-29T15:00:00.000Z"),
        (pa.array(["2024-03-01T12:30:15.123+02:00"]), "UTC", "2024-03-01T10:30:15.123Z"),
        (pa.array(["2024-03-01T12:30:15Z"]), "Europe/Paris", "2024-03-01T12:30:15.000Z"),
        (pa.array(["2024-03-01 12:30:15"]), "Europe/Paris", "2024-03-01T11:30:15.000Z"),
        (pa.array(["2024-03-01"]), "UTC", "2024-03-01T00:00:00.000Z"),
        (pa.array(["2024-03-31T02:30:00"]), "Europe/Paris", "2024-03-31T01:00:00.000Z"),  # skipped hour
        (pa.array([dt.datetime(2024, 3, 31, 2, 30)], pa.timestamp("us")), "Europe/Paris", "2024-03-31T01:00:00.000Z"),
        (pa.array(["1969-07-20T20:17:40Z"]), "UTC", "1969-07-20T20:17:40.000Z"),
    ],
    ids=[
        "naive-utc",
        "naive-paris",
        "ns",
        "seconds",
        "zoned",
        "date",
        "date-tokyo",
        "iso-offset",
        "iso-z",
        "iso-naive",
        "iso-date",
        "iso-dst-gap",
        "ts-dst-gap",
        "before-1970",
    ],
)
def test_created_at_is_always_utc_with_milliseconds(array: pa.Array, timezone: str, expected: str) -> None:
    events, rejects = build({"id": ["a"], "t": array}, timezone=timezone)
    assert rejects == []
    assert events[0]["created_at"] == expected


@pytest.mark.parametrize(
    ("columns", "mapping", "code", "field"),
    [
        ({"id": [None], "t": [T0]}, {}, "id_missing", "external_id"),
        ({"id": [""], "t": [T0]}, {}, "id_missing", "external_id"),
        ({"id": ["x" * 256], "t": [T0]}, {}, "id_too_long", "external_id"),
        ({"id": ["a"], "t": pa.array([None], pa.timestamp("us"))}, {}, "created_at_missing", "created_at"),
        ({"id": ["a"], "t": ["yesterday"]}, {}, "created_at_unparseable", "created_at"),
        ({"id": ["a"], "t": [""]}, {}, "created_at_missing", "created_at"),
        ({"id": ["a"], "t": pa.nulls(1)}, {}, "created_at_missing", "created_at"),
        ({"id": ["a"], "t": [dt.datetime(2030, 1, 1)]}, {}, "created_at_future", "created_at"),
        ({"id": ["a"], "t": [dt.datetime(1850, 1, 1)]}, {}, "created_at_too_old", "created_at"),
        # Year ~31 million: past what a millisecond time holds, and first of all past the bound on future times.
        ({"id": ["a"], "t": pa.array([10**15], pa.timestamp("s"))}, {}, "created_at_future", "created_at"),
        ({"id": ["a"], "t": [T0], "n": [None]}, {"name": None, "name_column": "n"}, "name_missing", "name"),
        ({"id": ["a"], "t": [T0], "n": ["n" * 201]}, {"name": None, "name_column": "n"}, "name_too_long", "name"),
        ({"id": ["a"], "t": [T0], "p": ["[1, 2]"]}, {"data_json": "p"}, "data_json_not_object", "p"),
        ({"id": ["a"], "t": [T0], "p": ["{oops"]}, {"data_json": "p"}, "data_json_invalid", "p"),
        ({"id": ["a"], "t": [T0], "p": ["x" * 40_000]}, {"data_columns": "*"}, "event_too_large", "data.p"),
    ],
    ids=[
        "null-id",
        "empty-id",
        "long-id",
        "null-time",
        "bad-time",
        "empty-time-string",
        "null-typed-time",
        "future",
        "too-old",
        "year-overflow",
        "null-name",
        "long-name",
        "json-array",
        "json-broken",
        "too-large",
    ],
)
def test_bad_rows_are_rejected_with_reason(
    columns: dict[str, Any], mapping: dict[str, Any], code: str, field: str | None
) -> None:
    events, rejects = build(columns, **mapping)
    assert events == []
    assert [(r.code, r.field, r.row) for r in rejects] == [(code, field, 0)]
    assert rejects[0].message
    assert rejects[0].source is not None


def test_reject_message_names_the_value() -> None:
    _, rejects = build({"id": ["a"], "t": ["31/12/2023"]})
    assert "'t'" in rejects[0].message and "31/12/2023" in rejects[0].message


def test_anonymous_id_alone_is_enough_and_both_link() -> None:
    events, _ = build({"id": [None, "u1"], "anon": ["an1", "an2"], "t": [T0, T0]}, anonymous_id="anon")
    assert events[0] == {"name": "ev", "anonymous_id": "an1", "created_at": "2024-03-01T12:30:15.123Z"}
    assert events[1]["external_id"] == "u1" and events[1]["anonymous_id"] == "an2"


def test_data_json_merges_and_explicit_columns_win() -> None:
    events, _ = build(
        {"id": ["a"], "t": [T0], "p": ['{"plan": "pro", "total": 1}'], "amount": [5]},
        data_json="p",
        data=(("total", "amount"),),
    )
    assert events[0]["data"] == {"plan": "pro", "total": 5}


def test_struct_and_nested_values() -> None:
    props = pa.array(
        [{"sku": "A1", "tags": ["x", "y"], "price": decimal.Decimal("1.10")}],
        pa.struct([("sku", pa.string()), ("tags", pa.list_(pa.string())), ("price", pa.decimal128(5, 2))]),
    )
    events, _ = build({"id": ["a"], "t": [T0], "props": props}, data_json="props")
    assert events[0]["data"] == {"sku": "A1", "tags": ["x", "y"], "price": 1.10}


def test_user_profile_and_traits() -> None:
    events, _ = build(
        {"id": ["a", "b"], "t": [T0, T0], "mail": ["a@x.io", None], "plan": ["pro", None]},
        user=(("email", "mail"),),
        user_data=(("plan", "plan"),),
    )
    assert events[0]["user"] == {"email": "a@x.io", "data": {"plan": "pro"}}
    assert "user" not in events[1]


def test_timestamps_and_dates_inside_data() -> None:
    events, _ = build(
        {"id": ["a"], "t": [T0], "shipped": pa.array([T0], pa.timestamp("ms")), "due": pa.array([dt.date(2024, 4, 1)])},
        data_columns="*",
    )
    assert events[0]["data"] == {"shipped": "2024-03-01T12:30:15.123Z", "due": "2024-04-01"}


def test_valid_and_invalid_rows_keep_their_positions() -> None:
    table = pa.table({"id": ["a", None, "c"], "t": ["2024-03-01", "2024-03-01", "bad"]})
    builder = EventBuilder(Mapping(name="ev", external_id="id", created_at="t"), table.schema, NOW)
    built = builder.build(table.to_batches()[0], first_row=1000)
    assert [row for row, _ in built.events] == [1000]
    assert [(r.row, r.code) for r in built.rejects] == [(1001, "id_missing"), (1002, "created_at_unparseable")]
    assert built.names == {"ev": 1}


def test_json_and_uuid_extension_columns() -> None:
    """Warehouse JSON columns arrive as objects (not strings), UUID columns as canonical text."""
    raw = b"\x12\x34\x56\x78" * 4
    events, _ = build(
        {
            "id": pa.ExtensionArray.from_storage(pa.uuid(), pa.array([raw], pa.binary(16))),
            "t": [T0],
            "props": pa.ExtensionArray.from_storage(pa.json_(pa.string()), pa.array(['{"sku": "A1", "qty": 2}'])),
        },
        data_columns="*",
    )
    assert events[0]["external_id"] == "12345678-1234-5678-1234-567812345678"
    assert events[0]["data"] == {"props": {"sku": "A1", "qty": 2}}


def test_json_extension_column_as_data_json() -> None:
    props = pa.ExtensionArray.from_storage(pa.json_(pa.string()), pa.array(['{"plan": "pro"}', None, "[1]"]))
    events, rejects = build({"id": ["a", "b", "c"], "t": [T0] * 3, "props": props}, data_json="props")
    assert [e.get("data") for e in events] == [{"plan": "pro"}, None]
    assert [r.code for r in rejects] == ["data_json_not_object"]


def test_an_event_too_large_names_its_largest_property() -> None:
    _, rejects = build({"id": ["a"], "t": [T0], "note": ["n" * 40_000], "sku": ["A1"]}, data_columns="*")
    assert (rejects[0].code, rejects[0].field) == ("event_too_large", "data.note")
    assert rejects[0].message.endswith(
        "over the loader's 32,768-byte limit (the Segment spec's); its largest property is data.note (40,002 bytes)"
    )
