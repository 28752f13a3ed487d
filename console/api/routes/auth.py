"""Sign in and out; the signed-in user's own account."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status

from console.api import accounts
from console.api.deps import (
    SESSION_COOKIE,
    AuditDep,
    ClientAddr,
    CurrentUser,
    SessionDep,
    SettingsDep,
    now,
)
from console.api.models.users import LoginRequest, LoginResponse, Me, PasswordChange
from console.api.ratelimit import LoginLimiter
from console.api.roles import GRANTS, INCIDENT_ACTIONS

router = APIRouter(prefix="/auth", tags=["auth"])


def me_of(user: accounts.Principal) -> Me:
    return Me(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        grid_id=user.grid_id,
        language=user.language,
        permissions=sorted(p.value for p in GRANTS[user.role]),
        incident_actions=sorted(INCIDENT_ACTIONS[user.role]),
    )


@router.post(
    "/login",
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "slow down"},
    },
)
def login(
    *,
    body: LoginRequest,
    request: Request,
    response: Response,
    conn: SessionDep,
    settings: SettingsDep,
    addr: ClientAddr,
) -> LoginResponse:
    """Check the password and open a session: a token in the body and an HttpOnly cookie."""
    limiter: LoginLimiter = request.app.state.limiter
    key_addr = addr or "unknown"
    wait = limiter.retry_after(username=body.username, addr=key_addr, now=time.monotonic())
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed sign-ins; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    password = body.password.get_secret_value()
    user = accounts.authenticate(conn, username=body.username, password=password)
    if user is None:
        limiter.failed(username=body.username, addr=key_addr, now=time.monotonic())
        accounts.audit(
            conn,
            user=None,
            username=body.username,
            action="auth.login_failed",
            target=f"user:{body.username}",
            remote_addr=addr,
        )
        conn.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    limiter.succeeded(username=body.username)
    lifetime = timedelta(hours=settings.console_session_hours)
    token = accounts.open_session(
        conn,
        user_id=user.id,
        now=now(),
        lifetime=lifetime,
        remote_addr=addr,
        user_agent=request.headers.get("user-agent"),
    )
    accounts.audit(
        conn, user=user, action="auth.login", target=f"user:{user.username}", remote_addr=addr
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
        path="/",
    )
    return LoginResponse(token=token, user=me_of(user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(conn: SessionDep, user: CurrentUser, audit: AuditDep, response: Response) -> None:
    if user.token_hash is not None:
        accounts.revoke_session(conn, token_hash=user.token_hash, now=now())
    audit("auth.logout", f"user:{user.username}")
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
def me(user: CurrentUser) -> Me:
    return me_of(user)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"description": "the current password is wrong"}},
)
def change_password(
    body: PasswordChange, conn: SessionDep, user: CurrentUser, audit: AuditDep
) -> None:
    """Change one's own password; every other session of the user ends."""
    if (
        accounts.authenticate(
            conn, username=user.username, password=body.current_password.get_secret_value()
        )
        is None
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong")
    accounts.set_password(conn, user_id=user.id, password=body.new_password.get_secret_value())
    conn.execute(
        "update console_sessions set revoked_at = now() "
        "where user_id = %s and revoked_at is null and token_hash is distinct from %s",
        (user.id, user.token_hash),
    )
    audit("user.password_changed", f"user:{user.username}")
