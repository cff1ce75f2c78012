"""The published contract is the oracle: fixtures written from ``shared/spotzee-api.md`` (``tests/contract/``)
are checked against the client's parsing and against the mock's real answers over HTTP, so a client and a
mock written from the same guess cannot agree with each other and pass."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests

from spotzee_loader.api.aggregations import AggregationPage
from spotzee_loader.api.delivery import item_index
from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.api.refusals import read_refusal
from spotzee_loader.errors import ApiError, AuthError

from .conftest import API_KEY

CONTRACT = Path(__file__).parent / "contract"
RECORD_FIELDS = {"count", "unique_user_count", "first_seen_at", "last_seen_at"}
DIMENSION_KEYS = {"event_name": "event_name", "campaign": "campaign_id", "user": "user", "day": "day"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def fixture(name: str) -> Any:
    return json.loads((CONTRACT / f"{name}.json").read_text())


PAGE, LAST_PAGE, TOTAL = fixture("aggregations_page"), fixture("aggregations_last_page"), fixture("aggregations_total")
PROBLEM_400, PROBLEM_422 = fixture("problem_400"), fixture("problem_422")


def _type_names(value: Any) -> set[str]:
    return {type(value).__name__}


def assert_page_shape(body: Any, group_by: list[str]) -> None:
    """``body`` has exactly the published page's keys and types, its records exactly the keys of ``group_by``."""
    assert set(body) == set(PAGE), body
    assert isinstance(body["results"], list) and isinstance(body["limit"], int)
    for cursor in ("nextCursor", "prevCursor"):
        assert body[cursor] is None or isinstance(body[cursor], str)
    expected = RECORD_FIELDS | {DIMENSION_KEYS[g] for g in group_by}
    example = PAGE["results"][0]
    for record in body["results"]:
        assert set(record) == expected, record
        for key in ("count", "unique_user_count"):
            assert type(record[key]) is int
        for key in ("event_name", "day", "first_seen_at", "last_seen_at"):
            if key in record and record[key] is not None:
                assert type(record[key]) is type(example[key]), (key, record)
        if "day" in record:
            assert len(record["day"]) == 10 and record["day"][4] == "-"  # a calendar day, YYYY-MM-DD


def assert_problem_shape(body: Any, status: int, code: str, param: str | None = None) -> None:
    assert set(PROBLEM_400) - {"param"} <= set(body), body
    assert (body["status"], body["code"]) == ("error", code)
    assert isinstance(body["request_id"], str) and body["request_id"].startswith("req_")
    if param is not None:
        assert body["param"] == param


# -- the fixtures themselves are the contract's example shapes ---------------------------------------


def test_fixtures_hold_the_published_shapes() -> None:
    for page in (PAGE, LAST_PAGE):
        assert_page_shape(page, ["event_name", "day"])
    assert_page_shape(TOTAL, [])
    assert_problem_shape(PROBLEM_400, 400, "parameter_invalid_format", "from")
    assert_problem_shape(PROBLEM_422, 422, "validation_failed")


# -- the client reads what Spotzee publishes, and only that ----------------------------------------


def test_the_client_reads_the_published_pages() -> None:
    first, last = AggregationPage.parse(PAGE), AggregationPage.parse(LAST_PAGE)
    assert first.next_cursor == "eyJpZCI6Mzg2OTI1fQ" and first.results[0]["count"] == 130
    assert last.next_cursor is None
    assert AggregationPage.parse(TOTAL).results == TOTAL["results"]


@pytest.mark.parametrize(
    "body",
    [
        {"data": PAGE["results"], "nextCursor": None},  # the guess the loader and mock once shared
        {"results": PAGE["results"]},  # no nextCursor: the client cannot know it reached the end
        {"results": [{"event_name": "x", "day": "2024-01-01", "count": "3"}], "nextCursor": None},
        {"results": None, "nextCursor": None},
        [],
    ],
    ids=["data-instead-of-results", "no-next-cursor", "count-as-string", "results-null", "not-an-object"],
)
def test_the_client_refuses_what_is_not_the_published_page(body: Any) -> None:
    with pytest.raises(ValueError):
        AggregationPage.parse(body)


