"""``spotzee-loader SOURCE``: the load's options, its settings resolved once here, signals, the run and its summary."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import orjson

from .. import __version__
from ..config import (
    COMMAND_LINE_KEY_WARNING,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    FILE_FORMATS,
    MAX_EVENTS_PER_REQUEST,
    ApiSettings,
    BudgetSettings,
    LoadSettings,
    NetworkSettings,
    RetrySettings,
    Secret,
    SourceOptions,
    default_checkpoint_path,
    instant,
    plaintext_key_warning,
    request_rate,
)
from ..errors import ConfigError, JobLockedError, SpotzeeLoaderError
from ..mapping import COLUMN_TYPES, PRESET_NAMES
from ..pipeline import BarProgress, Loader, LogProgress, MappingChoice, RunReport
from ..redaction import redact
from .common import COMMANDS, EXIT_INTERRUPTED, EXIT_OK, EXIT_REJECTS, Parser, UsageError, setup_logging
from .mock_server import start_rehearsal
from .summary import print_summary


def _load_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="spotzee-loader",
        usage="spotzee-loader SOURCE [options]\n       spotzee-loader {status,verify,resend,mock-server} ...",
        description=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        help="Parquet, CSV or JSON Lines file (plain, .gz, .zst), directory, glob, s3:// gs:// az:// URL, "
        "or database URL",
    )
    p.add_argument(
        "--format",
        choices=FILE_FORMATS,
        help="file format when the names do not tell (a Segment archive's *.gz files are jsonl)",
    )
    db = p.add_argument_group("database sources (SOURCE is postgresql://..., duckdb:///file.duckdb, ...)")
    q = db.add_mutually_exclusive_group()
    q.add_argument("--table", help="table to read, optionally schema-qualified (quoted for you)")
    q.add_argument("--sql", help="query to read; may use :since and :until")
    q.add_argument("--sql-file", type=Path, help="file holding the query")
    db.add_argument(
        "--since",
        type=instant,
        help="load rows with created_at >= SINCE (date or ISO time; UTC unless it has an offset); files too: "
        "rows outside are skipped and counted, row groups wholly outside are not read",
    )
    db.add_argument("--until", type=instant, help="load rows with created_at < UNTIL (the cutover)")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--mapping", type=Path, help="TOML mapping file")
    m.add_argument("--preset", choices=PRESET_NAMES, help="built-in mapping (detected from the columns if omitted)")
    # resend's: how the original load typed a dead letter's columns (JSON object column -> type).
    p.add_argument("--column-types", type=_column_types, default=(), help=argparse.SUPPRESS)
    p.add_argument("--api-key", help="Spotzee secret key (default: $SPOTZEE_API_KEY)")
    p.add_argument("--base-url", help=f"API base URL (default: $SPOTZEE_BASE_URL or {DEFAULT_BASE_URL})")
    p.add_argument("--checkpoint", help=f"checkpoint store (default: {default_checkpoint_path()})")
    p.add_argument("--job", help="checkpoint job name (default: derived from source, mapping and target)")
    p.add_argument("--restart", action="store_true", help="forget the job's checkpoint and send everything again")
    p.add_argument("--yes", action="store_true", help="confirm --restart without being asked (no terminal)")
    p.add_argument("--dead-letter", type=Path, help="JSON Lines file of rejected rows")
    p.add_argument("--report", type=Path, help="write the run report (JSON) here")
    p.add_argument("--dry-run", action="store_true", help="map and validate, send nothing, keep no checkpoint")
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="send the events of the next N rows of the job and stop (exit 0); the same command without it "
        "carries on from there, nothing sent twice",
    )
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="send rows another job of the checkpoint store already sent to the same target (Spotzee keeps both)",
    )
    p.add_argument(
        "--no-live-journeys",
        action="store_true",
        help="refuse to send while any journey of the Spotzee project is live (GET /journeys), naming them",
    )
    p.add_argument(
        "--stamp",
        metavar="PROPERTY",
        help="add PROPERTY = the job's name to every event's data, so journeys and segments can leave replayed "
        "events out (part of the job: changing it is a changed mapping)",
    )
    p.add_argument("--output", type=Path, help="with --dry-run: write the events as JSON Lines")
    p.add_argument(
        "--mock-server",
        action="store_true",
        help="rehearse: send to a local mock Spotzee started for this run (no account needed)",
    )
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="requests in flight")
    p.add_argument(
        "--rate-limit",
        type=request_rate,
        default=DEFAULT_RATE_LIMIT,
        help="the whole API budget of this egress IP, reads included, in requests per second or per minute "
        "(7500/min), shared live with the other loads of the same --budget; Spotzee blocks the IP for 120 s past "
        "8,000 a minute (0 = unthrottled; default: %(default)s/s = 7,500/min)",
    )
    p.add_argument(
        "--confirm-wait",
        type=float,
        default=RetrySettings.confirm_wait_s,
        help="seconds to wait for Spotzee to show a batch that went out but got no answer, before sending its "
        "missing events again (default: %(default)s)",
    )
    p.add_argument(
        "--budget",
        help="name of the API budget this load shares live with the others sending now (one per egress IP; "
        "default: $SPOTZEE_BUDGET or 'default'); --rate-limit is the whole budget",
    )
    p.add_argument("--max-rejected", type=int, default=0, help="rejected rows tolerated before exit 3")
    p.add_argument(
        "--retry-budget",
        type=float,
        default=RetrySettings.budget_s,
        help="seconds one batch may keep failing before the run stops (default: %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=RetrySettings.timeout_s, help="read timeout per request")
    p.add_argument("--chunk-size", type=int, default=MAX_EVENTS_PER_REQUEST, help=argparse.SUPPRESS)
    p.add_argument("--page-rows", type=int, default=SourceOptions.page_rows, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    p.add_argument("-q", "--quiet", action="count", default=0, help="less logging, no progress bar")
    p.add_argument("--version", action="version", version=f"spotzee-loader {__version__}")
    return p


def _column_types(text: str) -> tuple[tuple[str, str], ...]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and v in COLUMN_TYPES for k, v in value.items()):
        raise argparse.ArgumentTypeError(f"give a JSON object of column names to types ({', '.join(COLUMN_TYPES)})")
    return tuple(value.items())


def _source_options(args: argparse.Namespace) -> SourceOptions:
    sql = args.sql
    if args.sql_file is not None:
        try:
            sql = args.sql_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --sql-file {args.sql_file} ({exc.strerror}).") from None
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until (the window is [since, until)).")
    return SourceOptions(
        table=args.table,
        sql=sql.strip().rstrip(";") if sql else None,
        since=args.since,
        until=args.until,
        page_rows=args.page_rows,
        file_format=args.format,
        retry_budget_s=args.retry_budget,
    )


def _settings(args: argparse.Namespace, env: dict[str, str]) -> LoadSettings:
    if args.output is not None and not args.dry_run:
        raise UsageError("--output only goes with --dry-run.")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1 row.")
    if args.stamp is not None and not args.stamp.strip():
        raise UsageError("--stamp needs a property name, e.g. --stamp backfill_job.")
    if args.concurrency < 1 or args.rate_limit < 0 or args.max_rejected < 0:
        raise UsageError("--concurrency must be at least 1; --rate-limit and --max-rejected at least 0.")
    if not 1 <= args.chunk_size <= MAX_EVENTS_PER_REQUEST:
        raise UsageError(f"--chunk-size must be between 1 and {MAX_EVENTS_PER_REQUEST}.")
    key = args.api_key or env.get("SPOTZEE_API_KEY", "")
    if not key and not (args.dry_run or args.mock_server):
        raise UsageError(
            "no API key: pass --api-key or set SPOTZEE_API_KEY (or rehearse with --dry-run or --mock-server)."
        )
    retry = RetrySettings(budget_s=args.retry_budget, timeout_s=args.timeout, confirm_wait_s=args.confirm_wait)
    api = ApiSettings(
        api_key=Secret(key),
        base_url=args.base_url or env.get("SPOTZEE_BASE_URL") or DEFAULT_BASE_URL,
        concurrency=args.concurrency,
        rate_limit=args.rate_limit,
        retry=retry,
        network=NetworkSettings.from_env(env),
    )
    return LoadSettings(
        source=args.source,
        api=api,
        checkpoint=args.checkpoint or str(default_checkpoint_path()),
        job=args.job,
        restart=args.restart,
        dead_letter=args.dead_letter,
        report=args.report,
        dry_run=args.dry_run,
        output=args.output,
        source_options=_source_options(args),
        max_rejected=args.max_rejected,
        limit=args.limit,
        stamp=args.stamp,
        no_live_journeys=args.no_live_journeys,
        allow_overlap=args.allow_overlap,
        chunk_size=args.chunk_size,
        budget=BudgetSettings(name=args.budget or env.get("SPOTZEE_BUDGET") or BudgetSettings.name),
    )


def _confirmer(yes: bool) -> Callable[[str], bool]:
    """``--restart``'s confirmation: ``--yes``, else the person at the terminal, else none (the run stops)."""

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return input(f"{question}. Send them again? [y/N] ").strip().lower() in ("y", "yes")

    return confirm


