"""Gateways: the boxes bridging a building's devices onto the broker.

Registering a gateway also gives it its broker account (the password is in the answer, once);
revoking or retiring one deletes the account. The database change and the broker change go
together: the broker is asked inside the request's transaction, and a broker that refuses rolls
the registry change back. Mosquitto (dynamic security) disconnects a removed account's client
at once; with the accounts in the registry (EMQX), the live session is ended through EMQX's API
once the change has committed, and the answer says whether it was (`live_session`).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from psycopg.rows import dict_row

from console.api.deps import (
    AuditDep,
    Auditor,
    BrokerDep,
    DeviceWriter,
    RegistryReader,
    SessionDep,
    SettingsDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import Key
from console.api.models.gateways import (
    GatewayCreate,
    GatewayPublic,
    GatewayRevoked,
    GatewayUpdate,
)
from console.api.models.provisioning import (
    BrokerCredentials,
    DeadLetterReason,
    GatewayDeadLetters,
    GatewayProvisioned,
)
from console.api.sqlutil import fetch_all, fetch_one, update_row
from vigil.broker_auth import BrokerAuthError, GatewayAccounts, gateway_acls
from vigil.broker_sessions import LiveSession, SessionEnder
from vigil.db.connect import Conn
from vigil.settings import Settings
from vigil.topics import GATEWAY_ID_PATTERN

PASSWORD_BYTES = 24  # 192 bits, url-safe: typed into a gateway's config once, never remembered
LIVE_SESSION_HEADER = "X-Vigil-Live-Session"  # a retirement's answer has no body

router = APIRouter(prefix="/gateways", tags=["gateways"])

_SELECT = """
select g.id, g.site_id, g.building_id, g.mqtt_username, g.status, g.status_since, g.last_seen,
       g.revoked_at,
       g.created_at,
       (select count(*) from devices d where d.gateway_id = g.id and d.retired_at is null)
         as devices
from gateways g
left join buildings b on b.id = g.building_id
where g.retired_at is null
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(id)s::text is null or g.id = %(id)s)
"""


@router.get("")
def list_gateways(conn: SessionDep, user: RegistryReader) -> list[GatewayPublic]:
    return fetch_all(
        conn, GatewayPublic, f"{_SELECT} order by g.id", {"scope": grid_scope(user), "id": None}
    )


@router.get("/{gateway_id}")
def get_gateway(gateway_id: Key, conn: SessionDep, user: RegistryReader) -> GatewayPublic:
    found = fetch_one(conn, GatewayPublic, _SELECT, {"scope": grid_scope(user), "id": gateway_id})
    if found is None:
        raise not_found("gateway")
    return found


def issue_credentials(broker: GatewayAccounts, gateway_id: str, site_id: str) -> BrokerCredentials:
    """A new password for the gateway's broker account (created if missing); 503 when the
    broker cannot be reached, so the caller's transaction rolls back."""
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        broker.add_gateway(gateway_id, password, site=site_id)
    except BrokerAuthError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"broker: {exc}") from exc
    return BrokerCredentials(
        username=gateway_id,
        password=password,
        topics=[f"{a['acltype']} {a['topic']}" for a in gateway_acls(gateway_id, site_id)],
    )


def remove_account(broker: GatewayAccounts, gateway_id: str) -> bool:
    """Delete the broker account (disconnecting the gateway); False when it had none."""
    try:
        broker.remove_gateway(gateway_id)
    except BrokerAuthError as exc:
        if "no gateway account" in str(exc):
            return False
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"broker: {exc}") from exc
    return True


def end_live_session(
    conn: Conn, settings: Settings, audit: Auditor, gateway_id: str
) -> LiveSession | None:
    """Commit the registry change, then end the gateway's session on EMQX (registry accounts;
    None where the broker ends it itself). EMQX not answering leaves the revocation done: it
    is audited and answered as `unconfirmed`."""
    if settings.broker_accounts != "registry":
        return None
    conn.commit()
    ender = SessionEnder.from_settings(settings)
    outcome = ender.end(gateway_id) if ender else LiveSession.NOT_CHECKED
    audit("gateway.session", f"gateway:{gateway_id}", {"live_session": outcome.value})
    return outcome


@router.post("", status_code=status.HTTP_201_CREATED)
def create_gateway(
    body: GatewayCreate, conn: SessionDep, user: DeviceWriter, audit: AuditDep, broker: BrokerDep
) -> GatewayProvisioned:
    """Register a gateway and issue its broker credentials (shown in this answer only)."""
    if not GATEWAY_ID_PATTERN.fullmatch(body.id):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"a gateway id is also a topic level: want {GATEWAY_ID_PATTERN.pattern}",
        )
    if body.mqtt_username != body.id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "mqtt_username must be the gateway id: the broker fences a gateway in by it",
        )
    site = conn.execute(
        "select 1 from sites where id = %s and retired_at is null", (body.site_id,)
    ).fetchone()
    if site is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown site_id")
    if (
        body.building_id is not None
        and conn.execute(
            "select 1 from buildings b join grids g on g.id = b.grid_id "
            "where b.id = %s and b.retired_at is null and g.site_id = %s",
            (body.building_id, body.site_id),
        ).fetchone()
        is None
    ):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown building_id (in this site)"
        )
    if conn.execute(
        "select 1 from gateways where id = %s or mqtt_username = %s", (body.id, body.mqtt_username)
    ).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a gateway with this id or username exists")
    conn.execute(
        "insert into gateways (id, site_id, building_id, mqtt_username) values (%s, %s, %s, %s)",
        (body.id, body.site_id, body.building_id, body.mqtt_username),
    )
    credentials = issue_credentials(broker, body.id, body.site_id)
    audit("gateway.create", f"gateway:{body.id}", {"credentials": "issued"})
    return GatewayProvisioned(
        **get_gateway(body.id, conn, user).model_dump(), credentials=credentials
    )


