"""Files the loader writes for a person (dead letters, the report, ``--output``): a file is replaced whole or not
at all, and a full disk or a refused folder is one sentence naming the file, never a traceback.

They hold customer rows (emails, phones), so each is created readable by its owner only (0600) and each folder
the loader creates for them is 0700, whatever the umask: the modes are set after creation, not asked of it.
"""

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


PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(folder: Path, own: bool = False) -> Path:
    """Create ``folder`` and its missing parents, each 0700; ``own``: the loader's own folder, made 0700 even if
    it exists (a user's existing folder is left as it is)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another load made it meanwhile: it is set below all the same
            created.mkdir()
        os.chmod(created, PRIVATE_FOLDER)
    if own and not missing:
        os.chmod(folder, PRIVATE_FOLDER)
    return folder


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """A descriptor on ``path``, created 0600; an existing file is made 0600 too (an older version's 0644)."""
    private_folder(path.parent)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private(path: Path) -> Path:
    """An empty 0600 file at ``path`` for a writer that opens it by name (Parquet), which keeps its mode."""
    os.close(open_private(path))
    return path


def write_atomically(path: Path, parts: Iterable[bytes]) -> int:
    """Write ``parts`` to a temp file beside ``path``, sync it, then rename it over ``path``; how many parts.

    A failure (a full disk) removes the temp file: ``path`` keeps its last complete version, never half a new one.
    """
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with os.fdopen(open_private(tmp), "wb") as f:
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
