"""Database tables and queries as a source, read in key order by keyset pagination.

Each page is ``SELECT * FROM (<table or query>) AS q WHERE key > :last ORDER BY key LIMIT :page``,
streamed in record batches (a server-side cursor, or DuckDB's Arrow stream), so memory stays flat
and a resumed run starts right after the last acknowledged key without re-reading the finished part.
Rows inserted meanwhile inside the window are picked up when their key comes. Keys must be unique
and never NULL: both are checked, since either would let rows slip past the pagination silently.

This module holds what every engine shares; ``duckdb_db`` reads DuckDB files natively, ``snowflake`` goes through
Snowflake's connector, ``sqlalchemy_db`` everything else (``postgresql://`` through psycopg 3); ``databases``
picks one by URL.
"""

from __future__ import annotations

import abc
import datetime as dt
import difflib
import hashlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ..config import SourceOptions
from ..errors import ConfigError, MappingError
from ..mapping import Mapping, utc_instant
from .base import ResumePoint, SourceBatch
from .declared import as_declared
from .keys import RowKey, decode_key
from .naming import database_description
from .outages import TransientSourceError, source_outage
from .stock import FileRecord

log = logging.getLogger(__name__)
SQL_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
"""A ``:name`` bind parameter of a query (as SQLAlchemy's ``text()`` writes them)."""
_TABLE_NAME = re.compile(r'^[^."]+(\.[^."]+)?$')


def sql_parameters(sql: str, params: dict[str, Any], placeholder: str) -> tuple[str, dict[str, Any]]:
    """``:name`` parameters in a driver's own style (``placeholder``: ``"%({})s"``), with the values they take."""
    return SQL_PARAM.sub(lambda m: placeholder.format(m[1]) if m[1] in params else m[0], sql), params


