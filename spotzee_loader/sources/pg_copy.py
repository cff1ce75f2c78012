"""PostgreSQL results read by ``COPY (query) TO STDOUT`` as CSV and typed by Arrow's CSV reader.

Fetching rows through psycopg and typing them in Python costs ~5 µs a row (7.9 s of CPU for the
1.5M TPC-H orders); COPY sends the same rows as CSV, one protocol message each, and Arrow types a
block of them at once (~1.5 µs a row, most of it psycopg handing over the messages). Only results
whose every column has a text form Arrow reads exactly take this road; any other type (arrays,
intervals, enums, bytea, ...) makes the caller read rows, as before. Dates and times travel as
integers (days, microseconds since 1970), so no DateStyle or zone setting can change them; numeric
and JSON text ends in the same Arrow arrays the row reader builds (``arrow_rows``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import SourceReadError
from ..mapping import json_array, json_safe
from .arrow_rows import arrow_column, decimals_from_text
from .faults import Faults, shown, with_faults


def _as_read(array: pa.Array) -> pa.Array:
    return array


def _numeric(texts: pa.Array) -> pa.Array:
    typed = decimals_from_text(texts)
    if typed is not None:
        return typed
    # NaN, Infinity or more than 38 digits: the row reader's rules, on the values psycopg would give.
    return arrow_column([None if t is None else Decimal(t) for t in texts.to_pylist()])


def _json_value(text: str) -> Any:
    # psycopg loads json/jsonb with json.loads; orjson gives the same values ~4x faster, except that it
    # turns integers past 64 bits into floats (and refuses NaN), so those texts keep json.loads.
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


_LONG_DIGITS = re.compile(r"\d{19}")


def _compact(text: str) -> str:
    """A JSON object's text as ``arrow_column`` writes the value ``json.loads`` makes of it."""
    value = _json_value(text)
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits, from json.loads
        return orjson.dumps(json_safe(value)).decode()


def _json(texts: pa.Array) -> pa.Array:
    values = texts.to_pylist()
    if any(t is not None for t in values) and all(t is None or t.startswith("{") for t in values):
        # Objects only, the usual property column: the JSON arrow_column would make, without building
        # and walking the Python values in between.
        return json_array([None if t is None else _compact(t) for t in values])
    return arrow_column([None if t is None else _json_value(t) for t in values])


@dataclass(frozen=True)
class _Kind:
    select: str
    """The expression COPY sends, ``{}`` standing for the quoted column."""
    read_as: pa.DataType
    finish: Callable[[pa.Array], pa.Array] = _as_read
    endless: pa.DataType | None = None
    """Dates and times: read as text, since ±infinity comes as ``Infinity`` (a fault on its row), then as this
    integer type (days or microseconds since 1970)."""


_TEXT = _Kind("{}", pa.string())
# As integer text; ±infinity comes out as "Infinity", which no event can carry: a fault on its own row.
_EPOCH_US = "round(extract(epoch FROM {}) * 1000000)"

# By type OID (pg_type.oid of the built-in types).
KINDS: dict[int, _Kind] = {
    16: _Kind("{}", pa.bool_()),
    21: _Kind("{}", pa.int16()),
    23: _Kind("{}", pa.int32()),
    20: _Kind("{}", pa.int64()),
    # real as double, like psycopg: its shortest text read as a float32 would print other digits.
    700: _Kind("{}", pa.float64()),
    701: _Kind("{}", pa.float64()),
    25: _TEXT,  # text
    1043: _TEXT,  # varchar
    1042: _TEXT,  # char(n), padded as psycopg returns it
    19: _TEXT,  # name
    2950: _TEXT,  # uuid, as its canonical text
    1700: _Kind("{}", pa.string(), _numeric),
    114: _Kind("{}", pa.string(), _json),
    3802: _Kind("{}", pa.string(), _json),
    1082: _Kind("div(extract(epoch FROM {}), 86400)", pa.string(), lambda a: a.cast(pa.date32()), pa.int32()),
    1114: _Kind(_EPOCH_US, pa.string(), lambda a: a.cast(pa.timestamp("us")), pa.int64()),
    1184: _Kind(_EPOCH_US, pa.string(), lambda a: a.cast(pa.timestamp("us", tz="UTC")), pa.int64()),
}


