"""DuckDB files as a source, read through DuckDB's own Arrow stream."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..config import SourceOptions
from ..errors import ConfigError
from .warehouse import SQL_PARAM, WarehouseSource

log = logging.getLogger(__name__)


class DuckDBSource(WarehouseSource):
    """A DuckDB database file, read through DuckDB's own Arrow stream (no per-row Python)."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        super().__init__(url, options)
        try:
            import duckdb
        except ImportError:
            raise ConfigError("DuckDB sources need duckdb: pip install 'spotzee-loader[duckdb]'.") from None
        path = url.split("://", 1)[1][1:] if url.startswith("duckdb:///") else url.split("://", 1)[1]
        if path != ":memory:" and not Path(path).exists():
            raise ConfigError(f"DuckDB file {path} does not exist (duckdb:///relative.db or duckdb:////abs/path.db).")
        self._con = duckdb.connect(path, read_only=path != ":memory:")
        # JSON and UUID columns keep their meaning (Arrow extension types) instead of turning into text.
        self._con.execute("SET arrow_lossless_conversion = true")
        self._error = duckdb.Error

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def _sql(self, sql: str) -> str:
        return SQL_PARAM.sub(r"$\1", sql)

    def _query_batches(self, sql: str, params: dict[str, Any], batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            reader = self._con.sql(self._sql(sql), params=params).to_arrow_reader(batch_size)
        except self._error as exc:
            raise ConfigError(f"DuckDB refused the query for {self.description}: {exc}.") from None
        emitted = False
        for batch in reader:
            emitted = True
            yield batch
        if not emitted:
            yield pa.RecordBatch.from_pylist([], schema=reader.schema)

    def _scalar(self, sql: str, params: dict[str, Any]) -> Any:
        try:
            # Through Arrow: DuckDB's own conversion of timestamptz to Python needs pytz, and a failed
            # fetch would leave the result unfinished, refusing every later query on the connection.
            table = self._con.sql(self._sql(sql), params=params).to_arrow_table()
        except self._error as exc:
            raise ConfigError(f"DuckDB refused the query for {self.description}: {exc}.") from None
        return table.column(0)[0].as_py() if table.num_rows else None

    def _set_timezone(self, timezone: str) -> None:
        self._con.execute(f"SET TimeZone = '{timezone}'")  # an IANA name, validated by the mapping

    def close(self) -> None:
        self._con.close()
