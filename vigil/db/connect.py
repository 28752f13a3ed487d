"""Where the database is: the configured DSN, or the local stack's."""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from vigil.settings import Settings

Conn = psycopg.Connection[TupleRow]


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from vigil.stack import LocalStack  # the stack is only consulted when no DSN is configured

    return LocalStack(settings).dsn
