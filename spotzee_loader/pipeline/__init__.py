"""read -> map -> validate -> chunk -> send -> checkpoint after the 2xx. The only orchestrator.

``loader`` (one load: source, mapping, job, run, finish), ``choice`` (the mapping and the job's name), ``plan`` (the
first lines of a run, the live journeys), ``run`` (the stream, the senders, the settling of lost answers, the
commits), ``reading`` (``--limit``, the key ledger's place), ``keyed`` (repeated keys of file sources), ``finish``
(the totals, dead letters, state and report every run ends with), ``acks`` (a chunk from sender to checkpoint).
Its helpers: ``chunking`` (events into requests of 100), ``deadletter`` (rejected rows as records a person fixes),
``report`` (a run's counts), ``progress`` (the bar or log lines), ``budget`` (the live share of the API budget).
"""

from __future__ import annotations

from .budget import share_budget
from .choice import MappingChoice, default_job_name, load_mapping_file, source_location
from .loader import Loader
from .plan import JOURNEY_WARNING, journey_warning, read_journeys
from .progress import BarProgress, LogProgress, Progress
from .report import RunReport

__all__ = [
    "JOURNEY_WARNING",
    "BarProgress",
    "Loader",
    "LogProgress",
    "MappingChoice",
    "Progress",
    "RunReport",
    "default_job_name",
    "journey_warning",
    "load_mapping_file",
    "read_journeys",
    "share_budget",
    "source_location",
]
