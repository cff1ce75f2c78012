"""Record batches of one schema -> serialized Spotzee events or rejects with a reason. Pure: no I/O.

The checks (ids, names, times, the window, ``[only]``) run on whole columns with Arrow kernels; the JSON is
assembled in ``bodies`` and the rejects written up in ``rejects``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MappingError
from . import convert, iso_text
from .bodies import assemble, assemble_rows
from .created_at import created_at_strings, mask_rows, outside_window
from .json_objects import data_objects
from .only import matches
from .outcome import (
    FUTURE_TOLERANCE,
    MAX_EVENT_BYTES,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    VALUE_FAULT,
    BuiltBatch,
)
from .rejects import oversized, rejects
from .spec import Mapping


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
        self._window = tuple(None if t is None else iso_text.iso_instant(t) for t in window)
        columns = [name for name in schema.names if name != VALUE_FAULT]
        mapping.check_columns(columns)
        self._data_props = mapping.data_properties(columns)
        self._used = set(mapping.read_columns() or columns) | {column for _, column in self._data_props}
        self._latest = now + FUTURE_TOLERANCE
        self._check_types(schema)

    def _check_types(self, schema: pa.Schema) -> None:
        m = self.mapping
        created_type = convert.plain(pa.array([], schema.field(m.created_at).type)).type
        form = m.created_at_form
        if form and not form.accepts(created_type):
            raise MappingError(
                f"{m.origin}: created_at column {m.created_at!r} has type {created_type}, which "
                f"{' and '.join(form.as_dict())} cannot read; numbers take created_at_unit, text and dates a format."
            )
        if not form and not convert.is_time_type(created_type):
            numbers = pa.types.is_integer(created_type) or pa.types.is_floating(created_type)
            hint = (
                ' Epoch numbers: set created_at_unit = "s" (or "ms", "us", "ns"; "excel" for serial dates).'
                if numbers
                else ""
            )
            raise MappingError(
                f"{m.origin}: created_at column {m.created_at!r} has type {created_type}; it must be a "
                f"timestamp, a date or an ISO 8601 string.{hint}"
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
            for row in mask_rows(pc.is_valid(faults)):
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
            flag(mask_rows(pc.is_null(names)), "name_missing", "name", f"column {m.name_column!r} is empty")
            flag(
                mask_rows(pc.greater(pc.utf8_length(names), MAX_NAME_CHARS)),
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
                mask_rows(too_long),
                "id_too_long",
                field_,
                f"{field_} from column {column!r} is longer than {MAX_ID_CHARS} characters",
            )
            id_valid = pc.or_(id_valid, pc.is_valid(strings))
            ids[field_] = strings
        flag(
            mask_rows(pc.invert(id_valid)),
            "id_missing",
            "external_id",
            "neither external_id nor anonymous_id has a value",
        )

        created = created_at_strings(batch, self.mapping, self._latest, flag)
        outside = outside_window(created, self._window)
        # A row the source could not read is a reject whatever the filter says: it may well be a wanted one.
        exempt = faulty if outside is None else outside if faulty is None else pc.or_(faulty, outside)
        filtered, filtered_by_value = self._filtered(batch, exempt)
        skipped = outside if filtered is None else filtered if outside is None else pc.or_(outside, filtered)
        if skipped is not None:  # skipped rows are not judged: neither events nor rejects
            for row in mask_rows(skipped):
                problems.pop(row, None)
        data_json = self._data_json(batch, flag)
        if data_json is None and not self._row_by_row:
            bodies = assemble(self.mapping, self._data_props, batch, names, ids, created)
        else:
            bodies = assemble_rows(self.mapping, self._data_props, batch, names, ids, created, data_json)
        # Rows already at fault get no event; the others must fit the size limit, which needs the body.
        fault = np.zeros(n, dtype=bool)
        fault[list(problems)] = True
        clean = pc.invert(pa.array(fault))
        if skipped is not None:
            clean = pc.and_(clean, pc.invert(skipped))
        sizes = pc.binary_length(bodies)
        fits = pc.fill_null(pc.less_equal(sizes, MAX_EVENT_BYTES), False)
        too_large = pc.and_(clean, pc.invert(fits))
        for i, size in zip(mask_rows(too_large), pc.filter(sizes, too_large).to_pylist(), strict=True):
            problems[i] = oversized(bodies[i].as_py(), size)
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
            rejects=rejects(self.mapping, batch, first_row, problems, faulted),
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

    def _data_json(self, batch: pa.RecordBatch, flag: Any) -> list[Any] | None:
        m = self.mapping
        if m.data_json is None:
            return None
        return data_objects(batch.column(m.data_json), m.data_json, m.drop_properties, flag)
