"""read -> map -> validate -> chunk -> send -> checkpoint after the 2xx. The only orchestrator.

``loader`` (one load: source, mapping, job, run, finish), ``choice`` (the mapping and the job's name), ``plan`` (the
first lines of a run, the live journeys), ``run`` (the stream, the senders, the settling of lost answers, the
commits), ``reading`` (``--limit``, the key ledger's place), ``keyed`` (repeated keys of file sources), ``finish``
(the totals, dead letters, state and report every run ends with).
"""

from __future__ import annotations

from ..progress import Progress
from .choice import MappingChoice, default_job_name, load_mapping_file, source_location
from .loader import Loader
from .plan import JOURNEY_WARNING, journey_warning, read_journeys

__all__ = [
    "JOURNEY_WARNING",
    "Loader",
    "MappingChoice",
    "Progress",
    "default_job_name",
    "journey_warning",
    "load_mapping_file",
    "read_journeys",
    "source_location",
]
