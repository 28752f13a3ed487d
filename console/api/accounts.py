"""Users and their sign-in sessions in the database (keyword-only store functions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from console.api.errors import UserError
from console.api.passwords import (
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from console.api.roles import Role
from vigil.db.connect import Conn

# A session's last_seen is written at most this often, so reads do not all become writes.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """The signed-in user a request acts as."""

    id: int
    username: str
    display_name: str
    role: Role
    grid_id: str | None
    language: str
    token_hash: bytes | None = None


_PRINCIPAL_COLS = "u.id, u.username, u.display_name, u.role, u.grid_id, u.language"


def _principal(row: tuple[Any, ...], token_hash: bytes | None = None) -> Principal:
    return Principal(
        id=row[0],
        username=row[1],
        display_name=row[2],
        role=Role(row[3]),
        grid_id=row[4],
        language=row[5],
        token_hash=token_hash,
    )


def create_user(
    conn: Conn,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    grid_id: str | None = None,
    phone: str | None = None,
    language: str = "zh",
    department: str | None = None,
) -> int:
    """Create a user and return its id; raises UserError for what the database would refuse."""
    if role is Role.GRID_MEMBER and grid_id is None:
        raise UserError("a grid member needs a grid (--grid)")
    if (
        grid_id is not None
        and conn.execute("select 1 from grids where id = %s", (grid_id,)).fetchone() is None
    ):
        raise UserError(f"unknown grid {grid_id!r}")
    if conn.execute("select 1 from users where username = %s", (username,)).fetchone():
        raise UserError(f"user {username!r} exists already")
    row = conn.execute(
        "insert into users (username, display_name, password_hash, role, grid_id, phone, "
        "language, department) values (%s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (
            username,
            display_name or username,
            hash_password(password),
            role.value,
            grid_id,
            phone,
            language,
            department,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def set_password(conn: Conn, *, user_id: int, password: str) -> None:
    conn.execute(
        "update users set password_hash = %s where id = %s", (hash_password(password), user_id)
    )


def authenticate(conn: Conn, *, username: str, password: str) -> Principal | None:
    """The enabled user with this username and password, or None."""
    row = conn.execute(
        f"select {_PRINCIPAL_COLS}, u.password_hash from users u "
        "where u.username = %s and u.disabled_at is null",
        (username,),
    ).fetchone()
    if not verify_password(row[6] if row else None, password) or row is None:
        return None
    if needs_rehash(row[6]):
        set_password(conn, user_id=row[0], password=password)
    return _principal(row)


def open_session(
    conn: Conn,
    *,
    user_id: int,
    now: datetime,
    lifetime: timedelta,
    remote_addr: str | None,
    user_agent: str | None,
) -> str:
    """A new session token for the user; the database keeps only its digest."""
    token = new_token()
    conn.execute(
        "insert into console_sessions (token_hash, user_id, created_at, expires_at, last_seen, "
        "remote_addr, user_agent) values (%s, %s, %s, %s, %s, %s, %s)",
        (token_digest(token), user_id, now, now + lifetime, now, remote_addr, user_agent),
    )
    return token


def session_principal(conn: Conn, *, token: str, now: datetime) -> Principal | None:
    """The user a live session token belongs to, or None for unknown, expired or revoked."""
    digest = token_digest(token)
    row = conn.execute(
        f"select {_PRINCIPAL_COLS}, s.last_seen from console_sessions s "
        "join users u on u.id = s.user_id "
        "where s.token_hash = %s and s.revoked_at is null and s.expires_at > %s "
        "and u.disabled_at is null",
        (digest, now),
    ).fetchone()
    if row is None:
        return None
    if now - row[6] > _TOUCH_EVERY:
        conn.execute(
            "update console_sessions set last_seen = %s where token_hash = %s", (now, digest)
        )
    return _principal(row, digest)


def revoke_session(conn: Conn, *, token_hash: bytes, now: datetime) -> None:
    conn.execute(
        "update console_sessions set revoked_at = %s where token_hash = %s and revoked_at is null",
        (now, token_hash),
    )


def revoke_user_sessions(conn: Conn, *, user_id: int, now: datetime) -> None:
    """End every session of a user (disabled, role changed, password reset)."""
    conn.execute(
        "update console_sessions set revoked_at = %s where user_id = %s and revoked_at is null",
        (now, user_id),
    )


def audit(
    conn: Conn,
    *,
    user: Principal | None,
    action: str,
    target: str | None,
    remote_addr: str | None,
    detail: dict[str, Any] | None = None,
    username: str | None = None,
) -> None:
    """One audit_log row: who, what, on what, from where (the row's `at` says when)."""
    conn.execute(
        "insert into audit_log (user_id, username, action, target, detail, remote_addr) "
        "values (%s, %s, %s, %s, %s, %s)",
        (
            user.id if user else None,
            user.username if user else username,
            action,
            target,
            Jsonb(detail) if detail is not None else None,
            remote_addr,
        ),
    )
