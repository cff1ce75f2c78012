"""Files the loader writes for a person (dead letters, the report, ``--output``): a file is replaced whole or not
at all, and a full disk or a refused folder is one sentence naming the file, never a traceback."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import OutputWriteError


@contextlib.contextmanager
def writing(what: str, path: object, advice: str) -> Iterator[None]:
    """Turn an ``OSError`` inside into ``OutputWriteError``: "cannot write {what} to {path} (why); {advice}"."""
    try:
        yield
    except OSError as exc:
        raise OutputWriteError(f"cannot write {what} to {path} ({exc.strerror or exc}); {advice}") from None


def write_atomically(path: Path, parts: Iterable[bytes]) -> int:
    """Write ``parts`` to a temp file beside ``path``, sync it, then rename it over ``path``; how many parts.

    A failure (a full disk) removes the temp file: ``path`` keeps its last complete version, never half a new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with tmp.open("wb") as f:
            for part in parts:
                f.write(part)
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
