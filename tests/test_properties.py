"""Property-based: whatever Arrow table comes in, the builder never crashes, every row becomes exactly one
event or one reject, and every event is valid JSON the API (the mock's validator) accepts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import re
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spotzee_loader.api.mock import count_if_all_valid, validate_event
from spotzee_loader.mapping import Mapping, Reject
from spotzee_loader.mapping.events import EventBuilder
from spotzee_loader.mapping.outcome import MAX_EVENT_BYTES

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u2028",
        "\u202e RTL",
        "e\u0301",
        "🦄",
        "a" * 300,
        "null",
        '{"a":1}',
        "NaN",
        "\\",
        '"',
    ]
)
TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=40))
INT64 = st.one_of(st.sampled_from([0, -1, 2**53 + 1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1))
FLOAT = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def decimal_column(draw: Any, n: int) -> pa.Array:
    scale = draw(st.integers(0, 18))
    precision = draw(st.integers(max(scale, 1), 38))
    digits = precision - scale
    limit = 10 ** min(digits, 20) - 1
    values = [
        None if draw(st.booleans()) else decimal.Decimal(draw(st.integers(-limit, limit))).scaleb(-scale)
        for _ in range(n)
    ]
    return pa.array(values, pa.decimal128(precision, scale))


def timestamp_column(draw: Any, n: int) -> pa.Array:
    unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
    tz = draw(st.sampled_from([None, "UTC", "Asia/Kolkata", "America/St_Johns"]))
    span = 2**62 // {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    raw = [None if draw(st.booleans()) else draw(st.integers(-span, span)) for _ in range(n)]
    return pa.array(raw, pa.int64()).cast(pa.timestamp(unit, tz=tz))


def value_column(draw: Any, n: int) -> pa.Array:
    kind = draw(
        st.sampled_from(
            ["int", "float", "decimal", "text", "bool", "ts", "date", "list", "struct", "null", "binary", "large_text"]
        )
    )
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    if kind == "int":
        return pa.array([draw(maybe(INT64)) for _ in range(n)], pa.int64())
    if kind == "float":
        return pa.array([draw(maybe(FLOAT)) for _ in range(n)], pa.float64())
    if kind == "decimal":
        return decimal_column(draw, n)
    if kind in ("text", "large_text"):
        return pa.array([draw(maybe(TEXT)) for _ in range(n)], pa.string() if kind == "text" else pa.large_string())
    if kind == "bool":
        return pa.array([draw(maybe(st.booleans())) for _ in range(n)])
    if kind == "ts":
        return timestamp_column(draw, n)
    if kind == "date":
        return pa.array([draw(maybe(st.integers(-(2**31), 2**31 - 1))) for _ in range(n)], pa.int32()).cast(pa.date32())
    if kind == "list":
        return pa.array([draw(maybe(st.lists(maybe(FLOAT), max_size=3))) for _ in range(n)], pa.list_(pa.float64()))
    if kind == "struct":
        return pa.array(
            [draw(maybe(st.fixed_dictionaries({"a": maybe(TEXT), "b": maybe(INT64)}))) for _ in range(n)],
            pa.struct([("a", pa.string()), ("b", pa.int64())]),
        )
    if kind == "binary":
        return pa.array([draw(maybe(st.binary(max_size=8))) for _ in range(n)], pa.binary())
    return pa.nulls(n)


@st.composite
def tables(draw: Any) -> tuple[pa.Table, Mapping]:
    n = draw(st.integers(1, 12))
    id_kind = draw(st.sampled_from(["int", "float", "text", "decimal"]))
    ids: pa.Array
    if id_kind == "int":
        ids = pa.array([draw(st.one_of(st.none(), INT64)) for _ in range(n)], pa.int64())
    elif id_kind == "float":
        ids = pa.array([draw(st.one_of(st.none(), FLOAT)) for _ in range(n)], pa.float64())
    elif id_kind == "decimal":
        ids = decimal_column(draw, n)
    else:
        ids = pa.array([draw(st.one_of(st.none(), TEXT)) for _ in range(n)])
    time_kind = draw(st.sampled_from(["ts", "date", "text"]))
    if time_kind == "ts":
        times = timestamp_column(draw, n)
    elif time_kind == "date":
        times = pa.array(
            [draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))) for _ in range(n)], pa.int32()
        ).cast(pa.date32())
    else:
        times = pa.array(
            [
                draw(
                    st.one_of(
                        st.none(),
                        TEXT,
                        st.sampled_from(
                            [
                                "2024-01-01",
                                "2024-01-01T10:00:00+0530",
                                "2024-01-01T00:00:00.123456789Z",
                                "03/01/2024",
                                "2024-13-45",
                                "1704067200",
                                "0001-01-01",
                                "9999-12-31T23:59:59Z",
                            ]
                        ),
                    )
                )
                for _ in range(n)
            ]
        )
    columns = {"id": ids, "t": times, "name": pa.array([draw(st.one_of(st.none(), TEXT)) for _ in range(n)])}
    for i in range(draw(st.integers(0, 4))):
        columns[f"c{i}"] = value_column(draw, n)
    columns["props"] = pa.array(
        [
            draw(st.one_of(st.none(), TEXT, st.sampled_from(['{"x": [1, {"y": null}]}', "[]", '{"n": 1e400}', "{}"])))
            for _ in range(n)
        ]
    )
    timezone = draw(st.sampled_from(["UTC", "Europe/Paris", "Pacific/Chatham"]))
    extra = sorted(c for c in columns if c.startswith("c"))
    user_data = tuple((f"trait_{c}", c) for c in extra[: draw(st.integers(0, len(extra)))])
    mapping = Mapping(
        name_column="name",
        external_id="id",
        created_at="t",
        timezone=timezone,
        # Without data_json the events are assembled by Arrow kernels, with it row by row.
        data_json=draw(st.sampled_from(["props", None])),
        data_columns="*",
        user=(("email", "name"),) if draw(st.booleans()) else (),
        user_data=user_data,
    )
    return pa.table(columns), mapping


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables())
def test_any_table_maps_to_valid_events_or_reasoned_rejects(case: tuple[pa.Table, Mapping]) -> None:
    table, mapping = case
    builder = EventBuilder(mapping, table.schema, NOW)
    built = builder.build(table.to_batches(max_chunksize=len(table))[0], first_row=100)
    event_rows = [row for row, _ in built.events]
    reject_rows = [r.row for r in built.rejects]
    assert sorted(event_rows + reject_rows) == list(range(100, 100 + table.num_rows))  # each row exactly once
    for reject in built.rejects:
        assert reject.code and reject.message
        orjson.dumps(reject.source)  # the dead-letter record is serializable
    for index, (_, body) in enumerate(built.events):
        assert len(body) <= MAX_EVENT_BYTES
        event = orjson.loads(body)  # valid JSON (no NaN, no Infinity)
        assert validate_event(index, event) == []
        assert ISO.match(event["created_at"]) and event["created_at"][:10] >= "1900-01-01"
        assert event["name"] and len(event["name"]) <= 200
        ident = event.get("external_id")
        assert ident is None or (isinstance(ident, str) and ident and ident[-2:] != ".0")
    if built.events:  # the mock's fast path takes the loader's real output, not only the detailed path
        assert count_if_all_valid(b"[" + b",".join(body for _, body in built.events) + b"]", []) == len(built.events)


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), INT64, st.floats(allow_nan=False, allow_infinity=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)
EVENT_FIELD_VALUES = {
    "name": st.one_of(st.just("refused"), TEXT, JSON_VALUE),
    "external_id": st.one_of(TEXT, JSON_VALUE),
    "anonymous_id": st.one_of(TEXT, JSON_VALUE),
    "created_at": st.one_of(
        st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00", "2024-01-01", "2024-13-01T00:00Z"]),
        TEXT,
        JSON_VALUE,
    ),
    "data": st.one_of(st.dictionaries(TEXT, JSON_VALUE, max_size=3), JSON_VALUE),
    "user": st.one_of(
        st.dictionaries(st.sampled_from(["email", "phone", "timezone", "locale", "data", "other"]), JSON_VALUE),
        JSON_VALUE,
    ),
    "extra": JSON_VALUE,
}
VALID_EVENT = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["order_placed", "é"]),
        "external_id": st.sampled_from(["42", "cust-1"]),
        "created_at": st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-01-01T10:00:00+05:30"]),
    },
    optional={
        "data": st.dictionaries(TEXT, JSON_VALUE, max_size=3),
        "user": st.fixed_dictionaries({}, optional={"email": TEXT, "data": st.dictionaries(TEXT, JSON_VALUE)}),
    },
)


@st.composite
def eventish(draw: Any) -> Any:
    """A valid event with at most one field changed (or removed) to anything: close to the rules' edges."""
    event = draw(VALID_EVENT)
    if draw(st.integers(0, 3)):
        field_ = draw(st.sampled_from(sorted(EVENT_FIELD_VALUES)))
        if draw(st.booleans()):
            event[field_] = draw(EVENT_FIELD_VALUES[field_])
        else:
            event.pop(field_, None)
    return event


