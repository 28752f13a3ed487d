"""Who may do what: roles, permissions and incident actions as data.

docs/console.md renders the same table; tests/console/test_roles.py checks the two agree.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    GRID_MEMBER = "grid_member"
    INSTALLER = "installer"
    ADMIN = "admin"


class Perm(StrEnum):
    INCIDENTS_READ = "incidents.read"
    INCIDENTS_ACT = "incidents.act"
    REGISTRY_READ = "registry.read"
    REGISTRY_WRITE = "registry.write"
    CONTACTS_WRITE = "contacts.write"
    MEDICAL_READ = "medical.read"
    DEVICES_WRITE = "devices.write"
    GRIDS_WRITE = "grids.write"
    REPORTS_READ = "reports.read"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"


_P = Perm
GRANTS: dict[Role, frozenset[Perm]] = {
    Role.OPERATOR: frozenset(
        {
            _P.INCIDENTS_READ,
            _P.INCIDENTS_ACT,
            _P.REGISTRY_READ,
            _P.CONTACTS_WRITE,
            _P.MEDICAL_READ,
            _P.REPORTS_READ,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            _P.INCIDENTS_READ,
            _P.INCIDENTS_ACT,
            _P.REGISTRY_READ,
            _P.REGISTRY_WRITE,
            _P.CONTACTS_WRITE,
            _P.MEDICAL_READ,
            _P.REPORTS_READ,
            _P.AUDIT_READ,
        }
    ),
    # A grid member sees and acts on their own grid only (enforced by the grid scope, not here).
    Role.GRID_MEMBER: frozenset(
        {_P.INCIDENTS_READ, _P.INCIDENTS_ACT, _P.REGISTRY_READ, _P.CONTACTS_WRITE, _P.MEDICAL_READ}
    ),
    # Installers register and commission; they never see incidents or medical notes.
    Role.INSTALLER: frozenset(
        {_P.REGISTRY_READ, _P.REGISTRY_WRITE, _P.CONTACTS_WRITE, _P.DEVICES_WRITE}
    ),
    Role.ADMIN: frozenset(Perm),
}

# Lifecycle actions (alerting.lifecycle.Action values) each role may take on an incident.
_ALL_ACTIONS = frozenset(
    {
        "acknowledge",
        "dispatch",
        "arrive",
        "resolve",
        "false_alarm",
        "mark_test",
        "reopen",
        "note",
        "escalate",
    }
)
INCIDENT_ACTIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: _ALL_ACTIONS - {"reopen"},
    Role.SUPERVISOR: _ALL_ACTIONS,
    # At the door: report arrival and outcome, add notes; dispatching is the centre's job.
    Role.GRID_MEMBER: frozenset({"acknowledge", "arrive", "note", "resolve", "false_alarm"}),
    Role.INSTALLER: frozenset(),
    Role.ADMIN: _ALL_ACTIONS,
}


def allows(role: Role, perm: Perm) -> bool:
    return perm in GRANTS[role]


def may_act(role: Role, action: str) -> bool:
    return action in INCIDENT_ACTIONS[role]
