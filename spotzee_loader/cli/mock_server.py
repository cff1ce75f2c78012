"""``spotzee-loader mock-server``: the local Spotzee stand-in, served until Ctrl-C."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import LoadSettings, Secret, rehearsal_checkpoint_path
from ..errors import ConfigError
from .common import EXIT_OK, Parser, UsageError

if TYPE_CHECKING:
    from ..api import MockSpotzee


def run_mock_server(argv: Sequence[str]) -> int:
    from ..api import FAULT_KINDS, RETRY_AFTER_FORMS, MockConfig, MockSpotzee

    p = Parser(
        prog="spotzee-loader mock-server",
        description="Serve a local stand-in of Spotzee's client API (POST /api/client/events and the reads the loader "
        "makes), answering as the published contract does. Point a load at it with --base-url "
        "http://HOST:PORT/api/client and --api-key KEY.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--port", type=int, default=8787, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    p.add_argument("--api-key", default="sk_test", help="the one key it accepts; others get 401 (default: %(default)s)")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of POSTs answered with a fault")
    p.add_argument("--faults", default=",".join(FAULT_KINDS), help="fault kinds to draw from: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="random seed of the faults, for a repeatable run")
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
        raise UsageError(f"unknown fault kind(s) {', '.join(unknown)}; choose from {', '.join(FAULT_KINDS)}.")
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
    try:
        mock = MockSpotzee(config, host=args.host, port=args.port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); another process may hold the port: "
            "choose another with --port (0 picks a free one)."
        ) from None
    print(f"Mock Spotzee listening on {mock.base_url} (API key {args.api_key}); Ctrl-C to stop.", flush=True)
    try:
        mock.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        mock.httpd.server_close()
    return EXIT_OK


def start_rehearsal(settings: LoadSettings) -> tuple[MockSpotzee, LoadSettings]:
    """``--mock-server``: a mock Spotzee for this run, and the settings that send to it, with a checkpoint store of
    the rehearsal's own beside the real one (emptied of the last rehearsal's files), so a rehearsal repeats."""
    from ..api import MockConfig, MockSpotzee

    mock = MockSpotzee(MockConfig(api_key="sk_mock_rehearsal")).start()
    api = dataclasses.replace(settings.api, api_key=Secret("sk_mock_rehearsal"), base_url=mock.base_url)
    store = rehearsal_checkpoint_path(settings.checkpoint)
    for path in [*store.parent.glob(f"{store.name}*"), *store.parent.glob("dead-letter/*.jsonl")]:
        path.unlink(missing_ok=True)
    print(f"Rehearsal: sending to a local mock Spotzee at {mock.base_url}; nothing leaves this machine.")
    print(f"Rehearsal state (checkpoint, dead letters) in {store.parent}, apart from real jobs; each rehearsal "
          "starts afresh.")  # fmt: skip
    return mock, dataclasses.replace(settings, api=api, target="mock-server", checkpoint=str(store))