EVENTISH = st.one_of(eventish(), JSON_VALUE)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(EVENTISH, max_size=2), JSON_VALUE))
def test_the_mocks_fast_path_accepts_nothing_the_detailed_rules_refuse(body: Any) -> None:
    raw = orjson.dumps(body)
    count = count_if_all_valid(raw, ["refused"])
    if count is not None:
        assert isinstance(body, list) and count == len(body) >= 1
        assert [e for i, event in enumerate(body) for e in validate_event(i, event)] == []
        assert all(event["name"] != "refused" for event in body)


def _reject_text(reject: Reject) -> bytes:
    return orjson.dumps([reject.row, reject.code, reject.field, reject.message, reject.source])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables())
def test_arrow_assembly_is_byte_identical_to_row_by_row(case: tuple[pa.Table, Mapping]) -> None:
    table, mapping = case
    mapping = dataclasses.replace(mapping, data_json=None)  # "props" stays, as a text property
    batch = table.to_batches(max_chunksize=len(table))[0]
    fast = EventBuilder(mapping, table.schema, NOW).build(batch, first_row=7)
    reference = EventBuilder(mapping, table.schema, NOW, row_by_row=True).build(batch, first_row=7)
    assert fast.events == reference.events
    assert [_reject_text(r) for r in fast.rejects] == [_reject_text(r) for r in reference.rejects]
    assert (fast.names, fast.first_created_at, fast.last_created_at) == (
        reference.names,
        reference.first_created_at,
        reference.last_created_at,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T10:00:00+0530", "2024-01-01T04:30:00.000Z"),
        ("2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00.123Z"),
        ("20240101T000000Z", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01 08:00", "2024-01-01T08:00:00.000Z"),
        ("2024-01-01 00:00:00 UTC", "2024-01-01T00:00:00.000Z"),  # a zone name instead of an offset (issue 28)
        ("2024-07-01 02:00:00 Europe/Paris", "2024-07-01T00:00:00.000Z"),
    ],
    ids=["basic-offset", "nanoseconds", "basic-format", "space", "utc-name", "iana-name"],
)
def test_unambiguous_timestamp_strings_are_accepted(text: str, expected: str) -> None:
    table = pa.table({"id": ["a"], "t": [text]})
    built = EventBuilder(Mapping(name="e", external_id="id", created_at="t"), table.schema, NOW).build(
        table.to_batches()[0], 0
    )
    assert orjson.loads(built.events[0][1])["created_at"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "03/01/2024",
        "2024-13-45",
        "1704067200",
        "2024-01-01 00:00:00 Mars/Olympus",
        "2024-01-01T00:00+01:00 UTC",
        "yesterday",
    ],
)
def test_ambiguous_or_invalid_timestamp_strings_are_rejected_with_the_value(text: str) -> None:
    table = pa.table({"id": ["a"], "t": [text]})
    built = EventBuilder(Mapping(name="e", external_id="id", created_at="t"), table.schema, NOW).build(
        table.to_batches()[0], 0
    )
    assert built.events == []
    assert built.rejects[0].code == "created_at_unparseable" and text in built.rejects[0].message


