"""Dependencies a test may break: a PostgreSQL cluster of its own (initdb, pg_ctl) to restart at will, a small
disk (tmpfs) to fill, and a TCP relay to cut.

The machine's cluster is shared with the Airflow deployment tests running alongside: restarting it would break
them. This one lives in a temp folder, listens on a free loopback port and is gone when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """``url`` reaches it as ``postgres`` (trust); ``restart()`` is what a maintenance window or a crash does."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self.home = Path(tempfile.mkdtemp(prefix="spotzee-pg-"))
        self.data = self.home / "data"
        self.port = _free_port()
        self._log = str(self.home / "log")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user when the tests are root.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.home, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()

    def _options(self) -> str:
        return f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.home} -c fsync=off"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self._bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", self._log, "-w", "-o", self._options(), "start")

    def restart(self, mode: str = "fast") -> None:
        """Stop (``fast``: every session terminated; ``immediate``: as a crash) and start again."""
        # -l: the server's output goes to the log, not to this process's pipe (which would never close).
        self._run("pg_ctl", "-D", str(self.data), "-l", self._log, "-m", mode, "-w", "-o", self._options(), "restart")

    def crash(self) -> None:
        """Stop at once, as a crash does, and stay down until ``start``."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*self._as, str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster this test may restart. Skips outside CI when the server binaries are missing."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the checkpoint-restart tests.")
        pytest.skip(f"{reason}: apt-get install postgresql")
    cluster = PrivateCluster(bin_dir)
    try:
        yield cluster
    finally:
        cluster.remove()


class SmallDisk:
    """A tmpfs of a few hundred KiB mounted for one test: a disk that really fills (ENOSPC), then grows."""

    def __init__(self, path: Path, size_kib: int) -> None:
        self.path = path
        path.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)], check=True,
                       capture_output=True, timeout=30)  # fmt: skip

    def grow(self, size_kib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size_kib}k", str(self.path)], check=True, capture_output=True,
                       timeout=30)  # fmt: skip

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], SmallDisk]]:
    """``small_disk(size_kib)`` mounts a fresh tmpfs; skips outside CI where mounting is not allowed."""
    mounted: list[SmallDisk] = []

    def mount(size_kib: int) -> SmallDisk:
        try:
            mounted.append(SmallDisk(tmp_path / f"disk{len(mounted)}", size_kib))
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            reason = f"cannot mount a tmpfs here ({getattr(exc, 'stderr', b'') or exc!r})"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason}; CI must run the disk-full tests (as root, or with CAP_SYS_ADMIN).")
            pytest.skip(reason)
        return mounted[-1]

    yield mount
    for disk in mounted:
        disk.unmount()


_LONGEST_WAIT = 60.0  # how long a cut held for a client's first try waits for it


class FlakyTcp:
    """A TCP relay on loopback in front of a real server, which can cut: reset every open connection and refuse
    (reset at once) new ones for a while — what a restarting load balancer or a network blip does to a client."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._down_until = 0.0
        self._held_for: float | None = None
        self.connections_cut = 0
        threading.Thread(target=self._accept, name="flaky-tcp", daemon=True).start()

    def cut(self, seconds: float, *, from_first_try: bool = False) -> int:
        """Reset every open connection and refuse new ones for ``seconds``; how many open ones were reset.

        ``from_first_try``: the ``seconds`` start at the first connection refused (at most a minute later), so a
        client that reads now and then meets the whole outage, however long it was idle when the cut began."""
        with self._lock:
            self._down_until = time.monotonic() + (_LONGEST_WAIT if from_first_try else seconds)
            self._held_for = seconds if from_first_try else None
            victims, self._open = list(self._open), set()
        for sock in victims:
            _reset(sock)
        self.connections_cut += len(victims)
        return len(victims)

    def close(self) -> None:
        self._server.close()
        self.cut(0)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            with self._lock:
                now = time.monotonic()
                refused = now < self._down_until
                if refused and self._held_for is not None:
                    self._down_until, self._held_for = now + self._held_for, None
            if refused:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._open.difference_update((src, dst))


def _reset(sock: socket.socket) -> None:
    """Close with RST (linger 0), as a dropped connection looks to the other side."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