def test_the_client_explains_a_refused_parameter_in_one_sentence() -> None:
    error = read_refusal("aggregations", 400, PROBLEM_400, "req_01", "")
    assert type(error) is ApiError
    assert str(error) == (
        "Spotzee refused the aggregations query: parameter 'from': from must be an RFC 3339 date-time "
        "(400 parameter_invalid_format, request req_01)."
    )
    assert isinstance(read_refusal("aggregations", 401, {"code": "authentication_required"}, "req_9", ""), AuthError)


@pytest.mark.parametrize(
    ("param", "index"),
    [("[1].name", 1), ("[12]", 12), ("3.created_at", 3), ("events[4].user.email", 4), ("name", None), ("", None)],
)
def test_the_client_finds_the_event_an_item_error_names(param: str, index: int | None) -> None:
    # The contract names errors[].param but not its format for a batch: the client accepts the usual spellings.
    assert item_index(param) == index
    assert item_index(PROBLEM_422["errors"][0]["param"]) == 1


# -- the mock answers exactly the published shapes and refuses what Spotzee refuses -------------------


def _get(mock: MockSpotzee, query: list[tuple[str, str]], headers: dict[str, str] = AUTH) -> requests.Response:
    url = mock.base_url + "/events/aggregations?" + urllib.parse.urlencode(query)
    return requests.get(url, headers=headers, timeout=10)


WINDOW = [("from", "2024-01-01T00:00:00Z"), ("to", "2024-01-04T00:00:00Z")]
NAMES = [("event_name", "order_placed"), ("event_name", "viewed")]  # at least one filter is required


def _events(mock: MockSpotzee) -> None:
    mock.configure({"processing_delay_s": 0})  # read at once: these tests are about shapes, not processing
    body = [
        {"name": name, "external_id": f"u{i % 3}", "created_at": f"2024-01-0{1 + i % 3}T0{i % 10}:00:00.000Z"}
        for i in range(30)
        for name in ("order_placed", "viewed")
    ]
    for start in range(0, len(body), 100):
        r = requests.post(mock.base_url + "/events", json=body[start : start + 100], headers=AUTH, timeout=10)
        assert r.status_code == 204 and r.content == b"" and r.headers["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize(
    "group_by", [["event_name", "day"], ["day"], ["user"], ["event_name", "campaign"], []], ids=lambda g: "+".join(g)
)
def test_the_mock_answers_the_published_page(mock: MockSpotzee, group_by: list[str]) -> None:
    _events(mock)
    answer = _get(mock, [*WINDOW, *NAMES, *(("group_by", g) for g in group_by), ("limit", "100")])
    assert answer.status_code == 200 and answer.headers["X-Request-Id"].startswith("req_")
    body = answer.json()
    assert_page_shape(body, group_by)
    assert sum(r["count"] for r in body["results"]) == 60
    assert body["nextCursor"] is None and body["prevCursor"] is None and body["limit"] == 100


