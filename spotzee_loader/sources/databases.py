"""Which engine reads a database URL: DuckDB files through DuckDB, Snowflake through its own connector, anything
else through SQLAlchemy (PostgreSQL's COPY, MySQL and MariaDB through PyMySQL)."""

from __future__ import annotations

from ..config import SourceOptions
from .duckdb_db import DuckDBSource
from .sqlalchemy_db import SqlAlchemySource
from .warehouse import WarehouseSource


def open_warehouse(url: str, options: SourceOptions) -> WarehouseSource:
    if url.startswith("duckdb:"):
        return DuckDBSource(url, options)
    if url.startswith("snowflake:"):
        from .snowflake import SnowflakeSource  # the connector only when asked for

        return SnowflakeSource(url, options)
    return SqlAlchemySource(url, options)
