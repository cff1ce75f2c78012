"""Snowflake as a source, through Snowflake's own connector: every page comes back as Arrow record batches
(``fetch_arrow_batches``), never as Python rows, with the same keyset pages, windows and resume as every database.

``snowflake://USER:PASSWORD@ACCOUNT/DATABASE/SCHEMA?warehouse=WH&role=ROLE`` (the URL snowflake-sqlalchemy takes;
``host``, ``port`` and ``protocol`` reach a Snowflake-compatible endpoint). Snowflake folds unquoted names to upper
case: a column it holds as ``ORDER_ID`` is ``order_id`` here, as it was written in the ``CREATE TABLE``, so mappings
and presets read the same on every database; quoted mixed-case names stay as they are.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any, NoReturn

import pyarrow as pa

from ..config import SourceOptions
from ..errors import ConfigError, SourceUnavailableError
from ..outages import first_contact, first_line, is_transient
from ..redaction import redact
from .outages import TransientSourceError
from .warehouse import WarehouseSource, sql_parameters

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_CONNECT_KEYS = ("warehouse", "role", "host", "port", "protocol", "authenticator", "region")


def connect_args(url: str) -> dict[str, Any]:
    """The connector's arguments from a ``snowflake://`` URL."""
    parts = urllib.parse.urlsplit(url)
    path = [urllib.parse.unquote(p) for p in parts.path.split("/") if p]
    if not parts.hostname or not parts.username:
        raise ConfigError(f"{redact(url)} names no account or user: snowflake://USER:PASSWORD@ACCOUNT/DATABASE/SCHEMA.")
    args: dict[str, Any] = {"account": parts.hostname, "user": urllib.parse.unquote(parts.username)}
    if parts.password is not None:
        args["password"] = urllib.parse.unquote(parts.password)
    if path:
        args["database"] = path[0]
    if len(path) > 1:
        args["schema"] = path[1]
    query = dict(urllib.parse.parse_qsl(parts.query))
    unknown = sorted(set(query) - set(_CONNECT_KEYS))
    if unknown:
        raise ConfigError(f"{redact(url)}: unknown parameter(s) {', '.join(unknown)}; use {', '.join(_CONNECT_KEYS)}.")
    args.update(query)
    if "port" in args:
        args["port"] = int(args["port"])
    return args


class SnowflakeSource(WarehouseSource):
    """A Snowflake table or query, read page by page as Arrow batches."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        super().__init__(url, options)
        try:
            import snowflake.connector
        except ImportError:
            raise ConfigError(
                "Snowflake sources need Snowflake's connector: pip install 'spotzee-loader[snowflake]'."
            ) from None
        self._errors: tuple[type[Exception], ...] = (snowflake.connector.errors.Error,)
        args = connect_args(url)
        where = f"the source database ({redact(url)})"
        try:
            self._conn: Any = first_contact(
                lambda: snowflake.connector.connect(**args, login_timeout=30, network_timeout=300),
                where,
                options.retry_budget_s,
                self._errors,
                (SourceUnavailableError, f"the source database {redact(url)}", "sent"),
            )
        except self._errors as exc:
            raise ConfigError(f"cannot connect to {redact(url)}: {first_line(exc)}.") from None
        self._args = args
        self._held: dict[str, str] = {}
        """Column names as shown here (``order_id``) -> as Snowflake holds them (``ORDER_ID``)."""

    def quote(self, identifier: str) -> str:
        held = self._held.get(identifier)
        if held is None and _PLAIN.match(identifier):
            return identifier  # a name as written in SQL: Snowflake folds it as it folded it when the table was made
        name = held or identifier
        return '"' + name.replace('"', '""') + '"'

    def _query_batches(self, sql: str, params: dict[str, Any], batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            cursor = self._connection().cursor()
            try:
                if params:  # the connector's own binding (pyformat); a literal % is doubled for it
                    text, values = sql_parameters(sql.replace("%", "%%"), params, "%({})s")
                    cursor.execute(text, values)
                else:
                    cursor.execute(sql)
                emitted = False
                for table in cursor.fetch_arrow_batches():
                    for batch in table.to_batches(batch_size):
                        emitted = True
                        yield self._shown(batch)
                if not emitted:
                    empty = cursor.fetch_arrow_all(force_return_table=True)
                    yield self._shown(pa.RecordBatch.from_pylist([], schema=empty.schema))
            finally:
                cursor.close()
        except self._errors as exc:
            self._raise(exc)

    def _shown(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Names Snowflake folded to upper case, in lower case (``ORDER_ID`` -> ``order_id``)."""
        names = []
        for name in batch.schema.names:
            shown = name.lower() if name.isupper() else name
            self._held[shown] = name
            names.append(shown)
        plain = pa.schema([field.with_name(n).remove_metadata() for field, n in zip(batch.schema, names, strict=True)])
        return pa.RecordBatch.from_arrays(batch.columns, schema=plain)

    def _scalar(self, sql: str, params: dict[str, Any]) -> Any:
        table = next(iter(self._query_batches(sql, params, 1)))
        return table.column(0)[0].as_py() if table.num_rows else None

    def _raise(self, exc: BaseException) -> NoReturn:
        if is_transient(exc):
            raise TransientSourceError(first_line(exc)) from None
        raise ConfigError(f"Snowflake refused the query for {self.description}: {first_line(exc)}.") from None

    def _set_timezone(self, timezone: str) -> None:
        """Nothing to set: TIMESTAMP_NTZ comes back as the wall time it holds (the mapping reads it in its zone),
        TIMESTAMP_TZ and TIMESTAMP_LTZ as instants."""

    def _connection(self) -> Any:
        if self._conn is None:
            import snowflake.connector

            self._conn = snowflake.connector.connect(**self._args, login_timeout=30, network_timeout=300)
        return self._conn

    def _reconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*self._errors):  # the old connection is gone
                conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
