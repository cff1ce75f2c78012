"""Presets for the exports of the analytics platforms teams migrate from, each from the platform's published export
schema: what names the event, who did it (the platform's device, distinct or pseudo ids -> ``anonymous_id``, its
user ids -> ``external_id``), when (the original timestamp, to the millisecond), which id deduplicates it, and
which properties are the platform's bookkeeping (left out).

| preset    | export                                   | recognised by                                       |
|-----------|------------------------------------------|-----------------------------------------------------|
| mixpanel  | raw export (JSON Lines)                  | ``event`` and ``properties``, nothing else          |
| amplitude | export API / S3 export (JSON Lines)      | ``event_type``, ``event_time``, user or device id   |
| ga4       | BigQuery export (Parquet or JSON Lines)  | ``event_name``, ``event_timestamp``, ``user_pseudo_id`` |
| posthog   | events export (JSON Lines, CSV)          | ``event``, ``distinct_id``, ``timestamp``           |
"""

from __future__ import annotations

from .spec import Mapping
from .time_forms import TimeForm

Built = tuple[Mapping | None, list[str]]

MIXPANEL_DROPPED = ("$*", "mp_*", "time", "distinct_id", "token")
"""Mixpanel's default properties (``$browser``, ``$insert_id``, ...), its library's (``mp_lib``), and the fields
the event's own parts are taken from."""
AMPLITUDE_DROPPED = ("$*",)
"""Amplitude's own keys inside ``event_properties`` (``$insert_id`` when sent there)."""
GA4_DROPPED = (
    "ga_session_id",
    "ga_session_number",
    "engagement_time_msec",
    "engaged_session_event",
    "session_engaged",
    "batch_page_id",
    "batch_ordering_id",
    "ignore_referrer",
    "entrances",
)
"""GA4's session and batching bookkeeping among ``event_params``."""
POSTHOG_DROPPED = ("$*", "token", "distinct_id")
"""PostHog's ``$``-prefixed properties (``$lib``, ``$set``, ``$geoip_*``, ``$session_id``, ...)."""


def _first(columns: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in columns), None)


def mixpanel(columns: set[str]) -> Built:
    """Mixpanel's raw export: ``{"event": ..., "properties": {"time": <epoch s>, "distinct_id": ..., "$insert_id":
    ..., "$user_id": ..., "$device_id": ...}}``. With ID merge, ``$user_id`` is the identified user and ``$device_id``
    the device; the ``distinct_id`` of an event without them is its anonymous id."""
    missing = [c for c in ("event", "properties") if c not in columns]
    if missing or columns - {"event", "properties"}:
        return None, missing or ["only event and properties (a raw export's lines)"]
    return Mapping(
        name_column="event",
        external_id="properties.$user_id",
        anonymous_id="properties.distinct_id",
        created_at="properties.time",
        created_at_form=TimeForm(unit="s"),
        key=("properties.$insert_id",),
        data_json="properties",
        drop_properties=MIXPANEL_DROPPED,
        origin="preset:mixpanel",
    ), []


def amplitude(columns: set[str]) -> Built:
    """Amplitude's export: ``event_type``, ``event_time`` (UTC, ``2019-03-02 22:20:00.123000``), ``user_id``,
    ``device_id``, ``event_properties``, ``user_properties``, ``insert_id`` (``$insert_id`` in some exports)."""
    missing = [c for c in ("event_type", "event_time") if c not in columns]
    if not {"user_id", "device_id"} & columns:
        missing.append("user_id or device_id")
    if missing:
        return None, missing
    key = _first(columns, "insert_id", "$insert_id", "uuid")
    return Mapping(
        name_column="event_type",
        external_id=_first(columns, "user_id"),
        anonymous_id=_first(columns, "device_id"),
        created_at="event_time",
        key=(key,) if key else (),
        data_json=_first(columns, "event_properties"),
        drop_properties=AMPLITUDE_DROPPED,
        origin="preset:amplitude",
    ), []


def ga4(columns: set[str]) -> Built:
    """Google Analytics 4's BigQuery export: ``event_name``, ``event_timestamp`` (microseconds, UTC), ``user_id``,
    ``user_pseudo_id`` (the browser or app instance), ``event_params`` (``{key, value: {string_value, int_value,
    ...}}`` pairs, read as properties), ``items`` (the e-commerce items, kept as a list)."""
    missing = [c for c in ("event_name", "event_timestamp", "user_pseudo_id") if c not in columns]
    if missing:
        return None, missing
    return Mapping(
        name_column="event_name",
        external_id=_first(columns, "user_id"),
        anonymous_id="user_pseudo_id",
        created_at="event_timestamp",
        created_at_form=TimeForm(unit="us"),
        data_json=_first(columns, "event_params"),
        data=(("items", "items"),) if "items" in columns else (),
        drop_properties=GA4_DROPPED,
        origin="preset:ga4",
    ), []


def posthog(columns: set[str]) -> Built:
    """PostHog's events export: ``event``, ``distinct_id``, ``timestamp`` (ISO 8601), ``properties``, ``uuid``.
    A ``distinct_id`` is an anonymous id until the person is identified, then their id: it goes to ``anonymous_id``
    (write a mapping with ``external_id = "distinct_id"`` for identified-only exports)."""
    missing = [c for c in ("event", "distinct_id", "timestamp") if c not in columns]
    if missing:
        return None, missing
    return Mapping(
        name_column="event",
        anonymous_id="distinct_id",
        created_at="timestamp",
        key=("uuid",) if "uuid" in columns else (),
        data_json=_first(columns, "properties"),
        drop_properties=POSTHOG_DROPPED,
        origin="preset:posthog",
    ), []
