"""The bytes of text files: opened decompressed and cut at the size a run recorded, split into lines, and their read
errors in one clause."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from .storage import COMPRESSION_SUFFIXES, StoredFile, is_object_storage, storage_reason

_BLOCK = 1 << 20
_CODECS = {"gz": "gzip", "zst": "zstd", "zstd": "zstd"}
"""Arrow's codec by the file name's last suffix (``storage.COMPRESSION_SUFFIXES``)."""


def open_text(file: StoredFile, size: int | None) -> Any:
    """The file as a stream of its (decompressed) bytes; of its first ``size`` bytes when given."""
    if size is None:
        stream = file.fs.open_input_stream(file.path, compression=None)
    else:
        stream = file.fs.open_input_file(file.path).get_stream(0, size)
    codec = _CODECS.get(file.url.lower().rpartition(".")[2])
    return pa.CompressedInputStream(stream, codec) if codec else stream


def cannot_grow(file: StoredFile) -> str | None:
    if file.url.lower().endswith(COMPRESSION_SUFFIXES):
        return "a compressed file cannot be continued where it ended: add the new rows as a new file"
    return None


def reason(file: StoredFile, exc: BaseException) -> str:
    """One clause: the storage's reason, or the reader's first line with the bytes it choked on cut short."""
    if is_object_storage(file.url) and not isinstance(exc, pa.ArrowInvalid):
        return storage_reason(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    printable = "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in text)
    return printable[:160] + ("…" if len(printable) > 160 else "")


def lines_of(stream: Any) -> Iterator[bytes]:
    """Non-blank lines of a byte stream, read a block at a time."""
    rest = b""
    while True:
        block = stream.read(_BLOCK)
        if not block:
            break
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.strip():
                yield line
    if rest.strip():
        yield rest
