"""Errors of the ingest service."""

from __future__ import annotations

from vigil.errors import VigilError


class IngestError(VigilError):
    """The ingest service cannot start or go on."""


class ConfigError(IngestError):
    """An ingest option is wrong (a partition like `3/2`, an unknown site)."""
