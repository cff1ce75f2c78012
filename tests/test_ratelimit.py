"""Pacing: no window of Spotzee's limit ever sees more than it allows, even after a sender fell behind; an
announced key window (X-RateLimit-Remaining / -Reset) is never overrun, whatever is in flight."""

from __future__ import annotations

import bisect

import pytest

from spotzee_loader.api.ratelimit import RateLimiter, announced_window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def busiest_window(times: list[float], width: float) -> int:
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


def test_a_late_sender_never_overruns_a_strict_one_second_window() -> None:
    clock = Clock()
    limiter = RateLimiter(95, clock=clock, sleep=clock.sleep)
    sent = []
    for i in range(2_000):
        if i % 300 == 0:
            clock.sleep(2.0)  # the sender was busy (GC, a slow batch): it must not burst to catch up
        limiter.acquire()
        sent.append(clock())
    assert busiest_window(sent, 1.0) <= 97  # under a strict 100 requests / 1 s window
    assert busiest_window(sent, 10.0) <= 952  # and under Spotzee's 1,000 / 10 s
    steady = sent[1:300]
    assert (len(steady) - 1) / (steady[-1] - steady[0]) >= 94.9  # while not held up, the full pace


def test_unthrottled_never_waits() -> None:
    clock = Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire() == 0.0 for _ in range(100)) and clock.now == 1000.0


def test_a_pause_holds_every_sender_until_the_reset() -> None:
    clock = Clock()
    limiter = RateLimiter(95, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause_until(clock.now + 5.0)
    limiter.acquire()
    assert clock.now >= 1005.0


@pytest.mark.parametrize(
    ("headers", "window"),
    [
        ({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "7"}, (3, 7.0)),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000012"}, (0, 12.0)),  # a Unix time
        ({"x-ratelimit-remaining": "-1", "x-ratelimit-reset": "2.5"}, (0, 2.5)),
        ({"x-ratelimit-remaining": "0"}, None),
        ({"x-ratelimit-reset": "3"}, None),
        ({"x-ratelimit-remaining": "many", "x-ratelimit-reset": "3"}, None),
        ({"x-ratelimit-remaining": "1", "x-ratelimit-reset": "inf"}, None),
        ({}, None),
    ],
)
def test_the_announced_window_is_read_from_the_headers(
    headers: dict[str, str], window: tuple[int, float] | None
) -> None:
    assert announced_window(headers, wall_clock=lambda: 1_700_000_000.0) == window


def test_every_sender_waits_once_the_announced_window_is_spent() -> None:
    clock = Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.answered((2, 5.0))
    assert [limiter.acquire() for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire() == 5.0 and clock.now == 1005.0  # the third waits for the reset
    assert limiter.acquire() == 0.0  # a new window: sent until an answer tells its count


def test_requests_in_flight_are_taken_from_the_allowance() -> None:
    clock = Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    # Three answers of one window, in any order: the server may not have counted the others in flight yet.
    limiter.answered((4, 10.0))
    limiter.answered((5, 10.0))
    limiter.answered((3, 10.0))
    assert [limiter.acquire() for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire() == 10.0


def test_the_first_answer_fixes_the_windows_end() -> None:
    clock = Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.answered((1, 5.0))  # ends at 1005
    clock.sleep(2.0)
    limiter.acquire()
    limiter.answered((0, 4.0))  # the same end rounded up: 1006
    assert limiter.acquire() == 3.0 and clock.now == 1005.0


def test_an_answer_without_the_headers_changes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.acquire()
        limiter.answered(None)
    assert clock.now == 1000.0
