"""Dependencies a test may break: a PostgreSQL cluster of its own (initdb, pg_ctl) to restart at will, and a small
disk (tmpfs) to fill.

The machine's cluster is shared with the Airflow deployment tests running alongside: restarting it would break
them. This one lives in a temp folder, listens on a free loopback port and is gone when the test ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
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
