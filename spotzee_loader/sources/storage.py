"""Where files live: the local disk, or object storage (``s3://``, ``gs://``, ``az://`` / ``abfs://``) through
Arrow's own filesystems, which stream ranges of an object instead of downloading it.

Credentials come from each cloud's standard chain, read by Arrow's SDKs (environment, profile, instance
role): the one place the loader lets a library read the environment, since that chain is what users configure.
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` point S3 at a compatible store (MinIO, R2, Ceph);
``STORAGE_EMULATOR_HOST`` points ``gs://`` at a GCS emulator; ``AZURE_STORAGE_CONNECTION_STRING`` gives ``az://`` an
account and its key (or Azurite's).
Listings are sorted by key, so a job means the same files every time.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from ..config import FILE_FORMATS, StorageCredentials
from ..errors import ConfigError, SourceUnavailableError
from ..outages import START_PATIENCE_S, first_contact

OBJECT_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")
__all__ = ["FILE_FORMATS", "StoredFile", "format_of", "is_data_file", "is_object_storage", "list_files"]
_FORMAT_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
COMPRESSION_SUFFIXES = (".gz", ".zst", ".zstd")
"""Compressions of text files, known by the name's last suffix (Arrow's ``compression="detect"``)."""


def without_compression(name: str) -> str:
    """``orders.csv.gz`` -> ``orders.csv`` (lower case)."""
    lowered = name.lower()
    for compression in COMPRESSION_SUFFIXES:
        if lowered.endswith(compression):
            return lowered[: -len(compression)]
    return lowered


def format_of(name: str) -> str | None:
    """``parquet``, ``csv`` or ``jsonl`` from a file name (``orders.csv.gz`` -> ``csv``), or ``None``."""
    lowered = without_compression(name)
    return next((fmt for suffix, fmt in _FORMAT_SUFFIXES.items() if lowered.endswith(suffix)), None)


def is_data_file(name: str) -> bool:
    """Any file but the markers and hidden files writers leave next to data (``_SUCCESS``, ``.crc``)."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith((".", "_"))


def is_object_storage(spec: str) -> bool:
    return spec.partition("://")[0].lower() in OBJECT_SCHEMES and "://" in spec


@dataclass(frozen=True)
class StoredFile:
    """One file: its filesystem, its path there, and the URL people see."""

    fs: Any
    path: str
    url: str

    def open(self) -> Any:
        """A seekable Arrow input file (object storage reads only the ranges asked for)."""
        return self.fs.open_input_file(self.path)


def _filesystem(spec: str, credentials: StorageCredentials | None) -> tuple[Any, str, str]:
    """``(filesystem, path in it, URL prefix)`` of an object-storage URL."""
    scheme = spec.partition("://")[0].lower()
    if credentials is not None:
        return _explicit_filesystem(spec, scheme, credentials), spec.partition("://")[2], f"{scheme}://"
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if scheme in ("az", "abfs", "abfss") and connection_string and "@" not in spec.partition("://")[2].split("/")[0]:
        return _azure_filesystem(spec, connection_string), spec.partition("://")[2], f"{scheme}://"
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if scheme in ("gs", "gcs") and emulator:
        # Google's variable for a local GCS emulator (its SDKs honour it; Arrow's GCS filesystem does not).
        # Emulators take no credentials.
        emulator_scheme, _, host = emulator.rstrip("/").rpartition("://")
        fs = pafs.GcsFileSystem(anonymous=True, endpoint_override=host, scheme=emulator_scheme or "http")
        return fs, spec.partition("://")[2], f"{scheme}://"
    try:
        # from_uri reads the SDK's whole standard chain, AWS_ENDPOINT_URL(_S3) included (a hand-built
        # S3FileSystem does not); its S3 retry strategy retries throttling (503 SlowDown) and dropped connections.
        fs, path = pafs.FileSystem.from_uri(spec)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ConfigError(f"cannot use {spec} ({storage_reason(exc)}).") from None
    return fs, path, f"{scheme}://"


