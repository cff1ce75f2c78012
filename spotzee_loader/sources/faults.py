"""Values a source could not read as their column's type: a fault on their own row, never on the batch.

The value itself is null in the batch (so the rest of the column keeps its type) and travels beside it in the
fault column the mapper reads: the row is rejected naming the column and the value, and its dead letter shows
the value as the source held it, so a fixed dead letter resends what the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from ..mapping import VALUE_FAULT, json_safe


@dataclass
class Faults:
    """Per row of a batch, every value that did not fit its column: ``[code, column, message]`` in column order,
    and the values as they were. The mapper rejects the row for the first fault in a column it uses."""

    rows: int
    found: dict[int, list[tuple[str, str, str]]] = field(default_factory=dict)
    originals: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> Faults:
        """The faults a batch already carries (its fault column), to add more to."""
        faults = cls(batch.num_rows)
        if VALUE_FAULT in batch.schema.names:
            for row, text in enumerate(batch.column(VALUE_FAULT).to_pylist()):
                if text is not None:
                    found = orjson.loads(text)
                    faults.found[row] = [(code, column, message) for code, column, message in found["faults"]]
                    faults.originals[row] = found["values"]
        return faults

    def add(self, row: int, code: str, column: str, message: str, value: Any = None) -> None:
        """``value``: what the source held (``None`` for a fault of the whole line, which has no column)."""
        self.found.setdefault(row, []).append((code, column, message))
        if value is not None:
            self.originals.setdefault(row, {})[column] = json_safe(value)

    def column(self) -> pa.Array:
        """JSON text per row (null where every value fit): ``{"faults": [...], "values": {column: value}}``."""
        values: list[str | None] = [None] * self.rows
        for row, found in self.found.items():
            values[row] = orjson.dumps({"faults": found, "values": self.originals.get(row, {})}).decode()
        return pa.array(values, pa.string())


def with_faults(batch: pa.RecordBatch, faults: Faults) -> pa.RecordBatch:
    """The batch, plus the fault column the mapper reads when any row has a fault."""
    return batch.append_column(VALUE_FAULT, faults.column()) if faults.found else batch


def shown(value: Any) -> str:
    """A value quoted in a reason: text as it is, anything else as JSON, cut at 80 characters."""
    text = value if isinstance(value, str) else orjson.dumps(json_safe(value)).decode()
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def with_malformed(text: pa.RecordBatch, malformed: list[Any], faults: Faults) -> pa.RecordBatch:
    """CSV lines with too few or too many fields (Arrow's ``invalid_row_handler`` rows), each one rejected row
    after ``text``'s rows."""
    for row in malformed:
        line = f"line {row.number:,}" if row.number > 0 else "a line"
        message = (
            f"{line} has {row.actual_columns} fields where the header has {row.expected_columns}: {row.text[:80]!r}"
        )
        faults.add(faults.rows, "row_malformed", "line", message)
        faults.rows += 1
    empty = pa.RecordBatch.from_pylist([{}] * len(malformed), schema=text.schema)
    return pa.Table.from_batches([text, empty]).combine_chunks().to_batches()[0]


def json_objects(lines: list[bytes]) -> tuple[list[dict[str, Any]], Faults]:
    """JSON Lines as objects; a line that is not JSON, or not an object, is an empty row with its fault."""
    faults = Faults(len(lines))
    objects: list[dict[str, Any]] = []
    for row, line in enumerate(lines):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            faults.add(row, "line_invalid", "line", f"line is not JSON ({exc}): {line[:80]!r}")
            value = {}
        if not isinstance(value, dict):
            if row not in faults.found:
                kind = type(value).__name__
                faults.add(row, "line_not_object", "line", f"line holds a JSON {kind}, not an object")
            value = {}
        objects.append(value)
    return objects, faults
