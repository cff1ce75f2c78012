"""What every run ends with, failed or not: the job's totals, the dead-letter file, the job's state, the report."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import orjson

from ..checkpoint import CheckpointStore
from ..config import LoadSettings
from ..errors import CheckpointStoreError, OutputWriteError, SpotzeeLoaderError
from ..files import private_folder, write_atomically, writing
from . import deadletter
from .report import RunReport

log = logging.getLogger(__name__)


def finalize(s: LoadSettings, store: CheckpointStore, job: str, report: RunReport) -> None:
    """Totals, dead-letter export, job state and report file; runs after every run, failed or not.

    The report file is written even when the store or the dead-letter disk fails here; such a failure is raised
    only when the run itself succeeded (a failed run's own error is the one to tell).
    """
    failure: SpotzeeLoaderError | None = None
    succeeded = report.status in ("finished", "nothing_to_do", "dry_run")
    try:
        report.job_totals = store.totals(job)
        # A refused run (another process holds the job) leaves the job's state, last error and dead letters to it.
        held = job in store.held
        previous, report.dead_letter = report.dead_letter, None  # the last run's, until this one writes its own
        dead_letter = s.dead_letter
        if dead_letter is None and not s.dry_run:
            base = Path(s.checkpoint).parent if "://" not in s.checkpoint else Path.cwd()
            dead_letter = base / "dead-letter" / f"{job}.jsonl"
        if held and dead_letter is not None and (report.job_totals.get("rejected") or dead_letter.exists()):
            path, own = dead_letter, s.dead_letter is None
            written = store.retrying(lambda: _export_dead_letters(store, job, path, own, report, previous))
            report.dead_letter = str(written)
        state = "finished" if report.status == "nothing_to_do" else report.status
        if held:
            store.set_state(job, state, report.as_dict(), report.error)
    except (CheckpointStoreError, OutputWriteError) as exc:
        if succeeded:
            failure = exc
            report.status, report.error = "failed", str(exc)
        else:
            log.error("%s", exc)
    finally:
        store.close()
    write_report(s, report)
    if failure is not None:
        raise failure


def write_report(s: LoadSettings, report: RunReport) -> None:
    """The report file, when ``--report`` asks for one."""
    if s.report is not None:
        with writing("the report", s.report, "free space or choose another path. The checkpoint is intact."):
            write_atomically(s.report, [orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2)])


def _export_dead_letters(
    store: CheckpointStore, job: str, path: Path, own_folder: bool, report: RunReport, previous: str | None
) -> Path:
    """Write the job's dead letters to ``path``, or beside it when ``path`` was edited since the loader wrote it
    (a user fixing rows for ``resend``): edits are never written over. Returns where the job's dead letters are
    (``previous``: where the last run wrote them)."""
    advice = (
        f"they are kept in the checkpoint store {store.location}: free space (or choose another --dead-letter), then "
        "re-run the same command to write them."
    )
    with writing("the dead letters", path, advice):
        new = deadletter.digest(record + b"\n" for record in store.rejects(job))
        written = report.dead_letter_sha256
        have = deadletter.file_digest(path)
        if have == new:
            report.dead_letter_sha256 = new
            return path  # already says it all
        # Edited: not what the loader last wrote, or (that digest lost with a store that failed to keep the report)
        # holding a line the loader would not write.
        if have is not None and (
            have != written if written is not None else not deadletter.is_earlier_export(path, store.rejects(job))
        ):
            if new == written:  # nothing new to write: the edited file stays as it is
                log.info("The dead-letter file %s was changed since the loader wrote it; it is kept as it is.", path)
                return Path(previous) if previous and Path(previous).exists() else path
            edited, path = path, path.with_name(f"{path.stem}.{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}{path.suffix}")
            log.warning(
                "The dead-letter file %s was changed since the loader wrote it: your edits are kept, and this "
                "job's dead letters, now %s, are written to %s.",
                edited, f"{report.job_totals.get('rejected', 0):,} row(s)", path,
            )  # fmt: skip
        if own_folder:
            private_folder(path.parent, own=True)  # the loader's folder: versions before made it 0755
        deadletter.export(store.rejects(job), path)
    report.dead_letter_sha256 = new  # set once written: a retried export still knows what the last run wrote
    return path
