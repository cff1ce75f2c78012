"""Record batches -> serialized Spotzee events or rejects with a reason. Pure: no I/O.

Checks (ids, names, times) and the JSON assembly run on whole columns with Arrow kernels (see
``fragments``); only mappings with ``data_json``, whose objects merge with the mapped properties, build
one dict per row.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MappingError
from . import convert, fragments
from .column_types import column_kinds
from .nested import with_members
from .only import matches
from .spec import Mapping

VALUE_FAULT = "__spotzee_value_fault__"
"""A column sources without types of their own (CSV, JSON Lines) add: per row ``null``, or a struct
``{code, column, message}`` saying which value did not fit its column's type; such rows become rejects."""
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 255
MAX_EVENT_BYTES = 32 * 1024
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)


@dataclass(frozen=True)
class Reject:
    """A row that did not become an event, and why."""

    row: int
    """Position of the row in the source (global across files)."""
    code: str
    """Short machine-readable reason, e.g. ``created_at_unparseable``."""
    field: str | None
    """The event field (or source column) at fault."""
    message: str
    """A sentence for humans, naming the value when that helps."""
    source: dict[str, Any] | None = None
    """The row's values (JSON-safe)."""
    types: dict[str, str] | None = None
    """Per column of ``source``, the ``[types]`` kind the load read it as (shared by the rows of a batch)."""


@dataclass
class BuiltBatch:
    """What one record batch became, in row order."""

    first_row: int
    events: list[tuple[int, bytes]]
    """``(row position, JSON bytes)`` of every valid row."""
    rejects: list[Reject]
    names: Counter[str] = field(default_factory=Counter)
    first_created_at: str | None = None
    last_created_at: str | None = None
    event_times: pa.Array | None = None
    """``created_at`` of each event, in event order (ISO strings)."""
    event_names: pa.Array | None = None
    """The name of each event, in event order; ``None`` when the mapping gives one fixed name."""
    event_keys: list[dict[str, Any]] | None = None
    """The mapping's ``key`` of each event's row, in event order (a dead letter of Spotzee's refusal names it)."""
    outside: int = 0
    """Rows whose ``created_at`` lies outside the window: skipped, neither events nor rejects."""
    filtered: Counter[str] = field(default_factory=Counter)
    """Rows the mapping's ``only`` leaves out, by ``column=value``: skipped, neither events nor rejects."""


def _profile_strings(batch: pa.RecordBatch, column: str) -> pa.Array:
    """A ``user`` profile field (email, phone, ...) as strings, empty ones null."""
    return convert.as_strings(convert.plain(batch.column(column)).cast(pa.string()))


def _mask_rows(mask: pa.Array) -> list[int]:
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()  # type: ignore[no-any-return]


