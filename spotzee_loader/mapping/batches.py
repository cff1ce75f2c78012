"""A stream of batches mapped in order: members of object columns added first, the builder following the schema
(files of one source may differ)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from .events import EventBuilder
from .nested import with_members
from .outcome import BuiltBatch
from .spec import Mapping


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
