"""The parameters of a migration (the ``spotzee_migration`` trigger form, or a ``SpotzeeLoadOperator``'s own),
validated: every problem is one ``ConfigError`` naming the param."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from ..config import instant
from ..errors import ConfigError
from ..mapping import PRESET_NAMES
from ..pipeline import MappingChoice


def param_instant(value: Any, name: str) -> dt.datetime | None:
    """A window param (``2024-01-01`` or an ISO 8601 time; naive means UTC) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    try:
        return instant(str(value))
    except argparse.ArgumentTypeError:
        raise ConfigError(f"param {name}={value!r} is not a date (YYYY-MM-DD) or ISO 8601 time.") from None


@dataclass(frozen=True)
class MigrationParams:
    """The trigger form of ``spotzee_migration``, validated."""

    path: str | None = None
    """Parquet file, directory or glob."""
    conn_id: str = "spotzee_warehouse"
    """Airflow connection of the warehouse (with ``table`` or ``sql``)."""
    table: str | None = None
    sql: str | None = None
    mapping: str | None = None
    """A TOML mapping path or a preset name; detected from the columns when empty."""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    slice_rows: int = 1_000_000
    """Parquet: rows per slice (whole row groups)."""
    slice_days: int = 31
    """Tables: days of ``created_at`` per slice."""
    dry_run: bool = False
    restart: bool = False
    max_rejected: int = 0
    job: str | None = None
    """Name of the migration (prefix of every slice's job); derived from the parameters when empty."""
    limit: int | None = None
    """A sample first: each slice sends the events of its next ``limit`` rows and stops (re-trigger without it)."""
    stamp: str | None = None
    """A ``data`` property naming each slice's job on every event (``--stamp``)."""
    no_live_journeys: bool = False
    """Refuse to send while any journey of the project is live."""
    allow_overlap: bool = False
    """Send rows another job (another migration, the nightly load) already sent to the same target."""

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> MigrationParams:
        """Build from a DAG run's params; every problem is a ConfigError naming the param."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(conf) - known)
        if unknown:
            raise ConfigError(f"unknown param(s) {', '.join(unknown)}; the migration takes {', '.join(sorted(known))}.")
        values = {k: v for k, v in conf.items() if v is not None and v != ""}
        for name in ("slice_rows", "slice_days", "max_rejected", "limit"):
            if name in values and (
                not isinstance(values[name], int)
                or isinstance(values[name], bool)
                or values[name] < (0 if name == "max_rejected" else 1)
            ):
                raise ConfigError(
                    f"param {name} must be a whole number of at least "
                    f"{0 if name == 'max_rejected' else 1}, got {values[name]!r}."
                )
        params = cls(
            **{
                **values,
                "since": param_instant(values.get("since"), "since"),
                "until": param_instant(values.get("until"), "until"),
            }
        )
        params._check()
        return params

    def _check(self) -> None:
        sources = [name for name in ("path", "table", "sql") if getattr(self, name)]
        if len(sources) != 1:
            raise ConfigError(
                "give exactly one source: path (Parquet), or table or sql (with conn_id); got "
                f"{', '.join(sources) or 'none'}."
            )
        if self.since and self.until and self.since >= self.until:
            raise ConfigError("since must be before until (the window is [since, until)).")
        if self.sql and not (self.since and self.until):
            raise ConfigError("a sql migration needs since and until (bound to :since and :until, sliced by days).")
        if self.mapping and self.mapping not in PRESET_NAMES and not Path(self.mapping).is_file():
            raise ConfigError(
                f"mapping {self.mapping!r} is neither a preset ({', '.join(PRESET_NAMES)}) nor a "
                "TOML file on this worker."
            )

    def mapping_choice(self) -> MappingChoice:
        if self.mapping in PRESET_NAMES:
            return MappingChoice(preset=self.mapping)
        return MappingChoice(file=Path(self.mapping)) if self.mapping else MappingChoice()

    def base_job(self) -> str:
        """``migration-<hash of what selects and shapes the events>`` unless named explicitly."""
        if self.job:
            return self.job
        identity = {
            k: v
            for k, v in asdict(self).items()
            if k in ("path", "conn_id", "table", "sql", "mapping", "since", "until")
        }
        return "migration-" + hashlib.sha256(orjson.dumps(identity, default=str)).hexdigest()[:10]