class EventBuilder:
    """Turns batches of one schema into events, following one mapping."""

    def __init__(
        self,
        mapping: Mapping,
        schema: pa.Schema,
        now: dt.datetime,
        *,
        row_by_row: bool = False,
        window: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
    ) -> None:
        self.mapping = mapping
        self._row_by_row = row_by_row
        # Bounds written as created_at is (ISO, UTC, milliseconds), so the window is a string comparison.
        self._window = tuple(None if t is None else convert.iso_instant(t) for t in window)
        columns = [name for name in schema.names if name != VALUE_FAULT]
        mapping.check_columns(columns)
        self._data_props = mapping.data_properties(columns)
        self._used = set(mapping.read_columns() or columns) | {column for _, column in self._data_props}
        self._latest = now + FUTURE_TOLERANCE
        self._check_types(schema)

    def _check_types(self, schema: pa.Schema) -> None:
        m = self.mapping
        created_type = convert.plain(pa.array([], schema.field(m.created_at).type)).type
        if not convert.is_time_type(created_type):
            raise MappingError(
                f"{m.origin}: created_at column {m.created_at!r} has type {created_type}; it must be a "
                "timestamp, a date or an ISO 8601 string."
            )
        for column in (m.external_id, m.anonymous_id):
            if column is None:
                continue
            try:
                convert.id_strings(pa.array([], schema.field(column).type))
            except TypeError as exc:
                raise MappingError(f"{m.origin}: id column {column!r}: {exc}.") from None

    # -- per batch -------------------------------------------------------------------------

    def build(self, batch: pa.RecordBatch, first_row: int) -> BuiltBatch:
        """Map one batch whose first row sits at ``first_row`` in the source."""
        m = self.mapping
        n = batch.num_rows
        if n == 0:  # a source saying where it is (rows skipped unread before it): nothing to map
            return BuiltBatch(first_row=first_row, events=[], rejects=[])
        problems: dict[int, tuple[str, str | None, str]] = {}

        def flag(rows: list[int], code: str, field_: str | None, message: str) -> None:
            for row in rows:
                problems.setdefault(row, (code, field_, message))

        faulted: dict[int, dict[str, Any]] = {}
        if VALUE_FAULT in batch.schema.names:  # values the source could not read as their column's type
            faults = batch.column(VALUE_FAULT)
            for row in _mask_rows(pc.is_valid(faults)):
                found = orjson.loads(faults[row].as_py())
                # A bad value in a column the mapping does not use is no reason to refuse the row.
                used = [f for f in found["faults"] if f[1] == "line" or f[1] in self._used]
                faulted[row] = found["values"]
                if used:
                    flag([row], *used[0])
        faulty: pa.Array | None = None
        if problems:
            mask = np.zeros(n, dtype=bool)
            mask[list(problems)] = True
            faulty = pa.array(mask)

        # Identity and name first: they decide whether a row can be an event at all.
        names: pa.Array | None = None
        if m.name_column is not None:
            names = convert.as_strings(convert.plain(batch.column(m.name_column)).cast(pa.string()))
            flag(_mask_rows(pc.is_null(names)), "name_missing", "name", f"column {m.name_column!r} is empty")
            flag(
                _mask_rows(pc.greater(pc.utf8_length(names), MAX_NAME_CHARS)),
                "name_too_long",
                "name",
                f"event name is longer than {MAX_NAME_CHARS} characters",
            )

        ids: dict[str, pa.Array] = {}
        id_valid = pa.array([False] * n)
        for field_, column in (("external_id", m.external_id), ("anonymous_id", m.anonymous_id)):
            if column is None:
                continue
            strings = convert.id_strings(batch.column(column))
            too_long = pc.greater(pc.utf8_length(strings), MAX_ID_CHARS)
            flag(
                _mask_rows(too_long),
                "id_too_long",
                field_,
                f"{field_} from column {column!r} is longer than {MAX_ID_CHARS} characters",
            )
            id_valid = pc.or_(id_valid, pc.is_valid(strings))
            ids[field_] = strings
        flag(
            _mask_rows(pc.invert(id_valid)),
            "id_missing",
            "external_id",
            "neither external_id nor anonymous_id has a value",
        )

        created = self._created_at(batch, flag)
        outside = self._outside(created)
        # A row the source could not read is a reject whatever the filter says: it may well be a wanted one.
        exempt = faulty if outside is None else outside if faulty is None else pc.or_(faulty, outside)
        filtered, filtered_by_value = self._filtered(batch, exempt)
        skipped = outside if filtered is None else filtered if outside is None else pc.or_(outside, filtered)
        if skipped is not None:  # skipped rows are not judged: neither events nor rejects
            for row in _mask_rows(skipped):
                problems.pop(row, None)
        data_json = self._data_json(batch, flag)
        if data_json is None and not self._row_by_row:
            bodies = self._assemble(batch, names, ids, created)
        else:
            bodies = self._assemble_rows(batch, names, ids, created, data_json)
        # Rows already at fault get no event; the others must fit the size limit, which needs the body.
        fault = np.zeros(n, dtype=bool)
        fault[list(problems)] = True
        clean = pc.invert(pa.array(fault))
        if skipped is not None:
            clean = pc.and_(clean, pc.invert(skipped))
        sizes = pc.binary_length(bodies)
        fits = pc.fill_null(pc.less_equal(sizes, MAX_EVENT_BYTES), False)
        too_large = pc.and_(clean, pc.invert(fits))
        for i, size in zip(_mask_rows(too_large), pc.filter(sizes, too_large).to_pylist(), strict=True):
            problems[i] = _too_large(bodies[i].as_py(), size)
        valid = pc.and_(clean, fits)
        rows = pc.add(pc.indices_nonzero(valid), first_row).to_pylist()
        events = list(zip(rows, pc.filter(bodies, valid).cast(pa.binary()).to_pylist(), strict=True))

        names_seen: Counter[str] = Counter()
        if m.name is not None:
            names_seen[m.name] = len(events)
        elif names is not None:
            for entry in pc.value_counts(pc.filter(names, valid)).to_pylist():
                names_seen[entry["values"]] = entry["counts"]
        event_times = pc.filter(created, valid)
        span = pc.min_max(event_times).as_py()
        return BuiltBatch(
            first_row=first_row,
            events=events,
            rejects=self._rejects(batch, first_row, problems, faulted),
            names=names_seen,
            first_created_at=span["min"],
            last_created_at=span["max"],
            event_times=event_times,
            event_names=pc.filter(names, valid) if names is not None else None,
            event_keys=self._event_keys(batch, valid),
            outside=0 if outside is None else pc.sum(outside).as_py() or 0,
            filtered=filtered_by_value,
        )

    def _event_keys(self, batch: pa.RecordBatch, valid: pa.Array) -> list[dict[str, Any]] | None:
        key = [k for k in self.mapping.key if k in batch.schema.names]
        if not key:
            return None
        columns = pa.RecordBatch.from_arrays([batch.column(k) for k in key], names=key)
        return convert.readable_rows(columns.filter(valid))

    def _filtered(self, batch: pa.RecordBatch, exempt: pa.Array | None) -> tuple[pa.Array | None, Counter[str]]:
        """Rows the mapping's ``only`` leaves out, but for ``exempt`` ones (outside the window: counted as such;
        unreadable: rejected)."""
        if not self.mapping.only:
            return None, Counter()
        kept = pa.array([True] * batch.num_rows, pa.bool_()) if exempt is None else pc.invert(exempt)
        by_value: Counter[str] = Counter()
        for column, values in self.mapping.only:
            texts = convert.plain(batch.column(column)).cast(pa.string())
            out = pc.invert(matches(batch.column(column), column, values, self.mapping.origin))
            newly = pc.and_(kept, out)
            for entry in pc.value_counts(pc.fill_null(pc.filter(texts, newly), "(empty)")).to_pylist():
                by_value[f"{column}={entry['values']}"] += entry["counts"]
            kept = pc.and_(kept, pc.invert(out))
        filtered = pc.invert(kept) if exempt is None else pc.and_(pc.invert(kept), pc.invert(exempt))
        return filtered, by_value

    def _outside(self, created: pa.Array) -> pa.Array | None:
        """Rows with a valid ``created_at`` before ``since`` or at/after ``until``; ``None`` without a window."""
        since, until = self._window
        if since is None and until is None:
            return None
        times = created.cast(pa.string())  # a column of nulls only may come typed null
        out = pa.array([False] * len(times), pa.bool_())
        if since is not None:
            out = pc.or_(out, pc.less(times, since))
        if until is not None:
            out = pc.or_(out, pc.greater_equal(times, until))
        return pc.fill_null(out, False)

    def _assemble(
        self, batch: pa.RecordBatch, names: pa.Array | None, ids: dict[str, pa.Array], created: pa.Array
    ) -> pa.Array:
        """Every row's event JSON, built column-wise by Arrow kernels (see ``fragments``)."""
        m = self.mapping
        n = batch.num_rows
        name = fragments.json_strings(names) if names is not None else [orjson.dumps(m.name).decode()]
        event: fragments.Fragment = ['{"name":', *name]
        for field_ in ("external_id", "anonymous_id"):
            if field_ in ids:
                event += fragments.optional_member(field_, fragments.json_strings(ids[field_]))
        event += [',"created_at":', *fragments.json_strings(created)]
        data = fragments.json_object(
            [(prop, fragments.json_column(batch.column(col), m.timezone)) for prop, col in self._data_props], n
        )
        event += fragments.optional_member("data", data)
        if m.user or m.user_data:
            traits = fragments.json_object(
                [(t, fragments.json_column(batch.column(c), m.timezone)) for t, c in m.user_data], n
            )
            user_fields = [(f, fragments.json_strings(_profile_strings(batch, c))) for f, c in m.user]
            event += fragments.optional_member("user", fragments.json_object([*user_fields, ("data", traits)], n))
        event.append("}")
        return fragments.concat(event)

    def _assemble_rows(
        self,
        batch: pa.RecordBatch,
        names: pa.Array | None,
        ids: dict[str, pa.Array],
        created: pa.Array,
        data_json: list[Any] | None,
    ) -> pa.Array:
        """Every row's event JSON, one dict per row: for ``data_json`` mappings, whose objects merge
        with the mapped properties row by row (and as the reference the Arrow assembly is tested against)."""
        m = self.mapping
        n = batch.num_rows
        name_values = names.to_pylist() if names is not None else [m.name] * n
        external = ids["external_id"].to_pylist() if "external_id" in ids else None
        anonymous = ids["anonymous_id"].to_pylist() if "anonymous_id" in ids else None
        created_values = created.to_pylist()
        data_cols = [(prop, convert.json_values(batch.column(col), m.timezone)) for prop, col in self._data_props]
        user_cols = [(f, _profile_strings(batch, c).to_pylist()) for f, c in m.user]
        user_data_cols = [(t, convert.json_values(batch.column(c), m.timezone)) for t, c in m.user_data]
        bodies: list[str] = []
        dumps = orjson.dumps
        for i in range(n):
            event: dict[str, Any] = {"name": name_values[i]}
            if external is not None and external[i] is not None:
                event["external_id"] = external[i]
            if anonymous is not None and anonymous[i] is not None:
                event["anonymous_id"] = anonymous[i]
            event["created_at"] = created_values[i]
            # A null property is left out, from a JSON object as from a column (the README's promise).
            data = {k: v for k, v in data_json[i].items() if v is not None} if data_json and data_json[i] else {}
            for prop, values in data_cols:
                value = values[i]
                if value is not None:
                    data[prop] = value
            if data:
                event["data"] = data
            if user_cols or user_data_cols:
                user: dict[str, Any] = {f: v[i] for f, v in user_cols if v[i] is not None}
                traits = {t: v[i] for t, v in user_data_cols if v[i] is not None}
                if traits:
                    user["data"] = traits
                if user:
                    event["user"] = user
            bodies.append(dumps(event).decode())
        return pa.array(bodies, pa.string())

    def _created_at(self, batch: pa.RecordBatch, flag: Any) -> pa.Array:
        m = self.mapping
        raw = convert.plain(batch.column(m.created_at))
        utc, unparseable = convert.utc_timestamps(raw, m.timezone)
        future = f"column {m.created_at!r} is more than a day in the future (after {self._latest:%Y-%m-%dT%H:%M:%SZ})"
        too_old = f"column {m.created_at!r} is before {EARLIEST:%Y-%m-%d}, the earliest time accepted"
        flag(
            unparseable,
            "created_at_unparseable",
            "created_at",
            f"column {m.created_at!r} is not an ISO 8601 timestamp or date",
        )
        if pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type):
            # Times past the convertible range are still times: say which bound they break first.
            aware = pa.types.is_timestamp(raw.type) and raw.type.tz is not None
            latest: Any = self._latest if aware else self._latest.replace(tzinfo=None)
            earliest: Any = EARLIEST if aware else EARLIEST.replace(tzinfo=None)
            if pa.types.is_date(raw.type):  # a date is the whole day: compare days, in the date's own type
                latest, earliest = latest.date(), earliest.date()
            stamps = raw
            flag(
                _mask_rows(pc.greater(stamps, pa.scalar(latest, stamps.type))),
                "created_at_future",
                "created_at",
                future,
            )
            flag(
                _mask_rows(pc.less(stamps, pa.scalar(earliest, stamps.type))),
                "created_at_too_old",
                "created_at",
                too_old,
            )
        if not convert.is_texty(raw.type):
            flag(
                _mask_rows(pc.and_(pc.is_valid(raw), pc.is_null(utc))),
                "created_at_out_of_range",
                "created_at",
                f"column {m.created_at!r} is outside years 1..9999",
            )
        # Whatever else left no time (null, empty string): an event without created_at would be stamped "now".
        flag(_mask_rows(pc.is_null(utc)), "created_at_missing", "created_at", f"column {m.created_at!r} is empty")
        flag(
            _mask_rows(pc.less(utc, pa.scalar(EARLIEST, convert.UTC_MS))),
            "created_at_too_old",
            "created_at",
            too_old,
        )
        flag(
            _mask_rows(pc.greater(utc, pa.scalar(self._latest, convert.UTC_MS))),
            "created_at_future",
            "created_at",
            future,
        )
        return convert.iso_strings(utc)

    def _data_json(self, batch: pa.RecordBatch, flag: Any) -> list[Any] | None:
        m = self.mapping
        if m.data_json is None:
            return None
        raw = convert.plain(batch.column(m.data_json))
        if pa.types.is_struct(raw.type) or pa.types.is_map(raw.type):
            return [convert.json_safe(v) for v in raw.to_pylist()]
        out: list[Any] = []
        for i, text in enumerate(raw.to_pylist()):
            if text is None or text == "":
                out.append(None)
                continue
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                flag([i], "data_json_invalid", m.data_json, f"column {m.data_json!r} is not valid JSON ({exc})")
                out.append(None)
                continue
            if not isinstance(value, dict):
                flag(
                    [i],
                    "data_json_not_object",
                    m.data_json,
                    f"column {m.data_json!r} holds a JSON {type(value).__name__}, not an object",
                )
                value = None
            out.append(value)
        return out

    def _rejects(
        self,
        batch: pa.RecordBatch,
        first_row: int,
        problems: dict[int, tuple[str, str | None, str]],
        faulted: dict[int, dict[str, Any]],
    ) -> list[Reject]:
        """``faulted``: per row whose values the source could not type, those values as it held them (the batch
        has them as nulls); a reason for such a value already names it."""
        if not problems:
            return []
        rows = sorted(problems)
        taken = pa.array(rows, pa.int64())
        shown = batch.drop_columns([VALUE_FAULT]) if VALUE_FAULT in batch.schema.names else batch
        sources = convert.readable_rows(shown.take(taken))
        types = column_kinds(batch.schema, VALUE_FAULT)
        for i, source in zip(rows, sources, strict=True):
            source.update(faulted.get(i, {}))
        return [
            Reject(
                row=first_row + i,
                code=problems[i][0],
                field=problems[i][1],
                message=problems[i][2]
                if problems[i][1] in faulted.get(i, {})
                else _with_value(problems[i][2], problems[i][1], source, self.mapping),
                source=source,
                types=types,
            )
            for i, source in zip(rows, sources, strict=True)
        ]


