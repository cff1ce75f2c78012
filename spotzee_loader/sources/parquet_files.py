"""Parquet files as files: which a spec names, their footers (metadata, and a digest that tells a rewritten file from
the one a job read), without reading their data."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from ..config import StorageCredentials
from ..errors import ConfigError
from ..outages import START_PATIENCE_S
from .stock import FileRecord
from .storage import StoredFile, is_data_file, is_object_storage, list_files, storage_reason

_FOOTER_TAIL = 8  # 4-byte footer length + "PAR1"


def list_parquet_files(
    spec: str, credentials: StorageCredentials | None = None, retry_budget_s: float = START_PATIENCE_S
) -> list[StoredFile]:
    """The Parquet files ``spec`` names (file, folder or prefix, glob; local or object storage), sorted."""
    return list_files(spec, _is_parquet, "Parquet", credentials=credentials, retry_budget_s=retry_budget_s)


def _is_parquet(name: str) -> bool:
    return name.endswith(".parquet") and is_data_file(name)


def parquet_metadata(file: StoredFile) -> pq.FileMetaData:
    try:
        with file.open() as handle:
            return pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        reason = storage_reason(exc) if is_object_storage(file.url) else str(exc)
        raise ConfigError(f"{file.url} is not a readable Parquet file ({reason}).") from None


def footer_digest(file: StoredFile) -> str:
    """Hash of the Parquet footer: row groups, offsets and statistics, without reading the data."""
    with file.open() as f:
        size = f.size()
        f.seek(size - _FOOTER_TAIL)
        tail = f.read(_FOOTER_TAIL)
        footer_len = int.from_bytes(tail[:4], "little")
        f.seek(max(0, size - _FOOTER_TAIL - footer_len))
        footer = f.read(footer_len)
    return hashlib.sha256(size.to_bytes(8, "little") + footer + tail).hexdigest()


CANNOT_GROW = "a Parquet file keeps its footer at its end, so rows added to it move rows read: add new files instead"


def look_at_file(
    file: StoredFile, size: int, mtime_ns: int, before: FileRecord | None
) -> tuple[FileRecord, str | None]:
    """A Parquet file's record: its footer's digest, which only matches an earlier one of the same size."""
    digest = footer_digest(file)
    same_size = before is not None and before.size == size
    return FileRecord(file.url, size, mtime_ns, digest), digest if same_size else None
