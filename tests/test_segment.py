"""The ``segment`` preset end to end, from the two shapes a Segment history sits in inside a warehouse (a real
PostgreSQL, through the real CLI, to the mock): Segment's own per-event table (snake_case, properties
flattened into columns, ``context_*`` columns, ``event`` the slug and ``event_text`` the name) and a track
export loaded as is (camelCase ids, ``properties`` and ``context`` as JSON). Then ``verify`` reads the same
table back, over more than one page of Spotzee's aggregations, inside an announced per-key window."""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from typing import Any

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli

# Segment's warehouse table for one event: bookkeeping columns, context_* columns, one column per property.
PER_EVENT_DDL = """
CREATE TABLE {t} (
  id text PRIMARY KEY, anonymous_id text, user_id text, event text, event_text text,
  "timestamp" timestamptz, original_timestamp timestamptz, received_at timestamptz, sent_at timestamptz,
  uuid_ts timestamptz, context_ip text, context_library_name text, context_traits_email text,
  context_group_id text, order_id text, revenue numeric(10,2), currency text, coupon text
)"""
PER_EVENT_ROWS = """
INSERT INTO {t} VALUES
 ('m1', 'anon-1', 'u1', 'order_completed', 'Order Completed', '2024-03-01 10:00:00.120+00',
  '2024-03-01 09:59:59+00', '2024-03-01 10:00:02+00', '2024-03-01 10:00:01+00', '2024-03-01 10:05:00+00',
  '10.0.0.1', 'analytics.js', 'a@example.com', 'acct-9', 'o-1', 12.50, 'EUR', NULL),
 ('m2', NULL, 'u2', 'order_completed', 'Order Completed', '2024-03-02 10:00:00+02',
  '2024-03-02 07:59:59+00', '2024-03-02 08:00:02+00', '2024-03-02 08:00:01+00', '2024-03-02 08:05:00+00',
  '10.0.0.2', 'analytics.js', NULL, NULL, 'o-2', 7, 'USD', 'SPRING'),
 ('m3', 'anon-3', NULL, 'order_completed', 'Order Completed', '2024-03-02 23:59:59.999+00',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'o-3', 0.10, 'EUR', NULL)"""
# A year of history, two orders a day from 2023-01-01, so verify has 365 + 2 (day, name) pairs: four pages.
PER_EVENT_YEAR = """
INSERT INTO {t} (id, user_id, event, event_text, "timestamp", received_at, order_id, revenue, currency)
SELECT 'y' || i, 'u' || (i % 40), 'order_completed', 'Order Completed',
       timestamptz '2023-01-01 00:00:00+00' + (i / 2) * interval '1 day' + (i % 2) * interval '13 hours',
       now(), 'y-' || i, i, 'EUR'
FROM generate_series(0, 729) AS i"""

EXPORT_DDL = """
CREATE TABLE {t} (
  "messageId" text, "userId" text, "anonymousId" text, type text, event text, "originalTimestamp" timestamptz,
  "receivedAt" timestamptz, properties jsonb, context jsonb
)"""
EXPORT_ROWS = """
INSERT INTO {t} VALUES
 ('c1', 'u1', NULL, 'track', 'Page Viewed', '2024-03-05 12:00:00+00', '2024-03-05 12:00:01+00',
  '{{"path": "/pricing", "n": 1}}', '{{"groupId": "acct-9", "ip": "1.2.3.4"}}'),
 ('c2', NULL, 'anon-3', 'track', 'Signed Up', '2024-03-06 14:00:00+02', '2024-03-06 12:00:01+00',
  '{{"plan": "pro", "seats": [1, 2]}}', '{{}}'),
 ('c3', 'u4', NULL, 'identify', NULL, '2024-03-06 13:00:00+00', '2024-03-06 13:00:01+00', NULL, NULL),
 ('c4', 'u5', 'anon-5', 'track', 'Page Viewed', '2024-03-07 09:00:00+00', '2024-03-07 09:00:01+00', NULL,
  '{{"groupId": "acct-2"}}')"""


def _per_event_table(conn: Any, schema: str, *fills: str) -> str:
    """Segment's ``order_completed`` table in ``schema``, holding the three rows and ``fills``; its name."""
    table = f"{schema}.order_completed"
    for statement in (PER_EVENT_DDL, PER_EVENT_ROWS, *fills):
        conn.execute(statement.format(t=table))
    return table


