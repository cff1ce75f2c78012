"""One sentence for each answer Spotzee gives that retrying cannot fix, for writes and reads alike.

Error bodies are read as published: ``application/problem+json`` or ``application/json``, with only ``status``,
``code`` and ``message`` sure to be there (``error`` is a legacy copy of ``message``; ``title``, ``param`` and
``errors[]`` may be missing).
"""

from __future__ import annotations

from typing import Any

from ..config import DEFAULT_BASE_URL
from ..errors import ApiError, AuthError, IdempotencyMismatchError

_AUTH_ADVICE = {
    401: "Spotzee did not accept the API key; check the project secret key (sk_...) given by --api-key, "
    "SPOTZEE_API_KEY or the Airflow connection's password",
    402: "Spotzee says the project's quota is spent; raise the plan's quota, then re-run to resume",
    403: "Spotzee says this API key may not send events; use a key with event permissions",
}


def _problem(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def _message(problem: dict[str, Any], otherwise: str) -> str:
    return str(problem.get("message") or problem.get("error") or problem.get("title") or otherwise)


def _not_found(url: str, detail: str) -> ApiError:
    return ApiError(
        f"Spotzee has no endpoint at {url} ({detail}); check --base-url: it is Spotzee's client API, ending in "
        f"/api/client (the default is {DEFAULT_BASE_URL})."
    )


def write_refusal(status: int, body: Any, rid: str | None, url: str) -> ApiError:
    """The sentence for a ``POST /events`` answer that stops the run (401-404, 409 but in-progress, other 4xx)."""
    problem = _problem(body)
    code = problem.get("code")
    detail = f"{status} {code or 'error'}" + (f", request {rid}" if rid else "")
    if status in _AUTH_ADVICE:
        error: ApiError = AuthError(f"{_AUTH_ADVICE[status]} ({detail}).")
    elif status == 409 and code == "idempotency_key_mismatch":
        error = IdempotencyMismatchError(
            "Spotzee already received a different body under this batch's idempotency key: the source "
            f"or mapping changed since a run within the last 24 hours; use --restart or a new --job ({detail})."
        )
    elif status == 404:
        error = _not_found(url, detail)
    else:
        error = ApiError(f"Spotzee refused the request: {_message(problem, 'refused')} ({detail}).")
    error.status, error.code, error.request_id = status, code, rid
    return error


def read_refusal(what: str, status: int, body: Any, rid: str | None, url: str) -> ApiError:
    """The sentence for a 4xx to a read of ``what``: which parameter Spotzee refused and why, with the request id."""
    problem = _problem(body)
    code = problem.get("code")
    detail = f"{status} {code or 'error'}, request {rid}"
    if status in (401, 403):
        error: ApiError = AuthError(
            f"Spotzee did not accept the API key for reading {what} ({detail}); check --api-key or "
            "SPOTZEE_API_KEY, and that the key may read events."
        )
    elif status == 404:
        error = _not_found(url, detail)
    else:
        errors = problem.get("errors")
        errors = errors if isinstance(errors, list) else []
        param = problem.get("param") or next((e.get("param") for e in errors if isinstance(e, dict)), None)
        named = f"parameter '{param}': " if param else ""
        error = ApiError(f"Spotzee refused the {what} query: {named}{_message(problem, 'no reason given')} ({detail}).")
    error.status, error.code, error.request_id = status, code, rid
    return error
