"""How a source's CSV files are written: the mapping's ``[csv]`` table, and what it leaves out found from the files
(the delimiter sniffed from the first lines, the encoding from a byte-order mark), as Arrow's reader options. A file
that is not in its encoding is named with the line and byte where it stops being so, and the setting to change."""

from __future__ import annotations

import codecs
import csv
import logging
from collections.abc import Callable
from typing import Any, Literal

import pyarrow.csv as pacsv

from ..mapping import CsvDialect
from .storage import without_compression

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 16
"""What is read of a file to find its delimiter and encoding."""
_CANDIDATES = (",", ";", "\t", "|")
_SNIFF_LINES = 50


class CsvFormat:
    """One source's CSV dialect: the mapping's, with its empty settings found from the files."""

    def __init__(self, dialect: CsvDialect) -> None:
        self.dialect = dialect
        self._sniffed: str | None = None

    def encoding(self, head: bytes) -> str:
        """The mapping's encoding; else UTF-16 when a byte-order mark says so, else UTF-8 (whose mark Arrow skips)."""
        if self.dialect.encoding:
            return self.dialect.encoding
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        return "utf8"

    def delimiter(self, url: str, head: bytes) -> str:
        """The mapping's delimiter; a tab for ``.tsv``; else the one the first file's first lines agree on."""
        if self.dialect.delimiter:
            return self.dialect.delimiter
        if without_compression(url).endswith(".tsv"):
            return "\t"
        if self._sniffed is None:
            self._sniffed = sniff(head.decode(self._python(head), errors="replace"), self.dialect)
            if self._sniffed != ",":
                log.info(
                    "%s: the delimiter is %r (found from its first lines; set delimiter in the mapping's [csv] to "
                    "choose another).",
                    url,
                    self._sniffed,
                )
        return self._sniffed

    def _python(self, head: bytes) -> str:
        encoding = self.encoding(head)
        return "utf-8-sig" if encoding == "utf8" else encoding

    def read_options(self, head: bytes, block_size: int) -> pacsv.ReadOptions:
        d = self.dialect
        return pacsv.ReadOptions(
            block_size=block_size,
            use_threads=False,  # blocks in file order: row positions are the same in every run
            skip_rows=d.skip_rows,
            column_names=list(d.columns) if not d.header else None,
            encoding=self.encoding(head),
        )

    def parse_options(self, url: str, head: bytes, handler: Callable[[Any], str] | None = None) -> pacsv.ParseOptions:
        d = self.dialect
        return pacsv.ParseOptions(
            delimiter=self.delimiter(url, head),
            quote_char=d.quote or False,
            escape_char=d.escape or False,
            newlines_in_values=True,
            invalid_row_handler=handler,
        )


def sniff(text: str, dialect: CsvDialect) -> str:
    """The candidate delimiter that splits the first lines into the same number (above one) of fields, the most
    fields winning; ``,`` when none does."""
    lines = text.splitlines()[dialect.skip_rows :]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # cut short by the sample
    lines = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    if not lines:
        return ","
    best, fields = ",", 1
    for candidate in _CANDIDATES:
        counts = {
            len(row)
            for row in csv.reader(
                lines, delimiter=candidate, quotechar=dialect.quote or None, quoting=_quoting(dialect), strict=False
            )
        }
        if len(counts) == 1 and (count := counts.pop()) > fields:
            best, fields = candidate, count
    return best


def _quoting(dialect: CsvDialect) -> Literal[0, 3]:
    return csv.QUOTE_MINIMAL if dialect.quote else csv.QUOTE_NONE


def undecodable(stream: Any, encoding: str) -> str | None:
    """Where a stream stops being ``encoding``: ``line N (byte B) holds b'...'``, with the encoding that fits those
    bytes; ``None`` when all of it decodes."""
    python = "utf-8-sig" if encoding == "utf8" else encoding
    carry, offset, lines = b"", 0, 1  # offset: of carry's first byte in the stream
    while True:
        block = stream.read(HEAD_BYTES)
        data = carry + block
        try:
            data.decode(python)
            carry = b""
        except UnicodeDecodeError as exc:
            if block and exc.reason == "unexpected end of data":  # a character split by the block's end
                carry = data[exc.start :]
                data = data[: exc.start]
            else:
                lines += data.count(b"\n", 0, exc.start)
                bad = data[exc.start : exc.start + 8]
                where = f"line {lines:,} (byte {offset + exc.start:,})"
                return f"{where} holds {bad!r}, which is not {python}{_fits(data[exc.start :])}"
        if not block:
            return None
        lines += data.count(b"\n")
        offset += len(data)


def _fits(rest: bytes) -> str:
    if rest[1:2] == b"\x00" or rest[:1] == b"\x00":
        return '; encoding = "utf-16" fits it'
    try:
        rest[:64].decode("cp1252")
    except UnicodeDecodeError:
        return '; encoding = "latin-1" reads any byte'
    return '; encoding = "cp1252" (Windows, Excel) fits it, "latin-1" if it came from elsewhere'
