"""One bound parameter for a set of ids of any size: ``column IN (SELECT value FROM
json_each(?))``, so a set-based read is one query for 5 or 50,000 patients (no chunking
under SQLite's bound-variable limit, no statement cache miss per size)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func, select


def in_ids(column: Any, ids: Iterable[str]) -> ColumnElement[bool]:  # noqa: ANN401 — a column
    """``column IN <ids>`` with the ids bound as one JSON array."""
    each = func.json_each(json.dumps(list(ids))).table_valued("value")
    return column.in_(select(each.c.value))
