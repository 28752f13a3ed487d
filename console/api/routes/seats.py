"""Several seats on one incident (GB 50440 asks a command centre for at least three): who has
an incident open or is acting on it, pushed to the other operators at once over the live stream
("王芳 正在处理"); readable refusals when two seats act at once; and the shift hand-over list.

Presence lives in `incident_presence` (so every console process sees it) and is announced with
`pg_notify('vigil_presence', ...)`, which the live stream relays. A seat counts as present for
PRESENCE_TTL_S after its last heartbeat; the page sends one every 15 s while open.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, status
from psycopg.rows import dict_row

from alerting.errors import IllegalTransition
from console.api.accounts import Principal
from console.api.deps import IncidentReader, SessionDep, grid_scope, not_found, now
from console.api.models.common import BigId
from console.api.models.incidents import (
    Handover,
    HandoverItem,
    IncidentPublic,
    Presence,
    PresenceRequest,
    TimelineEntry,
)
from console.api.words import LangDep, TzDep, timeline_texts
from vigil.db.connect import Conn
from vigil.messages import Language, render

PRESENCE_TTL_S = 45

router = APIRouter(tags=["incidents"])


def present(conn: Conn, incident_id: int) -> list[Presence]:
    """Who has the incident open now, the one acting on it first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select user_id, display_name, activity, seen_at from incident_presence "
            "where incident_id = %s and seen_at > %s "
            "order by activity = 'handling' desc, seen_at desc",
            (incident_id, now() - timedelta(seconds=PRESENCE_TTL_S)),
        ).fetchall()
    return [Presence.model_validate(r) for r in rows]


def mark(conn: Conn, incident_id: int, user: Principal, activity: str) -> None:
    """Record (or with "left", drop) a seat on an incident and tell the other seats."""
    if activity == "left":
        conn.execute(
            "delete from incident_presence where incident_id = %s and user_id = %s",
            (incident_id, user.id),
        )
    else:
        conn.execute(
            "insert into incident_presence (incident_id, user_id, display_name, activity, "
            "seen_at) values (%s, %s, %s, %s, %s) on conflict (incident_id, user_id) do update "
            "set activity = case when incident_presence.activity = 'handling' "
            "and excluded.activity = 'viewing' then 'handling' else excluded.activity end, "
            "seen_at = excluded.seen_at, display_name = excluded.display_name",
            (incident_id, user.id, user.display_name, activity, now()),
        )
    grid = conn.execute(
        "select coalesce(i.grid_id, b.grid_id) from incidents i "
        "left join households h on h.id = i.household_id "
        "left join buildings b on b.id = h.building_id where i.id = %s",
        (incident_id,),
    ).fetchone()
    payload = {
        "incident_id": incident_id,
        "grid_id": grid[0] if grid else None,
        "user_id": user.id,
        "display_name": user.display_name,
        "activity": activity,
    }
    conn.execute("select pg_notify('vigil_presence', %s)", (json.dumps(payload),))


@router.post("/incidents/{incident_id}/presence", status_code=status.HTTP_200_OK)
def presence(
    incident_id: BigId, body: PresenceRequest, conn: SessionDep, user: IncidentReader
) -> list[Presence]:
    """A heartbeat from an open incident page ("viewing"), or "left" when it closes."""
    _visible(conn, user, incident_id)
    mark(conn, incident_id, user, body.activity)
    return present(conn, incident_id)


def _visible(conn: Conn, user: Principal, incident_id: int) -> None:
    row = conn.execute(
        "select 1 from incidents i left join households h on h.id = i.household_id "
        "left join buildings b on b.id = h.building_id where i.id = %s "
        "and (%s::text is null or coalesce(i.grid_id, b.grid_id) = %s)",
        (incident_id, grid_scope(user), grid_scope(user)),
    ).fetchone()
    if row is None:
        raise not_found("incident")


def _last_change(conn: Conn, incident_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select t.actor, coalesce(u.display_name, t.actor) as name, t.action, t.at, "
            "i.state from incident_timeline t join incidents i on i.id = t.incident_id "
            "left join users u on u.username = t.actor where t.incident_id = %s "
            "and t.actor <> 'system' order by t.at desc, t.id desc limit 1",
            (incident_id,),
        ).fetchone()


def moved_on(conn: Conn, incident_id: int, lang: Language, tz: str) -> str:
    """ "该警情已由 王芳 于 12月6日 13:48:55 确认，当前状态：已确认。…" """
    last = _last_change(conn, incident_id)
    if last is None:
        state = conn.execute("select state from incidents where id = %s", (incident_id,))
        row = state.fetchone()
        return render("err.illegal", {"state": row[0] if row else "", "action": ""}, lang, tz)
    return render(
        "err.state_changed",
        {
            "actor": last["name"] if last["actor"] != "system" else render("role.system", {}, lang),
            "at": last["at"].isoformat(),
            "action": last["action"],
            "state": last["state"],
        },
        lang,
        tz,
    )


_OTHER_OPEN = re.compile(r"incident (\d+) is already open")


def refusal(exc: IllegalTransition, conn: Conn, incident_id: int, lang: Language, tz: str) -> str:
    """An IllegalTransition as a sentence in the reader's language, naming who got there first
    when another seat moved the incident on."""
    text = str(exc)
    if "has no grid member" in text:
        return render("err.no_grid_member", {}, lang, tz)
    if m := _OTHER_OPEN.search(text):
        return render("err.already_open", {"other": m.group(1)}, lang, tz)
    if "already at the top tier" in text:
        return render("err.top_tier", {}, lang, tz)
    last = _last_change(conn, incident_id)
    if last is not None and last["state"] == str(exc.state):
        return moved_on(conn, incident_id, lang, tz)
    return render("err.illegal", {"state": str(exc.state), "action": str(exc.action)}, lang, tz)


@router.get("/handover")
def handover(conn: SessionDep, user: IncidentReader, lang: LangDep, tz: TzDep) -> Handover:
    """The shift hand-over: every open incident with its state, who holds it, its latest
    timeline entry (in `lang`) and who has it open now; board order."""
    from console.api.routes.incidents import list_incidents

    page = list_incidents(conn=conn, user=user, state="open", limit=1000)
    items = []
    for inc in page.items:
        items.append(
            HandoverItem(
                incident=inc,
                last=_latest_entry(conn, inc, lang, tz),
                presence=present(conn, inc.id),
            )
        )
    return Handover(at=now(), open=items)


def _latest_entry(conn: Conn, inc: IncidentPublic, lang: Language, tz: str) -> TimelineEntry | None:
    with conn.cursor(row_factory=dict_row) as cur:
        entry = cur.execute(
            "select t.at, t.actor, u.display_name as actor_name, t.action, t.from_state, "
            "t.to_state, t.note, t.code, t.params from incident_timeline t "
            "left join users u on u.username = t.actor where t.incident_id = %s "
            "order by t.at desc, t.id desc limit 1",
            (inc.id,),
        ).fetchone()
        if entry is None:
            return None
        alerts = cur.execute(
            "select device_id, kind, reason, evidence from alerts where incident_id = %s",
            (inc.id,),
        ).fetchall()
    return TimelineEntry.model_validate(timeline_texts([entry], alerts, {}, lang, tz)[0])
