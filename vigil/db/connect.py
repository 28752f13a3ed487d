"""Where the database is: the configured DSN, or the local stack's."""

from __future__ import annotations

from vigil.settings import Settings


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from vigil.stack import LocalStack  # the stack is only consulted when no DSN is configured

    return LocalStack(settings).dsn
