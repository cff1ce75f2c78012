"""MySQL / MariaDB result columns -> what their values mean, from the driver's column description.

PyMySQL hands back bare Python values that lose what the column type says: ``TIMESTAMP`` is stored in UTC and
comes back naive (the session zone is set to UTC, so these naive values are UTC), ``TINYINT(1)`` is MySQL's
boolean and comes back 0/1, ``JSON`` comes back as text. ``DATETIME`` stays naive on purpose: it has no zone,
so the mapping's ``timezone`` applies, as for any naive time.

MariaDB stores ``JSON`` as ``LONGTEXT`` with a ``json_valid()`` check; its JSON columns are found from the
table's check constraints (for a ``--table`` source).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# PyMySQL's FIELD_TYPE codes (pymysql.constants.FIELD_TYPE), spelled out so this module needs no driver.
_TINY, _TIMESTAMP, _JSON = 1, 7, 245
_JSON_VALID = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)

UTC_TIME, BOOLEAN, JSON = "utc_time", "boolean", "json"


def column_kinds(description: Sequence[Sequence[Any]], json_columns: Iterable[str] = ()) -> list[str | None]:
    """Per column of a DB-API description: ``UTC_TIME``, ``BOOLEAN``, ``JSON`` or ``None`` (as the driver says)."""
    known_json = set(json_columns)
    kinds: list[str | None] = []
    for name, type_code, _display, internal_size, *_ in description:
        if type_code == _TIMESTAMP:
            kinds.append(UTC_TIME)
        elif type_code == _TINY and internal_size == 1:
            kinds.append(BOOLEAN)
        elif type_code == _JSON or name in known_json:
            kinds.append(JSON)
        else:
            kinds.append(None)
    return kinds


def json_columns_from_checks(check_clauses: Iterable[str]) -> set[str]:
    """MariaDB's JSON columns: the ones a ``json_valid(`col`)`` check constraint guards."""
    return {m.replace("``", "`") for clause in check_clauses for m in _JSON_VALID.findall(clause)}
