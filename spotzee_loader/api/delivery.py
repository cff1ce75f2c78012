"""What delivering one chunk came to: events accepted, refused (and why), and requests whose answer was lost."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .readback import SentEvent

# errors[].param names an event of the batch; the contract does not fix the spelling: "[1].name", "1.name",
# "events[1].name" and a bare "[1]" are all read as event 1.
_INDEX = re.compile(r"^(?:[A-Za-z_]\w*\[|\[)?(\d+)\]?(?:[.\[]|$)")


@dataclass(frozen=True)
class ItemRejection:
    """One event Spotzee refused, with what it said."""

    index: int
    status: int
    code: str | None
    param: str | None
    message: str
    request_id: str | None


@dataclass(frozen=True)
class Ambiguity:
    """A request that went out whole and got no answer: its events (positions in the chunk), key and cause."""

    indexes: list[int]
    key: str
    cause: str


@dataclass(frozen=True)
class Unverified:
    """Events resent after an ambiguity that could not be checked: each may now be recorded twice."""

    key: str
    events: int
    first_created_at: str | None
    last_created_at: str | None
    names: list[str]
    why: str


@dataclass
class Delivery:
    """The outcome of delivering one chunk (possibly over several requests)."""

    accepted: int = 0
    rejected: list[ItemRejection] = field(default_factory=list)
    requests: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    ambiguous: list[Ambiguity] = field(default_factory=list)
    """Requests waiting for ``settle``: sent whole, no answer."""
    ambiguous_requests: int = 0
    confirmed: int = 0
    """Events of ambiguous requests that Spotzee showed recorded: checkpointed, not resent."""
    resent: int = 0
    """Events of ambiguous requests not found within the wait, and resent."""
    unverified: list[Unverified] = field(default_factory=list)
    reads: int = 0
    """GET /events requests made to settle ambiguities."""


def unverified(ambiguity: Ambiguity, sent: list[SentEvent], why: str) -> Unverified:
    """What to name in the report for an ambiguous request resent unchecked."""
    times = sorted(e.created_at for e in sent)
    shown = [t.isoformat(timespec="milliseconds").replace("+00:00", "Z") for t in (times[:1] + times[-1:])]
    return Unverified(
        key=ambiguity.key,
        events=len(ambiguity.indexes),
        first_created_at=shown[0] if shown else None,
        last_created_at=shown[-1] if shown else None,
        names=sorted({e.name for e in sent}),
        why=why,
    )


def item_field(param: str) -> str | None:
    """The event field an ``errors[].param`` names, without the event's place (``[5].name`` -> ``name``)."""
    match = _INDEX.match(param)
    rest = param[match.end(1) :] if match else param
    return re.sub(r"[\[\].]+", ".", rest).strip(".") or None


def item_index(param: str) -> int | None:
    """The position in the batch of the event an ``errors[].param`` names, or ``None`` for a request-level one."""
    match = _INDEX.match(param)
    return int(match.group(1)) if match else None
