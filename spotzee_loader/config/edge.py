"""What the command lines and the DAG tasks read at the edge: the checkpoint's default place, times and rates as
typed, warnings about how the key travels, Arrow's memory pool."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit


def default_checkpoint_path() -> Path:
    """Where the embedded checkpoint store lives unless ``--checkpoint`` says otherwise.

    ``$XDG_STATE_HOME/spotzee-loader/checkpoints.sqlite`` (``~/.local/state/...`` by default):
    per user, outside the working directory, so a re-run from another directory still resumes.
    """
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "spotzee-loader" / "checkpoints.sqlite"


def rehearsal_checkpoint_path(checkpoint: str) -> Path:
    """The store of ``--mock-server`` rehearsals: a ``spotzee-rehearsal`` folder beside the real file store (beside
    the default one for a database store), so a rehearsal never records a job among the real ones."""
    base = Path(checkpoint).parent if "://" not in checkpoint else default_checkpoint_path().parent
    return base / "spotzee-rehearsal" / "checkpoints.sqlite"


COMMAND_LINE_KEY_WARNING = (
    "warning: an API key given with --api-key is visible to other users of this machine (ps) and stays in "
    "your shell history; set SPOTZEE_API_KEY in the environment instead."
)


def request_rate(text: str) -> float:
    """``--rate-limit``: requests per second (``125``, ``125/s``) or per minute (``7500/min``)."""
    number, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0}.get(unit.strip().lower())
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if per is None or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate: give requests per second (125) or per minute (7500/min)"
        )
    return value / per


def instant(text: str) -> dt.datetime:
    """The command lines' time argument: ``2024-01-01`` or ``2024-01-01T06:00:00+02:00`` -> an aware UTC
    datetime (naive means UTC)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or ISO 8601 time") from None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def plaintext_key_warning(base_url: str) -> str | None:
    """A warning when the key would cross a network unencrypted (plain http to anything but loopback)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme.lower() != "http" or host in ("localhost", "::1") or host.startswith("127."):
        return None
    return f"the base URL {base_url} is plain http: the API key would cross the network unencrypted; use https."


def use_compact_memory_pool(env: dict[str, str]) -> None:
    """Arrow's jemalloc pool (else the system allocator) unless ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise.

    mimalloc, pyarrow's default, keeps freed batch buffers around: a TPC-H scale-1 load peaked at 271 MiB
    with it and 233 MiB with jemalloc, at the same speed.
    """
    import pyarrow as pa

    if env.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow build without jemalloc (Windows)
        pa.set_memory_pool(pa.system_memory_pool())