class WarehouseSource(abc.ABC):
    """The engine-independent part: SQL shape, window, key order, uniqueness, resume."""

    stable = False  # a live table may change between runs

    def __init__(self, url: str, options: SourceOptions) -> None:
        if (options.table is None) == (options.sql is None):
            raise ConfigError("a database source needs exactly one of --table, --sql or --sql-file.")
        if options.table is not None and not _TABLE_NAME.match(options.table):
            raise ConfigError(f"--table {options.table!r} is not a table name (use NAME or SCHEMA.NAME).")
        self.url = url
        self.options = options
        self.description = database_description(url, options)
        self._mapping: Mapping | None = None
        self._key: tuple[str, ...] = ()
        self._params: dict[str, Any] = {}
        self._base = ""
        self._schema: pa.Schema | None = None

    # -- engine specifics ----------------------------------------------------------------

    @abc.abstractmethod
    def quote(self, identifier: str) -> str: ...

    @abc.abstractmethod
    def _query_batches(self, sql: str, params: dict[str, Any], batch_size: int) -> Iterator[pa.RecordBatch]:
        """Stream the result of one statement as record batches; at least one (empty) batch, for its schema."""

    @abc.abstractmethod
    def _scalar(self, sql: str, params: dict[str, Any]) -> Any: ...

    @abc.abstractmethod
    def _set_timezone(self, timezone: str) -> None: ...

    def _bind_window(self, params: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
        """``since``/``until`` as this engine compares them with ``created_at`` (aware UTC by default)."""
        return params

    @abc.abstractmethod
    def close(self) -> None: ...

    def _reconnect(self) -> None:  # noqa: B027 - a hook: embedded databases have no connection to drop
        """Drop the connection after an outage; the next query opens a new one."""

    # -- the Source protocol -------------------------------------------------------------

    def _from_clause(self) -> str:
        if self.options.table is not None:
            return ".".join(self.quote(part) for part in self.options.table.split("."))
        return f"({self.options.sql})"

    def schema(self) -> pa.Schema:
        if self._schema is None:
            params = {name: None for name in self._sql_params()}
            probe = f"SELECT * FROM {self._from_clause()} AS q LIMIT 0"
            try:
                self._schema = next(iter(self._query_batches(probe, params, 1))).schema
            except ConfigError as exc:
                near = self._table_like(self.options.table) if self.options.table else None
                if near is None:
                    raise
                raise ConfigError(f"{exc} Did you mean --table {near}?") from None
        return self._schema

    def _table_like(self, wanted: str) -> str | None:
        """The table of this database whose name is closest to ``wanted`` (a case or a letter off), if any."""
        listing = "SELECT table_schema, table_name FROM information_schema.tables"
        try:
            rows = [r for b in self._query_batches(listing, {}, 10_000) for r in b.to_pylist()]
        except (ConfigError, TransientSourceError):
            return None
        names = [f"{r['table_schema']}.{r['table_name']}" if "." in wanted else str(r["table_name"]) for r in rows]
        folded = {n.lower(): n for n in names}
        if wanted.lower() in folded:
            return folded[wanted.lower()]
        close = difflib.get_close_matches(wanted.lower(), list(folded), n=1, cutoff=0.75)
        return folded[close[0]] if close else None

    def _sql_params(self) -> set[str]:
        return set(SQL_PARAM.findall(self.options.sql or ""))

    def prepare(self, mapping: Mapping) -> None:
        o = self.options
        if not mapping.key:
            raise MappingError(
                f"{mapping.origin}: a database source needs a 'key' in the mapping (for example "
                'key = ["order_id"] or key = ["created_at", "id"]): it orders the rows and lets a run resume.'
            )
        self._mapping, self._key = mapping, mapping.key
        self._set_timezone(mapping.timezone)
        where = []
        if o.table is not None:
            created = self.quote(mapping.created_at)
            if o.since is not None:
                where.append(f"{created} >= :since")
            if o.until is not None:
                where.append(f"{created} < :until")
        else:
            used = self._sql_params()
            for name, value in (("since", o.since), ("until", o.until)):
                if value is not None and name not in used:
                    raise ConfigError(f"--{name} was given but the query has no :{name} parameter to bind it to.")
                if value is None and name in used:
                    raise ConfigError(f"the query uses :{name}; pass --{name}.")
            unknown = used - {"since", "until"}
            if unknown:
                raise ConfigError(
                    f"the query uses parameter(s) {', '.join(sorted(unknown))}; only :since and :until can be bound."
                )
        self._params = {k: v for k, v in (("since", o.since), ("until", o.until)) if v is not None}
        self._base = f"SELECT * FROM {self._from_clause()} AS q" + (f" WHERE {' AND '.join(where)}" if where else "")
        missing = [k for k in self._key if k not in self.schema().names]
        if missing:
            raise MappingError(f"{mapping.origin}: key column(s) {', '.join(missing)} are not in {self.description}.")
        self._params = self._bind_window(self._params, mapping)
        null_test = " OR ".join(f"{self.quote(k)} IS NULL" for k in self._key)
        nulls = self._scalar(f"SELECT count(*) FROM ({self._base}) AS b WHERE {null_test}", self._params)
        if nulls:
            raise ConfigError(
                f"{nulls} row(s) of {self.description} have a NULL in key column(s) {', '.join(self._key)}; the key "
                "orders the rows and must never be NULL: choose another key or fix the rows."
            )

    def created_at_bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The first and last ``created_at`` of the rows, as UTC instants (naive values and dates are read in
        the mapping's zone)."""
        assert self._mapping is not None
        column = self.quote(self._mapping.created_at)
        bounds = [
            utc_instant(
                self._scalar(f"SELECT {agg}({column}) FROM ({self._base}) AS b", self._params), self._mapping.timezone
            )
            for agg in ("min", "max")
        ]
        return bounds[0], bounds[1]

    def fingerprint(self) -> str:
        o = self.options
        seed = f"{self.description}\0{o.table}\0{o.sql}\0{o.since}\0{o.until}\0{self._key}"
        return hashlib.sha256(seed.encode()).hexdigest()[:16]

    def fingerprint_before(self) -> None:
        """The same: a query's fingerprint has not changed."""
        return None

    def take_stock(self, earlier: dict[str, FileRecord]) -> None:
        """No files: a table's rows are checked by key (a live table may change)."""
        return None

    def total_rows(self) -> int | None:
        return int(self._scalar(f"SELECT count(*) FROM ({self._base}) AS b", self._params))

    def locate(self, row: int) -> tuple[str, int]:
        return self.description, row

    def _after(self, key: RowKey) -> tuple[str, dict[str, Any]]:
        """``(a > :k0) OR (a = :k0 AND b > :k1)``: a row-value comparison every database understands."""
        params = {f"k{i}": value for i, value in enumerate(key)}
        ors = []
        for i, column in enumerate(self._key):
            equal = [f"{self.quote(c)} = :k{j}" for j, c in enumerate(self._key[:i])]
            ors.append("(" + " AND ".join([*equal, f"{self.quote(column)} > :k{i}"]) + ")")
        return " OR ".join(ors), params

    def batches(self, start: ResumePoint, columns: list[str] | None) -> Iterator[SourceBatch]:
        order = ", ".join(self.quote(k) for k in self._key)
        last: RowKey | None = decode_key(start.key) if start.key else None
        position = start.row
        self.outage = source_outage(self.options.retry_budget_s, self.description)
        while True:
            where, params = self._after(last) if last is not None else ("", {})
            sql = (
                f"SELECT * FROM ({self._base}) AS b {'WHERE ' + where if where else ''} "
                f"ORDER BY {order} LIMIT {self.options.page_rows}"
            )
            page_rows = 0
            try:
                for batch in self._query_batches(sql, {**self._params, **params}, self.options.batch_size):
                    if batch.num_rows == 0:
                        continue
                    keys = list(zip(*(batch.column(k).to_pylist() for k in self._key), strict=True))
                    self._check_unique(last, keys)
                    self.outage.recovered()
                    yield SourceBatch(position, as_declared(batch, self._mapping), keys)
                    position += batch.num_rows
                    page_rows += batch.num_rows
                    last = keys[-1]
                if page_rows < self.options.page_rows or last is None:
                    return
                # The next page starts after ``last``: a twin of it would be skipped, so look for one.
                twin = " AND ".join(f"{self.quote(k)} = :k{i}" for i, k in enumerate(self._key))
                count = self._scalar(
                    f"SELECT count(*) FROM ({self._base}) AS b WHERE {twin}",
                    {**self._params, **{f"k{i}": v for i, v in enumerate(last)}},
                )
            except TransientSourceError as exc:
                # Connection lost, failover, restart, deadlock: reconnect, then read on after the last key yielded
                # (rows already handed on are not read twice; the page restarts after them).
                self.outage.failed(str(exc))
                self._reconnect()
                continue
            if count > 1:
                self._not_unique(last)

    def _check_unique(self, last: RowKey | None, keys: list[RowKey]) -> None:
        previous = last
        for key in keys:
            if key == previous:
                self._not_unique(key)
            previous = key

    def _not_unique(self, key: RowKey) -> None:
        shown = ", ".join(f"{k}={v!r}" for k, v in zip(self._key, key, strict=True))
        raise ConfigError(
            f"the key ({', '.join(self._key)}) is not unique in {self.description}: {shown} appears more than "
            "once; add columns to 'key' in the mapping until it identifies one row."
        )
