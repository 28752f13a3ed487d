"""`python -m vigil.cli`: the `vigil` command, for child processes started with this interpreter.

A service's group (`vigil ingest run`, `vigil alerting run`, ...) is loaded alone: the whole
command imports every group, 0.6 s of CPU before anything runs, where the ingest group alone
takes 0.05 s; the demo, the simulator and the tests start such processes by the hundred. Any
other command goes to the whole `vigil` (the `gateway` group too: the installers' commands are
added to it there).
"""

from __future__ import annotations

import importlib
import sys

import typer

# Groups that only their own module fills: (module, attribute).
ALONE = {
    "ingest": ("ingest.cli", "app"),
    "alerting": ("alerting.cli", "alerting_app"),
    "notifier": ("alerting.cli", "notifier_app"),
    "console": ("console.cli", "console_app"),
    "sim": ("firmware_sim.cli", "app"),
    "platform": ("gateway.platforms.cli", "app"),
    "dc09": ("gateway.dc09.cli", "app"),
    "detect": ("detectors.cli", "app"),
}


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[1] in ALONE:
        module, name = ALONE[argv[1]]
        root = typer.Typer()
        root.add_typer(getattr(importlib.import_module(module), name), name=argv[1])
        root()
    else:
        from vigil.cli import app

        app()


if __name__ == "__main__":
    main(sys.argv)
