"""Where rows come from: Parquet files and warehouse tables, streamed as record batches in a stable order.

``open_source`` opens the ``SOURCE`` argument; every source resumes from a row position or a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import SourceOptions
from ..errors import ConfigError
from ..mapping import CsvDialect
from .base import ResumePoint, Source, SourceBatch
from .keys import RowKey, decode_key, encode_key
from .naming import database_description, database_of
from .stock import FileRecord, Stock
from .storage import FILE_FORMATS, StoredFile, format_of, is_data_file, is_object_storage, list_files

if TYPE_CHECKING:
    from .databases import open_warehouse
    from .parquet_files import list_parquet_files, parquet_metadata

__all__ = [
    "FileRecord",
    "ResumePoint",
    "RowKey",
    "Source",
    "SourceBatch",
    "Stock",
    "database_description",
    "database_of",
    "decode_key",
    "encode_key",
    "is_database_url",
    "is_object_storage",
    "list_parquet_files",
    "open_source",
    "open_warehouse",
    "parquet_metadata",
    "source_files",
]


def is_database_url(spec: str) -> bool:
    scheme = spec.partition("://")[0]
    if "://" not in spec or Path(spec).exists() or is_object_storage(spec):
        return False
    return scheme.replace("+", "").replace("_", "").isalnum()


def open_source(spec: str, options: SourceOptions | None = None) -> Source:
    """The source for a ``SOURCE`` argument: Parquet file / directory / glob, or a database URL."""
    options = options or SourceOptions()
    if is_database_url(spec):
        from .databases import open_warehouse

        return open_warehouse(spec, options)
    if options.table or options.sql:
        raise ConfigError("--table, --sql and --sql-file apply to database sources only.")
    file_format = options.file_format or _detect_format(spec, options)
    if file_format == "parquet":
        from .parquet import ParquetSource

        window = (options.since, options.until)
        return ParquetSource.open(
            spec,
            options.batch_size,
            options.files,
            options.row_groups,
            window,
            credentials=options.storage,
            retry_budget_s=options.retry_budget_s,
        )
    if options.row_groups is not None:
        raise ConfigError("a row-group range applies to Parquet files only.")
    from .text_files import TextFileSource

    _, files = source_files(spec, options, detected=file_format)
    return TextFileSource(
        spec,
        files,
        file_format,
        options.batch_size,
        options.retry_budget_s,
        CsvDialect.from_record(dict(options.csv)),
    )


def source_files(spec: str, options: SourceOptions, detected: str | None = None) -> tuple[str, list[StoredFile]]:
    """The format and the sorted files a file source names (``options.files``, else ``spec``)."""
    file_format = options.file_format or detected or _detect_format(spec, options)
    if file_format not in FILE_FORMATS:
        raise ConfigError(f"unknown file format {file_format!r}; use one of {', '.join(FILE_FORMATS)}.")
    named = options.files or (spec,)
    if file_format == "parquet":
        from .parquet_files import list_parquet_files

        listed = [list_parquet_files(name, options.storage, options.retry_budget_s) for name in named]
        return file_format, [one for files in listed for one in files]
    # With --format, every data file the source names is of that format (a Segment archive's *.gz files).
    accept = is_data_file if options.file_format else (lambda name: format_of(name) == file_format)
    kind = file_format.upper()
    budget = options.retry_budget_s
    listed = [list_files(name, accept, kind, credentials=options.storage, retry_budget_s=budget) for name in named]
    return file_format, [one for files in listed for one in files]


def _detect_format(spec: str, options: SourceOptions) -> str:
    """The format of the files a source names, from their names; several formats or none is an error."""
    named = options.files or (spec,)
    if all(format_of(name) == "parquet" for name in named):
        return "parquet"  # the common case, without listing the folder twice
    known = lambda n: format_of(n) is not None  # noqa: E731
    found = [
        one for name in named for one in list_files(name, known, "", True, options.storage, options.retry_budget_s)
    ]
    formats = sorted({fmt for f in found if (fmt := format_of(f.url)) is not None})
    if len(formats) == 1:
        return formats[0]
    if not formats:
        raise ConfigError(
            f"cannot tell the format of {spec} from its file names (.parquet, .csv, .tsv, .jsonl, .ndjson, "
            "optionally .gz or .zst): give --format parquet, csv or jsonl."
        )
    raise ConfigError(f"{spec} holds {' and '.join(formats)} files; name one kind with a glob or --format.")


def __getattr__(name: str) -> Any:
    # The readers load on first use: a DAG file parses without pyarrow.parquet or a database driver.
    if name in ("list_parquet_files", "parquet_metadata"):
        from . import parquet_files

        return getattr(parquet_files, name)
    if name == "open_warehouse":
        from .databases import open_warehouse

        return open_warehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
