"""Column names as Spotzee properties (snake_case) and references into object columns (``context.groupId``)."""

from __future__ import annotations

import re


def snake_case(name: str) -> str:
    """``"Total Amount"`` / ``"totalAmount"`` -> ``"total_amount"`` (Spotzee's property convention).

    Letters and digits of any script are kept, lower-cased (``"Größe"`` -> ``"größe"``, ``"注文"`` stays); a
    word starts where a capital follows a small letter or a digit, or ends a run of capitals (``"HTTPServer"``
    -> ``"http_server"``); every run of other characters is one ``_``."""
    out: list[str] = []
    for i, c in enumerate(name):
        before = name[i - 1] if i else ""
        after = name[i + 1] if i + 1 < len(name) else ""
        if c.isupper() and (before.islower() or before.isdigit() or (before.isupper() and after.islower())):
            out.append("_")
        out.append(c)
    return re.sub(r"[\W_]+", "_", "".join(out)).strip("_").lower() or name


def nested_path(reference: str, columns: set[str]) -> tuple[str, list[str]] | None:
    """``("context", ["groupId"])`` for ``context.groupId`` when ``context`` is a column and ``context.groupId``
    is not; ``None`` when the reference is a column or names none."""
    if reference in columns or "." not in reference:
        return None
    parts = reference.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in columns:
            return head, parts[cut:]
    return None
