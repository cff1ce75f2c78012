"""Typed, frozen settings for one load, resolved once at the edge (CLI or DAG) and passed down.

Library modules never read ``os.environ``: the CLI and the DAGs build these objects.
"""

from __future__ import annotations

from .edge import (
    COMMAND_LINE_KEY_WARNING,
    default_checkpoint_path,
    instant,
    plaintext_key_warning,
    rehearsal_checkpoint_path,
    request_rate,
    use_compact_memory_pool,
)
from .network import NetworkSettings
from .settings import (
    API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    FILE_FORMATS,
    MAX_EVENTS_PER_REQUEST,
    PUBLISHED_BLOCK_S,
    ApiSettings,
    BudgetSettings,
    LoadSettings,
    RetrySettings,
    Secret,
    SourceOptions,
    StorageCredentials,
)

__all__ = [
    "API_VERSION",
    "COMMAND_LINE_KEY_WARNING",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "FILE_FORMATS",
    "MAX_EVENTS_PER_REQUEST",
    "PUBLISHED_BLOCK_S",
    "ApiSettings",
    "BudgetSettings",
    "LoadSettings",
    "NetworkSettings",
    "RetrySettings",
    "Secret",
    "SourceOptions",
    "StorageCredentials",
    "default_checkpoint_path",
    "instant",
    "plaintext_key_warning",
    "rehearsal_checkpoint_path",
    "request_rate",
    "use_compact_memory_pool",
]
