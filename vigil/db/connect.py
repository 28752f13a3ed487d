"""Where the database is: the configured DSN, or the local stack's."""

from __future__ import annotations

from typing import Any

import psycopg

from vigil.settings import Settings

# The one connection alias: row factories vary by caller (tuples, dicts), so rows are `Any` here
# and each query types what it reads.
Conn = psycopg.Connection[Any]


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from vigil.stack import LocalStack  # the stack is only consulted when no DSN is configured

    return LocalStack(settings).dsn
