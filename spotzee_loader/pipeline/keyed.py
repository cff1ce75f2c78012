"""Rows of a file whose key repeats: the repeats become rejects (``duplicate_key``, naming the first row) instead
of events sent twice, as a database source refuses a repeated key.

Every key the job has sent is kept on disk, not in memory (a 10 GB file has as many keys as rows): a SQLite file
per job beside the checkpoint store, key text -> the row that first held it, so a resumed run knows the keys of
the rows before its resume point, and a row read again (a file re-read up to the resume point) is not taken for
its own repeat. A dry run keeps its keys in a temporary file.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from ..files import open_private, private_folder
from ..mapping import BuiltBatch, Reject

_DDL = "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, first_row INTEGER NOT NULL) WITHOUT ROWID"


class KeyLedger:
    """The keys a job's rows have held, and the row that held each first."""

    def __init__(self, path: Path | None, restart: bool) -> None:
        self._temporary = path is None
        if path is None:
            fd, name = tempfile.mkstemp(prefix="spotzee-keys-", suffix=".sqlite")
            os.close(fd)
            path = Path(name)
        else:
            private_folder(path.parent)
            os.close(open_private(path, os.O_RDWR | os.O_CREAT))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA cache_size=-16000")  # 16 MB of pages at most: memory stays flat
        self._db.execute(_DDL)
        if restart:
            self._db.execute("DELETE FROM keys")

    def first_rows(self, keys: list[str], rows: list[int]) -> list[int]:
        """For each key (with the row holding it now), the row that held it first (this one when new)."""
        self._db.execute("BEGIN")  # one transaction per batch: autocommit would commit every key on its own
        try:
            self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?)", zip(keys, rows, strict=True))
            found: dict[str, int] = {}
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                found.update(self._db.execute(f"SELECT key, first_row FROM keys WHERE key IN ({marks})", part))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return [found[key] for key in keys]

    def close(self) -> None:
        self._db.close()
        if self._temporary:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def without_repeats(built: BuiltBatch, ledger: KeyLedger, where: Any) -> BuiltBatch:
    """``built`` with its events whose key an earlier row held turned into ``duplicate_key`` rejects; ``where``
    gives a row's (file, line) for the reason."""
    if not built.events or built.event_keys is None:
        return built
    texts = [orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode() for key in built.event_keys]
    rows = [row for row, _ in built.events]
    # A key without a value (an old event without $insert_id) names no row: it repeats nothing.
    keyed = [i for i, key in enumerate(built.event_keys) if any(v is not None for v in key.values())]
    firsts = dict(zip(keyed, ledger.first_rows([texts[i] for i in keyed], [rows[i] for i in keyed]), strict=True))
    repeats = [i for i in keyed if firsts[i] < rows[i]]
    if not repeats:
        return built
    names = built.event_names.to_pylist() if built.event_names is not None else None
    dropped: Counter[str] = Counter()
    rejects = list(built.rejects)
    for i in repeats:
        key, first = built.event_keys[i], firsts[i]
        file, row_in_file = where(first)
        message = (
            f"key {texts[i]} repeats the key of row {first:,} (row {row_in_file:,} of {file}), whose event was "
            "sent: this one is not"
        )
        rejects.append(Reject(rows[i], "duplicate_key", ", ".join(key), message, source=dict(key)))
        if names is not None:
            dropped[names[i]] += 1
    repeated = set(repeats)
    kept = [i for i in range(len(rows)) if i not in repeated]
    names_seen = built.names.copy()
    if names is None and built.names:
        dropped[next(iter(built.names))] += len(repeats)
    names_seen.subtract(dropped)
    return dataclasses.replace(
        built,
        events=[built.events[i] for i in kept],
        event_keys=[built.event_keys[i] for i in kept],
        event_times=built.event_times.take(kept) if built.event_times is not None else None,
        event_names=built.event_names.take(kept) if built.event_names is not None else None,
        rejects=sorted(rejects, key=lambda r: r.row),
        names=+names_seen,
    )
