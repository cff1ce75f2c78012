"""Shared fixtures: a real mock Spotzee on loopback, the real CLI in a subprocess, Parquet writers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotzee_loader.api.mock import MockConfig, MockSpotzee

from .breakables import private_pg, small_disk  # noqa: F401 - fixtures of their own module, shared here

API_KEY = "sk_test_0123456789secret"


@pytest.fixture
def mock() -> Iterator[MockSpotzee]:
    server = MockSpotzee(MockConfig(api_key=API_KEY)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def write_parquet(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(table: pa.Table | dict[str, Any], name: str = "data.parquet", **kwargs: Any) -> Path:
        if isinstance(table, dict):
            table = pa.table(table)
        path = tmp_path / name
        pq.write_table(table, path, **kwargs)
        return path

    return write


class Cli:
    """Runs ``python -m spotzee_loader`` as a user would, with a private checkpoint and state dir."""

    def __init__(self, tmp_path: Path, mock: MockSpotzee | None) -> None:
        self.tmp = tmp_path
        self.mock = mock
        self.checkpoint = tmp_path / "state" / "checkpoints.sqlite"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTZEE_")}
        self.env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
        self.umask = -1  # the test process's own; a test sets another to show the loader's modes do not follow it

    def args(self, *args: str, key: str | None = API_KEY) -> list[str]:
        cmd = [sys.executable, "-m", "spotzee_loader", *args]
        if self.mock is not None and "--base-url" not in args:
            cmd += ["--base-url", self.mock.base_url]
        if key is not None and "--api-key" not in args:
            cmd += ["--api-key", key]
        if "--checkpoint" not in args:
            cmd += ["--checkpoint", str(self.checkpoint)]
        return cmd

    def __call__(self, *args: str, key: str | None = API_KEY, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.args(*args, key=key),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            umask=self.umask,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, umask=self.umask
        )


@pytest.fixture
def cli(tmp_path: Path, mock: MockSpotzee) -> Cli:
    return Cli(tmp_path, mock)


PG_ADMIN_URL = os.environ.get("SPOTZEE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; its URL. Skips outside CI when PostgreSQL is down."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({str(exc).strip()})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run starts the server).")
        pytest.skip(f"{reason}; start it with: pg_ctlcluster --skip-systemctl-redirect <version> main start")
    name = f"spotzee_test_{os.getpid()}"
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def pg(pg_database: str) -> Iterator[tuple[str, Any, str]]:
    """``(database URL, autocommit connection, a fresh schema name)`` for one test."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(pg_database, autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_database, conn, schema
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


class Proxy:
    """A real HTTP proxy on loopback (proxy.py): forwards plain HTTP, tunnels HTTPS with CONNECT, may ask for
    a user and password, and may itself be reached over TLS (an ``https://`` proxy)."""

    def __init__(self, tmp_path: Path, user: str | None, password: str | None, tls: tuple[Path, Path] | None) -> None:
        here = tmp_path / f"proxy-{time.monotonic_ns()}"
        here.mkdir()
        port_file, self.log = here / "port", here / "log"
        args = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
        args += ["--num-workers", "1", "--num-acceptors", "1", "--threaded", "--log-file", str(self.log)]
        if user is not None:
            args += ["--basic-auth", f"{user}:{password}"]
        if tls is not None:
            args += ["--cert-file", str(tls[0]), "--key-file", str(tls[1])]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.process.poll() is None, "proxy.py exited at start"
            assert time.monotonic() < deadline, "proxy.py did not start within 30 s"
            time.sleep(0.05)
        self.port = int(port_file.read_text().strip())
        scheme = "https" if tls else "http"
        userinfo = f"{user}:{password}@" if user is not None else ""
        self.url = f"{scheme}://{userinfo}127.0.0.1:{self.port}"

    def forwarded(self, path: str, expected: int = 1, timeout: float = 10.0) -> int:
        """How many requests whose line holds ``path`` the proxy logged (a CONNECT tunnel logs host:port).

        proxy.py logs a request when its connection ends, a moment after the client closed it: wait up to
        ``timeout`` for ``expected`` lines, then count (so a count above ``expected`` still shows).
        """
        deadline = time.monotonic() + timeout
        while True:
            count = sum(1 for line in self.log.read_text().splitlines() if "access_log" in line and path in line)
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def proxy_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Proxy] = []

    def start(user: str | None = None, password: str | None = None, tls: tuple[Path, Path] | None = None) -> Proxy:
        started.append(Proxy(tmp_path, user, password, tls))
        return started[-1]

    yield start
    for p in started:
        p.stop()


class PrivateCa:
    """A CA made for one test (trustme) and a certificate it signed for 127.0.0.1 and localhost."""

    def __init__(self, tmp_path: Path) -> None:
        import trustme

        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.bundle = tmp_path / "private-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.bundle))
        self.cert_file, self.key_file = tmp_path / "server.pem", tmp_path / "server.key"
        self.cert.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self.cert.private_key_pem.write_to_path(str(self.key_file))

    def server_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context


