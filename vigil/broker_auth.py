"""Broker accounts of the local stack: one Mosquitto user per gateway, fenced in by the ACL.

The password file is the list of accounts. Every account but the service account is a gateway
and may publish only its own uplink and status and read only its own downlink; the service
account (ingest, alerting, the console) keeps `#`. After each change Mosquitto rereads both
files (SIGHUP).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from vigil.errors import VigilError
from vigil.stack import MOSQUITTO_PASSWD, LocalStack
from vigil.topics import PREFIX, check_gateway_id


class BrokerAuthError(VigilError):
    """An account could not be added or removed."""


def gateway_acl(gateway_id: str) -> str:
    """The ACL block of one gateway account (the user name is the gateway id)."""
    gw = check_gateway_id(gateway_id)
    return (
        f"user {gw}\n"
        f"topic write {PREFIX}/+/{gw}/up/#\n"
        f"topic write {PREFIX}/+/{gw}/status\n"
        f"topic read {PREFIX}/+/{gw}/down/#\n"
    )


class BrokerAuth:
    def __init__(
        self,
        passwd: Path,
        acl: Path,
        service_user: str,
        reload: Callable[[], None] = lambda: None,
    ) -> None:
        self.passwd = passwd
        self.acl = acl
        self.service_user = service_user
        self._reload = reload

    @classmethod
    def for_stack(cls, stack: LocalStack) -> BrokerAuth:
        return cls(
            stack.paths.mqtt_passwd,
            stack.paths.mqtt_acl,
            stack.settings.mqtt_username,
            stack.reload_broker_auth,
        )

    def users(self) -> list[str]:
        try:
            lines = self.passwd.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [line.split(":", 1)[0] for line in lines if ":" in line]

    def gateways(self) -> list[str]:
        return sorted(u for u in self.users() if u != self.service_user)

    def add_gateway(self, gateway_id: str, password: str) -> None:
        """Create or re-key a gateway account; it may connect once this returns."""
        check_gateway_id(gateway_id)
        if gateway_id == self.service_user:
            raise BrokerAuthError(f"{gateway_id!r} is the service account, not a gateway")
        if not password:
            raise BrokerAuthError("a gateway needs a non-empty password")
        if not self.passwd.exists():
            self.passwd.touch(mode=0o600)
        self._passwd("-b", str(self.passwd), gateway_id, password)
        self._apply()

    def remove_gateway(self, gateway_id: str) -> None:
        if gateway_id not in self.gateways():
            raise BrokerAuthError(f"no gateway account {gateway_id!r}")
        self._passwd("-D", str(self.passwd), gateway_id)
        self._apply()

    def _passwd(self, *args: str) -> None:
        owner = _owner(self.passwd)
        result = subprocess.run(
            [MOSQUITTO_PASSWD, *args], check=False, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise BrokerAuthError(f"mosquitto_passwd failed: {result.stderr.strip()}")
        _restore_owner(self.passwd, owner)

    def _apply(self) -> None:
        blocks = [f"user {self.service_user}\ntopic readwrite #\n"]
        blocks += [gateway_acl(gw) for gw in self.gateways()]
        owner = _owner(self.acl)
        tmp = self.acl.with_suffix(".tmp")
        tmp.write_text("\n".join(blocks))
        tmp.replace(self.acl)
        _restore_owner(self.acl, owner)
        self._reload()


def _owner(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_uid, st.st_gid


def _restore_owner(path: Path, owner: tuple[int, int] | None) -> None:
    """Keep the files readable by the broker's user (the stack runs it as `mosquitto` as root)."""
    path.chmod(0o600)
    if owner is not None and os.geteuid() == 0:
        os.chown(path, *owner)
