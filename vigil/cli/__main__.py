"""`python -m vigil.cli`: the `vigil` command, for child processes started with this interpreter."""

from vigil.cli import app

app()
