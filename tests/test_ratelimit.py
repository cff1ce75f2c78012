"""Pacing: no window of Spotzee's limit ever sees more than it allows, even after a sender fell behind."""

from __future__ import annotations

import bisect

from spotzee_loader.api.ratelimit import RateLimiter


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
