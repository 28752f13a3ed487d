"""Errors shared across Vigil; each package adds its own small hierarchy below `VigilError`."""


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""


class StackError(VigilError):
    """The local stack could not be started, stopped or reached."""


class MigrationError(VigilError):
    """A schema migration failed; the database is left as it was before it."""
