"""Dependencies shared by the routers: a database connection per request, the signed-in user,
permission checks and the audit log, as `Annotated` aliases."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, WebSocketException, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from starlette.requests import HTTPConnection

from console.api import accounts
from console.api.accounts import Principal
from console.api.roles import Perm, Role, allows
from console.live_scope import LiveScope, set_scope
from vigil.broker_accounts import RegistryAccounts
from vigil.broker_auth import BrokerAuth, GatewayAccounts
from vigil.db.connect import Conn
from vigil.settings import Settings

SESSION_COOKIE = "vigil_session"

_bearer = HTTPBearer(auto_error=False, description="a session token from POST /api/auth/login")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the console's cookie")


def get_conn(connection: HTTPConnection) -> Iterator[Conn]:
    """One pooled connection per request: committed when the handler returns, rolled back when
    it raises. Runs around the handler only (scope="function"), so a client that sees the
    response also sees the change."""
    pool: ConnectionPool[Conn] = connection.app.state.pool
    with pool.connection() as conn:
        yield conn


SessionDep = Annotated[Conn, Depends(get_conn, scope="function")]


def get_settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_broker_auth(settings: SettingsDep, conn: SessionDep) -> GatewayAccounts:
    """Gateway accounts where the settings keep them: on the broker (its control topic, over
    MQTT), or in the registry on this request's connection, in its transaction."""
    if settings.broker_accounts == "registry":
        return RegistryAccounts(conn, settings.mqtt_username)
    return BrokerAuth.for_settings(settings)


BrokerDep = Annotated[GatewayAccounts, Depends(get_broker_auth)]


def client_addr(connection: HTTPConnection) -> str | None:
    """The peer's IP address; None when the server does not know one (a Unix socket, a test)."""
    host = connection.client.host if connection.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


ClientAddr = Annotated[str | None, Depends(client_addr)]


def now() -> datetime:
    return datetime.now(UTC)


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, "not signed in", headers={"WWW-Authenticate": "Bearer"}
    )


def current_user(
    conn: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    token = bearer.credentials if bearer else cookie
    if not token:
        raise _unauthorized()
    user = accounts.session_principal(conn, token=token, now=now())
    if user is None:
        raise _unauthorized()
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]


def live_guard(connection: HTTPConnection) -> Principal:
    """The live stream's gate: a signed-in user who may read incidents, and a grid member only
    for their own grid (`?grid_id=`). A browser cannot send headers on a WebSocket, so the
    cookie is read here (or an `Authorization` header from other clients). It checks out a
    pooled connection only for the check, not for the stream's whole life."""
    websocket = connection.scope["type"] == "websocket"

    def refuse(code: int, reason: str) -> Exception:
        if websocket:
            return WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
        return HTTPException(code, reason)

    auth = connection.headers.get("authorization", "")
    token = (
        auth[7:] if auth.lower().startswith("bearer ") else connection.cookies.get(SESSION_COOKIE)
    )
    user = None
    if token:
        pool: ConnectionPool[Conn] = connection.app.state.pool
        with pool.connection() as conn:
            user = accounts.session_principal(conn, token=token, now=now())
    if user is None:
        raise refuse(status.HTTP_401_UNAUTHORIZED, "not signed in")
    if not allows(user.role, Perm.INCIDENTS_READ):
        raise refuse(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not read incidents")
    scope = grid_scope(user)
    asked = connection.query_params.get("grid_id")
    if scope is not None and asked != scope:
        raise refuse(status.HTTP_403_FORBIDDEN, f"a grid member's stream needs grid_id={scope}")
    # What the stream may send this user: from who they are, not from what they asked.
    set_scope(connection, LiveScope(user.id, scope, None if scope else asked))
    return user


def need(perm: Perm) -> Callable[[Principal], Principal]:
    """A dependency that lets the request through only with `perm`."""

    def check(user: CurrentUser) -> Principal:
        if not allows(user.role, perm):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {perm.value}"
            )
        return user

    return check


IncidentReader = Annotated[Principal, Depends(need(Perm.INCIDENTS_READ))]
IncidentActor = Annotated[Principal, Depends(need(Perm.INCIDENTS_ACT))]
RegistryReader = Annotated[Principal, Depends(need(Perm.REGISTRY_READ))]
RegistryWriter = Annotated[Principal, Depends(need(Perm.REGISTRY_WRITE))]
ContactWriter = Annotated[Principal, Depends(need(Perm.CONTACTS_WRITE))]
DeviceWriter = Annotated[Principal, Depends(need(Perm.DEVICES_WRITE))]
GridWriter = Annotated[Principal, Depends(need(Perm.GRIDS_WRITE))]
ReportReader = Annotated[Principal, Depends(need(Perm.REPORTS_READ))]
UserManager = Annotated[Principal, Depends(need(Perm.USERS_MANAGE))]
AuditReader = Annotated[Principal, Depends(need(Perm.AUDIT_READ))]


def not_found(what: str) -> HTTPException:
    """Also the answer for things outside a grid member's grid: their existence is not told."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


class Auditor:
    """Writes audit rows in the request's own transaction, so an action and its record commit
    or roll back together."""

    def __init__(self, conn: Conn, user: Principal, addr: str | None) -> None:
        self._conn = conn
        self._user = user
        self._addr = addr

    def __call__(self, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        accounts.audit(
            self._conn,
            user=self._user,
            action=action,
            target=target,
            remote_addr=self._addr,
            detail=detail,
        )


def auditor(conn: SessionDep, user: CurrentUser, addr: ClientAddr) -> Auditor:
    return Auditor(conn, user, addr)


AuditDep = Annotated[Auditor, Depends(auditor)]


def grid_scope(user: Principal) -> str | None:
    """The one grid a user is confined to, or None for the whole district."""
    return user.grid_id if user.role is Role.GRID_MEMBER else None
