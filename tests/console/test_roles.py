"""The roles tables in docs/console.md say what console/api/roles.py enforces."""

from __future__ import annotations

from console.api.roles import GRANTS, INCIDENT_ACTIONS, Perm, Role, allows, may_act
from vigil.settings import REPO_ROOT

DOC = REPO_ROOT / "docs" / "console.md"


def _table(first_header: str) -> dict[str, dict[Role, bool]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    roles = [Role(name) for name in header[1:]]
    rows: dict[str, dict[Role, bool]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = {
            role: cell.startswith("✓") for role, cell in zip(roles, cells[1:], strict=True)
        }
    return rows


def test_the_permission_table_matches_the_grants() -> None:
    table = _table("permission")
    assert set(table) == {p.value for p in Perm}
    for perm, by_role in table.items():
        for role, granted in by_role.items():
            assert granted == allows(role, Perm(perm)), (perm, role)


def test_the_action_table_matches_the_code() -> None:
    table = _table("action")
    assert set(table) == set().union(*INCIDENT_ACTIONS.values())
    for action, by_role in table.items():
        for role, granted in by_role.items():
            assert granted == may_act(role, action), (action, role)


def test_installers_never_touch_incidents_and_admins_may_do_everything() -> None:
    assert not {Perm.INCIDENTS_READ, Perm.INCIDENTS_ACT, Perm.MEDICAL_READ} & GRANTS[Role.INSTALLER]
    assert INCIDENT_ACTIONS[Role.INSTALLER] == frozenset()
    assert GRANTS[Role.ADMIN] == frozenset(Perm)
