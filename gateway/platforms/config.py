"""The receiver's configuration file (TOML): where it listens, its gateway identity on Vigil's
broker, and its platform accounts. Secrets come from the environment, never the file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gateway.platforms.app import MAX_BODY, Account
from gateway.platforms.auth import aes_key
from gateway.platforms.pushes import Source
from gateway.platforms.receiver import SupervisionConfig
from vigil.topics import check_gateway_id, check_site


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PlatformConfig:
    gateway_id: str
    site: str
    host: str = "127.0.0.1"
    port: int = 8780
    state_path: Path | None = None
    queue_path: Path | None = None
    profiles_dir: Path | None = None
    ack_timeout_s: float = 5.0
    max_body: int = MAX_BODY
    check_s: float = 30.0
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    accounts: tuple[Account, ...] = ()


def _secret(spec: dict[str, object], name: str, where: str, *, required: bool) -> str | None:
    env = spec.get(f"{name}_env")
    if isinstance(env, str):
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{where}: environment variable {env} is not set")
        return value
    given = spec.get(name)
    if given is None:
        if required:
            raise ConfigError(f"{where}: set {name}_env (the variable holding it) or {name}")
        return None
    return str(given)


def load_config(path: Path) -> PlatformConfig:
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        gateway_id = check_gateway_id(str(raw["gateway_id"]))
        site = check_site(str(raw["site"]))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: gateway_id and site are required and valid ({exc})") from exc
    accounts = []
    for i, spec in enumerate(raw.get("accounts", [])):
        where = f"{path} accounts[{i}]"
        try:
            source = Source(spec["platform"])
            name = str(spec["name"])
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{where}: platform (ctwing|onenet) and name required") from exc
        token = _secret(spec, "token", where, required=True)
        assert token is not None
        key_text = _secret(spec, "aes_key", where, required=False)
        try:
            key = aes_key(key_text) if key_text else None
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        accounts.append(Account(name, source, token, key,
                                frozenset(str(a) for a in spec.get("allow_from", []))))  # fmt: skip
    if not accounts:
        raise ConfigError(f"{path}: no [[accounts]]")
    sup = raw.get("supervision", {})
    base = path.parent

    def opt_path(key: str) -> Path | None:
        return base / raw[key] if key in raw else None

    return PlatformConfig(
        gateway_id=gateway_id,
        site=site,
        host=str(raw.get("host", "127.0.0.1")),
        port=int(raw.get("port", 8780)),
        state_path=opt_path("state"),
        queue_path=opt_path("queue"),
        profiles_dir=opt_path("profiles_dir"),
        ack_timeout_s=float(raw.get("ack_timeout_s", 5.0)),
        max_body=int(raw.get("max_body", MAX_BODY)),
        check_s=float(sup.get("check_s", 30.0)),
        supervision=SupervisionConfig(
            float(sup.get("grace", 0.25)), float(sup.get("slack_s", 600.0))
        ),
        accounts=tuple(accounts),
    )
