"""Demo sign-ins, created only with VIGIL_ENV=demo so a production database never gets them."""

from __future__ import annotations

import ipaddress

from console.api import accounts
from console.api.roles import Role
from console.serve import ConsoleServer
from vigil.db.connect import Conn
from vigil.settings import Settings

DEMO_PASSWORD = "vigil-demo"  # noqa: S105 (the demo sign-in, printed on purpose)
DEMO_USERS = {"admin": Role.ADMIN, "operator": Role.OPERATOR}


def ensure_demo_users(conn: Conn, settings: Settings) -> dict[str, str]:
    """Create the demo users that are missing; returns username -> password for the banner."""
    if settings.env != "demo":
        return {}
    for username, role in DEMO_USERS.items():
        if conn.execute("select 1 from users where username = %s", (username,)).fetchone():
            continue
        accounts.create_user(
            conn,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            display_name=f"演示{'管理员' if role is Role.ADMIN else '值班员'}",
            department="command",
        )
    return dict.fromkeys(DEMO_USERS, DEMO_PASSWORD)


def demo_sign_ins(settings: Settings, host: str) -> list[str]:
    """`vigil console run` under VIGIL_ENV=demo: the demo users, as `make demo` makes them.

    Their password is printed in the docs, so they are made only for a console that listens on
    this machine alone; production never gets them."""
    if settings.env != "demo":
        return []
    if not _loopback(host):
        return [f"demo sign-ins not created: the console listens on {host}, not this machine only"]
    import psycopg

    from vigil.db.connect import database_url

    with psycopg.connect(database_url(settings)) as conn:
        logins = ensure_demo_users(conn, settings)
    return [f"demo sign-in 演示登录: {user} / {password}" for user, password in logins.items()]


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_console(settings: Settings, dsn: str) -> tuple[ConsoleServer, dict[str, str]]:
    """Seed the demo sign-ins and serve the console; the caller stops the server."""
    import psycopg

    from console.app import create_app

    with psycopg.connect(dsn) as conn:
        logins = ensure_demo_users(conn, settings)
    server = ConsoleServer(
        create_app(settings, dsn=dsn), host=settings.console_host, port=settings.console_port
    )
    server.start()
    return server, logins


DEMO_GRID_MEMBER = "grid"


def ensure_demo_grid_member(dsn: str, settings: Settings, *, timeout_s: float = 60.0) -> str | None:
    """A demo grid member for the first grid that has households (the simulator registers the
    district after it starts, so this waits for it); returns the grid's id, None without one."""
    import time

    import psycopg

    if settings.env != "demo":
        return None
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select b.grid_id from households h join buildings b on b.id = h.building_id "
                "where h.retired_at is null order by b.grid_id, h.id limit 1"
            ).fetchone()
            if row is not None or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        if row is None:
            return None
        grid_id = str(row[0])
        if not conn.execute(
            "select 1 from users where username = %s", (DEMO_GRID_MEMBER,)
        ).fetchone():
            accounts.create_user(
                conn,
                username=DEMO_GRID_MEMBER,
                password=DEMO_PASSWORD,
                role=Role.GRID_MEMBER,
                grid_id=grid_id,
                display_name="演示网格员",
                department="community",
            )
    return grid_id