OK_EVENT = {"name": "order_placed", "external_id": "42", "created_at": "2024-01-01T00:00:00.000Z"}
NEAR_MISSES = {
    "naive created_at": {**OK_EVENT, "created_at": "2024-01-01T00:00:00"},
    "unparseable created_at": {**OK_EVENT, "created_at": "2024-13-01T00:00:00Z"},
    "numeric created_at": {**OK_EVENT, "created_at": 1704067200},
    "empty name": {**OK_EVENT, "name": ""},
    "no name": {k: v for k, v in OK_EVENT.items() if k != "name"},
    "no id": {k: v for k, v in OK_EVENT.items() if k != "external_id"},
    "empty id": {**OK_EVENT, "external_id": ""},
    "numeric id": {**OK_EVENT, "external_id": 42},
    "data not an object": {**OK_EVENT, "data": [1]},
    "data a number": {**OK_EVENT, "data": 5},
    "unknown field": {**OK_EVENT, "extra": 1},
    "unknown user field": {**OK_EVENT, "user": {"email": "a@b.c", "age": 3}},
    "user not an object": {**OK_EVENT, "user": "a@b.c"},
    "refused name": {**OK_EVENT, "name": "refused"},
}


@pytest.mark.parametrize("event", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_the_mocks_fast_path_leaves_near_misses_to_the_detailed_rules(event: dict[str, Any]) -> None:
    assert count_if_all_valid(orjson.dumps([OK_EVENT, event]), ["refused"]) is None
    assert count_if_all_valid(orjson.dumps([OK_EVENT, OK_EVENT]), ["refused"]) == 2


DECIMALS = st.one_of(
    st.none(),
    st.sampled_from([decimal.Decimal(v) for v in ("NaN", "1E+5", "-0.00", "0.000", "2.50", "1E-7", "0E-9")]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.builds(lambda i, e: decimal.Decimal(i).scaleb(-e), st.integers(-(10**30), 10**30), st.integers(0, 8)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DECIMALS, min_size=1, max_size=400))
# Found by this test: 32 integer digits at the column's scale of 7 came back from Arrow's cast with 28.
@example([decimal.Decimal("34031639856079454291766637406917.513"), decimal.Decimal("0.0000010")])
def test_decimal_columns_from_a_database_read_as_arrows_inference_would(values: list[Any]) -> None:
    from spotzee_loader.sources.arrow_rows import arrow_column

    got = arrow_column(values)
    try:
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return  # NaN and the like: the column's other, slower paths, tested elsewhere
    assert got.cast(pa.string()).to_pylist() == inferred.cast(pa.string()).to_pylist()


def test_integers_past_64_bits_stay_exact_json() -> None:
    # A json column may hold any integer (json.loads); orjson alone refuses those past 64 bits.
    from spotzee_loader.mapping.convert import json_safe

    value = {"n": 10**25, "m": -(2**63) - 1, "ok": [2**64 - 1, -(2**63)]}
    assert orjson.dumps(json_safe(value)) == b'{"n":10000000000000000000000000,"m":-9223372036854775809,' + (
        b'"ok":[18446744073709551615,-9223372036854775808]}'
    )
