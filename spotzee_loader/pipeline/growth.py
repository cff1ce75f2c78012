"""A file source against what its job read before: the new rows of a file that grew and new files of a folder go on
under the same job; a file changed in place stops it, named (``sources.stock`` decides which is which)."""

from __future__ import annotations

import logging

from ..checkpoint import RESTART_OR_RENAME, CheckpointStore
from ..errors import CheckpointMismatchError
from ..sources import FileRecord, Source
from .report import RunReport

log = logging.getLogger(__name__)


def check_files(store: CheckpointStore, source: Source, job: str, report: RunReport) -> None:
    """Stop when a file the job read changed in place; else record the files as this run reads them."""
    earlier = {name: FileRecord.from_json(text) for name, text in store.files(job).items()}
    stock = source.take_stock(earlier)
    if stock is None:
        return
    if stock.changed:
        raise CheckpointMismatchError(
            f"the source of job {job!r} changed since it was checkpointed: {'; '.join(stock.changed)}. Put it back "
            f"as it was to resume, or {RESTART_OR_RENAME}"
        )
    for name, grown in stock.grown:
        log.info("%s grew by %s bytes since the job's last run: its new rows go on from where it ended.", name, grown)
    if stock.added:
        shown = ", ".join(stock.added[:5]) + (f" and {len(stock.added) - 5:,} more" if len(stock.added) > 5 else "")
        log.info("%s new file(s) since the job's last run, read after those it read: %s.", len(stock.added), shown)
    report.files_grown = [name for name, _ in stock.grown]
    report.files_added = list(stock.added)
    store.record_files(job, {record.name: record.as_json() for record in stock.records})
