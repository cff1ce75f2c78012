"""Dead-letter records: one JSON object per rejected row, and the atomic export to JSON Lines."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from ..api import ItemRejection, item_field
from ..files import write_atomically
from ..mapping import Reject


def local_record(job: str, reject: Reject, where: tuple[str, int], key: list[str]) -> dict[str, Any]:
    """A row the loader itself refused (bad id, time, JSON, size...)."""
    source = reject.source or {}
    return {
        "job": job,
        "row": reject.row,
        "file": where[0],
        "file_row": where[1],
        "key": {k: source.get(k) for k in key} or None,
        "reason": reject.message,
        "reason_code": reject.code,
        "field": reject.field,
        "status": None,
        "code": None,
        "request_id": None,
        "source": source,
        "types": reject.types,  # how the load read each column: resend reads the fixed row back the same way
    }


def server_record(
    job: str, row: int, where: tuple[str, int], event: bytes, rejection: ItemRejection, key: dict[str, Any] | None
) -> dict[str, Any]:
    """An event Spotzee refused (422 and friends), with what Spotzee said: ``field`` is the event's field it named
    (``name``, ``data.total``), not its place in the request (``[5].name``); ``key`` the row's."""
    return {
        "job": job,
        "row": row,
        "file": where[0],
        "file_row": where[1],
        "key": key,
        "reason": rejection.message or f"Spotzee refused the event ({rejection.code})",
        "reason_code": f"server_{rejection.code or rejection.status}",
        "field": item_field(rejection.param or ""),
        "status": rejection.status,
        "code": rejection.code,
        "request_id": rejection.request_id,
        "event": orjson.loads(event),
    }


def server_records(
    job: str,
    rejected: Iterable[ItemRejection],
    rows: list[int],
    events: list[bytes],
    keys: list[dict[str, Any] | None],
    locate: Callable[[int], tuple[str, int]],
) -> list[dict[str, Any]]:
    """The records of the events of one chunk (``rows``, ``events``, ``keys`` in its order) Spotzee refused."""
    return [
        server_record(job, rows[r.index], locate(rows[r.index]), events[r.index], r, keys[r.index]) for r in rejected
    ]


def export(records: Iterable[bytes], path: Path) -> int:
    """Write the records to ``path`` as JSON Lines, atomically (temp file, then rename); returns how many."""
    return write_atomically(path, (record + b"\n" for record in records))


def digest(lines: Iterable[bytes]) -> str:
    """The SHA-256 of the JSON Lines ``export`` writes of these records (or of a file's chunks as read)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line)
    return h.hexdigest()


def is_earlier_export(path: Path, records: Iterable[bytes]) -> bool:
    """Whether every line of the file at ``path`` is one of ``records`` in the same order (a subsequence): an
    export the loader wrote before the job had its later rejects, not a file someone edited. Streams both."""
    wanted = iter(records)
    with path.open("rb") as f:
        for line in f:
            text = line.rstrip(b"\n")
            if not any(record == text for record in wanted):
                return False
    return True


def file_digest(path: Path) -> str | None:
    """The SHA-256 of the file at ``path``, ``None`` if there is none."""
    try:
        with path.open("rb") as f:
            return digest(iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return None
