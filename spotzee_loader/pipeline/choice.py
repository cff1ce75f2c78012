"""Which mapping a load uses, and the job it belongs to: the mapping file, preset or detection, and the job name
derived from source, mapping and target when none is given."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..config import LoadSettings, SourceOptions
from ..errors import MappingError
from ..mapping import Mapping, csv_dialect_of, detect_preset, mapping_from_toml, preset_mapping
from ..sources import Source

log = logging.getLogger(__name__)


def read_mapping_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist.") from None


def load_mapping_file(path: Path) -> Mapping:
    """Read and validate a TOML mapping file."""
    return mapping_from_toml(read_mapping_text(path), origin=str(path))


@dataclass(frozen=True)
class MappingChoice:
    """How the user chose the mapping: a TOML file, a preset name, or neither (detect)."""

    file: Path | None = None
    preset: str | None = None
    types: tuple[tuple[str, str], ...] = ()
    """Column types beside the mapping's own ``[types]`` (which win): how the original load read a dead
    letter's columns, for ``resend``."""

    def resolve(self, columns: list[str]) -> Mapping:
        return self._with_types(self._resolve(columns))

    def _resolve(self, columns: list[str]) -> Mapping:
        if self.file is not None:
            return load_mapping_file(self.file)
        if self.preset is not None:
            return preset_mapping(self.preset, columns)
        name, mapping = detect_preset(columns)
        log.info("no --mapping or --preset given: the columns fit preset %r, using it", name)
        return mapping

    def _with_types(self, mapping: Mapping) -> Mapping:
        if not self.types:
            return mapping
        return dataclasses.replace(mapping, types=tuple({**dict(self.types), **dict(mapping.types)}.items()))

    def read_as_written(self, options: SourceOptions) -> SourceOptions:
        """``options`` with the mapping file's ``[csv]``: how CSV sources are written is needed before their columns
        are read, so before the rest of the mapping."""
        if self.file is None:
            return options
        dialect = csv_dialect_of(read_mapping_text(self.file), str(self.file))
        return dataclasses.replace(options, csv=tuple(dialect.as_record().items()))

    def label(self) -> str:
        if self.file is not None:
            return str(self.file.resolve())
        return f"preset:{self.preset or 'auto'}"


def source_location(source: Source, spec: str) -> str:
    """Files by absolute path (a job means the same files from any directory); databases as described."""
    return source.description if "://" in spec else os.path.abspath(spec)


def default_job_name(source: Source, settings: LoadSettings, choice: MappingChoice, target: str) -> str:
    """Readable and stable: ``orders-preset_orders-1a2b3c4d`` (source stem, mapping, hash)."""
    spec = settings.source
    opts = settings.source_options
    stem = opts.table or Path(spec.rstrip("/")).name.split(".")[0] or "source"
    mapping = choice.file.stem if choice.file else (choice.preset or "auto")
    where = source_location(source, spec)
    seed = f"{where}\0{opts.table}\0{opts.sql}\0{opts.since}\0{opts.until}\0{choice.label()}\0{target}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{stem}-{mapping}")
    return f"{safe}-{digest}"
