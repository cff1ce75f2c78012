"""What a run reads beyond the source's own order: the cut ``--limit`` makes, and the key ledger of a file source
(``keyed``) with its place beside the checkpoint store."""

from __future__ import annotations

from pathlib import Path

from ..config import LoadSettings, default_checkpoint_path
from ..mapping import Mapping
from ..sources import SourceBatch, is_database_url
from .keyed import KeyLedger


def key_ledger(s: LoadSettings, mapping: Mapping, job: str) -> KeyLedger | None:
    """The job's ledger of keys, for a file source whose mapping names a key (a database checks keys itself)."""
    if not mapping.key or is_database_url(s.source):
        return None
    if s.dry_run:
        return KeyLedger(None, restart=True)  # a temporary file
    base = Path(s.checkpoint).parent if "://" not in s.checkpoint else default_checkpoint_path().parent
    return KeyLedger(base / "keys" / f"{job}.sqlite", s.restart)


def within_limit(part: SourceBatch, start_row: int, limit: int) -> tuple[SourceBatch, bool]:
    """``part`` cut where ``limit`` rows from ``start_row`` end, and whether the limit is reached with it."""
    left = start_row + limit - part.first_row
    if left > part.batch.num_rows:
        return part, False
    keys = part.keys[:left] if part.keys is not None else None
    return SourceBatch(part.first_row, part.batch.slice(0, max(0, left)), keys), True
