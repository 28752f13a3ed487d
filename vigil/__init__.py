"""Vigil's shared core: settings, the message contract, the schema, the CLI and the local stack."""

__version__ = "0.1.0"
