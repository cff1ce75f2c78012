"""``spotzee-loader`` and ``python -m spotzee_loader``: one command or another, each outcome an exit code and a
sentence, never a traceback."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence

from ..config import (
    default_checkpoint_path,
    use_compact_memory_pool,
)
from ..errors import ConfigError, InterruptedRunError, SpotzeeLoaderError
from ..redaction import redact
from .common import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_USAGE, Parser, UsageError
from .load import run_load
from .mock_server import run_mock_server


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spotzee-loader`` and ``python -m spotzee_loader``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    use_compact_memory_pool(env)
    try:
        if argv and argv[0] == "mock-server":
            return run_mock_server(argv[1:])
        if argv and argv[0] in ("status", "verify", "resend"):
            from .. import operate

            checkpoint = str(default_checkpoint_path())
            if argv[0] == "status":
                return operate.run_status(argv[1:], Parser, checkpoint)
            if argv[0] == "verify":
                return operate.run_verify(argv[1:], Parser, checkpoint, env)
            return operate.run_resend(argv[1:], Parser, checkpoint, lambda a: run_load(a, env))
        return run_load(argv, env)
    except UsageError as exc:
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