def _install_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            print("Stopping now; acknowledged chunks are checkpointed, re-run to resume.", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        stop.set()
        print(
            "Stopping: finishing the requests in flight and saving the checkpoint (signal again to abandon them).",
            file=sys.stderr,
        )

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run_load(argv: Sequence[str], env: dict[str, str]) -> int:
    args = _load_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    settings = _settings(args, env)
    if args.api_key:
        print(COMMAND_LINE_KEY_WARNING, file=sys.stderr)
    mock = None
    if args.mock_server:
        mock, settings = start_rehearsal(settings)
    warning = plaintext_key_warning(settings.api.base_url)
    if warning and not settings.dry_run:
        logging.getLogger("spotzee_loader").warning(warning)
    if not settings.dry_run:
        print(f"Checkpoint store: {redact(settings.checkpoint)}")
    stop = threading.Event()
    _install_signals(stop)
    progress = BarProgress() if sys.stderr.isatty() and not args.quiet else LogProgress()
    report: RunReport | None = None
    try:
        choice = MappingChoice(args.mapping, args.preset, args.column_types)
        report = Loader(settings, choice, progress=progress, stop=stop, confirm=_confirmer(args.yes)).run()
    except ConfigError:
        raise  # nothing was sent: the error sentence says it all
    except JobLockedError:
        raise  # another process runs the job: nothing of this run to sum up, the sentence says it all
    except SpotzeeLoaderError as exc:
        report = getattr(exc, "report", None)
        raise
    finally:
        if report is not None:
            print_summary(report)
        if mock is not None:
            print(f"The mock Spotzee recorded {mock.event_count:,} events.")
            mock.stop()
    return EXIT_REJECTS if report.job_totals.get("rejected", report.rejected) > settings.max_rejected else EXIT_OK
