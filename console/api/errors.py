"""Errors the console API raises on purpose."""

from vigil.errors import VigilError


class ConsoleError(VigilError):
    """Base of the console's own errors."""


class UserError(ConsoleError):
    """A user could not be created or changed (unknown role, grid member without a grid...)."""
