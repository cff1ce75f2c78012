"""The command line: parse, run, show progress and a summary, map outcomes to exit codes.

The only module that prints. Exit codes: 0 all delivered (rejects within --max-rejected), 3 more
rejects than allowed, 1 fatal stop (checkpoint intact, re-run resumes), 2 usage or configuration
error, 130 interrupted (checkpoint saved).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import __version__
from .config import (
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
    use_compact_memory_pool,
)
from .errors import ConfigError, InterruptedRunError, SpotzeeLoaderError
from .mapping import PRESET_NAMES
from .pipeline import JOURNEY_WARNING, Loader, MappingChoice
from .progress import BarProgress, LogProgress
from .redaction import install_log_redaction, redact
from .report import RunReport

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_REJECTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


COMMANDS = """Replay historical orders and actions into Spotzee as events with their original time.

commands:
  SOURCE                   load a Parquet file, folder or glob, or a database URL (the options below)
  status [JOB]             every job in the checkpoint store and where it stands
  verify JOB|SOURCE        compare events per name and UTC day with Spotzee's counts (exit 4 on a difference)
  resend DEAD_LETTER.jsonl send fixed dead letters again, under new jobs
  mock-server              serve a local Spotzee stand-in for rehearsals
Each command has its own --help."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message} (see --help).")


