"""Parquet files as a source, on disk or in object storage (``storage``): streamed by record batch, resumable by
seeking to a file and row group without reading the earlier ones."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from ..config import RetrySettings, StorageCredentials
from ..errors import ConfigError, SourceReadError
from ..mapping import Mapping, utc_instant
from ..outages import first_line, is_transient
from ..redaction import redact
from .base import ResumePoint, SourceBatch
from .declared import as_declared
from .outages import object_store_outage
from .parquet_files import CANNOT_GROW, footer_digest, list_parquet_files, look_at_file, parquet_metadata
from .stock import FileRecord, Stock, take_stock
from .storage import StoredFile, is_object_storage


@dataclass(frozen=True)
class _File:
    file: StoredFile
    first_row: int
    """Position of the file's first read row in the source."""
    rows: int
    row_group_rows: tuple[int, ...]
    """Rows of each row group read, starting at row group ``first_group``."""
    first_group: int = 0
    rows_before: int = 0
    """Rows of the file before ``first_group`` (for a slice of a file)."""


@dataclass
class _Reading:
    """The row group being read and its first row position, for the message when it cannot be read."""

    group: int
    first_row: int


class ParquetSource:
    """One or more Parquet files read in sorted path order, row groups in file order."""

    def __init__(
        self,
        spec: str,
        files: list[_File],
        batch_size: int,
        window: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
        retry_budget_s: float = RetrySettings.budget_s,
        row_groups: tuple[int, int] | None = None,
    ) -> None:
        self.description = redact(spec)
        self._retry_budget_s = retry_budget_s
        self.stable = True
        self._files = files
        self._batch_size = batch_size
        self._window = window
        self._mapping: Mapping | None = None
        self._row_groups = row_groups

    @classmethod
    def open(
        cls,
        spec: str,
        batch_size: int = 10_000,
        files: tuple[str, ...] = (),
        row_groups: tuple[int, int] | None = None,
        window: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
        credentials: StorageCredentials | None = None,
        retry_budget_s: float = RetrySettings.budget_s,
    ) -> ParquetSource:
        """``spec`` (file, directory or glob), or exactly ``files``; ``row_groups`` ``[first, end)`` reads a
        slice of a single file (the Airflow migration splits big files this way)."""
        stored = [one for name in files or (spec,) for one in list_parquet_files(name, credentials, retry_budget_s)]
        if row_groups is not None and len(stored) != 1:
            raise ConfigError("a row-group range applies to exactly one Parquet file.")
        found: list[_File] = []
        offset = 0
        for file in stored:
            meta = parquet_metadata(file)
            groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            first, end = row_groups or (0, len(groups))
            if not 0 <= first <= end <= len(groups):
                raise ConfigError(f"{file.url} has {len(groups)} row groups; [{first}, {end}) is outside them.")
            kept = tuple(groups[first:end])
            found.append(_File(file, offset, sum(kept), kept, first, sum(groups[:first])))
            offset += sum(kept)
        label = spec if not row_groups else f"{spec} row groups {row_groups[0]}..{row_groups[1] - 1}"
        return cls(label, found, batch_size, window, retry_budget_s, row_groups)

    def schema(self) -> pa.Schema:
        return parquet_metadata(self._files[0].file).schema.to_arrow_schema()

    def prepare(self, mapping: Mapping) -> None:
        """Files are read in file order; the mapping's key only labels rejected rows."""
        self._mapping = mapping

    def _group_spans(self, f: _File) -> list[tuple[dt.datetime, dt.datetime] | None]:
        """Per row group of ``f`` read here: its first and last ``created_at`` from the statistics (UTC), or
        ``None`` where the file keeps none or the column holds strings (no data is read)."""
        assert self._mapping is not None, "prepare() first"
        meta = parquet_metadata(f.file)
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        if self._mapping.created_at not in names:
            return [None] * len(f.row_group_rows)
        column = names.index(self._mapping.created_at)
        spans: list[tuple[dt.datetime, dt.datetime] | None] = []
        for group in range(f.first_group, f.first_group + len(f.row_group_rows)):
            stats = meta.row_group(group).column(column).statistics
            low = high = None
            if stats is not None and stats.has_min_max:
                low = utc_instant(stats.min, self._mapping.timezone)
                high = utc_instant(stats.max, self._mapping.timezone)
            spans.append((low, high) if low is not None and high is not None else None)
        return spans

    def created_at_bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """First and last ``created_at`` from the row groups' statistics; ``None`` where any group has none."""
        spans = [span for f in self._files for span in self._group_spans(f)]
        if not spans or None in spans:
            return None, None
        return min(s[0] for s in spans if s), max(s[1] for s in spans if s)

    def _outside_window(self, span: tuple[dt.datetime, dt.datetime] | None) -> bool:
        """Whether a row group lies wholly outside ``[since, until)`` by its statistics."""
        since, until = self._window
        if span is None:
            return False
        return (since is not None and span[1] < since) or (until is not None and span[0] >= until)

    def rows_in_window(self) -> int | None:
        """Rows in the row groups that overlap the window (the rest are skipped unread); ``None`` without one."""
        if self._window == (None, None):
            return None
        return sum(
            rows
            for f in self._files
            for rows, span in zip(f.row_group_rows, self._group_spans(f), strict=True)
            if not self._outside_window(span)
        )

    def close(self) -> None:
        """Files are opened per read; nothing stays open."""

    def fingerprint(self) -> str:
        """The row groups read of a sliced file: the files' content is checked file by file (``take_stock``)."""
        return hashlib.sha256(f"parquet\0{self._row_groups}".encode()).hexdigest()[:16]

    def fingerprint_before(self) -> str:
        """Names and footers, as loaders before file records bound a job to them."""
        digest = hashlib.sha256()
        for f in self._files:
            name = f.file.url.rsplit("/", 1)[-1]
            digest.update(f"{name}\0{footer_digest(f.file)}\0{f.first_group}:{len(f.row_group_rows)}\n".encode())
        return digest.hexdigest()[:16]

    def take_stock(self, earlier: dict[str, FileRecord]) -> Stock:
        """Each file by its footer, read again unless size and time are as recorded."""
        return take_stock([f.file for f in self._files], earlier, look_at_file, lambda _: CANNOT_GROW)

    def total_rows(self) -> int:
        return sum(f.rows for f in self._files)

    def locate(self, row: int) -> tuple[str, int]:
        """``(file path, row within that file)`` of a global row position, for dead letters."""
        for f in self._files:
            if f.first_row <= row < f.first_row + f.rows:
                return f.file.url, f.rows_before + row - f.first_row
        last = self._files[-1]
        return last.file.url, last.rows_before + row - last.first_row

    def batches(self, start: ResumePoint, columns: list[str] | None) -> Iterator[SourceBatch]:
        last_end = start.row
        for f in self._files:
            if f.first_row + f.rows <= start.row or not f.row_group_rows:
                continue  # finished in an earlier run (or empty): not even opened
            skip = max(0, start.row - f.first_row)
            group, group_first = 0, 0
            while group < len(f.row_group_rows) and group_first + f.row_group_rows[group] <= skip:
                group_first += f.row_group_rows[group]
                group += 1
            outage = None
            if is_object_storage(f.file.url):
                doing = "opening the file again at the row group that failed"
                outage = object_store_outage(self._retry_budget_s, f.file.url, doing)
            for first, end, position in self._runs(f, group, group_first):
                resume = start
                while True:
                    reading = _Reading(f.first_group + first, position)
                    try:
                        for part in self._read_groups(f, first, end, position, resume, columns, reading):
                            last_end = part.first_row + part.batch.num_rows
                            if outage is not None:
                                outage.recovered()
                            yield part
                        break
                    except (pa.ArrowException, OSError) as exc:
                        if outage is None or not is_transient(exc):
                            raise self._unreadable(f, reading, exc) from None
                        # The store dropped the connection or kept throttling past the SDK's own retries: open the
                        # file again at the row group that failed, after the rows already handed on.
                        outage.failed(first_line(exc)[:200])
                        first, position = reading.group - f.first_group, reading.first_row
                        resume = ResumePoint(max(start.row, last_end))
        end_of_source = self.total_rows()
        if last_end < end_of_source:
            # The last row groups lay outside the window, unread: an empty batch at the end says where it is.
            schema = parquet_metadata(self._files[-1].file).schema.to_arrow_schema()
            kept = [n for n in schema.names if columns is None or n in columns]
            empty = pa.RecordBatch.from_pylist([], schema=pa.schema([schema.field(n) for n in kept]))
            yield SourceBatch(end_of_source, empty)

    @staticmethod
    def _unreadable(f: _File, reading: _Reading, exc: BaseException) -> SourceReadError:
        in_file = f.rows_before + reading.first_row - f.first_row
        return SourceReadError(
            f"cannot read row group {reading.group} of {f.file.url} (its rows {in_file:,} and on; "
            f"{first_line(exc)[:200]}): the file looks corrupt or changed while being "
            "read. Every row before that row group was delivered and checkpointed: fix or replace the "
            "file, then re-run."
        )

    def _runs(self, f: _File, group: int, group_first: int) -> Iterator[tuple[int, int, int]]:
        """``(first group, end group, first row position)`` of each run of row groups to read from ``group`` on:
        all of them, or those not lying wholly outside the window by their statistics."""
        spans = self._group_spans(f) if self._window != (None, None) else [None] * len(f.row_group_rows)
        position = f.first_row + group_first
        run_start, run_position = None, position
        for index in range(group, len(f.row_group_rows)):
            if self._outside_window(spans[index]):
                if run_start is not None:
                    yield run_start, index, run_position
                    run_start = None
            elif run_start is None:
                run_start, run_position = index, position
            position += f.row_group_rows[index]
        if run_start is not None:
            yield run_start, len(f.row_group_rows), run_position

    def _read_groups(
        self,
        f: _File,
        first: int,
        end: int,
        position: int,
        start: ResumePoint,
        columns: list[str] | None,
        reading: _Reading,
    ) -> Iterator[SourceBatch]:
        # On disk, pages are streamed 1 MiB at a time instead of pre-buffering whole row groups: reading a TPC-H
        # scale-1 file then adds ~37 MiB instead of ~86 MiB, whatever the row group size. From object storage,
        # each read is a ranged GET: pre-buffering fetches a row group's column chunks in a few coalesced,
        # concurrent requests (bench/s3_load.py, TPC-H scale 1 from moto: 69% of the local pace with 1 MiB
        # reads, 92-99% pre-buffered; peak RSS 226 -> 247 MiB).
        remote = is_object_storage(f.file.url)
        with f.file.open() as handle, pq.ParquetFile(handle, pre_buffer=remote, buffer_size=1 << 20) as reader:
            file_columns = None if columns is None else [c for c in columns if c in reader.schema_arrow.names]
            # One row group at a time: a batch never spans two, so a corrupt one fails alone and every row group
            # before it has been handed on (and is delivered) first.
            for group in range(f.first_group + first, f.first_group + end):
                reading.group, reading.first_row = group, position
                batches = reader.iter_batches(batch_size=self._batch_size, row_groups=[group], columns=file_columns)
                for batch in batches:
                    batch_end = position + batch.num_rows
                    if batch_end <= start.row:
                        position = batch_end
                        continue
                    if position < start.row:
                        batch = batch.slice(start.row - position)
                        position = start.row
                    yield SourceBatch(position, as_declared(batch, self._mapping))
                    position += batch.num_rows
