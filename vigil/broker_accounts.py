"""Gateway broker logins kept in the registry, each bound to its one MQTT client id.

For a broker that asks Vigil at every login (EMQX's HTTP authenticator in compose.yaml, answered
by `vigil.broker_login`) instead of holding the accounts itself (Mosquitto's dynamic-security
plugin, `vigil.broker_auth.BrokerAuth`). The console writes them on the request's own
connection, so a gateway and its login are made, re-keyed and removed in one transaction, and a
login is refused as soon as the gateway is revoked or retired in the registry.
"""

from __future__ import annotations

from vigil.broker_auth import BrokerAuthError, gateway_client_id, hash_password
from vigil.db.connect import Conn
from vigil.topics import check_gateway_id


class RegistryAccounts:
    """`GatewayAccounts` in the `broker_accounts` table, on the caller's connection (the caller
    commits)."""

    def __init__(self, conn: Conn, service_user: str) -> None:
        self.conn = conn
        self.service_user = service_user

    def gateways(self) -> list[str]:
        rows = self.conn.execute("select username from broker_accounts order by username")
        return [str(r[0]) for r in rows.fetchall()]

    def add_gateway(self, gateway_id: str, password: str, site: str | None = None) -> None:
        """Create or re-key a gateway's login (the site is fenced by ingest, not here)."""
        self.add_gateways([(gateway_id, password, site)])

    def add_gateways(self, accounts: list[tuple[str, str, str | None]]) -> None:
        rows = []
        for gateway_id, password, _site in accounts:
            check_gateway_id(gateway_id)
            if gateway_id == self.service_user:
                raise BrokerAuthError(f"{gateway_id!r} is the service account, not a gateway")
            if not password:
                raise BrokerAuthError("a gateway needs a non-empty password")
            stored = hash_password(password)
            rows.append(
                (gateway_id, gateway_client_id(gateway_id), stored["password"], stored["salt"],
                 stored["iterations"])
            )  # fmt: skip
        with self.conn.cursor() as cur:
            cur.executemany(
                "insert into broker_accounts (username, client_id, password, salt, iterations) "
                "values (%s, %s, %s, %s, %s) on conflict (username) do update set "
                "client_id = excluded.client_id, password = excluded.password, "
                "salt = excluded.salt, iterations = excluded.iterations, updated_at = now()",
                rows,
            )

    def remove_gateway(self, gateway_id: str) -> None:
        """Delete the login. EMQX keeps a session it has let in: the console ends it through
        EMQX's API once this has committed (`vigil.broker_sessions`)."""
        check_gateway_id(gateway_id)
        gone = self.conn.execute(
            "delete from broker_accounts where username = %s returning 1", (gateway_id,)
        ).fetchone()
        if gone is None:
            raise BrokerAuthError(f"no gateway account {gateway_id!r}")
