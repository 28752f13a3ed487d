"""Each district's escalation policy, loaded once per process from its TOML file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alerting.escalation import Policy, load_policy, policy_path
from vigil.settings import get_settings


class PolicyBook:
    """The policy of each district, cached; a district without a file uses the default."""

    def __init__(self, policy_dir: Path | None) -> None:
        self._dir = policy_dir
        self._cache: dict[Path, Policy] = {}

    def for_district(self, district: str | None) -> Policy:
        path = policy_path(self._dir, district)
        policy = self._cache.get(path)
        if policy is None:
            policy = self._cache[path] = load_policy(path)
        return policy

    def check_all(self) -> list[Policy]:
        """Load every file in the folder (and the default) so a bad one fails at start-up."""
        files = sorted(self._dir.glob("*.toml")) if self._dir is not None else []
        return [self.for_district(None), *(load_policy(f) for f in files)]


@lru_cache(maxsize=1)
def default_book() -> PolicyBook:
    """The book of the process's settings (`VIGIL_ESCALATION_DIR`), for callers that pass none."""
    return PolicyBook(get_settings().escalation_dir)