@dataclass(frozen=True)
class CopyPlan:
    """How one result's columns travel through COPY and come back as Arrow arrays."""

    names: list[str]
    kinds: list[_Kind]

    def statement(self, query: str, quote: Callable[[str], str]) -> str:
        select = ", ".join(kind.select.format(quote(name)) for name, kind in zip(self.names, self.kinds, strict=True))
        return f"COPY (SELECT {select} FROM ({query}) AS p) TO STDOUT (FORMAT csv)"

    def batch(self, block: bytes, rows: int) -> pa.RecordBatch:
        """``rows`` CSV lines as a record batch with the result's names."""
        if rows == 0:
            empty = [kind.finish(pa.array([], kind.endless or kind.read_as)) for kind in self.kinds]
            return pa.RecordBatch.from_arrays(empty, names=self.names)
        labels = [f"c{i}" for i in range(len(self.kinds))]
        try:
            table = self._parse(block, labels)
        except pa.ArrowInvalid as exc:
            raise SourceReadError(_unreadable(str(exc), self.names)) from None
        if table.num_rows != rows:  # one COPY message is one row: a mismatch would lose or invent rows
            raise SourceReadError(f"COPY sent {rows} rows but its CSV held {table.num_rows}; read aborted.")
        faults = Faults(rows)
        arrays = []
        for name, kind, column in zip(self.names, self.kinds, table.columns, strict=True):
            values = column.combine_chunks()
            if kind.endless is not None:
                what = "a date" if kind.endless == pa.int32() else "a date and time"  # as the row reader says it
                values = _finite(values, name, what, faults).cast(kind.endless)
            arrays.append(kind.finish(values))
        return with_faults(pa.RecordBatch.from_arrays(arrays, names=self.names), faults)

    def _parse(self, block: bytes, labels: list[str]) -> pa.Table:
        return pcsv.read_csv(
            pa.py_buffer(block),
            read_options=pcsv.ReadOptions(column_names=labels, use_threads=False, block_size=max(len(block), 1) + 1),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types={label: kind.read_as for label, kind in zip(labels, self.kinds, strict=True)},
                # COPY writes NULL as an empty field and '' as "": only the first is null.
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )


def _finite(texts: pa.Array, name: str, what: str, faults: Faults) -> pa.Array:
    """A date or time column's integer text with ±infinity made null, each a fault on its own row."""
    infinite = pc.is_in(texts, value_set=_INFINITE)
    if not pc.any(infinite).as_py():
        return texts
    for row in pc.indices_nonzero(infinite).to_pylist():
        value = texts[row].as_py().lower()
        message = f"column {name!r} holds {shown(value)}, not {what}"
        faults.add(row, "value_invalid", name, message, value)
    return pc.if_else(infinite, pa.scalar(None, pa.string()), texts)


_INFINITE = pa.array(["Infinity", "-Infinity"])


def _unreadable(error: str, names: list[str]) -> str:
    found = re.search(r"column #(\d+): ", error)
    if found is None:
        return f"the database sent a value the loader cannot read: {error}"
    return f"column {names[int(found[1])]!r} holds a value the loader cannot read: {error}"


def describe(connection: Any, query: str) -> CopyPlan | None:
    """The plan for ``query`` on a psycopg connection, or ``None`` if its result must be read as rows."""
    if connection.info.encoding != "utf-8":
        return None  # COPY sends text in the client encoding; Arrow reads UTF-8 only
    if connection.info.server_version < 140000:
        return None  # before 14, extract(epoch ...) is a double: microseconds would not come back exact
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({query}) AS d LIMIT 0")
        columns = cursor.description or []
    names = [column.name for column in columns]
    kinds = [KINDS.get(column.type_code) for column in columns]
    if len(set(names)) != len(names) or any(kind is None for kind in kinds):
        return None  # a repeated name cannot be selected by name; other types have no exact CSV reading here
    return CopyPlan(names, [kind for kind in kinds if kind is not None])


def copy_batches(connection: Any, statement: str, plan: CopyPlan, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of ``batch_rows`` rows of ``statement`` (``plan.statement``) on a psycopg connection;
    an empty result still gives one (empty) batch, for its schema."""
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        block = bytearray()
        rows = 0
        emitted = False
        read = copy.read
        while data := read():
            block += data
            rows += 1
            if rows == batch_rows:
                yield plan.batch(bytes(block), rows)
                emitted = True
                block.clear()
                rows = 0
        if rows or not emitted:
            yield plan.batch(bytes(block), rows)


def infinite_times_as_text(connection: Any) -> None:
    """Make a psycopg connection hand ±infinity dates and times over as the text ``infinity`` instead of failing
    the fetch: the row reader then makes each a fault on its own row, as the COPY path does."""
    from psycopg.types import datetime as pgdt

    for oid_name, base in (("date", pgdt.DateLoader), ("timestamp", pgdt.TimestampLoader),
                           ("timestamptz", pgdt.TimestamptzLoader)):  # fmt: skip

        class Endless(base):  # type: ignore[valid-type,misc]
            def load(self, data: Any) -> Any:
                if bytes(data) in (b"infinity", b"-infinity"):
                    return bytes(data).decode()
                return super().load(data)

        connection.adapters.register_loader(oid_name, Endless)
