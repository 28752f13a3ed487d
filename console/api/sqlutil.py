"""Small helpers for the routers' SQL: rows into models, partial updates, search patterns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from vigil.db.connect import Conn

M = TypeVar("M", bound=BaseModel)
Params = Sequence[Any] | Mapping[str, Any]


def fetch_all(
    conn: Conn, model: type[M], query: str | sql.Composed, params: Params = ()
) -> list[M]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query if isinstance(query, sql.Composed) else query.encode(), params)
        return [model.model_validate(row) for row in cur.fetchall()]


def fetch_one(
    conn: Conn, model: type[M], query: str | sql.Composed, params: Params = ()
) -> M | None:
    rows = fetch_all(conn, model, query, params)
    return rows[0] if rows else None


def update_row(
    conn: Conn, *, table: str, key: str, key_value: object, fields: Mapping[str, Any]
) -> bool:
    """`update table set f1 = v1, ... where key = value`; False when no row has that key."""
    if not fields:
        found = conn.execute(
            sql.SQL("select 1 from {} where {} = %s").format(
                sql.Identifier(table), sql.Identifier(key)
            ),
            (key_value,),
        ).fetchone()
        return found is not None
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in fields
    )
    query = sql.SQL("update {} set {} where {} = {}").format(
        sql.Identifier(table), assignments, sql.Identifier(key), sql.Placeholder("_key")
    )
    cur = conn.execute(query, {**fields, "_key": key_value})
    return cur.rowcount > 0


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
