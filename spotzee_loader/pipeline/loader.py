"""A load of one source into Spotzee (or a dry run of it): open the source, resolve the mapping and the job, run,
and finish the run whatever happened."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from ..checkpoint import CheckpointStore, JobIdentity, open_checkpoint_store
from ..config import LoadSettings
from ..errors import ConfigError
from ..redaction import redact
from ..sources import Source, open_source
from .choice import MappingChoice, default_job_name, source_location
from .finish import finalize, write_report
from .overlap import warn_of_overlap
from .progress import Progress
from .report import RunReport
from .run import Run

log = logging.getLogger(__name__)


class _NoProgress:
    def start(self, total_rows: int | None, done_rows: int) -> None: ...
    def advance(self, rows: int, events: int, rejected: int) -> None: ...
    def close(self) -> None: ...


class Loader:
    """One load of one source into Spotzee (or a dry run of it)."""

    def __init__(
        self,
        settings: LoadSettings,
        choice: MappingChoice,
        *,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        confirm: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.choice = choice
        self.progress = progress or _NoProgress()
        self.stop = stop or threading.Event()
        self.confirm = confirm
        """Asked before ``restart`` sends a job's events again (the CLI asks the person, or wants ``--yes``);
        ``None``: the caller's ``restart`` is the confirmation (a DAG param)."""

    def run(self) -> RunReport:
        """Load everything not yet acknowledged; returns the report or raises with ``.report`` set."""
        options = self.choice.read_as_written(self.settings.source_options)
        s = self.settings = dataclasses.replace(self.settings, source_options=options)
        started = time.monotonic()
        source = open_source(s.source, s.source_options)
        try:
            columns = list(source.schema().names)
            if not columns:
                return self._empty(source)
            mapping = self.choice.resolve(columns)
            # Before the job is recorded: a mapping error is fixed and run again, not refused as a changed mapping.
            mapping.check_columns(columns)
            source.prepare(mapping)
            real_target = redact(s.target or s.api.base_url.rstrip("/"))
            target = "dry-run" if s.dry_run else real_target
            # Named after the real target: a dry run names the job the real run will have.
            job = s.job or default_job_name(source, s, self.choice, real_target)
            if s.stamp:  # part of the mapping, so of the job: another stamp is another mapping
                mapping = dataclasses.replace(mapping, stamp=((s.stamp.strip(), job),))
            mapping.data_properties(columns)  # two columns (or the stamp) as one property: a mapping error
            where = source_location(source, s.source)
            origin = mapping.origin
            if self.choice.file is not None:
                origin = str(self.choice.file.resolve())
            fingerprint, before = source.fingerprint(), source.fingerprint_before
            identity = JobIdentity(job, where, fingerprint, origin, mapping.fingerprint(), target, before)
            if s.dry_run and not s.allow_overlap:
                warn_of_overlap(s.checkpoint, dataclasses.replace(identity, target=real_target), s.source_options)
            store = open_checkpoint_store(":memory:" if s.dry_run else s.checkpoint, s.api.retry.budget_s)
            if s.restart and not s.dry_run:
                self._confirm_restart(store, job)
            report = RunReport(
                job=job,
                source=source.description,
                mapping=mapping.origin,
                dry_run=s.dry_run,
                checkpoint="(none: dry run)" if s.dry_run else store.location,
                rows_total=source.total_rows(),
                source_options=s.source_options.as_record(),
            )
            try:
                Run(s, self.progress, self.stop, source, mapping, store, identity, report).execute()
            finally:
                report.duration_s = time.monotonic() - started
                finalize(s, store, job, report)
            return report
        finally:
            source.close()

    def _confirm_restart(self, store: CheckpointStore, job: str) -> None:
        sent = store.totals(job).get("events_sent", 0)
        if not sent:
            return
        question = (
            f"--restart sends the {sent:,} events job {job!r} already sent again, under new keys (Spotzee keeps both)"
        )
        log.warning("%s.", question)
        if self.confirm is not None and not self.confirm(question):
            store.close()
            raise ConfigError(f"{question}; not confirmed, nothing sent (pass --yes to confirm without a terminal).")

    def _empty(self, source: Source) -> RunReport:
        """A source without a row or even a column (empty files): nothing to map, nothing to send, no job to keep."""
        s = self.settings
        report = RunReport(
            job=s.job or default_job_name(source, s, self.choice, redact(s.target or s.api.base_url.rstrip("/"))),
            source=source.description,
            mapping=self.choice.label(),
            dry_run=s.dry_run,
            checkpoint="(none: the source is empty)",
            rows_total=0,
            source_options=s.source_options.as_record(),
            status="dry_run" if s.dry_run else "finished",
            source_empty=True,
        )
        write_report(s, report)
        return report