def _load_parser() -> argparse.ArgumentParser:
    p = _Parser(
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
    p.add_argument("--api-key", help="Spotzee secret key (default: $SPOTZEE_API_KEY)")
    p.add_argument("--base-url", help=f"API base URL (default: $SPOTZEE_BASE_URL or {DEFAULT_BASE_URL})")
    p.add_argument("--checkpoint", help=f"checkpoint store (default: {default_checkpoint_path()})")
    p.add_argument("--job", help="checkpoint job name (default: derived from source, mapping and target)")
    p.add_argument("--restart", action="store_true", help="forget the job's checkpoint and send everything again")
    p.add_argument("--dead-letter", type=Path, help="JSON Lines file of rejected rows")
    p.add_argument("--report", type=Path, help="write the run report (JSON) here")
    p.add_argument("--dry-run", action="store_true", help="map and validate, send nothing, keep no checkpoint")
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


def _source_options(args: argparse.Namespace) -> SourceOptions:
    sql = args.sql
    if args.sql_file is not None:
        try:
            sql = args.sql_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise _UsageError(f"cannot read --sql-file {args.sql_file} ({exc.strerror}).") from None
    if args.since and args.until and args.since >= args.until:
        raise _UsageError("--since must be before --until (the window is [since, until)).")
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
        raise _UsageError("--output only goes with --dry-run.")
    if args.concurrency < 1 or args.rate_limit < 0 or args.max_rejected < 0:
        raise _UsageError("--concurrency must be at least 1; --rate-limit and --max-rejected at least 0.")
    if not 1 <= args.chunk_size <= MAX_EVENTS_PER_REQUEST:
        raise _UsageError(f"--chunk-size must be between 1 and {MAX_EVENTS_PER_REQUEST}.")
    key = args.api_key or env.get("SPOTZEE_API_KEY", "")
    if not key and not (args.dry_run or args.mock_server):
        raise _UsageError(
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
        chunk_size=args.chunk_size,
        budget=BudgetSettings(name=args.budget or env.get("SPOTZEE_BUDGET") or BudgetSettings.name),
    )


def _setup_logging(verbose: int, quiet: int) -> None:
    level = logging.INFO - 10 * verbose + 10 * quiet
    logging.basicConfig(
        level=max(logging.DEBUG, level), format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    install_log_redaction()
    # -vv shows every HTTP exchange (method, path, idempotency key and status; never headers or bodies).
    for name in ("spotzee_loader.http", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def _skipped_rows(r: RunReport, separator: str) -> str:
    """The rows skipped on purpose (window, ``only``), or nothing when there are none."""
    out = f"{separator}outside the window {r.rows_outside_window:,}" if r.rows_outside_window else ""
    if r.rows_filtered:
        values = ", ".join(f"{k} {v:,}" for k, v in sorted(r.rows_filtered_by_value.items()))
        out += f"{separator}left out by the mapping's only {r.rows_filtered:,} ({values})"
    return out


def _print_summary(report: RunReport) -> None:
    r = report
    if r.dry_run:
        print(f"Dry run of job {r.job}: nothing sent, no checkpoint written.")
        outside = _skipped_rows(r, "; ")
        print(f"  rows read {r.rows_read:,}; events {r.events_sent:,}; rejected {r.rejected:,}{outside}")
        names = ", ".join(f"{n} {c:,}" for n, c in r.events_by_name.most_common())
        print(f"  events by name: {names or '-'}")
        print(f"  created_at from {r.first_created_at or '-'} to {r.last_created_at or '-'}")
        if r.rejects_by_reason:
            print("  rejects by reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.rejects_by_reason.items())))
        if r.dead_letter:
            print(f"  rejected rows written to {r.dead_letter}")
        print(JOURNEY_WARNING)
        return
    if r.status == "nothing_to_do":
        print(
            f"Job {r.job} already finished: nothing to send ({r.job_totals.get('events_sent', 0):,} events "
            "sent earlier). Use --restart to send everything again."
        )
        return
    print(
        f"Job {r.job}: {r.status}. rows read {r.rows_read:,} (already sent {r.rows_skipped:,}"
        + _skipped_rows(r, ", ")
        + f"), events sent "
        f"{r.events_sent:,}, rejected {r.rejected:,}, requests {r.requests:,}, retries {r.retries:,}, "
        f"{r.duration_s:.1f}s ({r.as_dict()['events_per_s'] or 0:,.0f} events/s)."
    )
    if r.rejects_by_reason:
        print("  rejects by reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.rejects_by_reason.items())))
    if r.dead_letter:
        print(f"  rejected rows: {r.dead_letter}")
    _print_ambiguity(r)
    t = r.job_totals
    print(
        f"  checkpoint: {redact(r.checkpoint)}; the job so far: {t.get('rows_done', 0):,} rows done, "
        f"{t.get('events_sent', 0):,} events sent, {t.get('rejected', 0):,} rejected"
    )


def _print_ambiguity(r: RunReport) -> None:
    """What became of the requests whose answers were lost, and every event that may now be in Spotzee twice."""
    if r.blocks:
        print(f"  Spotzee blocked this egress IP {r.blocks:,} time(s) during the run (429); every sender waited it out")
    if not r.ambiguous_requests and not r.maybe_doubled:
        return
    print(
        f"  requests sent without an answer: {r.ambiguous_requests:,}; their events found recorded in Spotzee "
        f"{r.ambiguous_confirmed:,} (not sent again), not found and sent again {r.ambiguous_resent:,} "
        f"({r.reads:,} reads)"
    )
    for entry in r.maybe_doubled:
        span = ""
        if entry.get("first_created_at"):
            span = f", created_at {entry['first_created_at']} to {entry['last_created_at']}"
        names = f", names {', '.join(entry['names'])}" if entry.get("names") else ""
        print(
            f"  MAY BE DOUBLED: chunk {entry['chunk']} ({entry['events']:,} events{span}{names}"
            f"{', key ' + entry['key'] if entry.get('key') else ''}): {entry['why']}"
        )


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
    _setup_logging(args.verbose, args.quiet)
    settings = _settings(args, env)
    if args.api_key:
        print(COMMAND_LINE_KEY_WARNING, file=sys.stderr)
    mock = None
    if args.mock_server:
        from .api import MockConfig, MockSpotzee

        mock = MockSpotzee(MockConfig(api_key="sk_mock_rehearsal")).start()
        api = dataclasses.replace(settings.api, api_key=Secret("sk_mock_rehearsal"), base_url=mock.base_url)
        settings = dataclasses.replace(settings, api=api, target="mock-server")
        print(f"Rehearsal: sending to a local mock Spotzee at {mock.base_url}; nothing leaves this machine.")
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
        report = Loader(settings, MappingChoice(args.mapping, args.preset), progress=progress, stop=stop).run()
    except ConfigError:
        raise  # nothing was sent: the error sentence says it all
    except SpotzeeLoaderError as exc:
        report = getattr(exc, "report", None)
        raise
    finally:
        if report is not None:
            _print_summary(report)
        if mock is not None:
            print(f"The mock Spotzee recorded {mock.event_count:,} events.")
            mock.stop()
    return EXIT_REJECTS if report.job_totals.get("rejected", report.rejected) > settings.max_rejected else EXIT_OK


def run_mock_server(argv: Sequence[str]) -> int:
    from .api import FAULT_KINDS, RETRY_AFTER_FORMS, MockConfig, MockSpotzee

    p = _Parser(prog="spotzee-loader mock-server", description="Serve a local Spotzee events API stand-in.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--api-key", default="sk_test")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of POSTs answered with a fault")
    p.add_argument("--faults", default=",".join(FAULT_KINDS), help="fault kinds to draw from: %(default)s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stall", type=float, default=2.0, help="seconds a 'stall' fault waits")
    p.add_argument(
        "--no-ip-limits",
        action="store_true",
        help="do not enforce Spotzee's per-IP rules (8,000 requests a minute, else a 120 s block; 4,000 per 10 s, "
        "else 10 s): for raw-throughput benchmarks only",
    )
    p.add_argument(
        "--block-retry-after",
        choices=RETRY_AFTER_FORMS,
        default="seconds",
        help="how a blocked address's 429 says when the block lifts (default: %(default)s)",
    )
    p.add_argument(
        "--key-rate-limit",
        type=int,
        default=0,
        help="requests per --key-rate-window for one API key, announced in X-RateLimit-* headers, 429 beyond (0: off)",
    )
    p.add_argument("--key-rate-window", type=float, default=60.0, help="seconds of the per-key window")
    p.add_argument(
        "--enforce-idempotency",
        action="store_true",
        help="replay a known Idempotency-Key (off by default: Spotzee's Main API ignores the header today)",
    )
    p.add_argument(
        "--processing-delay",
        type=float,
        default=0.2,
        help="seconds before a recorded event shows in the reads (default: %(default)s)",
    )
    p.add_argument("--reject-name", action="append", default=[], help="event name to refuse with 422")
    p.add_argument("--no-store", action="store_true", help="count events instead of keeping them")
    args = p.parse_args(argv)
    kinds = tuple(k for k in args.faults.split(",") if k)
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise _UsageError(f"unknown fault kind(s) {', '.join(unknown)}; choose from {', '.join(FAULT_KINDS)}.")
    config = MockConfig(
        api_key=args.api_key,
        fail_rate=args.fail_rate,
        faults=kinds,
        seed=args.seed,
        stall_s=args.stall,
        ip_limits=not args.no_ip_limits,
        block_retry_after=args.block_retry_after,
        key_rate_limit=args.key_rate_limit,
        key_rate_window_s=args.key_rate_window,
        enforce_idempotency=args.enforce_idempotency,
        processing_delay_s=args.processing_delay,
        reject_names=args.reject_name,
        store_events=not args.no_store,
    )
    mock = MockSpotzee(config, host=args.host, port=args.port)
    print(f"Mock Spotzee listening on {mock.base_url} (API key {args.api_key}); Ctrl-C to stop.", flush=True)
    try:
        mock.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        mock.httpd.server_close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spotzee-loader`` and ``python -m spotzee_loader``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    use_compact_memory_pool(env)
    try:
        if argv and argv[0] == "mock-server":
            return run_mock_server(argv[1:])
        if argv and argv[0] in ("status", "verify", "resend"):
            from . import operate

            checkpoint = str(default_checkpoint_path())
            if argv[0] == "status":
                return operate.run_status(argv[1:], _Parser, checkpoint)
            if argv[0] == "verify":
                return operate.run_verify(argv[1:], _Parser, checkpoint, env)
            return operate.run_resend(argv[1:], _Parser, checkpoint, lambda a: run_load(a, env))
        return run_load(argv, env)
    except _UsageError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpotzeeLoaderError as exc:
        if isinstance(exc, InterruptedRunError):
            print(f"interrupted: {exc}", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FATAL
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one sentence, not a traceback
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            print(redact(traceback.format_exc()), file=sys.stderr, end="")
        print(
            f"internal error: {type(exc).__name__}: {redact(str(exc))}. The checkpoint is intact; re-run with -v for "
            "details and report this.",
            file=sys.stderr,
        )
        return EXIT_FATAL
