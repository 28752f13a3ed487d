"""Demo sign-ins, created only with VIGIL_ENV=demo so a production database never gets them."""

from __future__ import annotations

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
