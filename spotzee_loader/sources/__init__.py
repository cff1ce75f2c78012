"""Where rows come from: Parquet files and warehouse tables, streamed as record batches in a stable order.

``open_source`` opens the ``SOURCE`` argument; every source resumes from a row position or a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import SourceOptions
from ..errors import ConfigError
from .base import ResumePoint, Source, SourceBatch
from .keys import RowKey, decode_key, encode_key
from .storage import is_object_storage

if TYPE_CHECKING:
    from .parquet import list_parquet_files, parquet_metadata
    from .warehouse import open_warehouse

__all__ = [
    "ResumePoint",
    "RowKey",
    "Source",
    "SourceBatch",
    "decode_key",
    "encode_key",
    "is_database_url",
    "list_parquet_files",
    "open_source",
    "open_warehouse",
    "parquet_metadata",
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
        from .warehouse import open_warehouse

        return open_warehouse(spec, options)
    if options.table or options.sql:
        raise ConfigError("--table, --sql and --sql-file apply to database sources only.")
    from .parquet import ParquetSource

    window = (options.since, options.until)
    return ParquetSource.open(spec, options.batch_size, options.files, options.row_groups, window)


def __getattr__(name: str) -> Any:
    # The readers load on first use: a DAG file parses without pyarrow.parquet or a database driver.
    if name in ("list_parquet_files", "parquet_metadata"):
        from . import parquet

        return getattr(parquet, name)
    if name == "open_warehouse":
        from .warehouse import open_warehouse

        return open_warehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
