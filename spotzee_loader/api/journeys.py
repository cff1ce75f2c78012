"""The project's live journeys, for the plan of a replay: ``GET /journeys``, every page, ``status == "live"``.

The API does not say which event enters which journey, nor which trigger campaigns fire on an event: the loader
lists the live journeys for a person to check, it never matches them to event names, and never pauses one.
A key that may not read journeys, or reads that keep failing, leave the plan with the generic warning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import ApiSettings
from ..errors import ApiError
from .ratelimit import RateLimiter
from .reads import Reader

_PATIENCE_S = 10.0
"""How long the plan waits for the journeys (a busy read API): the load does not wait on a courtesy."""


@dataclass(frozen=True)
class Journey:
    id: str
    name: str
    tags: tuple[str, ...]

    def shown(self) -> str:
        tags = f", tags {', '.join(self.tags)}" if self.tags else ""
        return f"{self.name!r} (id {self.id}{tags})"


def _check(records: list[dict[str, Any]]) -> None:
    for record in records:
        if "id" not in record or "status" not in record:
            raise ValueError("a journey without 'id' or 'status'")


def live_journeys(api: ApiSettings, limiter: RateLimiter | None = None) -> list[Journey] | str:
    """The live journeys, or why they could not be listed (a sentence)."""
    patient = dataclasses.replace(
        api, retry=dataclasses.replace(api.retry, budget_s=min(api.retry.budget_s, _PATIENCE_S))
    )
    reader = Reader(patient, "journeys", limiter=limiter)
    try:
        live = []
        for page in reader.pages("/journeys", [], _check):
            live += [
                Journey(str(r["id"]), str(r.get("name") or ""), tuple(str(t) for t in r.get("tags") or ()))
                for r in page.results
                if r["status"] == "live"
            ]
        return live
    except ApiError as exc:
        return str(exc).rstrip(".")
    finally:
        reader.close()


def check_key(api: ApiSettings) -> None:
    """One real read with the key (``GET /journeys``, one record, a person's patience): raises ``ApiError``
    (``status`` 401 for a key Spotzee does not know) when Spotzee refuses it."""
    patient = dataclasses.replace(
        api, retry=dataclasses.replace(api.retry, budget_s=min(api.retry.budget_s, _PATIENCE_S))
    )
    reader = Reader(patient, "journeys")
    try:
        next(reader.pages("/journeys", [("limit", "1")]))
    finally:
        reader.close()
