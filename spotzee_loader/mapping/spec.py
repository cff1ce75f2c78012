"""The mapping: which columns become which parts of a Spotzee event. Pure, no I/O.

A mapping comes from the text of a TOML file (``mapping_from_toml``; ``pipeline.load_mapping_file`` reads
the file) or a preset (``presets.py``). It is checked against the source's columns before anything is read
(``Mapping.check_columns``), and fingerprinted so a job cannot silently continue with a different mapping
(``Mapping.fingerprint``).
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import MappingError
from .column_types import boolean_words
from .csv_table import CsvDialect, csv_dialect
from .names import nested_path, snake_case
from .time_forms import TimeForm
from .toml_values import (
    check_top_keys,
    column_list,
    declared_types,
    only_values,
    property_pairs,
    text_value,
    user_tables,
)

COLUMN_TYPES = ("string", "integer", "number", "boolean", "timestamp", "json")
"""What ``[types]`` may declare for a column: of a CSV or JSON Lines file, or a text column of Parquet or a database
(see ``sources/text_types``, ``sources/declared``)."""
# Bumped whenever the same mapping would produce different request bodies, so old checkpoints
# (and their idempotency keys) are never reused with new bodies.
EVENT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Mapping:
    """How one source row becomes one event. Column names refer to the source."""

    created_at: str
    """Column holding when the event happened (timestamp, date or ISO 8601 string; other forms: ``created_at_form``)."""
    name: str | None = None
    """A fixed event name for every row (exclusive with ``name_column``)."""
    name_column: str | None = None
    """Column holding the event name (exclusive with ``name``)."""
    external_id: str | None = None
    """Column with the system-of-record user id."""
    anonymous_id: str | None = None
    """Column with the pre-identification id."""
    timezone: str = "UTC"
    """IANA zone in which naive timestamps and dates are read."""
    key: tuple[str, ...] = ()
    """Columns identifying a row (reported with rejects; orders database sources)."""
    data_json: str | None = None
    """Column holding a JSON object (string, struct or map) merged into ``data``."""
    data_columns: str | tuple[str, ...] = ()
    """``"*"`` for every column not used elsewhere, or a list of columns, sent under snake_case names."""
    exclude_columns: tuple[str, ...] = ()
    """Columns ``data_columns = "*"`` must leave out."""
    data: tuple[tuple[str, str], ...] = ()
    """Explicit ``(property, column)`` pairs; they win over ``data_json`` keys of the same name."""
    user: tuple[tuple[str, str], ...] = ()
    """``(field, column)`` for the inline profile: email, phone, timezone, locale."""
    user_data: tuple[tuple[str, str], ...] = ()
    """``(trait, column)`` pairs for ``user.data``."""
    types: tuple[tuple[str, str], ...] = ()
    """``(column, type)`` (``COLUMN_TYPES``): for CSV and JSON Lines files, whose text has no types of its own
    (undeclared columns take the type their first rows show), and for Parquet and database columns held as text."""
    only: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``(column, values)``: rows whose column holds another value are skipped and counted by value (the
    ``segment`` preset keeps ``type = "track"`` calls), neither events nor rejects."""
    origin: str = "mapping"
    """Where it came from, for messages: a file path or ``preset:NAME``."""
    stamp: tuple[tuple[str, str], ...] = ()
    """``(property, value)`` added to every event's ``data`` (``--stamp``: the job's name), last, so it wins."""
    created_at_form: TimeForm = field(default_factory=TimeForm)
    """How ``created_at`` is written when not ISO 8601: a format, an epoch unit, a time-of-day column."""
    drop_properties: tuple[str, ...] = ()
    """Keys of ``data_json`` objects left out: names, and prefixes ending in ``*`` (a platform's ``$*`` bookkeeping)."""
    booleans: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    """``[booleans]``: words a boolean text column may hold beside true/false/1/0 (``yes``, ``no``), any case."""
    csv: CsvDialect = field(default_factory=CsvDialect)
    """How CSV sources are written (``[csv]``); the source reads it before the mapping (``csv_dialect_of``)."""

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str) -> Mapping:
        """Validate a parsed TOML document and build the mapping; every problem is a MappingError."""
        check_top_keys(raw, origin)
        user, user_data = user_tables(raw, origin)
        mapping = cls(
            created_at=text_value(raw, "created_at", origin) or "",
            name=text_value(raw, "name", origin),
            name_column=text_value(raw, "name_column", origin),
            external_id=text_value(raw, "external_id", origin),
            anonymous_id=text_value(raw, "anonymous_id", origin),
            timezone=text_value(raw, "timezone", origin) or "UTC",
            key=column_list(raw, "key", origin),
            data_json=text_value(raw, "data_json", origin),
            data_columns="*" if raw.get("data_columns") == "*" else column_list(raw, "data_columns", origin),
            exclude_columns=column_list(raw, "exclude_columns", origin),
            data=property_pairs(raw.get("data", {}), "data", origin),
            user=user,
            user_data=user_data,
            types=declared_types(raw, COLUMN_TYPES, origin),
            only=only_values(raw, origin),
            origin=origin,
            created_at_form=TimeForm.from_dict(raw, origin),
            booleans=boolean_words(raw.get("booleans", {}), origin),
            drop_properties=column_list(raw, "drop_properties", origin),
            csv=csv_dialect(raw.get("csv", {}), origin),
        )
        mapping._check_shape()
        return mapping

    def _check_shape(self) -> None:
        where = self.origin
        if not self.created_at:
            raise MappingError(f"{where}: 'created_at' (the column with the event time) is required.")
        if (self.name is None) == (self.name_column is None):
            raise MappingError(f"{where}: set exactly one of 'name' (fixed) or 'name_column'.")
        if self.name is not None and len(self.name) > 200:
            raise MappingError(f"{where}: 'name' is longer than Spotzee's 200-character limit.")
        if self.external_id is None and self.anonymous_id is None:
            raise MappingError(f"{where}: set 'external_id' or 'anonymous_id' (or both).")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise MappingError(
                f"{where}: timezone {self.timezone!r} is not an IANA zone such as 'UTC' or 'Europe/Paris'."
            ) from None

    # -- columns -------------------------------------------------------------------------------

    def identity_columns(self) -> list[str]:
        """Columns consumed by the event's name, ids, time, JSON data and user profile."""
        used = [self.created_at]
        if self.created_at_form.time_column is not None:
            used.append(self.created_at_form.time_column)
        for column in (self.name_column, self.external_id, self.anonymous_id, self.data_json):
            if column is not None:
                used.append(column)
        used += [column for _, column in self.user] + [column for _, column in self.user_data]
        return used

    def required_columns(self) -> list[str]:
        """Every column the mapping names explicitly (``data_columns = "*"`` names none)."""
        named = self.identity_columns() + list(self.key) + [column for _, column in self.data]
        named += [column for column, _ in self.only]
        if isinstance(self.data_columns, tuple):
            named += list(self.data_columns)
        return list(dict.fromkeys(named))

    def read_columns(self) -> list[str] | None:
        """The columns a source must read for this mapping (``None``: all of them, for ``data_columns = "*"``);
        ``a.b`` also reads ``a``, whose objects hold ``b``."""
        if self.data_columns == "*":
            return None
        named = self.required_columns()
        heads = [".".join(c.split(".")[:cut]) for c in named for cut in range(1, c.count(".") + 1)]
        return list(dict.fromkeys(named + heads))

    def data_properties(self, source_columns: list[str]) -> list[tuple[str, str]]:
        """``(property, column)`` pairs that go into ``data``, one per property: two columns whose names become
        the same property (``Order Total`` and ``order_total``) are a mapping error naming both. A preset's own
        ``[data]`` wins over a column's name (its purpose); a mapping file's must not collide either."""
        pairs: list[tuple[str, str]] = []
        if self.data_columns == "*":
            skip = set(self.identity_columns()) | set(self.exclude_columns)
            skip |= {column for _, column in self.data}
            pairs = [(snake_case(c), c) for c in source_columns if c not in skip]
        else:
            pairs = [(snake_case(c), c) for c in self.data_columns]
        if self.origin.startswith("preset:"):
            explicit = {prop for prop, _ in self.data}
            pairs = [(prop, column) for prop, column in pairs if prop not in explicit]
        taken: dict[str, str] = {}
        for prop, column in [*pairs, *self.data]:
            if prop in taken:
                raise MappingError(
                    f"{self.origin}: columns {taken[prop]!r} and {column!r} both become the data property {prop!r}; "
                    f"name one yourself under [data] (say {prop}_2 = {column!r}) or leave one out with "
                    "exclude_columns."
                )
            taken[prop] = column
        for prop, _ in self.stamp:
            if prop in taken:
                raise MappingError(
                    f"{self.origin}: the stamp property {prop!r} is also the data property of column "
                    f"{taken[prop]!r}; choose another --stamp name."
                )
        return pairs + list(self.data)

    def check_columns(self, source_columns: list[str]) -> None:
        """Stop before reading anything if the source lacks a column the mapping names (``a.b`` names the
        member ``b`` of the objects in column ``a``)."""
        present = set(source_columns)
        missing = [c for c in self.required_columns() if c not in present and nested_path(c, present) is None]
        if missing:
            folded = {c.lower(): c for c in source_columns}
            near = {m: difflib.get_close_matches(m.lower(), list(folded), n=1, cutoff=0.75) for m in missing}
            hints = "".join(f" Did you mean {folded[n[0]]!r} for {m!r}?" for m, n in near.items() if n)
            raise MappingError(
                f"{self.origin}: the source has no column(s) {', '.join(missing)}; "
                f"it has {', '.join(source_columns)}.{hints} Fix the mapping or choose another --preset."
            )

    # -- identity ------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The mapping in TOML shape (what ``--dry-run`` shows and the fingerprint hashes)."""
        out: dict[str, Any] = {
            "name": self.name,
            "name_column": self.name_column,
            "external_id": self.external_id,
            "anonymous_id": self.anonymous_id,
            "created_at": self.created_at,
            "timezone": self.timezone,
            "key": list(self.key),
            "data_json": self.data_json,
            "data_columns": self.data_columns if self.data_columns == "*" else list(self.data_columns),
            "exclude_columns": list(self.exclude_columns),
            "data": dict(self.data),
            "user": {**dict(self.user), "data": dict(self.user_data)},
            "types": dict(self.types),
            "only": {column: list(values) for column, values in self.only},
            "stamp": dict(self.stamp),
            "drop_properties": list(self.drop_properties),
            **self.created_at_form.as_dict(),
            "csv": self.csv.as_record(),
            "booleans": {"true": list(self.booleans[0]), "false": list(self.booleans[1])} if any(self.booleans) else {},
        }
        return {k: v for k, v in out.items() if v not in (None, [], {})}

    def fingerprint(self) -> str:
        """A short hash of everything that shapes the request bodies."""
        canonical = orjson.dumps({"v": EVENT_FORMAT_VERSION, "mapping": self.as_dict()}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()[:16]


def mapping_from_toml(text: str, origin: str) -> Mapping:
    """Parse and validate the text of a TOML mapping file (``origin``: its path, for messages)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping file {origin} is not valid TOML: {exc}.") from None
    return Mapping.from_dict(raw, origin=origin)
