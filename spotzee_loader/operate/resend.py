"""A dead-letter file, fixed by a user, turned back into sources a new job can load.

Two kinds of lines: rows the loader refused carry the ``source`` row and are mapped again with the
original job's mapping, each column read as the ``types`` the line records (how the original load read it:
a fixed ``"1234.50"`` in a number column is the number again, a ``"N/A"`` left in it is refused again);
events Spotzee refused carry the ``event`` as sent and are loaded with a mapping that rebuilds the same
event (``data`` as a JSON column, ``user`` fields and traits as columns). Both go through the normal load:
the same validation, chunking, checkpoint and dead-lettering.

The rows are written as JSON Lines (values as the user left them, typed by the load as a text file's are),
the events as Parquet, under a folder named after the dead-letter file's content, so running ``resend``
again on the same file resumes the same jobs instead of starting new ones.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..files import create_private, open_private, private_folder, write_atomically
from ..mapping import COLUMN_TYPES

_BATCH = 10_000
_USER_FIELDS = ("email", "phone", "timezone", "locale")
_EVENT_MAPPING = """# Rebuilds events Spotzee refused, as they were sent (written by spotzee-loader resend).
name_column = "name"
external_id = "external_id"
anonymous_id = "anonymous_id"
created_at = "created_at"
data_json = "data"
key = ["dead_letter_line"]
"""


@dataclass(frozen=True)
class ResendPart:
    """One source of a resend: a Parquet file, the job name, and the mapping to load it with."""

    kind: str
    """``rows`` (the loader's rejects) or ``events`` (Spotzee's refusals)."""
    path: Path
    job: str
    mapping: Path | None
    """A mapping file for ``events``; ``None`` for ``rows`` (the original job's mapping applies)."""
    jobs: frozenset[str]
    """The jobs the lines came from."""
    types: tuple[tuple[str, str], ...] = ()
    """For ``rows``: how the original load read each column (the lines' ``types``)."""


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ConfigError(f"{path} line {number} is not valid JSON ({exc}); fix or remove it.") from None
                if not isinstance(record, dict) or not ("source" in record or "event" in record):
                    raise ConfigError(
                        f"{path} line {number} is not a dead-letter record (it has neither 'source' nor 'event')."
                    )
                yield number, record
    except OSError as exc:
        raise ConfigError(f"cannot read the dead-letter file {path} ({exc.strerror}).") from None


def _event_row(number: int, event: dict[str, Any], traits: list[str]) -> dict[str, Any]:
    user = event.get("user") or {}
    user_data = user.get("data") or {}
    row = {
        "dead_letter_line": number,
        "name": event.get("name"),
        "external_id": event.get("external_id"),
        "anonymous_id": event.get("anonymous_id"),
        "created_at": event.get("created_at"),
        "data": orjson.dumps(event["data"]).decode() if event.get("data") is not None else None,
    }
    row.update({f"user_{f}": user.get(f) for f in _USER_FIELDS})
    row.update(
        {f"trait_{t}": None if user_data.get(t) is None else orjson.dumps(user_data[t]).decode() for t in traits}
    )
    return row


class _PartWriter:
    """Appends rows to one Parquet file in batches; the first batch fixes the schema."""

    def __init__(self, path: Path, schema: pa.Schema | None = None) -> None:
        self.path, self.schema, self.rows = path, schema, 0
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[dict[str, Any]] = []
        self._first_line = 0

    def add(self, number: int, row: dict[str, Any]) -> None:
        if not self._pending:
            self._first_line = number
        self._pending.append(row)
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        try:
            table = pa.Table.from_pylist(self._pending, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ConfigError(
                f"the dead-letter lines from {self._first_line} on do not fit the columns of the lines before "
                f"them ({exc}); keep each column's type the same when fixing rows."
            ) from None
        if self._writer is None:
            self.schema = table.schema
            self._writer = pq.ParquetWriter(create_private(self.path), table.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows
        self._pending = []

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()


class _RowWriter:
    """The refused rows' ``source`` objects as JSON Lines, and the column types their lines record."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self.types: dict[str, str] = {}
        self._file: BinaryIO | None = None

    def add(self, number: int, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = os.fdopen(open_private(self._tmp), "wb")
        for column, kind in (record.get("types") or {}).items():
            if kind not in COLUMN_TYPES:
                raise ConfigError(
                    f"line {number}: types.{column} = {kind!r}; a type is one of {', '.join(COLUMN_TYPES)}."
                )
            self.types.setdefault(column, kind)
        self._file.write(orjson.dumps(record["source"]) + b"\n")
        self.rows += 1

    @property
    def _tmp(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")

    def close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        # A file of the same lines is the same job's source: kept as it is (its modification time is part of
        # what the job checks), so resend of the same file resumes the job.
        if self.path.exists() and filecmp.cmp(self._tmp, self.path, shallow=False):
            self._tmp.unlink()
        else:
            os.replace(self._tmp, self.path)


def prepare_resend(dead_letter: Path, workdir: Path) -> list[ResendPart]:
    """Split ``dead_letter`` into the parts to load (written under ``workdir``); an empty file gives none."""
    digest = hashlib.sha256()
    traits: set[str] = set()
    for _, record in _records(dead_letter):
        digest.update(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
        if "source" not in record:
            traits.update(((record["event"].get("user") or {}).get("data") or {}).keys())
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in dead_letter.stem)
    folder = private_folder(private_folder(workdir, own=True) / f"{stem}-{digest.hexdigest()[:10]}", own=True)
    trait_names = sorted(traits)
    event_schema = pa.schema(
        [("dead_letter_line", pa.int64()), ("name", pa.string()), ("external_id", pa.string()),
         ("anonymous_id", pa.string()), ("created_at", pa.string()), ("data", pa.string())]
        + [(f"user_{f}", pa.string()) for f in _USER_FIELDS]
        + [(f"trait_{t}", pa.json_(pa.string())) for t in trait_names]
    )  # fmt: skip
    rows, events = _RowWriter(folder / "rows.jsonl"), _PartWriter(folder / "events.parquet")
    writers: dict[str, _RowWriter | _PartWriter] = {"rows": rows, "events": events}
    jobs: dict[str, set[str]] = {"rows": set(), "events": set()}
    try:
        for number, record in _records(dead_letter):
            if "source" in record and record["source"] is not None:
                if not isinstance(record["source"], dict):
                    raise ConfigError(f"{dead_letter} line {number}: 'source' must stay a JSON object of columns.")
                rows.add(number, record)
                jobs["rows"].add(str(record.get("job")))
            else:
                events.schema = event_schema
                events.add(number, _event_row(number, record["event"], trait_names))
                jobs["events"].add(str(record.get("job")))
    finally:
        for writer in writers.values():
            writer.close()
    mapping = folder / "events.toml"
    user = "".join(f'{f} = "user_{f}"\n' for f in _USER_FIELDS)
    user_data = "".join(f'{orjson.dumps(t).decode()} = "trait_{t}"\n' for t in trait_names)
    text = _EVENT_MAPPING + "\n[user]\n" + user + ("[user.data]\n" + user_data if user_data else "")
    write_atomically(mapping, [text.encode()])
    return [
        ResendPart(kind, writer.path, f"resend-{folder.name}-{kind}", mapping if kind == "events" else None,
                   frozenset(jobs[kind]), tuple(rows.types.items()) if kind == "rows" else ())
        for kind, writer in writers.items()
        if writer.rows
    ]  # fmt: skip
