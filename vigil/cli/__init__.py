"""The `vigil` command (`vigil.cli.main`), loaded on first use of `app`: `python -m vigil.cli`
(__main__.py) can then load a service's group alone, without every other group's imports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.cli.main import app as app


def __getattr__(name: str) -> Any:
    if name == "app":
        from vigil.cli.main import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