class BatchMapper:
    """Maps a stream of batches; files of one source may differ in schema, so the builder follows it."""

    def __init__(
        self, mapping: Mapping, now: dt.datetime, window: tuple[dt.datetime | None, dt.datetime | None] = (None, None)
    ) -> None:
        self.mapping, self._now, self._window = mapping, now, window
        self._references = [c for c in mapping.required_columns() if "." in c]
        self._builder: EventBuilder | None = None
        self._schema: pa.Schema | None = None

    def build(self, batch: pa.RecordBatch, first_row: int) -> BuiltBatch:
        batch = with_members(batch, self._references)
        if self._builder is None or not batch.schema.equals(self._schema):
            builder = EventBuilder(self.mapping, batch.schema, self._now, window=self._window)
            self._builder, self._schema = builder, batch.schema
        return self._builder.build(batch, first_row)


def _too_large(body: str, size: int) -> tuple[str, str | None, str]:
    """The reject of an event over the size limit, naming its largest property (what to leave out or trim)."""
    message = f"the event is {size:,} bytes, over the loader's {MAX_EVENT_BYTES:,}-byte limit (the Segment spec's)"
    event = orjson.loads(body)
    sizes = {
        f"{part}.{k}": len(orjson.dumps(v)) for part in ("data", "user") for k, v in (event.get(part) or {}).items()
    }
    if not sizes:
        return "event_too_large", None, message
    largest = max(sizes, key=lambda k: sizes[k])
    return "event_too_large", largest, f"{message}; its largest property is {largest} ({sizes[largest]:,} bytes)"


def _with_value(message: str, field_: str | None, source: dict[str, Any], mapping: Mapping) -> str:
    """Add the offending value to the message where one column is at fault."""
    column = {"created_at": mapping.created_at, "name": mapping.name_column}.get(field_ or "", field_)
    if column in source and source[column] is not None:
        shown = orjson.dumps(source[column]).decode()
        return f"{message}: {shown[:80]}{'…' if len(shown) > 80 else ''}"
    return message
