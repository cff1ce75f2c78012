"""The mapping's ``[csv]`` table: how a CSV file is written (delimiter, quotes, header, rows to skip, encoding), for
the exports that are not RFC 4180 in UTF-8. Read before the file is opened (``csv_dialect_of``)."""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass
from typing import Any

from ..errors import MappingError


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written: the mapping's ``[csv]`` table. Empty texts are found from the file."""

    delimiter: str = ""
    """One character; empty: sniffed from the first lines among ``,`` ``;`` tab ``|`` (tab for ``.tsv``)."""
    quote: str = '"'
    """The quote character; empty: values are never quoted."""
    escape: str = ""
    """The escape character inside quotes (``\\``); empty: a quote inside quotes is doubled."""
    header: bool = True
    """False: the first row (after ``skip_rows``) holds values, and ``columns`` names them."""
    columns: tuple[str, ...] = ()
    skip_rows: int = 0
    """Lines before the header (a title, an export banner)."""
    encoding: str = ""
    """A Python codec name (``latin-1``, ``cp1252``, ``utf-16``); empty: UTF-8, or what a byte-order mark says."""

    def as_record(self) -> dict[str, Any]:
        """Only what differs from the defaults (kept in the mapping's fingerprint and the report)."""
        default = CsvDialect()
        record = {
            "delimiter": self.delimiter,
            "quote": self.quote,
            "escape": self.escape,
            "header": self.header,
            "columns": list(self.columns),
            "skip_rows": self.skip_rows,
            "encoding": self.encoding,
        }
        return {k: v for k, v in record.items() if v != getattr(default, k) and v != []}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CsvDialect:
        return cls(**{**record, "columns": tuple(record.get("columns") or ())})


_KEYS = ("delimiter", "quote", "escape", "header", "columns", "skip_rows", "encoding")


def csv_dialect(raw: Any, origin: str) -> CsvDialect:
    """Validate a ``[csv]`` table; every problem is a MappingError naming the key."""
    if not isinstance(raw, dict):
        raise MappingError(f'{origin}: [csv] must be a table (delimiter = ";", encoding = "cp1252", ...).')
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise MappingError(f"{origin}: unknown key(s) csv.{', csv.'.join(unknown)}; [csv] allows {', '.join(_KEYS)}.")
    for key in ("delimiter", "quote", "escape"):
        value = raw.get(key, "")
        if not isinstance(value, str) or len(value) > 1 or value in ("\n", "\r"):
            raise MappingError(f'{origin}: csv.{key} must be one character (or "" for none), got {value!r}.')
    if raw.get("delimiter") == "":
        raise MappingError(f"{origin}: csv.delimiter cannot be empty; leave it out to have it found from the file.")
    header = raw.get("header", True)
    columns = raw.get("columns", [])
    if not isinstance(header, bool):
        raise MappingError(f"{origin}: csv.header must be true or false, got {header!r}.")
    if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
        raise MappingError(f"{origin}: csv.columns must be a list of column names, got {columns!r}.")
    if not header and not columns:
        raise MappingError(f"{origin}: csv.header = false needs csv.columns, the names of the file's columns in order.")
    if header and columns:
        raise MappingError(f"{origin}: csv.columns names the columns of a file without a header (header = false).")
    skip = raw.get("skip_rows", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise MappingError(f"{origin}: csv.skip_rows must be a whole number of lines, got {skip!r}.")
    encoding = raw.get("encoding", "")
    if not isinstance(encoding, str):
        raise MappingError(f'{origin}: csv.encoding must be a text such as "cp1252", got {encoding!r}.')
    if encoding:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise MappingError(
                f"{origin}: csv.encoding {encoding!r} is not an encoding Python knows (utf-8, utf-8-sig, latin-1, "
                "cp1252, utf-16, ...)."
            ) from None
    return CsvDialect(
        delimiter=raw.get("delimiter", ""),
        quote=raw.get("quote", '"'),
        escape=raw.get("escape", ""),
        header=header,
        columns=tuple(columns),
        skip_rows=skip,
        encoding=encoding,
    )


def csv_dialect_of(text: str, origin: str) -> CsvDialect:
    """The ``[csv]`` table of a mapping file's text (defaults without one): the source needs it before the rows
    are read, the rest of the mapping only after their columns are known."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"mapping file {origin} is not valid TOML: {exc}.") from None
    return csv_dialect(raw.get("csv", {}), origin)