@pytest.fixture
def private_ca(tmp_path: Path) -> PrivateCa:
    return PrivateCa(tmp_path)


@pytest.fixture
def tls_mock(private_ca: PrivateCa) -> Iterator[MockSpotzee]:
    """The mock Spotzee over HTTPS, its certificate signed by ``private_ca``."""
    server = MockSpotzee(MockConfig(api_key=API_KEY), tls=private_ca.server_context()).start()
    try:
        yield server
    finally:
        server.stop()


def role_url(pg_database: str, role: str, password: str, *, in_query: bool = False) -> str:
    """A URL of the test database for ``role``, its password in the userinfo or as ``?password=``."""
    db = pg_database.rsplit("/", 1)[1]
    if in_query:
        return f"postgresql://{role}@127.0.0.1:5432/{db}?password={password}"
    return f"postgresql://{role}:{password}@127.0.0.1:5432/{db}"


@pytest.fixture
def secret_role(pg: tuple[str, Any, str]) -> Iterator[str]:
    """A PostgreSQL login role with a password (loopback trust auth accepts it; libpq still carries it)."""
    _, conn, schema = pg
    role = f"loader_{schema}"
    conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'SrcPw-7f3a9c'")
    try:
        yield role
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def wait_for_events(proc: subprocess.Popen[str], mock: MockSpotzee, events: int, timeout: float = 60) -> None:
    """Until the mock holds ``events`` events, with ``proc`` still running (a fault injected then lands mid-run)."""
    deadline = time.monotonic() + timeout
    while mock.event_count < events:
        assert proc.poll() is None, f"the load ended before sending {events} events"
        assert time.monotonic() < deadline, f"the load did not send {events} events within {timeout}s"
        time.sleep(0.02)


def kill_once_sending(proc: subprocess.Popen[str], mock: MockSpotzee, events: int, timeout: float = 60) -> None:
    """SIGKILL ``proc`` once the mock holds ``events`` events: a kill proven to land mid-run, not before or after."""
    wait_for_events(proc, mock, events, timeout)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL


@pytest.fixture(scope="session")
def s3() -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback; the environment a user would set for an S3-compatible store."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    try:
        yield env
    finally:
        server.stop()


def s3_client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}


@pytest.fixture
def mariadb() -> Iterator[tuple[Any, str]]:
    """An open connection and a fresh table name; skips outside CI when MariaDB is down."""
    import pymysql

    try:
        conn = pymysql.connect(**MARIADB, autocommit=True, charset="utf8mb4", connect_timeout=5)
    except pymysql.err.OperationalError as exc:
        reason = f"MariaDB is not reachable at 127.0.0.1:3306 ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the MariaDB tests.")
        pytest.skip(
            f"{reason}; start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
        )
    table = f"orders_{uuid.uuid4().hex[:10]}"
    try:
        yield conn, table
    finally:
        conn.cursor().execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


@pytest.fixture(scope="session")
def gcs() -> Iterator[dict[str, str]]:
    """gcp-storage-emulator on loopback (in memory); the environment a user would set for it."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "gcp-storage-emulator"), "start", "--host", "127.0.0.1"]
    server = subprocess.Popen([*command, "--port", str(port), "--in-memory"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_port(port, server, "The GCS emulator")
        yield {"STORAGE_EMULATOR_HOST": base}
    finally:
        server.terminate()
        server.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account key (public, the same in every Azurite)."""


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Azurite's blob service on loopback; the connection string a user would set for it."""
    # Kept outside the checkout (where .ci/run installs it) so that a fresh checkout of CI on the same machine
    # reuses it instead of spending ~25 s of its 15 minutes on npm.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    prefix = cache / "spotzee-loader" / "azurite3"
    binary = prefix / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        reason = f"Azurite is not installed at {binary}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs it with npm.")
        pytest.skip(f"{reason}; install it with: npm install --prefix {prefix} azurite@3")
    port = _free_port()
    data = tmp_path_factory.mktemp("azurite")
    server = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data), "--silent",
         "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, server, "Azurite")
        yield {
            "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        }
    finally:
        server.terminate()
        server.wait(10)


def _wait_for_port(port: int, server: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.1)


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the package once, before the workers start: where PYTHONDONTWRITEBYTECODE is set (CI here), each
    of the ~1,000 loader and Airflow processes the suite starts would compile it from source again (~0.1 s each)."""
    if not hasattr(config, "workerinput"):
        import compileall

        compileall.compile_dir(Path(__file__).resolve().parent.parent / "spotzee_loader", quiet=1)


# Last: the Airflow fixtures' module reads this one's API_KEY.
from .airflow_local import airflow, airflow_template  # noqa: E402, F401 - fixtures of their own module, shared here
