"""The checkpoint's records of a job: what it is bound to, where it stands, the chunks Spotzee acknowledged, the
files it read."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RESTART_OR_RENAME = (
    "re-run with --restart (restart=true in Airflow) to send everything again under new idempotency keys, or choose "
    "another job name (--job, or job in Airflow) to keep both."
)


def lock_id(job: str) -> int:
    """A signed 64-bit number per job name (PostgreSQL advisory lock id, lock file name)."""
    return int.from_bytes(hashlib.sha256(job.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class JobIdentity:
    """What a job is bound to; a change to any fingerprint stops a resume."""

    name: str
    source: str
    source_fp: str
    mapping: str
    mapping_fp: str
    target: str
    source_fp_before: Callable[[], str | None] | None = field(default=None, compare=False)
    """The source's fingerprint as loaders before file records (0.1) computed it (asked only for a job recorded with
    another fingerprint): a job they began is the same job."""


@dataclass(frozen=True)
class Acked:
    """A chunk acknowledged beyond the prefix."""

    end_row: int
    end_key: str | None


@dataclass(frozen=True)
class AckedChunk:
    """A chunk Spotzee acknowledged, to be checkpointed with its rejects (dead-letter records)."""

    seq: int
    start_row: int
    end_row: int
    end_key: str | None
    events: int
    rejects: list[dict[str, Any]]


@dataclass
class JobState:
    """Where a job stands when a run opens it."""

    generation: int
    prefix_seq: int
    prefix_row: int
    prefix_key: str | None = None
    acked: dict[int, Acked] = field(default_factory=dict)
    rows_done: int = 0
    events_sent: int = 0
    rejected: int = 0
    state: str = "new"

    def idempotency_prefix(self, identity: JobIdentity) -> str:
        """Stable per job and generation: a resumed chunk reuses its key, a --restart does not."""
        seed = f"{identity.name}\0{identity.source_fp}\0{identity.mapping_fp}\0{identity.target}"
        return f"spz-{hashlib.sha256(seed.encode()).hexdigest()[:20]}-g{self.generation}"
