"""Any database SQLAlchemy reaches as a source: PostgreSQL through psycopg 3 (its results through COPY as CSV),
MySQL and MariaDB through PyMySQL with server-side cursors, Redshift through the cursor."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterator
from typing import Any, NoReturn

import pyarrow as pa

from ..config import SourceOptions
from ..errors import ConfigError, SourceUnavailableError
from ..mapping import Mapping
from ..outages import first_contact, first_line, is_transient
from ..redaction import redact
from .arrow_rows import rows_to_batch
from .mysql_types import column_kinds, json_columns_from_checks
from .outages import TransientSourceError
from .pg_copy import copy_batches, describe, infinite_times_as_text
from .warehouse import SQL_PARAM, WarehouseSource

log = logging.getLogger(__name__)


class SqlAlchemySource(WarehouseSource):
    """Any database SQLAlchemy reaches; PostgreSQL through psycopg 3 with server-side cursors."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        super().__init__(url, options)
        try:
            import sqlalchemy as sa
        except ImportError:
            raise ConfigError("database sources need SQLAlchemy: pip install 'spotzee-loader[postgres]'.") from None
        self._sa = sa
        scheme, _, rest = url.partition("://")
        if scheme in ("postgresql", "postgres"):
            url = f"postgresql+psycopg://{rest}"
        elif scheme in ("mysql", "mariadb"):  # PyMySQL, in utf8mb4 (the 4-byte UTF-8 every text may hold)
            url = f"{scheme}+pymysql://{rest}" + ("&" if "?" in rest else "?") + "charset=utf8mb4"
        try:
            self._engine = sa.create_engine(url, pool_pre_ping=True)
            self._conn: Any = first_contact(
                self._engine.connect,
                f"the source database ({redact(url)})",
                options.retry_budget_s,
                (sa.exc.SQLAlchemyError,),
                (SourceUnavailableError, f"the source database {redact(url)}", "sent"),
            )
        except ImportError as exc:
            raise ConfigError(
                f"the driver for {scheme} is not installed ({exc.name}); install it, e.g. "
                "pip install 'spotzee-loader[postgres]'."
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise ConfigError(f"cannot connect to {redact(url)}: {first_line(exc)}.") from None
        self._timezone: str | None = None
        # PostgreSQL through psycopg 3 streams results as CSV through COPY, typed by Arrow (pg_copy).
        self._copy_reads = self._engine.dialect.name == "postgresql" and self._engine.dialect.driver == "psycopg"
        if self._copy_reads and _is_redshift(self._conn, sa):
            # Redshift speaks PostgreSQL's protocol but has no COPY ... TO STDOUT: rows through the cursor.
            log.info("%s is Amazon Redshift: rows are read through the cursor (it has no COPY TO STDOUT).", redact(url))
            self._copy_reads = False
        self._mysql = self._engine.dialect.name in ("mysql", "mariadb")
        self._json_columns: set[str] | None = None
        self._driver_errors: tuple[type[Exception], ...] = ()
        if self._copy_reads:
            import psycopg

            self._driver_errors = (psycopg.Error,)
            sa.event.listen(self._engine, "connect", lambda dbapi, _record: infinite_times_as_text(dbapi))
            infinite_times_as_text(self._conn.connection.driver_connection)  # made before the listener

    def quote(self, identifier: str) -> str:
        return str(self._engine.dialect.identifier_preparer.quote_identifier(identifier))

    def _query_batches(self, sql: str, params: dict[str, Any], batch_size: int) -> Iterator[pa.RecordBatch]:
        sa = self._sa
        try:
            conn = self._connection()
            # One transaction per page: no snapshot is held between pages of a long load.
            with conn.begin():
                self._apply_session()
                if self._copy_reads:
                    copied = self._copied_batches(sql, params, batch_size)
                    if copied is not None:
                        yield from copied
                        return
                json_columns = self._mysql_json() if self._mysql else set()  # before the streaming cursor opens
                # Per statement: Connection.execution_options() would switch every later statement to a cursor.
                result = conn.execute(
                    sa.text(sql), params, execution_options={"stream_results": True, "max_row_buffer": batch_size}
                )
                names = list(result.keys())
                kinds = column_kinds(result.cursor.description, json_columns) if self._mysql else None
                emitted = False
                for rows in result.partitions(batch_size):
                    emitted = True
                    yield rows_to_batch(names, rows, kinds)
                if not emitted:
                    yield pa.RecordBatch.from_pylist([], schema=pa.schema([(n, pa.null()) for n in names]))
        except (sa.exc.SQLAlchemyError, *self._driver_errors) as exc:
            self._raise(exc)

    def _raise(self, exc: BaseException) -> NoReturn:
        """An outage is retried by ``batches``; anything else needs a person: one sentence, exit 2."""
        if is_transient(exc):
            raise TransientSourceError(first_line(exc)) from None
        raise ConfigError(f"the database refused the query for {self.description}: {first_line(exc)}.") from None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _reconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the old connection is gone; only its pool slot is released
                conn.invalidate()
                conn.close()

    def _copied_batches(self, sql: str, params: dict[str, Any], batch_size: int) -> Iterator[pa.RecordBatch] | None:
        """The result through COPY as CSV (``pg_copy``), or ``None`` when a column type needs the row reader."""
        from psycopg import sql as pgsql

        raw: Any = self._conn.connection.driver_connection
        # COPY takes no bind parameters: the values go in as literals, quoted by psycopg for this connection.
        query = SQL_PARAM.sub(lambda m: pgsql.Literal(params[m[1]]).as_string(raw) if m[1] in params else m[0], sql)
        plan = describe(raw, query)
        if plan is None:
            return None
        return copy_batches(raw, plan.statement(query, self.quote), plan, batch_size)

    def _scalar(self, sql: str, params: dict[str, Any]) -> Any:
        sa = self._sa
        try:
            conn = self._connection()
            with conn.begin():
                self._apply_session()
                return conn.execute(sa.text(sql), params).scalar()
        except (sa.exc.SQLAlchemyError, *self._driver_errors) as exc:
            self._raise(exc)

    def _set_timezone(self, timezone: str) -> None:
        self._timezone = timezone

    def _bind_window(self, params: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
        if not self._mysql or not params:
            return params
        # PyMySQL writes a datetime's wall time and drops its zone: give the wall time the column compares in.
        # TIMESTAMP compares in the session zone (UTC); DATETIME holds the mapping's local time.
        created = self.schema().field(mapping.created_at).type if mapping.created_at in self.schema().names else None
        utc = isinstance(created, pa.TimestampType) and created.tz is not None
        zone = dt.UTC if utc else zoneinfo.ZoneInfo(mapping.timezone)
        return {k: v.astimezone(zone).replace(tzinfo=None) for k, v in params.items()}

    def _mysql_json(self) -> set[str]:
        """MariaDB's JSON columns of the ``--table`` (found once, from its json_valid checks)."""
        if self._json_columns is None:
            self._json_columns = set()
            # The server says what it is: a mysql:// URL to MariaDB gets the "mysql" dialect, is_mariadb set.
            if getattr(self._engine.dialect, "is_mariadb", False) and self.options.table:
                schema, _, table = self.options.table.rpartition(".")
                checks = self._conn.execute(
                    self._sa.text(
                        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                        "WHERE CONSTRAINT_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :table"
                    ),
                    {"schema": schema or None, "table": table},
                ).scalars()
                self._json_columns = json_columns_from_checks(checks)
        return self._json_columns

    def _apply_session(self) -> None:
        if self._mysql:
            # TIMESTAMP values come back in the session's zone: UTC makes them the instants they are (DATETIME has
            # no zone and is left as written). One read-only transaction with a consistent snapshot per page.
            self._conn.execute(self._sa.text("SET time_zone = '+00:00'"))
            self._conn.execute(self._sa.text("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT"))
            return
        if self._engine.dialect.name != "postgresql":
            return
        # The loader only reads: a user's --sql cannot write, whatever it says.
        self._conn.execute(self._sa.text("SET TRANSACTION READ ONLY"))
        # Naive timestamps and --since/--until are then compared in the mapping's zone, as the mapping reads them.
        if self._timezone:
            self._conn.execute(self._sa.text("SELECT set_config('TimeZone', :tz, true)"), {"tz": self._timezone})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._engine.dispose()


def _is_redshift(conn: Any, sa: Any) -> bool:
    try:
        return "redshift" in str(conn.execute(sa.text("SELECT version()")).scalar()).lower()
    finally:
        conn.rollback()  # the probe's transaction: each page opens its own
