"""Built-in mappings for the common shapes of history, and detection of which one a source fits.

| preset  | required columns                                                              | event name         |
|---------|-------------------------------------------------------------------------------|--------------------|
| orders  | order_id, customer_id, ordered_at (or created_at)                             | ``order_placed``   |
| actions | action, occurred_at, user_id and/or anonymous_id                              | ``action``         |
| segment | event, timestamp / original_timestamp, user_id / anonymous_id (or camelCase) | ``event_text`` or ``event`` |

Every column a preset does not consume goes into ``data`` under its snake_case name. The presets of other analytics
platforms' exports (Mixpanel, Amplitude, GA4, PostHog) are in ``platforms.py``. ``segment`` also reads a
Segment archive (JSON Lines of calls): only ``type = "track"`` calls become events, the others are counted, and
``context.groupId`` (the B2B account) arrives as the ``group_id`` property. In a Segment warehouse ``event`` holds
the event's slug (``order_completed``, the name of its table) and ``event_text`` its name (``Order Completed``),
which is the name live calls carry, so it is the one history is sent under.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import MappingError
from .platforms import amplitude, ga4, mixpanel, posthog
from .spec import Mapping

PRESET_NAMES = ("orders", "actions", "segment", "mixpanel", "amplitude", "ga4", "posthog")

# Segment warehouse bookkeeping columns: never event properties.
_SEGMENT_SYSTEM = (
    "id",
    "message_id",
    "messageId",
    "received_at",
    "receivedAt",
    "sent_at",
    "sentAt",
    "uuid_ts",
    "loaded_at",
    "original_timestamp",
    "originalTimestamp",
    "timestamp",
    "type",
    "context",
    "integrations",
    "channel",
    "version",
    "traits",
    "groupId",
    "previousId",
    "writeKey",
    "_metadata",
)


def _first(columns: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _orders(columns: set[str]) -> tuple[Mapping | None, list[str]]:
    created = _first(columns, "ordered_at", "created_at")
    missing = [c for c in ("order_id", "customer_id") if c not in columns]
    if created is None:
        missing.append("ordered_at (or created_at)")
    if missing:
        return None, missing
    user = (("email", "email"),) if "email" in columns else ()
    return Mapping(
        name="order_placed",
        external_id="customer_id",
        anonymous_id=_first(columns, "anonymous_id"),
        created_at=created or "",
        key=("order_id",),
        data_columns="*",
        user=user,
        origin="preset:orders",
    ), []


def _actions(columns: set[str]) -> tuple[Mapping | None, list[str]]:
    missing = [c for c in ("action", "occurred_at") if c not in columns]
    if not {"user_id", "anonymous_id"} & columns:
        missing.append("user_id or anonymous_id")
    if missing:
        return None, missing
    return Mapping(
        name_column="action",
        external_id=_first(columns, "user_id"),
        anonymous_id=_first(columns, "anonymous_id"),
        created_at="occurred_at",
        key=("action_id",) if "action_id" in columns else (),
        data_json=_first(columns, "properties"),
        data_columns="*",
        origin="preset:actions",
    ), []


def _segment(columns: set[str]) -> tuple[Mapping | None, list[str]]:
    created = _first(columns, "timestamp", "original_timestamp", "originalTimestamp")
    external = _first(columns, "user_id", "userId")
    anonymous = _first(columns, "anonymous_id", "anonymousId")
    missing = [] if "event" in columns else ["event"]
    if created is None:
        missing.append("timestamp (or original_timestamp)")
    if external is None and anonymous is None:
        missing.append("user_id/userId or anonymous_id/anonymousId")
    if missing:
        return None, missing
    key_column = _first(columns, "id", "message_id", "messageId")
    email = _first(columns, "context_traits_email")
    properties = _first(columns, "properties")
    # Sorted: a set's order changes from process to process, and the mapping's fingerprint must not (a resume
    # would refuse the job as "mapping changed").
    exclude = tuple(sorted(c for c in columns if c in _SEGMENT_SYSTEM or c.startswith("context_") or c == "event"))
    # The B2B account a call happened in (journy.io's track spec): context.groupId in an archive, flattened to
    # context_group_id in a Segment warehouse.
    group = _first(columns, "context_group_id", "context_groupId") or (
        "context.groupId" if "context" in columns else None
    )
    return Mapping(
        name_column=_first(columns, "event_text", "event") or "event",
        external_id=external,
        anonymous_id=anonymous,
        created_at=created or "",
        key=(key_column,) if key_column else (),
        data_json=properties,
        data_columns=() if properties else "*",
        exclude_columns=exclude,
        data=(("group_id", group),) if group else (),
        user=(("email", email),) if email else (),
        # An archive holds every call; only track calls are events (identify, page, group are counted).
        only=(("type", ("track",)),) if "type" in columns else (),
        origin="preset:segment",
    ), []


_BUILDERS: dict[str, Callable[[set[str]], tuple[Mapping | None, list[str]]]] = {
    "orders": _orders,
    "actions": _actions,
    "segment": _segment,
    "mixpanel": mixpanel,
    "amplitude": amplitude,
    "ga4": ga4,
    "posthog": posthog,
}
# Most specific first: a Segment export also has an id column an orders table could match on.
_DETECTION_ORDER = ("segment", "posthog", "mixpanel", "amplitude", "ga4", "actions", "orders")


def preset_mapping(name: str, columns: Sequence[str]) -> Mapping:
    """The named preset fitted to these columns, or a MappingError listing what is missing."""
    if name not in _BUILDERS:
        raise MappingError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.")
    mapping, missing = _BUILDERS[name](set(columns))
    if mapping is None:
        raise MappingError(
            f"preset {name!r} needs column(s) {'; '.join(missing)}, which the source lacks "
            f"(it has {', '.join(columns)}). Rename them or write a --mapping file."
        )
    return mapping


def detect_preset(columns: Sequence[str]) -> tuple[str, Mapping]:
    """The first preset whose required columns are all present, or a MappingError naming the gaps."""
    gaps = []
    for name in _DETECTION_ORDER:
        mapping, missing = _BUILDERS[name](set(columns))
        if mapping is not None:
            return name, mapping
        gaps.append(f"{name} lacks {', '.join(missing)}")
    raise MappingError(
        "no --mapping or --preset given and the columns fit no preset ("
        + "; ".join(gaps)
        + f"; the source has {', '.join(columns)}). Write a --mapping file."
    )
