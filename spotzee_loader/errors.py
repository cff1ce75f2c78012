"""Every error the loader raises on purpose, split by what the caller should do next.

::

    SpotzeeLoaderError                 root: catch this to catch everything below
    ├── ConfigError                    bad flags, mapping or source shape; fix and re-run (exit 2)
    │   └── MappingError               the mapping file or preset does not fit the source
    ├── FatalRunError                  the run stopped; the checkpoint is intact, re-run resumes (exit 1)
    │   ├── CheckpointMismatchError    the job's source, mapping or target changed under the same job
    │   ├── JobLockedError             another process is running the same job right now
    │   ├── SourceReadError            the source broke while being read (corrupt file, lost connection)
    │   ├── CheckpointStoreError       the checkpoint store refused a write (disk full, permission)
    │   │   └── CheckpointUnavailableError  the store stayed unreachable past the retry budget
    │   ├── OutputWriteError           the dead letters, report or --output could not be written (disk full)
    │   └── ApiError                   Spotzee answered in a way that cannot be retried
    │       ├── AuthError              401/402/403: bad or revoked key, quota, permission
    │       ├── IdempotencyMismatchError  409 idempotency_key_mismatch
    │       └── ApiUnavailableError    retries exhausted the retry budget (outage, rate limits)
    ├── InterruptedRunError            SIGTERM / Ctrl-C; checkpoint saved, re-run resumes
    ├── VerifyDifferenceError          SpotzeeVerifyOperator: Spotzee's counts differ from the source's
    └── TooManyRejectsError            all valid rows delivered, but more rows rejected than allowed (exit 3)

Rows that cannot become events are not exceptions: they are rejects with a reason, written to the
dead-letter output (see ``mapping.Reject``).
"""

from __future__ import annotations

from typing import Any

from .redaction import redact


class SpotzeeLoaderError(Exception):
    """Root of the loader's exceptions. The message is one plain sentence: cause and fix.

    The message passes through ``redaction.redact``: a driver's error text quoted in it cannot carry a
    password into a log, a report or the checkpoint.
    """

    partial: Any = None
    """What the work stopped by this error had done so far (a chunk's requests and retries), where known."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(SpotzeeLoaderError):
    """A usage or configuration problem found before anything was sent."""


class MappingError(ConfigError):
    """The mapping (file or preset) is invalid or does not fit the source columns."""


class FatalRunError(SpotzeeLoaderError):
    """The run stopped early. Everything acknowledged is checkpointed; re-running resumes."""


class CheckpointMismatchError(FatalRunError):
    """The checkpoint job was recorded for another source, mapping or target."""


class JobLockedError(FatalRunError):
    """Another process holds the job; two runners must never send the same job at once."""


class SourceReadError(FatalRunError):
    """Reading the source failed part-way; everything acknowledged before is checkpointed."""


class SourceUnavailableError(SourceReadError):
    """The source database stayed unreachable past the retry budget; re-running resumes."""


class CheckpointStoreError(FatalRunError):
    """The checkpoint store failed in a way a person must fix (a full disk, a revoked permission)."""


class CheckpointUnavailableError(CheckpointStoreError):
    """The checkpoint store stayed unreachable past the retry budget; what Spotzee acknowledged meanwhile is
    replayed under the same idempotency keys by the next run."""


class OutputWriteError(FatalRunError):
    """A file the loader writes (dead letters, report, --output) could not be written; the checkpoint is intact."""


class ApiError(FatalRunError):
    """Spotzee refused a request in a way retrying cannot fix.

    Carries what Spotzee support asks for: the HTTP status, the string ``code`` and the
    ``request_id``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class AuthError(ApiError):
    """401, 402 or 403: the key is wrong or revoked, the quota is spent, or access is denied."""


class IdempotencyMismatchError(ApiError):
    """The same Idempotency-Key was already used with a different body."""


class TlsError(ApiError):
    """Spotzee's TLS certificate could not be verified: retrying cannot fix it, a CA bundle can."""


class ApiUnavailableError(ApiError):
    """The API stayed unreachable or overloaded past the retry budget. Safe to retry later."""


class InterruptedRunError(SpotzeeLoaderError):
    """The run was asked to stop (SIGTERM or Ctrl-C) and stopped cleanly."""


class VerifyDifferenceError(SpotzeeLoaderError):
    """Spotzee's counts differ from the source's for some (day, event) pairs (``SpotzeeVerifyOperator``)."""

    def __init__(self, message: str, *, settling: bool) -> None:
        super().__init__(message)
        self.settling = settling
        """Only fewer events in Spotzee than in the source: they may still be processing, a later read may match."""


class TooManyRejectsError(SpotzeeLoaderError):
    """Every valid row was delivered, but more rows were rejected than the allowance."""
