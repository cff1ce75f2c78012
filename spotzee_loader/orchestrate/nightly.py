"""The nightly backfill: which sources it loads, and one slice (checkpoint job) per source and interval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..mapping import PRESET_NAMES
from ..pipeline import MappingChoice
from .plan import Slice


@dataclass(frozen=True)
class NightlySource:
    """One table or query loaded every night for the run's data interval."""

    name: str
    mapping: str
    """A preset name or a TOML mapping path."""
    sql_file: str | None = None
    """A query using :since and :until."""
    table: str | None = None
    """Or a table, windowed on the mapping's created_at column."""

    def mapping_choice(self) -> MappingChoice:
        if self.mapping in PRESET_NAMES:
            return MappingChoice(preset=self.mapping)
        return MappingChoice(file=Path(self.mapping))

    def sql(self) -> str | None:
        if self.sql_file is None:
            return None
        try:
            return Path(self.sql_file).read_text(encoding="utf-8").strip().rstrip(";")
        except OSError as exc:
            raise ConfigError(f"nightly source {self.name}: cannot read {self.sql_file} ({exc.strerror}).") from None


@dataclass(frozen=True)
class NightlyConfig:
    """What the nightly DAG loads; defaults to the reference queries in ``sql/`` with the matching presets."""

    sources: tuple[NightlySource, ...]
    max_rejected: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, sql_dir: Path) -> NightlyConfig:
        """``{"sources": [{"name", "mapping", "sql_file" | "table"}], "max_rejected": N}``, or the defaults."""
        raw = raw or {}
        unknown = sorted(set(raw) - {"sources", "max_rejected"})
        if unknown:
            raise ConfigError(f"nightly config: unknown key(s) {', '.join(unknown)} (allowed: sources, max_rejected).")
        entries = raw.get("sources") or [
            {"name": "orders", "mapping": "orders", "sql_file": str(sql_dir / "orders.sql")},
            {"name": "actions", "mapping": "actions", "sql_file": str(sql_dir / "actions.sql")},
        ]
        sources = []
        for entry in entries:
            try:
                source = NightlySource(**entry)
            except TypeError as exc:
                raise ConfigError(f"nightly config: bad source {entry!r} ({exc}).") from None
            if (source.sql_file is None) == (source.table is None):
                raise ConfigError(f"nightly source {source.name}: give exactly one of sql_file or table.")
            sources.append(source)
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"nightly config: source names must be unique, got {', '.join(names)}.")
        return cls(tuple(sources), int(raw.get("max_rejected", 0)))

    def source(self, name: str) -> NightlySource:
        return next(s for s in self.sources if s.name == name)


def nightly_slices(config: NightlyConfig, start: dt.datetime | None, end: dt.datetime | None) -> list[Slice]:
    """One slice per source for ``[start, end)``; its job is named after the interval, so a retried or
    cleared task resumes it and a re-run of a finished interval sends nothing."""
    if start is None or end is None or start >= end:
        raise ConfigError(
            "this run has no data interval (a manual trigger without a logical date?): the nightly backfill "
            "loads one interval per run; use 'airflow backfill create --dag-id spotzee_nightly_backfill "
            "--from-date ... --to-date ...' or trigger spotzee_migration for an ad-hoc window."
        )
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    stamp = f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"
    return [
        Slice(
            f"{s.name} {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}",
            f"nightly-{s.name}-{stamp}",
            since=start.isoformat(),
            until=end.isoformat(),
            source=s.name,
        )
        for s in config.sources
    ]