@router.patch("/{gateway_id}")
def update_gateway(
    *,
    gateway_id: Key,
    body: GatewayUpdate,
    conn: SessionDep,
    user: DeviceWriter,
    audit: AuditDep,
    broker: BrokerDep,
    settings: SettingsDep,
) -> GatewayRevoked:
    gateway = get_gateway(gateway_id, conn, user)
    fields: dict[str, object] = {}
    if "building_id" in body.model_fields_set:
        if (
            body.building_id is not None
            and conn.execute(
                "select 1 from buildings b join grids g on g.id = b.grid_id "
                "where b.id = %s and b.retired_at is null and g.site_id = %s",
                (body.building_id, gateway.site_id),
            ).fetchone()
            is None
        ):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown building_id (in this site)"
            )
        fields["building_id"] = body.building_id
    if body.revoked is False and gateway.revoked_at is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "a revoked gateway comes back with new credentials: "
            f"POST /api/gateways/{gateway_id}/credentials",
        )
    revoking = bool(body.revoked) and gateway.revoked_at is None
    if revoking:
        fields["revoked_at"] = now()
        remove_account(broker, gateway_id)
    update_row(conn, table="gateways", key="id", key_value=gateway_id, fields=fields)
    audit(
        "gateway.update",
        f"gateway:{gateway_id}",
        {"building": body.building_id, "revoked": body.revoked},
    )
    live = end_live_session(conn, settings, audit, gateway_id) if revoking else None
    return GatewayRevoked(**get_gateway(gateway_id, conn, user).model_dump(), live_session=live)


@router.post("/{gateway_id}/credentials")
def new_credentials(
    *,
    gateway_id: Key,
    conn: SessionDep,
    user: DeviceWriter,
    audit: AuditDep,
    broker: BrokerDep,
    settings: SettingsDep,
) -> GatewayProvisioned:
    """A new broker password (the old one stops working; a connected gateway is cut off until
    it uses the new one); also how a revoked gateway is let back in."""
    gateway = get_gateway(gateway_id, conn, user)
    update_row(conn, table="gateways", key="id", key_value=gateway_id, fields={"revoked_at": None})
    credentials = issue_credentials(broker, gateway_id, gateway.site_id)
    audit("gateway.credentials", f"gateway:{gateway_id}", {"was_revoked": bool(gateway.revoked_at)})
    live = end_live_session(conn, settings, audit, gateway_id)
    return GatewayProvisioned(
        **get_gateway(gateway_id, conn, user).model_dump(), credentials=credentials,
        live_session=live,
    )  # fmt: skip


@router.post("/{gateway_id}/revoke")
def revoke_gateway(
    *,
    gateway_id: Key,
    conn: SessionDep,
    user: DeviceWriter,
    audit: AuditDep,
    broker: BrokerDep,
    settings: SettingsDep,
) -> GatewayRevoked:
    """Delete the broker account now (a connected gateway is disconnected) and mark it revoked;
    ingest refuses anything still arriving under its name."""
    gateway = get_gateway(gateway_id, conn, user)
    had_account = remove_account(broker, gateway_id)
    if gateway.revoked_at is None:
        update_row(
            conn, table="gateways", key="id", key_value=gateway_id, fields={"revoked_at": now()}
        )
    audit("gateway.revoke", f"gateway:{gateway_id}", {"had_account": had_account})
    live = end_live_session(conn, settings, audit, gateway_id)
    return GatewayRevoked(**get_gateway(gateway_id, conn, user).model_dump(), live_session=live)


@router.delete("/{gateway_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_gateway(
    *,
    gateway_id: Key,
    conn: SessionDep,
    user: DeviceWriter,
    audit: AuditDep,
    broker: BrokerDep,
    settings: SettingsDep,
    response: Response,
) -> None:
    """Retire (keep the history, stop listing) and revoke; refused while devices use it. The
    X-Vigil-Live-Session header tells what became of its connected session (as `live_session`
    does in the other answers)."""
    gateway = get_gateway(gateway_id, conn, user)
    if gateway.devices:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{gateway.devices} devices still report through it: move or retire them first",
        )
    remove_account(broker, gateway_id)
    stamp = now()
    update_row(
        conn,
        table="gateways",
        key="id",
        key_value=gateway_id,
        fields={"retired_at": stamp, "revoked_at": gateway.revoked_at or stamp},
    )
    audit("gateway.retire", f"gateway:{gateway_id}")
    live = end_live_session(conn, settings, audit, gateway_id)
    if live is not None:
        response.headers[LIVE_SESSION_HEADER] = live.value


@router.get("/{gateway_id}/dead-letters")
def gateway_dead_letters(
    gateway_id: Key,
    conn: SessionDep,
    user: RegistryReader,
    hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24.0,
) -> GatewayDeadLetters:
    """What ingest refused from this gateway, by reason, with the latest example of each (a
    device registered behind another gateway shows up as `wrong_gateway`)."""
    get_gateway(gateway_id, conn, user)
    since = now() - timedelta(hours=hours)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select reason, count(*) as letters, max(received_at) as last_at, "
            "(array_agg(detail order by received_at desc))[1] as example "
            "from dead_letters where split_part(topic, '/', 4) = %s and received_at >= %s "
            "group by reason order by letters desc, reason",
            (gateway_id, since),
        ).fetchall()
    reasons = [DeadLetterReason.model_validate(r) for r in rows]
    return GatewayDeadLetters(
        gateway_id=gateway_id, since=since, total=sum(r.letters for r in reasons), reasons=reasons
    )
