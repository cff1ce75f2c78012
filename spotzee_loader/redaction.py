"""Passwords out of everything the loader prints, logs, reports or stores: one redaction for every form.

A database, checkpoint, proxy or base URL can carry a password in three places, and each is masked as
``***``:

- the userinfo of a URL: ``postgresql://loader:PASSWORD@host/db`` -> ``postgresql://loader:***@host/db``;
- a query parameter: ``...?password=PASSWORD&sslmode=require`` -> ``...?password=***&sslmode=require``;
- a libpq keyword/value string, the form ``~/.pgpass`` users write by hand:
  ``host=db user=loader password='PASS WORD'`` -> ``host=db user=loader password=***``.

``redact`` works on any text (a URL, an error message from a driver, a log line), so it is applied both
where a URL is shown and, as a last line of defence, to every exception message and log record.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
# Query and keyword parameters that hold a credential (libpq, SQLAlchemy drivers, object stores, proxies).
_SECRET_PARAMS = (
    "password|passwd|pwd|pass|sslpassword|secret|secret_key|secret_access_key|aws_secret_access_key|"
    "client_secret|sas_token|token|access_token|api_key|apikey|sig|x-amz-signature|x-amz-security-token|"
    "accountkey|sharedaccesssignature"
)
# scheme://user:PASSWORD@host -- the userinfo ends at the last '@' before the path or a space, so a password
# with a raw '@' (invalid, but typed) is masked whole.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@]*:)(?P<secret>[^\s/]+)(?P<tail>@)")
_QUERY = re.compile(rf"(?P<head>[?&;](?:{_SECRET_PARAMS})=)(?P<secret>[^&;#\s'\"]*)", re.IGNORECASE)
# libpq: keyword = value, where value is a single-quoted string (with \' and \\ escapes) or a bare word.
_KEYWORD = re.compile(
    rf"(?P<head>(?<![\w?&;.-])(?:{_SECRET_PARAMS})\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s'\"&;,)]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every password in a URL, query string or keyword/value string replaced by ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: m["head"] + MASK + m["tail"], text)
    text = _QUERY.sub(lambda m: m["head"] + MASK, text)
    return _KEYWORD.sub(lambda m: m["head"] + MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message through ``redact`` before any handler formats it.

    Installed on handlers (a logger's own filters do not see its children's records), by the CLI on its
    stderr handler and by the DAG tasks on Airflow's task-log handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback text is rendered by the formatter; render it here, redacted, and drop the original.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put a ``RedactingFilter`` on every handler of ``logger`` (the root logger by default), once each."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