def test_the_mock_pages_with_opaque_cursors(mock: MockSpotzee) -> None:
    _events(mock)
    query = [*WINDOW, *NAMES, ("group_by", "event_name"), ("group_by", "day"), ("limit", "2")]
    first = _get(mock, query).json()
    assert first["limit"] == 2 and len(first["results"]) == 2 and first["prevCursor"] is None
    seen, cursor, pages = list(first["results"]), first["nextCursor"], 1
    while cursor is not None:
        assert not cursor.isdigit()  # opaque: not an offset a client could compute
        page = _get(mock, [*query, ("cursor", cursor)]).json()
        assert_page_shape(page, ["event_name", "day"])
        seen += page["results"]
        cursor, pages = page["nextCursor"], pages + 1
    assert pages == 3 and len(seen) == 6 and sum(r["count"] for r in seen) == 60
    assert len({(r["event_name"], r["day"]) for r in seen}) == 6
    default = _get(mock, [*WINDOW, *NAMES, ("group_by", "user")]).json()
    assert default["limit"] == 50  # the published default


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ([("to", "2024-01-04T00:00:00Z")], "parameter_missing", "from"),
        ([("from", "2024-01-01T00:00:00Z")], "parameter_missing", "to"),
        ([("from", "2024-01-01"), ("to", "2024-01-04T00:00:00Z")], "parameter_invalid_format", "from"),
        ([("from", "2024-01-01T00:00:00Z"), ("to", "2024-01-04")], "parameter_invalid_format", "to"),
        ([("from", "2024-01-01T00:00:00"), ("to", "2024-01-04T00:00:00Z")], "parameter_invalid_format", "from"),
        ([*WINDOW, *NAMES, ("limit", "101")], "parameter_invalid_format", "limit"),
        ([*WINDOW, *NAMES, ("limit", "1000")], "parameter_invalid_format", "limit"),
        ([*WINDOW, *NAMES, ("limit", "0")], "parameter_invalid_format", "limit"),
        ([*WINDOW, *NAMES, ("group_by", "week")], "parameter_invalid_format", "group_by"),
        ([*WINDOW, *NAMES, ("group_by", "event_name"), ("cursor", "2")], "parameter_invalid_format", "cursor"),
        ([*WINDOW, *NAMES, ("page", "2")], "parameter_unknown", "page"),
        (WINDOW, "parameter_missing", "event_name"),
        ([("from", "2023-01-01T00:00:00Z"), ("to", "2024-01-03T00:00:00Z"), *NAMES], "parameter_invalid_format", "to"),
    ],
    ids=[
        "no-from",
        "no-to",
        "date-only-from",
        "date-only-to",
        "no-offset",
        "limit-101",
        "limit-1000",
        "limit-0",
        "unknown-group-by",
        "made-up-cursor",
        "unknown-parameter",
        "no-filter",
        "367-days",
    ],
)
def test_the_mock_refuses_what_spotzee_refuses(mock: MockSpotzee, query: Any, code: str, param: str) -> None:
    answer = _get(mock, query)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers["X-Request-Id"] == answer.json()["request_id"]
    assert_problem_shape(answer.json(), 400, code, param)


def test_the_mock_refuses_a_bad_key_and_throttles_reads_like_writes(mock: MockSpotzee) -> None:
    unauthorised = _get(mock, [*WINDOW, *NAMES], headers={"Authorization": "Bearer sk_wrong"})
    assert unauthorised.status_code == 401
    assert_problem_shape(unauthorised.json(), 401, "authentication_required")
    mock.configure({"read_script": ["429"]})
    throttled = _get(mock, [*WINDOW, *NAMES])
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert_problem_shape(throttled.json(), 429, "rate_limited")
    assert _get(mock, [*WINDOW, *NAMES]).status_code == 200


def test_the_mocks_event_errors_carry_the_published_problem(mock: MockSpotzee) -> None:
    bad = [{"name": "ok", "external_id": "1"}, {"name": "", "external_id": "2"}]
    answer = requests.post(mock.base_url + "/events", json=bad, headers=AUTH, timeout=10)
    assert answer.status_code == 422 and answer.headers["X-Request-Id"] == answer.json()["request_id"]
    body = answer.json()
    assert_problem_shape(body, 422, "validation_failed")
    assert set(body) == set(PROBLEM_422)
    assert [set(e) for e in body["errors"]] == [set(PROBLEM_422["errors"][0])]
    assert item_index(body["errors"][0]["param"]) == 1


