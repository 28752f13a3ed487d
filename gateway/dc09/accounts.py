"""The accounts a receiver serves: who each panel is in Vigil (its device), its key, its polling
interval, and what its zones and users are (rooms and residents)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ACCOUNT_PATTERN = re.compile(r"[0-9A-F]{3,16}")


def normal_account(text: str) -> str:
    """Account numbers are 3-16 hex digits; leading zeros are part of the number."""
    account = text.strip().upper()
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise ValueError(f"account {text!r}: want 3 to 16 digits 0-9 or A-F")
    return account


def device_id_for(account: str) -> str:
    return f"dc09-{account}"


@dataclass(frozen=True)
class Account:
    account: str
    device_id: str
    key: bytes | None = None
    poll_s: float | None = None
    receiver: str | None = None
    line: str | None = None
    household_id: str | None = None
    building_id: str | None = None
    zones: dict[str, str] = field(default_factory=dict)  # zone number -> room
    users: dict[str, str] = field(default_factory=dict)  # user number -> resident

    def room(self, zone: str | None) -> str | None:
        return None if zone is None else self.zones.get(_number(zone))

    def resident(self, user: str | None) -> str | None:
        return None if user is None else self.users.get(_number(user))


def _number(text: str) -> str:
    """Zone `007`, `7` and `0007` are the same zone."""
    stripped = text.lstrip("0")
    return stripped or "0"


def zone_key(text: str) -> str:
    return _number(text.strip().upper())


class AccountBook:
    """The current accounts; replaced whole on a registry reload (readers see one or the
    other, never a mix). An account is found as sent, or else without its leading zeros when
    that names exactly one (an installer typed `777`, the panel sends `0777`)."""

    def __init__(self, accounts: dict[str, Account] | None = None) -> None:
        self._accounts: dict[str, Account] = {}
        self._unpadded: dict[str, Account | None] = {}
        self.replace(accounts or {})

    def replace(self, accounts: dict[str, Account]) -> None:
        unpadded: dict[str, Account | None] = {}
        for account in accounts.values():
            key = account.account.lstrip("0")
            unpadded[key] = None if key in unpadded else account  # None: ambiguous
        self._accounts, self._unpadded = dict(accounts), unpadded

    def get(self, account: str) -> Account | None:
        found = self._accounts.get(account)
        if found is None:
            found = self._unpadded.get(account.lstrip("0"))
        return found

    def lookup(self, account: str) -> tuple[bool, bytes | None]:
        found = self.get(account)
        return (False, None) if found is None else (True, found.key)

    def intervals(self) -> dict[str, float | None]:
        return {a.account: a.poll_s for a in self._accounts.values()}

    def __len__(self) -> int:
        return len(self._accounts)