def test_a_segment_per_event_table_loads_with_its_event_name_context_and_properties(
    cli: Cli, mock: MockSpotzee, pg: tuple[str, Any, str]
) -> None:
    url, conn, schema = pg
    table = _per_event_table(conn, schema)

    # No --preset: the columns are detected as Segment's.
    result = cli(url, "--table", table)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "the columns fit preset 'segment'" in result.stderr
    # The name is event_text, the name live calls carry, not the table's slug; context_* and the bookkeeping
    # columns stay out of data, except the account (group_id) and the email trait.
    assert mock.events == [
        {"name": "Order Completed", "external_id": "u1", "anonymous_id": "anon-1",
         "created_at": "2024-03-01T10:00:00.120Z",
         "data": {"order_id": "o-1", "revenue": 12.50, "currency": "EUR", "group_id": "acct-9"},
         "user": {"email": "a@example.com"}},
        {"name": "Order Completed", "external_id": "u2", "created_at": "2024-03-02T08:00:00.000Z",
         "data": {"order_id": "o-2", "revenue": 7.00, "currency": "USD", "coupon": "SPRING"}},
        {"name": "Order Completed", "anonymous_id": "anon-3", "created_at": "2024-03-02T23:59:59.999Z",
         "data": {"order_id": "o-3", "revenue": 0.10, "currency": "EUR"}},
    ]  # fmt: skip
    assert [r["events"] for r in mock.requests] == [3]


def test_a_camel_case_track_export_merges_properties_and_the_account(
    cli: Cli, mock: MockSpotzee, pg: tuple[str, Any, str], tmp_path: Any
) -> None:
    url, conn, schema = pg
    table = f"{schema}.tracks_export"
    conn.execute(EXPORT_DDL.format(t=table))
    conn.execute(EXPORT_ROWS.format(t=table))
    report = tmp_path / "report.json"

    result = cli(url, "--table", table, "--preset", "segment", "--report", str(report))

    assert result.returncode == 0, result.stderr[-2000:]
    assert mock.events == [
        {"name": "Page Viewed", "external_id": "u1", "created_at": "2024-03-05T12:00:00.000Z",
         "data": {"n": 1, "path": "/pricing", "group_id": "acct-9"}},
        {"name": "Signed Up", "anonymous_id": "anon-3", "created_at": "2024-03-06T12:00:00.000Z",
         "data": {"plan": "pro", "seats": [1, 2]}},
        {"name": "Page Viewed", "external_id": "u5", "anonymous_id": "anon-5", "created_at": "2024-03-07T09:00:00.000Z",
         "data": {"group_id": "acct-2"}},
    ]  # fmt: skip
    r = json.loads(report.read_text())
    assert (r["rows_read"], r["events_sent"], r["rejected"], r["rows_filtered"]) == (4, 3, 0, 1)
    assert r["rows_filtered_by_value"] == {"type=identify": 1}
    # messageId is the key: a second run of the same job sends nothing.
    again = cli(url, "--table", table, "--preset", "segment")
    assert again.returncode == 0 and len(mock.events) == 3 and len(mock.requests) == 1, again.stdout


def test_verify_reads_a_segment_table_against_every_page_of_spotzee(
    cli: Cli, mock: MockSpotzee, pg: tuple[str, Any, str]
) -> None:
    url, conn, schema = pg
    table = _per_event_table(conn, schema, PER_EVENT_YEAR)
    source = [url, "--table", table, "--preset", "segment"]
    assert cli(*source).returncode == 0 and mock.event_count == 733
    mock.reads.clear()  # the load's GET /journeys: verify's reads from here

    # Rows added after the load: exactly their (day, name) pairs fall short.
    conn.execute(
        f'INSERT INTO {table} (id, user_id, event, event_text, "timestamp", order_id) VALUES '
        "('late1', 'u1', 'order_completed', 'Order Completed', '2023-06-01 08:00+00', 'late-1'), "
        "('late2', 'u1', 'order_completed', 'Order Completed', '2023-06-01 09:00+00', 'late-2'), "
        "('late3', 'u2', 'order_completed', 'Order Completed', '2023-12-31 23:00+00', 'late-3')"
    )
    # Spotzee announces a key window of two requests a second: verify waits it out instead of meeting 429s.
    mock.configure({"key_rate_limit": 2, "key_rate_window_s": 1.0})
    result = cli("verify", *source, "--json")

    assert result.returncode == 4, result.stdout + result.stderr
    days = json.loads(result.stdout)["days"]
    assert len(days) == 365 + 2
    assert {(d["day"], d["event_name"]): d["difference"] for d in days if d["difference"]} == {
        ("2023-06-01", "Order Completed"): -2,
        ("2023-12-31", "Order Completed"): -1,
    }
    assert sum(d["spotzee"] for d in days) == 733 and sum(d["source"] for d in days) == 736
    # The 367 days are two windows (at most 366 days each, the published limit): 366 days of 100-group pages (four,
    # each after the first asked with the cursor the previous one gave), then one page for the last day.
    queries = [urllib.parse.parse_qs(r["query"]) for r in mock.reads]
    assert [r["status"] for r in mock.reads] == [200] * 5
    assert Counter("cursor" in q for q in queries) == Counter({False: 2, True: 3})
    assert len({(q["from"][0], q["to"][0]) for q in queries}) == 2
    assert all(q["event_name"] == ["Order Completed"] and q["limit"] == ["100"] for q in queries)