@pytest.mark.parametrize("key", ["", "k" * 256], ids=["empty", "256-chars"])
def test_the_mock_refuses_an_idempotency_key_outside_1_to_255_characters(mock: MockSpotzee, key: str) -> None:
    body = [{"name": "ok", "external_id": "1", "created_at": "2024-01-01T00:00:00Z"}]
    answer = requests.post(mock.base_url + "/events", json=body, headers={**AUTH, "Idempotency-Key": key}, timeout=10)
    assert answer.status_code == 400
    assert_problem_shape(answer.json(), 400, "idempotency_key_invalid")
    assert mock.event_count == 0
    ok = requests.post(mock.base_url + "/events", json=body, headers={**AUTH, "Idempotency-Key": "k" * 255}, timeout=10)
    assert ok.status_code == 204 and mock.event_count == 1


# -- the corrected contract (September 2026): sparse errors, GET /events, GET /journeys --------------------------


def test_the_client_reads_a_sparse_error_body() -> None:
    """Only status, code and message are sure to be there; the request id then comes from the header."""
    error = read_refusal("events", 400, {**fixture("problem_sparse"), "code": "parameter_invalid_format"}, "req_h", "")
    assert str(error) == (
        "Spotzee refused the events query: Too many requests from this IP "
        "(400 parameter_invalid_format, request req_h)."
    )


def test_the_client_matches_a_published_events_record() -> None:
    from spotzee_loader.api.readback import _identity

    record = fixture("events_page")["results"][0]
    name, external, anonymous, at, to_seconds = _identity(record) or (None, None, None, None, None)
    assert (name, external, anonymous, to_seconds) == ("order_placed", "u1", None, False)
    assert at is not None and at.isoformat() == "2024-01-01T00:03:11+00:00"


def test_the_mock_answers_the_published_events_and_journeys_pages(mock: MockSpotzee) -> None:
    _events(mock)
    mock.configure({"journeys": [{"id": 7, "name": "Win-back", "status": "live", "tags": ["retention"]}]})
    query = [*WINDOW, *NAMES, ("include_payload", "false"), ("limit", "100")]
    events = requests.get(mock.base_url + "/events?" + urllib.parse.urlencode(query), headers=AUTH, timeout=10)
    assert events.status_code == 200
    body, example = events.json(), fixture("events_page")
    assert set(body) == set(example) and len(body["results"]) == 60
    assert all(set(r) == set(example["results"][0]) for r in body["results"])
    journeys = requests.get(mock.base_url + "/journeys", headers=AUTH, timeout=10).json()
    expected = fixture("journeys_page")
    assert set(journeys) == set(expected) and journeys["limit"] == 25
    assert [set(j) for j in journeys["results"]] == [set(expected["results"][0])]
    assert journeys["results"][0]["status"] == "live" and journeys["results"][0]["tags"] == ["retention"]
    too_long = [("from", "2024-01-01T00:00:00Z"), ("to", "2024-02-02T00:00:00Z"), *NAMES]
    refused = requests.get(mock.base_url + "/events?" + urllib.parse.urlencode(too_long), headers=AUTH, timeout=10)
    assert refused.status_code == 400 and refused.json()["param"] == "to"  # 32 days: over the published 31


def test_a_record_without_an_integer_count_is_one_sentence_not_an_internal_error() -> None:
    """A page of the published shape whose record carries its count as a string: verify's read stops with the
    loader's sentence (an ApiError, exit 1), not a ValueError the command line calls an internal error."""
    import datetime as dt
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from spotzee_loader.api.aggregations import spotzee_day_counts
    from spotzee_loader.config import ApiSettings, Secret

    page = {"results": [{"event_name": "x", "day": "2024-01-01", "count": "3"}], "nextCursor": None}

    class Odd(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({**page, "prevCursor": None, "limit": 100}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = ApiSettings(api_key=Secret(API_KEY), base_url=f"http://127.0.0.1:{server.server_address[1]}/api/client")
        since = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        with pytest.raises(ApiError, match="not the published page shape: a record has no integer 'count'"):
            spotzee_day_counts(api, since, since + dt.timedelta(days=1), ["x"])
    finally:
        server.shutdown()
        server.server_close()