def _azure_filesystem(spec: str, connection_string: str) -> Any:
    """``az://container/path`` with Azure's standard connection string (``AccountName=...;AccountKey=...;
    BlobEndpoint=...``), which Azure's SDKs and tools read and Arrow's filesystem does not; Azurite's too."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    use: dict[str, Any] = {"account_name": parts.get("AccountName")}
    if parts.get("AccountKey"):
        use["account_key"] = parts["AccountKey"]
    for service in ("blob", "dfs"):
        endpoint = parts.get(f"{service.capitalize()}Endpoint") or parts.get("BlobEndpoint")
        if endpoint:
            endpoint_scheme, _, rest = endpoint.partition("://")
            use[f"{service}_storage_authority"] = rest.split("/")[0]
            use[f"{service}_storage_scheme"] = endpoint_scheme
    if not use["account_name"]:
        raise ConfigError("AZURE_STORAGE_CONNECTION_STRING has no AccountName=...; copy it from the storage account.")
    try:
        return pafs.AzureFileSystem(**use)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ConfigError(f"cannot use {spec} ({storage_reason(exc)}).") from None


def _explicit_filesystem(spec: str, scheme: str, credentials: StorageCredentials) -> Any:
    if scheme != "s3":
        raise ConfigError(f"explicit credentials work for s3:// only; {scheme}:// reads its cloud's standard chain.")
    endpoint, use = credentials.endpoint_url, {}
    if endpoint:
        use["scheme"], _, use["endpoint_override"] = endpoint.rstrip("/").rpartition("://")
        use["scheme"] = use["scheme"] or "https"
    try:
        return pafs.S3FileSystem(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key.reveal() if credentials.secret_key else None,
            session_token=credentials.session_token.reveal() if credentials.session_token else None,
            region=credentials.region,
            **use,
        )
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ConfigError(f"cannot use {spec} ({storage_reason(exc)}).") from None


def list_files(
    spec: str,
    accept: Callable[[str], bool],
    kind: str,
    allow_empty: bool = False,
    credentials: StorageCredentials | None = None,
    retry_budget_s: float = START_PATIENCE_S,
) -> list[StoredFile]:
    """The files ``spec`` names, sorted: one file, every file below a folder/prefix whose name ``accept`` takes,
    or a glob. ``kind`` names what is looked for in messages (``Parquet``). Object storage that is unreachable is
    tried again as a database is when a run starts (``outages.first_contact``)."""
    if not is_object_storage(spec):
        return _list_local(spec, accept, kind, allow_empty)
    pattern = None
    if glob.has_magic(spec):  # list the folder before the first wildcard, then match keys against the rest
        magic = min(i for i, c in enumerate(spec) if c in "*?[")
        folder = spec[:magic].rsplit("/", 1)[0]
        fs, base, prefix = _filesystem(folder + "/", credentials)
        base = base.rstrip("/")
        pattern = base + spec[len(folder) :]
    else:
        fs, path, prefix = _filesystem(spec, credentials)
        base = path.rstrip("/")

    def listing() -> list[pafs.FileInfo]:
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.File and pattern is None:
            return [info]
        return list(fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=False)))

    unreachable = (SourceUnavailableError, f"cannot list {spec}: the object store", "sent")
    try:
        found = first_contact(listing, f"the object store ({spec})", retry_budget_s, (OSError,), unreachable)
    except OSError as exc:
        raise ConfigError(f"cannot list {spec}: {storage_reason(exc)}.") from None
    if pattern is None and len(found) == 1 and found[0].path == base and found[0].type == pafs.FileType.File:
        return [StoredFile(fs, base, prefix + base)]
    keys = sorted(i.path for i in found if i.type == pafs.FileType.File)
    keys = [k for k in keys if (fnmatch.fnmatch(k, pattern) if pattern else accept(k))]
    if not keys and not allow_empty:
        raise ConfigError(f"source {spec} matches no {kind} files.")
    return [StoredFile(fs, k, prefix + k) for k in keys]


def _list_local(spec: str, accept: Callable[[str], bool], kind: str, allow_empty: bool) -> list[StoredFile]:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and accept(p.relative_to(path).as_posix()))
    elif path.is_file():
        files = [path]
    elif glob.has_magic(spec):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    else:
        raise ConfigError(f"source {spec} does not exist; give a file, a directory or a glob.")
    if not files and not allow_empty:
        raise ConfigError(f"source {spec} matches no {kind} files.")
    local = pafs.LocalFileSystem()
    return [StoredFile(local, str(p.absolute()), str(p)) for p in files]


def storage_reason(exc: BaseException) -> str:
    """One clause for an object-storage failure: what it means for the user, not the SDK's paragraph."""
    text = str(exc)
    if "NO_SUCH_BUCKET" in text or "NoSuchBucket" in text:
        return "the bucket does not exist (check its name and region)"
    if "ACCESS_DENIED" in text or "AccessDenied" in text or "403" in text:
        return "access denied: the credentials in use may not read it (check the key, profile or role)"
    if "SlowDown" in text or "503" in text:
        return "the store kept throttling (503 SlowDown) past the SDK's retries; try again later"
    return text.strip().splitlines()[0][:300]
