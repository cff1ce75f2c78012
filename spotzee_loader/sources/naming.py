"""How a database source is named in messages and in the checkpoint store, and that name read back (the overlap
check compares jobs by their database)."""

from __future__ import annotations

import re

from ..config import SourceOptions
from ..redaction import redact

_DESCRIBED = re.compile(r"(?P<url>[a-z][a-z0-9+.-]*://\S*) (?:table \S.*|query)")


def database_description(url: str, options: SourceOptions) -> str:
    """How a database source is named in messages and in the checkpoint store: ``URL table NAME`` or ``URL query``,
    the URL without its password."""
    return redact(url) + (f" table {options.table}" if options.table else " query")


def database_of(description: str) -> str | None:
    """The database (its URL, redacted) of a source named by ``database_description``; ``None`` for files."""
    found = _DESCRIBED.fullmatch(description)
    return found.group("url") if found else None
