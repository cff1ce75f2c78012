"""spotzee_loader as an Airflow provider: the Spotzee connection type, ``SpotzeeHook``, ``SpotzeeLoadOperator`` and
``SpotzeeVerifyOperator``, and the ``spotzee://`` asset URIs a load updates.

Airflow reads ``get_provider_info`` through the ``apache_airflow_provider`` entry point (``pyproject.toml``) and
builds the connection form from it without importing the hook: this module imports nothing of Airflow.
"""

from __future__ import annotations

from typing import Any

from ..config import DEFAULT_BASE_URL, DEFAULT_RATE_LIMIT

__all__ = ["CONNECTION_TYPE", "CONN_TYPE", "DEFAULT_CONN_ID", "get_provider_info"]

CONN_TYPE = "spotzee"
DEFAULT_CONN_ID = "spotzee_default"

# The connection form: the API key in the password field (a secret Airflow masks and encrypts), Spotzee's own
# settings as fields of their own, and the generic fields a Spotzee connection does not use hidden.
CONNECTION_TYPE: dict[str, Any] = {
    "connection-type": CONN_TYPE,
    "hook-class-name": "spotzee_loader.provider.hooks.SpotzeeHook",
    "hook-name": "Spotzee",
    "ui-field-behaviour": {
        "hidden-fields": ["host", "schema", "login", "port", "extra"],
        "relabeling": {"password": "API key"},
        "placeholders": {"password": "sk_... (the project's secret key)"},
    },
    "conn-fields": {
        "base_url": {
            "label": "Base URL",
            "description": "Spotzee's client API. Change it only to rehearse against another server.",
            "schema": {"type": ["string", "null"], "default": DEFAULT_BASE_URL},
        },
        "project": {
            "label": "Project",
            "description": "Names the Spotzee project in the assets a load updates (spotzee://PROJECT/events/NAME), "
            "which downstream DAGs can be scheduled on. The API cannot tell a key's project; empty: the "
            "connection id.",
            "schema": {"type": ["string", "null"]},
        },
        "budget": {
            "label": "Budget name",
            "description": "Loads through one egress IP share Spotzee's per-IP request limit under one budget "
            "name (CLI runs too); give each egress IP its own. Empty: default.",
            "schema": {"type": ["string", "null"]},
        },
        "rate_limit": {
            "label": "Requests per second",
            "description": "For every load sharing the budget together. Spotzee allows 8,000 requests a minute "
            "per IP and blocks the IP for 120 s past that.",
            "schema": {"type": ["number", "null"], "default": DEFAULT_RATE_LIMIT, "minimum": 0},
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    """What ``airflow providers list`` shows and where Airflow finds the provider's parts."""
    return {
        "package-name": "spotzee-loader",
        "name": "Spotzee",
        "description": "Replay historical orders and actions into Spotzee as events with their original timestamps.",
        "integrations": [
            {"integration-name": "Spotzee", "external-doc-url": "https://apix.spotzee.com", "tags": ["service"]}
        ],
        "hooks": [{"integration-name": "Spotzee", "python-modules": ["spotzee_loader.provider.hooks"]}],
        "operators": [{"integration-name": "Spotzee", "python-modules": ["spotzee_loader.provider.operators"]}],
        "connection-types": [CONNECTION_TYPE],
        "asset-uris": [
            {
                "schemes": ["spotzee"],
                "handler": "spotzee_loader.provider.assets.sanitize_uri",
                "factory": "spotzee_loader.provider.assets.create_asset",
                "to_openlineage_converter": "spotzee_loader.provider.assets.convert_asset_to_openlineage",
            }
        ],
    }
