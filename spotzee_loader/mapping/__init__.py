"""Rows -> Spotzee events: the mapping spec, the presets, and the Arrow kernels that build event bodies.

Pure and vectorised: nothing here reads a file, a database or the network; callers hand in text and batches.
"""

from .batches import BatchMapper
from .column_types import column_kind
from .convert import json_array, json_safe, utc_instant, utc_timestamps
from .csv_table import CsvDialect, csv_dialect_of
from .outcome import VALUE_FAULT, BuiltBatch, Reject
from .presets import PRESET_NAMES, detect_preset, preset_mapping
from .spec import COLUMN_TYPES, Mapping, mapping_from_toml

__all__ = [
    "COLUMN_TYPES",
    "PRESET_NAMES",
    "VALUE_FAULT",
    "BatchMapper",
    "BuiltBatch",
    "CsvDialect",
    "Mapping",
    "Reject",
    "column_kind",
    "csv_dialect_of",
    "detect_preset",
    "json_array",
    "json_safe",
    "mapping_from_toml",
    "preset_mapping",
    "utc_instant",
    "utc_timestamps",
]
