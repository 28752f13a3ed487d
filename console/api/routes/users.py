"""Console users: administrators create them, give roles and grids, disable them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from console.api import accounts
from console.api.deps import AuditDep, AuditReader, SessionDep, UserManager, not_found, now
from console.api.errors import UserError
from console.api.models.common import BigId
from console.api.models.users import AuditEntry, UserCreate, UserPublic, UserUpdate
from console.api.roles import Role
from console.api.sqlutil import fetch_all, fetch_one, update_row

router = APIRouter(tags=["users"])

_SELECT = (
    "select id, username, display_name, role, grid_id, phone, language, department, "
    "created_at, disabled_at from users"
)


@router.get("/users")
def list_users(conn: SessionDep, _: UserManager) -> list[UserPublic]:
    return fetch_all(conn, UserPublic, f"{_SELECT} order by username")


@router.get("/users/{user_id}")
def get_user(user_id: BigId, conn: SessionDep, _: UserManager) -> UserPublic:
    found = fetch_one(conn, UserPublic, f"{_SELECT} where id = %s", (user_id,))
    if found is None:
        raise not_found("user")
    return found


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, conn: SessionDep, _: UserManager, audit: AuditDep) -> UserPublic:
    try:
        user_id = accounts.create_user(
            conn,
            username=body.username,
            password=body.password.get_secret_value(),
            role=body.role,
            display_name=body.display_name,
            grid_id=body.grid_id,
            phone=body.phone,
            language=body.language,
            department=body.department,
        )
    except UserError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    audit("user.create", f"user:{body.username}", {"role": body.role.value, "grid": body.grid_id})
    return get_user(user_id, conn, _)


@router.patch("/users/{user_id}")
def update_user(
    user_id: BigId, body: UserUpdate, conn: SessionDep, admin: UserManager, audit: AuditDep
) -> UserPublic:
    """Change a user; a new role, grid, password or a disable ends the user's sessions."""
    current = get_user(user_id, conn, admin)
    changes = body.model_dump(exclude_unset=True, exclude={"disabled", "password"})
    role = changes.get("role", current.role)
    grid = changes.get("grid_id", current.grid_id)
    if role is Role.GRID_MEMBER and grid is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a grid member needs a grid")
    if user_id == admin.id and (body.disabled or role is not Role.ADMIN):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "an administrator cannot demote or disable self"
        )
    fields: dict[str, Any] = {
        k: (v.value if isinstance(v, Role) else v) for k, v in changes.items()
    }
    if body.disabled is not None:
        fields["disabled_at"] = now() if body.disabled else None
    update_row(conn, table="users", key="id", key_value=user_id, fields=fields)
    if body.password is not None:
        accounts.set_password(conn, user_id=user_id, password=body.password.get_secret_value())
    if body.password is not None or body.disabled or {"role", "grid_id"} & changes.keys():
        accounts.revoke_user_sessions(conn, user_id=user_id, now=now())
    logged = {k: v for k, v in fields.items() if k != "disabled_at"}
    if body.disabled is not None:
        logged["disabled"] = body.disabled
    if body.password is not None:
        logged["password"] = "changed"  # noqa: S105 (a marker, not a secret)
    audit("user.update", f"user:{current.username}", _jsonable(logged))
    return get_user(user_id, conn, admin)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}


@router.get("/audit", tags=["audit"])
def list_audit(
    conn: SessionDep,
    _: AuditReader,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEntry]:
    """The newest audit rows first: who did what, to what, when and from where."""
    return fetch_all(
        conn,
        AuditEntry,
        "select id, at, user_id, username, action, target, detail, host(remote_addr) as "
        "remote_addr from audit_log where (%(u)s::text is null or username = %(u)s) "
        "and (%(a)s::text is null or action = %(a)s) order by id desc limit %(n)s",
        {"u": username, "a": action, "n": limit},
    )
