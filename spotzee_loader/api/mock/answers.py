"""How the mock answers at once from deep inside a route: the exception that carries the answer, and Retry-After."""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any


class AnswerNow(Exception):  # noqa: N818 - an answer, not an error
    """Raised to answer at once: ``status``, JSON ``payload`` (or bytes), extra ``headers``."""

    def __init__(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers or {}


def retry_after(seconds: float, form: str) -> dict[str, str]:
    """``Retry-After`` as delta-seconds or an HTTP date (rounded up to the whole second), or no header; ``exact``
    gives the seconds as configured (an injected fault's short wait, so tests stay fast)."""
    if form == "exact":
        return {"Retry-After": f"{seconds:g}"}
    if form == "none":
        return {}
    if form == "date":
        return {"Retry-After": email.utils.formatdate(math.ceil(time.time() + seconds), usegmt=True)}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
