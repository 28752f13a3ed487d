"""The database schema, its migrations and TimescaleDB edition handling."""

from vigil.db.connect import database_url

__all__ = ["database_url"]
