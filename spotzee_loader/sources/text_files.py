"""CSV and JSON Lines files as a source: plain, gzip or zstd, on disk or in object storage, streamed.

CSV goes through Arrow's streaming CSV reader with every column read as text; JSON Lines through Arrow's
decompressing input stream and orjson, one line at a time. Arrow's own JSON reader infers a struct type per
field from the first block and fails the read when a later line holds a field of another shape, which is
what a Segment archive's ``properties`` do from event to event. Either way, ``text_types`` then gives each
column one type for the whole source (the mapping's ``[types]`` or what the first rows show), so a value
that does not fit is one rejected row, never a crashed run.

Text files have no row groups to seek to: a resumed run re-reads (without sending) the rows before its
checkpoint, in the same order, so positions stay the same; a read that object storage drops mid-file is read
again the same way, from the file's start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from ..config import RetrySettings
from ..errors import ConfigError, SourceReadError
from ..mapping import CsvDialect, Mapping
from ..outages import first_line, is_transient
from ..redaction import redact
from .base import ResumePoint, SourceBatch
from .csv_dialect import HEAD_BYTES, CsvFormat, undecodable
from .faults import Faults, json_objects, with_faults, with_malformed
from .outages import object_store_outage
from .stock import FileRecord, Stock, hash_bytes, stat, take_stock
from .storage import StoredFile, is_object_storage
from .text_streams import cannot_grow, lines_of, open_text, reason
from .text_types import Words, from_text, from_values, infer_text, infer_values

_BLOCK = 1 << 20
_NULL_TEXTS = ["", "\\N", "NULL"]
"""CSV cells read as empty (MySQL's ``\\N`` and the common ``NULL``); anything else is a value to type."""


class TextFileSource:
    """CSV or JSON Lines files read in sorted path order, rows in file order."""

    def __init__(
        self,
        spec: str,
        files: list[StoredFile],
        file_format: str,
        batch_size: int = 10_000,
        retry_budget_s: float = RetrySettings.budget_s,
        dialect: CsvDialect | None = None,
    ) -> None:
        if file_format not in ("csv", "jsonl"):
            raise ConfigError(f"unknown text format {file_format!r}; use csv or jsonl.")
        self.description = redact(spec)
        self.stable = True
        self._files = files
        self._format = file_format
        self._batch_size = batch_size
        self._retry_budget_s = retry_budget_s
        self._declared: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self._seen: dict[str, None] = {}
        """Every JSON Lines member met so far: a batch where one is absent still has its column (nulls)."""
        self._timezone = "UTC"
        self._words: Words = ((), ())
        self._starts: list[tuple[int, str]] = []
        """``(first row, file URL)`` of each file opened in this run, for ``locate``."""
        self._csv = CsvFormat(dialect or CsvDialect())
        self._heads: dict[str, bytes] = {}
        self._sizes: dict[str, int] = {}
        """Bytes of each file this run reads (``take_stock``): rows appended while it runs wait for the next run."""

    # -- the Source protocol --------------------------------------------------------------------

    def schema(self) -> pa.Schema:
        """The columns of the first file with rows, typed as its first rows show (before a mapping declares
        types); else the first CSV header's, as text. An empty source (no rows: a quiet day's export) is no
        error: its schema may have no columns at all (empty files, JSON Lines without a line)."""
        header: pa.Schema | None = None
        for file in self._files:
            try:
                for part in self._file_batches(file, None):
                    if part.num_rows:
                        return pa.schema([f for f in part.schema if not f.name.startswith("__spotzee")])
                    if header is None and part.num_columns:
                        header = pa.schema([f for f in part.schema if not f.name.startswith("__spotzee")])
            except (pa.ArrowException, OSError, EOFError, UnicodeError) as exc:
                if self._format == "csv" and "Empty CSV file" in str(exc):
                    continue  # not even a header: an empty file
                what = "CSV" if self._format == "csv" else "JSON Lines"
                raise ConfigError(f"{file.url} is not a readable {what} file ({self._why(file, exc)}).") from None
            if header is None and self._format == "csv":
                header = self._csv_header(file)
        return header if header is not None else pa.schema([])

    def prepare(self, mapping: Mapping) -> None:
        self._declared = dict(mapping.types)
        self._types = dict(self._declared)
        self._seen = {}
        self._timezone = mapping.timezone
        self._words = mapping.booleans

    def fingerprint(self) -> str:
        """The format: the files' content is checked file by file (``take_stock``)."""
        return hashlib.sha256(f"text files\0{self._format}".encode()).hexdigest()[:16]

    def fingerprint_before(self) -> str:
        """Names, sizes and modification times, as loaders before file records bound a job to them."""
        digest = hashlib.sha256(self._format.encode())
        for file in self._files:
            size, mtime_ns = stat(file)
            digest.update(f"{file.url.rsplit('/', 1)[-1]}\0{size}\0{mtime_ns}\n".encode())
        return digest.hexdigest()[:16]

    def take_stock(self, earlier: dict[str, FileRecord]) -> Stock:
        """Each file hashed up to its size now (unless size and time are as recorded); reads stop there."""
        stock = take_stock(self._files, earlier, hash_bytes, cannot_grow)
        self._sizes = {record.name: record.size for record in stock.records}
        return stock

    def total_rows(self) -> int | None:
        return None  # unknown until read: counting would read every file twice

    def locate(self, row: int) -> tuple[str, int]:
        url, first = self._files[0].url, 0
        for start, name in self._starts:
            if start > row:
                break
            url, first = name, start
        return url, row - first

    def close(self) -> None:
        """Files are opened per read; nothing stays open."""

    def batches(self, start: ResumePoint, columns: list[str] | None) -> Iterator[SourceBatch]:
        position = 0
        self._starts = []
        for file in self._files:
            self._starts.append((position, file.url))
            first = position
            # Rows before ``handed`` went on in an earlier run or before an outage: they are not handed on again.
            handed = max(start.row, first)
            outage = None
            if is_object_storage(file.url):
                doing = "reading the file again from its start, handing on the rows after the last one handed on"
                outage = object_store_outage(self._retry_budget_s, file.url, doing)
            while True:
                position = first
                try:
                    for batch in self._file_batches(file, columns):
                        end = position + batch.num_rows
                        if end > handed:
                            if position < handed:
                                batch, position = batch.slice(handed - position), handed
                            yield SourceBatch(position, batch)
                            handed = end
                            if outage is not None:
                                outage.recovered()
                        position = end
                    break
                except (pa.ArrowException, OSError, EOFError, UnicodeError) as exc:
                    if outage is None or not is_transient(exc):
                        raise SourceReadError(
                            f"cannot read {file.url} near row {position:,} ({self._why(file, exc)}); rows before it "
                            "are checkpointed: fix or replace the file, then re-run."
                        ) from None
                    # A compressed stream cannot seek: read the file again from its start, handing on only the rows
                    # after those already handed on (the reader is single-threaded: positions are the same).
                    outage.failed(first_line(exc)[:200])

    # -- reading ---------------------------------------------------------------------------------

    def _file_batches(self, file: StoredFile, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        if self._format == "csv":
            return self._csv_batches(file, columns)
        return self._jsonl_batches(file, columns)

    def _open(self, file: StoredFile) -> Any:
        """The file's text as a stream: decompressed, and ending where ``take_stock`` measured it."""
        return open_text(file, self._sizes.get(file.url))

    def _head(self, file: StoredFile) -> bytes:
        """The first bytes of a CSV file, for its delimiter and encoding (read once per file)."""
        if file.url not in self._heads:
            with self._open(file) as stream:
                self._heads[file.url] = stream.read(HEAD_BYTES)
        return self._heads[file.url]

    def _why(self, file: StoredFile, exc: BaseException) -> str:
        """One clause; for text that is not in the file's encoding, where it stops being so and what to set."""
        if self._format == "csv" and (isinstance(exc, UnicodeError) or "invalid UTF8" in str(exc)):
            encoding = self._csv.encoding(self._head(file))
            with self._open(file) as stream:
                where = undecodable(stream, encoding)
            if where is not None:
                return f"{where}: set encoding in the mapping's [csv] table"
        return reason(file, exc)

    def _type_of(self, column: str, decide: Any) -> str:
        """The column's type: declared, or decided by its first values and kept for the whole source (text
        while it has held no value yet)."""
        kind = self._types.get(column)
        if kind is None:
            kind = decide()
            if kind is None:
                return "string"
            self._types[column] = kind
        return kind

    def _csv_header(self, file: StoredFile) -> pa.Schema | None:
        """A header-only file's columns, as text (``None`` for an empty file)."""
        try:
            with self._open(file) as stream:
                head = self._head(file)
                read, parse = self._csv.read_options(head, 1 << 16), self._csv.parse_options(file.url, head)
                names = pacsv.open_csv(stream, read_options=read, parse_options=parse).schema.names
        except pa.ArrowInvalid:
            return None
        return pa.schema([(name, pa.string()) for name in names])

    def _csv_batches(self, file: StoredFile, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        head = self._head(file)
        malformed: list[Any] = []

        def keep_malformed(row: Any) -> str:
            malformed.append(row)
            return "skip"  # into the batch it was met in, as a rejected row (below)

        parse = self._csv.parse_options(file.url, head, keep_malformed)
        with self._open(file) as stream:
            try:
                names = pacsv.open_csv(stream, read_options=self._csv.read_options(head, 1 << 16), parse_options=parse)
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return  # not even a header: no rows
                raise
            header = names.schema.names
        malformed.clear()
        kept = [n for n in header if columns is None or n in columns]
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            include_columns=kept,
            null_values=_NULL_TEXTS,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        read = self._csv.read_options(head, _BLOCK)
        with (
            self._open(file) as stream,
            pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert) as reader,
        ):
            for text in reader:
                faults = Faults(text.num_rows)
                if malformed:  # a line with too few or too many fields: one rejected row, after its block's rows
                    text = with_malformed(text, malformed, faults)
                    malformed.clear()
                yield self._typed_text(text, faults)

    def _typed_text(self, text: pa.RecordBatch, faults: Faults) -> pa.RecordBatch:
        arrays = []
        for name, arr in zip(text.schema.names, text.columns, strict=True):
            kind = self._type_of(name, lambda arr=arr: infer_text(arr))
            arrays.append(from_text(arr, name, kind, self._timezone, faults, name in self._declared, self._words))
        return with_faults(pa.RecordBatch.from_arrays(arrays, names=text.schema.names), faults)

    def _jsonl_batches(self, file: StoredFile, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        with self._open(file) as stream:
            rows: list[Any] = []
            for line in lines_of(stream):
                rows.append(line)
                if len(rows) >= self._batch_size:
                    yield self._typed_objects(rows, columns)
                    rows = []
            if rows:
                yield self._typed_objects(rows, columns)

    def _typed_objects(self, lines: list[bytes], columns: list[str] | None) -> pa.RecordBatch:
        objects, faults = json_objects(lines)
        for value in objects:
            self._seen.update(dict.fromkeys(value))
        kept = [n for n in self._seen if columns is None or n in columns]
        arrays = []
        for name in kept:
            values = [value.get(name) for value in objects]
            kind = self._type_of(name, lambda values=values: infer_values(values))
            declared = name in self._declared
            arrays.append(from_values(values, name, kind, self._timezone, faults, declared, self._words))
        return with_faults(pa.RecordBatch.from_arrays(arrays, names=kept), faults)
