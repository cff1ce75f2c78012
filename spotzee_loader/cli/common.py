"""What the command lines share: exit codes, the top-level help, usage errors, logging."""

from __future__ import annotations

import argparse
import logging
import sys

from ..operate import EXIT_DIFFERENCES
from ..redaction import install_log_redaction

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_REJECTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = {
    EXIT_OK: "every row delivered, or rejected within `--max-rejected`",
    EXIT_REJECTS: "the run finished, all valid rows were delivered, but the job rejected more rows than "
    "`--max-rejected`",
    EXIT_FATAL: "stopped by a fatal error: bad API key (401/402/403), the API, the source database, the object store "
    "or the checkpoint store unreachable past the retry budget (a database or object store unreachable when the run "
    "starts: past 30 s), a full disk (checkpoint store, dead letters, report, `--output`), a corrupt row group, source "
    "or mapping changed under the same job, job already running elsewhere. The checkpoint is intact; re-running "
    "resumes",
    EXIT_USAGE: "usage or configuration error (bad option, missing file or column, invalid mapping, a database key "
    "that is missing, NULL or not unique); nothing was sent, or (a duplicate key found mid-table) everything sent is "
    "checkpointed",
    EXIT_INTERRUPTED: "interrupted by SIGTERM / Ctrl-C: requests in flight were finished and checkpointed; re-running "
    "resumes",
    EXIT_DIFFERENCES: "`verify` only: the source and Spotzee's counts differ on some day",
}
"""Every exit code and what it means (the documentation's exit code reference is generated from this)."""


COMMANDS = """Replay historical orders and actions into Spotzee as events with their original time.

commands:
  SOURCE                   load a Parquet file, folder or glob, or a database URL (the options below)
  status [JOB]             every job in the checkpoint store and where it stands
  verify JOB|SOURCE        compare events per name and UTC day with Spotzee's counts (exit 4 on a difference)
  resend DEAD_LETTER.jsonl send fixed dead letters again, under new jobs
  mock-server              serve a local Spotzee stand-in for rehearsals
Each command has its own --help."""


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help).")


def setup_logging(verbose: int, quiet: int) -> None:
    level = logging.INFO - 10 * verbose + 10 * quiet
    logging.basicConfig(
        level=max(logging.DEBUG, level), format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    install_log_redaction()
    # -vv shows every HTTP exchange (method, path, idempotency key and status; never headers or bodies).
    for name in ("spotzee_loader.http", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
