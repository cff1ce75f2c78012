"""What a file source's job read, file by file, so that a later run of the job tells a file that only grew (rows
appended) or a folder that gained files (a daily export drop) from a file changed in place.

Each file is recorded with its size, modification time and a digest: for text files, of its first ``size`` bytes (a
later run hashes that many bytes again: equal means its earlier rows are where they were); for Parquet, of its footer
(a Parquet file cannot grow in place: its footer is at its end, so it changes where rows were). A file whose size and
time are as recorded is taken as unchanged without being read; one only touched (a new time, the same bytes) is
unchanged too.

Row positions run on across the files in name order, so rows may only be added after every row read: the last file
read may grow, and new files must sort after every file read. Anything else stops the job, naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import orjson

from ..errors import ConfigError
from .storage import StoredFile, storage_reason

_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileRecord:
    """One file as a run of the job read it."""

    name: str
    """The file's URL (its path for a local file)."""
    size: int
    """Bytes read: a run reads no further, even when the file grows while it runs."""
    mtime_ns: int
    digest: str
    """sha256 of the first ``size`` bytes (text), or of the footer (Parquet)."""
    line_end: bool = True
    """The bytes read end at a line end: rows appended later start a new line, not the last row read."""

    def as_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> FileRecord:
        return cls(**orjson.loads(text))


@dataclass
class Stock:
    """The files of a source as this run reads them, against those the job's earlier runs read."""

    records: list[FileRecord] = field(default_factory=list)
    """Every file, in source order, as this run reads it."""
    grown: list[tuple[str, int]] = field(default_factory=list)
    """Files read before that grew since: ``(file, bytes added)``."""
    added: list[str] = field(default_factory=list)
    """Files no earlier run of the job read (empty on a job's first run)."""
    changed: list[str] = field(default_factory=list)
    """What stops the job: each a clause naming a file."""


Look = Callable[[StoredFile, int, int, "FileRecord | None"], tuple[FileRecord, "str | None"]]
"""``(file, size, mtime_ns, its earlier record)`` -> ``(its record now, the digest of its first earlier.size bytes,
or None where that cannot be told: a Parquet file of another size)``."""


def stat(file: StoredFile) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a file, local or in object storage."""
    try:
        info = file.fs.get_file_info(file.path)
    except OSError as exc:
        raise ConfigError(f"cannot read {file.url}: {storage_reason(exc)}.") from None
    return int(info.size or 0), int(info.mtime_ns or 0)


def take_stock(
    files: list[StoredFile],
    earlier: dict[str, FileRecord],
    look: Look,
    cannot_grow: Callable[[StoredFile], str | None],
) -> Stock:
    """The files now against ``earlier`` (``{name: record}``). ``cannot_grow`` says why a file may not grow in place
    (a clause), or ``None`` when it may."""
    stock = Stock()
    names = [file.url for file in files]
    place = {name: i for i, name in enumerate(names)}
    stock.changed += [f"{name}, read by an earlier run, is gone" for name in earlier if name not in place]
    last_read = max((place[name] for name in earlier if name in place), default=-1)
    after = names[last_read] if last_read >= 0 else ""
    for i, file in enumerate(files):
        before = earlier.get(file.url)
        size, mtime_ns = stat(file)
        if before is not None and (size, mtime_ns) == (before.size, before.mtime_ns):
            stock.records.append(before)
            continue
        record, prefix = look(file, size, mtime_ns, before)
        stock.records.append(record)
        if before is None:
            if i < last_read:
                stock.changed.append(
                    f"{file.url} is new but sorts before {after}, which an earlier run read: its rows would take the "
                    "places of rows already sent (name new files so they sort last)"
                )
            elif earlier:
                stock.added.append(file.url)
        elif size == before.size and record.digest == before.digest:
            continue  # touched: a new modification time, the same bytes
        elif size < before.size or (prefix is not None and prefix != before.digest):
            stock.changed.append(f"{file.url} changed in place (its first {before.size:,} bytes are not those read)")
        elif prefix is None or cannot_grow(file) is not None:
            why = cannot_grow(file) or "its bytes are not those read"
            stock.changed.append(f"{file.url} changed in place ({why})")
        elif not before.line_end:
            stock.changed.append(
                f"{file.url} grew, but its last line had no line end when it was read, so its last row may have been "
                "cut short"
            )
        elif i < last_read:
            stock.changed.append(
                f"{file.url} grew, but {after} after it was read already: its new rows would take the places of rows "
                "already sent"
            )
        else:
            stock.grown.append((file.url, size - before.size))
    return stock


def hash_bytes(file: StoredFile, size: int, mtime_ns: int, before: FileRecord | None) -> tuple[FileRecord, str | None]:
    """A text file's record: sha256 of its first ``size`` bytes, and of its first ``before.size`` on the way (a
    ``Look``)."""
    digest = hashlib.sha256()
    prefix = None
    want = before.size if before is not None and before.size <= size else -1
    done, last = 0, b""
    try:
        with file.fs.open_input_stream(file.path, compression=None) as stream:
            while done < size:
                if done == want:
                    prefix = digest.hexdigest()
                block = stream.read(min(_BLOCK, size - done, want - done if done < want else _BLOCK))
                if not block:
                    break
                digest.update(block)
                done += len(block)
                last = block[-1:]
    except OSError as exc:
        raise ConfigError(f"cannot read {file.url}: {storage_reason(exc)}.") from None
    if done == want:
        prefix = digest.hexdigest()
    record = FileRecord(file.url, done, mtime_ns, digest.hexdigest(), line_end=last in (b"\n", b""))
    return record, prefix
