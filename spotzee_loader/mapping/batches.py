"""A stream of batches mapped in order: members of object columns added first, the builder following the schema
(files of one source may differ), and a word when a member reference matches nothing in the first batch."""

from __future__ import annotations

import datetime as dt
import difflib

import pyarrow as pa

from .events import EventBuilder
from .nested import members_beside, with_members
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
        self._looked = False

    def build(self, batch: pa.RecordBatch, first_row: int) -> BuiltBatch:
        original = set(batch.schema.names)
        batch = with_members(batch, self._references)
        if self._builder is None or not batch.schema.equals(self._schema):
            builder = EventBuilder(self.mapping, batch.schema, self._now, window=self._window)
            self._builder, self._schema = builder, batch.schema
        built = self._builder.build(batch, first_row)
        if not self._looked and batch.num_rows:
            self._looked = True
            built.notes += self._unmatched(batch, original)
        return built

    def _unmatched(self, batch: pa.RecordBatch, original: set[str]) -> list[str]:
        """A member reference (``props.utm.sorce``) whose member no row of the first batch holds: a typo keeps the
        property out of every event without a word, so say it, with the members that are there."""
        notes = []
        for reference in self._references:
            if reference in original or reference not in batch.schema.names:
                continue  # a real column, or a head column the source lacks (the mapping check says so)
            if batch.column(reference).null_count < batch.num_rows:
                continue
            beside = members_beside(batch, reference)
            close = difflib.get_close_matches(reference, beside, n=1, cutoff=0.75)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            there = f" Members there: {', '.join(beside[:12])}." if beside else ""
            notes.append(
                f"{self.mapping.origin}: {reference!r} matched no row of the first {batch.num_rows:,}: check its "
                f"spelling, or the property will be in no event.{hint}{there}"
            )
        return notes
