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
