"""Where `vigil login` keeps the console's address and the session token.

`$XDG_CONFIG_HOME/vigil/credentials.json` (default `~/.config`), readable by its owner only: the
token is as good as the password for the session's lifetime.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from vigil.errors import VigilError


class NotSignedInError(VigilError):
    """No usable credentials: the user must run `vigil login` first."""


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str
    username: str
    role: str


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vigil" / "credentials.json"


def save(creds: Credentials, path: Path | None = None) -> Path:
    """Write the file whole (a temporary file renamed over it), mode 0600 from the start."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(creds), f, indent=2)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load(path: Path | None = None) -> Credentials:
    path = path or credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise NotSignedInError("not signed in: run `vigil login` first") from exc
    except (OSError, ValueError) as exc:
        raise NotSignedInError(f"cannot read {path} ({exc}): run `vigil login` again") from exc
    if path.stat().st_mode & 0o077:
        raise NotSignedInError(
            f"{path} is readable by other users; run `chmod 600 {path}` or `vigil login` again"
        )
    try:
        return Credentials(
            url=str(data["url"]),
            token=str(data["token"]),
            username=str(data["username"]),
            role=str(data["role"]),
        )
    except (KeyError, TypeError) as exc:
        raise NotSignedInError(f"{path} is incomplete: run `vigil login` again") from exc


def forget(path: Path | None = None) -> bool:
    """Delete the file; False when there was none."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
