"""``SpotzeeHook``: the Spotzee connection, read once per task into the package's explicit settings.

A connection of type ``spotzee`` (the UI's "Spotzee" form): the API key in the password field, and the fields
``base_url``, ``project``, ``budget`` and ``rate_limit`` (stored in the extra, with or without Airflow's
``extra__spotzee__`` prefix). The ``http`` connections of earlier releases (host = base URL, password = key) keep
working, with a deprecation line in the task log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.log import mask_secret

from ..api import check_key
from ..config import DEFAULT_BASE_URL, ApiSettings, NetworkSettings, Secret
from ..errors import ApiError
from . import CONN_TYPE, DEFAULT_CONN_ID

log = logging.getLogger(__name__)

LEGACY_HTTP = (
    "connection {conn_id!r} is of type http, deprecated for Spotzee: create it again with type Spotzee (API key, "
    "base URL, project, budget and rate as fields of their own); http connections will stop working in 1.0."
)


@dataclasses.dataclass(frozen=True)
class SpotzeeConnection:
    """What a Spotzee connection holds, resolved."""

    api: ApiSettings
    project: str
    budget: str | None
    """The budget name, when the connection names one (else the deployment's ``SPOTZEE_BUDGET`` or ``default``)."""
    rate_limit: float | None
    """Requests per second for every load sharing the budget, when the connection sets it."""


class SpotzeeHook(BaseHook):
    """Owns a Spotzee connection: ``connection`` (the settings, read once), ``test_connection`` (a real read)."""

    conn_name_attr = "spotzee_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Spotzee"

    def __init__(self, spotzee_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spotzee_conn_id = spotzee_conn_id

    def get_conn(self) -> SpotzeeConnection:
        return self.connection

    @cached_property
    def connection(self) -> SpotzeeConnection:
        try:
            conn = self.get_connection(self.spotzee_conn_id)
        except Exception as exc:  # AirflowNotFoundException: the SDK's in a task, the core's in the api-server
            if type(exc).__name__ != "AirflowNotFoundException":
                raise
            raise AirflowFailException(
                f"Airflow connection {self.spotzee_conn_id!r} does not exist: create it with type Spotzee and the "
                "project's secret key (sk_...) as its API key."
            ) from None
        if not conn.password:
            raise AirflowFailException(
                f"Airflow connection {self.spotzee_conn_id!r} has no API key: set the project's secret key (sk_...)."
            )
        self.mask_key(conn.password)
        extra = conn.extra_dejson
        if conn.conn_type == CONN_TYPE:
            base_url = str(_field(extra, "base_url") or DEFAULT_BASE_URL)
        else:
            log.warning(LEGACY_HTTP.format(conn_id=self.spotzee_conn_id))
            base_url = _legacy_base_url(conn, extra)
        rate = _field(extra, "rate_limit")
        api = ApiSettings(
            api_key=Secret(conn.password),
            base_url=base_url.rstrip("/"),
            # The worker's proxies and CA bundle, as requests would read them.
            network=NetworkSettings.from_env(dict(os.environ)),
        )
        return SpotzeeConnection(
            api=api,
            project=str(_field(extra, "project") or self.spotzee_conn_id),
            budget=str(_field(extra, "budget") or "") or None,
            rate_limit=float(rate) if rate not in (None, "") else None,
        )

    @staticmethod
    def mask_key(key: str) -> None:
        """Airflow masks the password of a connection it hands out; said once more for one read by hand."""
        mask_secret(key)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: one real read (``GET /journeys``, one record) with the connection's key."""
        try:
            api = self.connection.api
        except AirflowFailException as exc:
            return False, str(exc)
        try:
            check_key(api)
        except ApiError as exc:
            rid = f", request {exc.request_id}" if exc.request_id else ""
            if exc.status == 401:
                return False, f"Spotzee did not accept the API key (401{rid}): check the project's secret key."
            if exc.status == 403:
                return True, (
                    f"Spotzee knows the key, but it may not read journeys (403{rid}): loads will send, and their "
                    "plan cannot list the live journeys."
                )
            return False, f"{exc}"
        return True, f"Spotzee accepted the API key at {api.base_url}."


def _field(extra: dict[str, Any], name: str) -> Any:
    """A form field, as the UI stores it (``extra__spotzee__NAME``) or as written by hand (``NAME``)."""
    value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return extra.get(name) if value in (None, "") else value


def _legacy_base_url(conn: Any, extra: dict[str, Any]) -> str:
    host = str(extra.get("base_url") or conn.host or "")
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = conn.schema if conn.schema in ("http", "https") else "https"
        host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "") + "/api/client"
    return host
