"""What the bench scripts share: a mock Spotzee in its own process, and a command run under watch
(wall time, peak RSS sampled every 50 ms, CPU time, optional kill -9 when a condition turns true)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psutil
import requests

KEY = "sk_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MockProcess:
    """``spotzee-loader mock-server --no-store`` in a separate process, so it competes for cores, not the GIL; it
    enforces the published per-IP rules unless told not to."""

    def __init__(self, *options: str, store: bool = False, ip_limits: bool = True) -> None:
        """``ip_limits=False`` for unthrottled throughput runs (``--rate-limit 0``): the published per-IP rules
        would block them, as Spotzee would."""
        self.port = free_port()
        self.options = (*options, *(() if store else ("--no-store",)), *(() if ip_limits else ("--no-ip-limits",)))
        self.base_url = f"http://127.0.0.1:{self.port}/api/client"

    def __enter__(self) -> MockProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spotzee_loader", "mock-server", "--port", str(self.port), "--api-key", KEY,
             *self.options],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None and "listening" in self.proc.stdout.readline()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def stats(self) -> dict[str, Any]:
        return requests.get(f"http://127.0.0.1:{self.port}/_mock/stats", timeout=5).json()  # type: ignore[no-any-return]

    def cpu_s(self) -> float:
        """CPU seconds the mock server has used so far (user + system)."""
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def reset(self) -> None:
        requests.post(f"http://127.0.0.1:{self.port}/_mock/reset", timeout=5)


@dataclass
class Run:
    seconds: float
    peak_rss: int
    cpu_s: float
    code: int | None
    """Exit code, or ``None`` when killed."""


def run_loader(cmd: list[str], kill_when: Callable[[], bool] | None = None) -> Run:
    """Run ``cmd`` to its end (or kill -9 it once ``kill_when()`` is true), watching its memory and CPU."""
    if "--restart" in cmd and "--yes" not in cmd:  # a bench resends on purpose: no terminal to answer the question
        cmd = [*cmd, "--yes"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak, cpu = 0, 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
            times = watched.cpu_times()
            cpu = times.user + times.system
        except psutil.NoSuchProcess:
            break
        if kill_when is not None and kill_when():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return Run(time.monotonic() - started, peak, cpu, None)
        time.sleep(0.05)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        print(f"    (exit {proc.returncode}: {(proc.stderr.read() if proc.stderr else '')[-500:]})")
    return Run(seconds, peak, cpu, proc.returncode)


def pace(stats: dict[str, Any]) -> str:
    """The mock's view of a paced run: events, requests and their rate between the first and the last request
    (the sustained pace, without start-up), and the share answered 429."""
    span = stats["last_request_at"] - stats["first_request_at"]
    limited = stats["statuses"].get("429", 0)
    return (
        f"{stats['events']:,} events, {stats['requests']:,} requests in {span:.1f}s between first and last = "
        f"{stats['events'] / span:,.0f} events/s ({stats['requests'] / span:.1f} req/s); 429s: {limited} "
        f"({limited / stats['requests']:.2%})"
    )


def fresh_database(admin_url: str, name: str) -> None:
    """Drop and create database ``name`` (a clean checkpoint store for one bench run)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
