"""The command line: parse, run, show progress and a summary, map outcomes to exit codes.

With ``operate/cli.py``, the only code that prints. Exit codes: 0 all delivered (rejects within --max-rejected), 3
more rejects than allowed, 1 fatal stop (checkpoint intact, re-run resumes), 2 usage or configuration error, 130
interrupted (checkpoint saved). ``common`` (exit codes, usage errors, logging), ``load`` (a load's options, settings
and run), ``summary`` (its last lines), ``mock_server``, ``main`` (the dispatch).
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
