"""The operating commands' command line: ``status``, ``verify`` and ``resend`` (the load's is ``spotzee_loader.cli``).

Prints, like the top-level ``cli`` that dispatches to it; the modules beside it return data.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from ..checkpoint import open_checkpoint_store
from ..config import (
    COMMAND_LINE_KEY_WARNING,
    DEFAULT_BASE_URL,
    ApiSettings,
    BudgetSettings,
    NetworkSettings,
    RetrySettings,
    Secret,
    instant,
)
from ..errors import ConfigError
from ..mapping import PRESET_NAMES
from ..pipeline import MappingChoice
from ..redaction import redact
from .resend import prepare_resend
from .status import format_statuses, job_statuses
from .verify import STORE_PATIENCE_S, VerifyRequest, verify_target

EXIT_DIFFERENCES = 4
SETTLING_NOTE = (
    "Spotzee processes events asynchronously: counts for events sent in the last few minutes may still be "
    "settling, so run verify again later before acting on a shortfall. A lasting shortfall can also be rows "
    "Spotzee refused (see the job's dead-letter file)."
)
SURPLUS_NOTE = (
    "A surplus (Spotzee counts more than the source) means events recorded twice: a request resent after its "
    "answer was lost (the run's report lists under maybe_doubled the batches it could not check), a job run again "
    "under another name or with --restart, or the same rows loaded by two jobs. Spotzee's API cannot delete events."
)


def run_status(argv: Sequence[str], parser: Callable[..., argparse.ArgumentParser], checkpoint: str) -> int:
    p = parser(prog="spotzee-loader status", description="Every job in the checkpoint store and where it stands.")
    p.add_argument("job", nargs="?", help="only this job")
    p.add_argument("--checkpoint", default=checkpoint, help="checkpoint store (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    args = p.parse_args(argv)
    store = open_checkpoint_store(args.checkpoint, STORE_PATIENCE_S)
    try:
        statuses = [s for s in job_statuses(store) if args.job in (None, s["job"])]
    finally:
        store.close()
    if args.job and not statuses:
        raise ConfigError(f"there is no job {args.job!r} in {args.checkpoint}; run status without a job to list them.")
    if args.json:
        print(orjson.dumps(statuses, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"Checkpoint store: {redact(args.checkpoint)}")
        print("\n".join(format_statuses(statuses)))
    return 0


def _api(args: argparse.Namespace, env: dict[str, str], target: str | None) -> ApiSettings:
    if args.api_key:
        print(COMMAND_LINE_KEY_WARNING, file=sys.stderr)
    key = args.api_key or env.get("SPOTZEE_API_KEY", "")
    if not key:
        raise ConfigError("no API key: pass --api-key or set SPOTZEE_API_KEY.")
    # The job's own target first: verify JOB checks where that job sent its events, whatever the shell says now.
    base = args.base_url or (target if target and "://" in target else None) or env.get("SPOTZEE_BASE_URL")
    network = NetworkSettings.from_env(env)
    return ApiSettings(api_key=Secret(key), base_url=base or DEFAULT_BASE_URL, retry=RetrySettings(), network=network)


def run_verify(
    argv: Sequence[str], parser: Callable[..., argparse.ArgumentParser], checkpoint: str, env: dict[str, str]
) -> int:
    p = parser(
        prog="spotzee-loader verify",
        description="Compare events per name and day in the source with what Spotzee reports.",
    )
    p.add_argument("target", help="a job name in the checkpoint store, or a source (file, folder, glob, URL)")
    p.add_argument("--checkpoint", default=checkpoint, help="checkpoint store (default: %(default)s)")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--mapping", type=Path, help="TOML mapping file (default: the job's)")
    m.add_argument("--preset", choices=PRESET_NAMES, help="built-in mapping (default: the job's)")
    p.add_argument("--table", help="for a database source: the table to count (default: the job's)")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--sql", help="for a database source: the query to count (default: the job's)")
    q.add_argument("--sql-file", type=Path, help="for a database source: a file holding the query to count")
    p.add_argument("--api-key", help="Spotzee secret key (default: $SPOTZEE_API_KEY)")
    p.add_argument("--base-url", help="API base URL (default: the job's target, else $SPOTZEE_BASE_URL)")
    p.add_argument("--since", type=instant, help="only events with created_at >= SINCE (date or ISO time, UTC)")
    p.add_argument("--until", type=instant, help="only events with created_at < UNTIL")
    p.add_argument("--all", action="store_true", help="show every (day, event) pair, not only those that differ")
    p.add_argument("--json", action="store_true", help="machine-readable output (every pair)")
    args = p.parse_args(argv)
    if args.sql_file is not None:
        try:
            args.sql = args.sql_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read --sql-file {args.sql_file} ({exc.strerror}).") from None
    if args.since and args.until and args.since >= args.until:
        raise ConfigError("--since must be before --until (the window is [since, until)).")

    request = VerifyRequest(
        target=args.target,
        checkpoint=args.checkpoint,
        choice=MappingChoice(args.mapping, args.preset) if args.mapping or args.preset else None,
        table=args.table,
        sql=args.sql,
        since=args.since,
        until=args.until,
        budget=env.get("SPOTZEE_BUDGET") or BudgetSettings.name,
    )
    done = verify_target(request, lambda target: _api(args, env, target))
    if done.upto is not None and not args.json:
        print(f"Job {args.target} stopped at --limit: verifying its first {done.upto:,} rows, what it sent so far.")
    if not done.rows:
        print(
            "The source gives no valid events"
            + (" in that window" if args.since or args.until else "")
            + ": nothing to verify."
        )
        return 0
    rows, days, names, spec, api = done.rows, done.days, done.names, done.source, done.api
    differing = [r for r in rows if r["difference"]]
    if args.json:
        summary = {"source": redact(spec), "from": days[0], "to": days[-1], "days": rows, "differences": len(differing)}
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        where = f"{redact(spec)} against {redact(api.base_url)}"
        print(f"Verifying {where}: days {days[0]} to {days[-1]}, events {', '.join(names)}")
        total_source, total_spotzee = sum(r["source"] for r in rows), sum(r["spotzee"] for r in rows)
        pairs = f"(day, event) pairs over {len({r['day'] for r in rows}):,} day(s)"
        shown = rows if args.all else differing
        if shown:  # the days that differ (every day with --all), then the totals
            print(f"{'DAY':<12} {'EVENT':<30} {'SOURCE':>10} {'SPOTZEE':>10} {'DIFF':>8}")
            for r in shown:
                mark = "" if not r["difference"] else "  <-"
                print(
                    f"{r['day']:<12} {r['event_name']:<30} {r['source']:>10,} {r['spotzee']:>10,} "
                    f"{r['difference']:>+8,}{mark}"
                )
            total = total_spotzee - total_source
            print(f"{'total':<12} {'':<30} {total_source:>10,} {total_spotzee:>10,} {total:>+8,}")
        if differing:
            others = "" if args.all else f"; the other {len(rows) - len(differing):,} match (--all shows them)"
            print(f"{len(differing):,} of {len(rows):,} {pairs} differ{others}.")
            if any(r["difference"] < 0 for r in differing):
                print(SETTLING_NOTE)
            if any(r["difference"] > 0 for r in differing):
                print(SURPLUS_NOTE)
        else:
            print(f"All {len(rows):,} {pairs} match: {total_source:,} events in the source and in Spotzee.")
    return EXIT_DIFFERENCES if differing else 0


def run_resend(
    argv: Sequence[str],
    parser: Callable[..., argparse.ArgumentParser],
    checkpoint: str,
    load: Callable[[Sequence[str]], int],
) -> int:
    p = parser(
        prog="spotzee-loader resend",
        description="Send the rows of a (fixed) dead-letter file again, under new jobs. Other options are "
        "those of a load (--api-key, --base-url, --dry-run, --report, --concurrency, ...).",
    )
    p.add_argument("dead_letter", type=Path, help="the JSON Lines dead-letter file")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--mapping", type=Path, help="mapping for the rows the loader refused (default: the job's)")
    m.add_argument("--preset", choices=PRESET_NAMES, help="built-in mapping for the rows the loader refused")
    p.add_argument("--checkpoint", default=checkpoint, help="the store of the original jobs (default: %(default)s)")
    args, rest = p.parse_known_args(argv)
    workdir = Path(args.checkpoint).parent if "://" not in args.checkpoint else Path.cwd()
    parts = prepare_resend(args.dead_letter, workdir / "resend")
    if not parts:
        print(f"{args.dead_letter} holds no rows to send.")
        return 0
    codes = []
    for part in parts:
        mapping: list[str]
        if part.mapping is not None:
            mapping = ["--mapping", str(part.mapping)]
        elif args.mapping or args.preset:
            mapping = ["--mapping", str(args.mapping)] if args.mapping else ["--preset", args.preset]
        else:
            mapping = _original_mapping(args.checkpoint, part.jobs)
        stem = args.dead_letter.name.removesuffix(".jsonl")
        dead_letter = args.dead_letter.with_name(f"{stem}.resend-{part.kind}.jsonl")
        print(f"Resending {part.kind} from {args.dead_letter} as job {part.job}:")
        argv_part = [str(part.path), "--job", part.job, *mapping, "--checkpoint", args.checkpoint]
        if part.types:
            argv_part += ["--column-types", orjson.dumps(dict(part.types)).decode()]
        codes.append(load([*argv_part, "--dead-letter", str(dead_letter), *rest]))
    return max(codes)


def _original_mapping(checkpoint: str, jobs: frozenset[str]) -> list[str]:
    store = open_checkpoint_store(checkpoint, STORE_PATIENCE_S)
    try:
        known = {j["job"]: j["mapping"] for j in store.jobs()}
    finally:
        store.close()
    origins = {known[j] for j in jobs if j in known}
    if len(origins) != 1:
        raise ConfigError(
            "cannot tell which mapping the refused rows need (their job is not in the checkpoint store, or they "
            "come from several jobs); pass --mapping or --preset."
        )
    origin = origins.pop()
    if origin.startswith("preset:"):
        return ["--preset", origin.split(":", 1)[1]]
    if not os.path.exists(origin):
        raise ConfigError(f"the job's mapping file {origin} is gone; pass --mapping or --preset.")
    return ["--mapping", origin]
