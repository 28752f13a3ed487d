"""The EMQX bootstrap file that gives Vigil's service account its broker login.

EMQX reads it at start-up into its built-in user database (`bootstrap_type = plain`: EMQX hashes
the password on import). compose.yaml has a one-shot service write it from VIGIL_MQTT_PASSWORD
into a volume only the broker reads, so the secret lives in the environment, not in the repo.
Gateways get their own logins through EMQX's API when they are provisioned (docs/deployment.md).
"""

from __future__ import annotations

import os
from pathlib import Path

HEADER = "user_id,password,is_superuser"
# EMQX's reader splits on commas and lines and knows no quoting.
_FORBIDDEN = {",": "a comma", "\n": "a line break", "\r": "a line break", '"': "a double quote"}


def emqx_bootstrap_csv(username: str, password: str) -> str:
    """The file's text: one non-superuser line for the service account."""
    for name, value in (("username", username), ("password", password)):
        if not value:
            raise ValueError(f"the MQTT {name} is empty")
        for char, what in _FORBIDDEN.items():
            if char in value:
                raise ValueError(f"the MQTT {name} contains {what}, which EMQX's CSV cannot hold")
    return f"{HEADER}\n{username},{password},false\n"


def write_emqx_bootstrap(path: Path, username: str, password: str) -> None:
    """Write the file readable by its owner only, replacing any older one whole."""
    text = emqx_bootstrap_csv(username, password)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)
