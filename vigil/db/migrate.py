"""Versioned SQL migrations: each applied once, in its own transaction, and recorded."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import psycopg

from vigil.db.connect import Conn
from vigil.db.vocabulary import sync_metrics
from vigil.errors import MigrationError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Serialises concurrent migrators (several services starting at once) on one database.
_LOCK_KEY = 0x56494749  # "VIGI"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in `vigil/db/migrations`, in version order."""
    found = []
    for entry in resources.files("vigil.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


def _ensure_table(conn: Conn) -> None:
    conn.execute(
        """
        create table if not exists schema_migrations (
            version     integer primary key,
            name        text not null,
            checksum    text not null,
            applied_at  timestamptz not null default now()
        )
        """
    )


def applied_versions(conn: Conn) -> dict[int, str]:
    """Applied migration versions and their checksums."""
    rows = conn.execute("select version, checksum from schema_migrations").fetchall()
    return {int(str(v)): str(c) for v, c in rows}


def migrate(
    conn: Conn,
    migrations: Sequence[Migration] | None = None,
) -> list[Migration]:
    """Apply the migrations not applied yet; returns those it applied.

    The connection must be in autocommit mode: each migration gets its own transaction, so a
    failing one rolls back whole and leaves the earlier ones in place.
    """
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection")
    todo = list(bundled_migrations() if migrations is None else migrations)
    applied: list[Migration] = []
    conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        _ensure_table(conn)
        done = applied_versions(conn)
        for migration in todo:
            known = done.get(migration.version)
            if known is not None:
                if known != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after "
                        "it was applied; add a new migration instead"
                    )
                continue
            _apply(conn, migration)
            applied.append(migration)
        sync_metrics(conn)
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def _apply(conn: Conn, migration: Migration) -> None:
    label = f"{migration.version:04d}_{migration.name}"
    try:
        with conn.transaction():
            conn.execute(migration.sql.encode())
            conn.execute(
                "insert into schema_migrations (version, name, checksum) values (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"migration {label} failed and was rolled back: {exc}") from exc
