"""The grid member's mobile app (`/m/`): my tasks, one task's card, and the field actions.

Every action carries an `Idempotency-Key` the phone made (its offline queue keeps it), and the
first answer is stored with it: a replay — a response lost in a stairwell, a queue sent twice —
gets the same answer and changes nothing. An action the incident has moved past (someone else
resolved it meanwhile) is refused with 409 and a message the phone shows as it is.
The grid fence is the console's: another grid's incident is "not found".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import field, store
from alerting.errors import IllegalTransition, IncidentNotFoundError
from alerting.lifecycle import CLOSED_STATES, State
from console.api.accounts import Principal
from console.api.deps import (
    AuditDep,
    CurrentUser,
    IncidentActor,
    IncidentReader,
    SessionDep,
    SettingsDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import BigId
from console.api.models.field import (
    ArriveRequest,
    FieldAction,
    FieldResult,
    NoteRequest,
    OutcomeOption,
    Photo,
    PushKey,
    PushSubscription,
    ResolveRequest,
    Task,
    TaskDetail,
    Tasks,
)
from console.api.models.incidents import TimelineEntry
from console.api.roles import may_act
from console.api.routes.incidents import _resident_cards
from console.api.sqlutil import fetch_all
from console.hardening import MAX_PHOTO_BYTES

router = APIRouter(prefix="/field", tags=["field"])

_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
}
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="made by the phone, one per action; a replay gets the first answer",
    ),
]
# An offline action's own time is believed back to this far; older is taken as now.
MAX_OFFLINE = timedelta(hours=24)

_TASKS = """
select i.id, i.cause, i.signal, i.severity, i.state, i.opened_at,
       coalesce(i.assigned_to = %(me)s, false) as mine, u.display_name as assignee_name,
       i.accepted_at, i.arrived_at, coalesce(i.grid_id, b.grid_id) as grid_id, i.household_id,
       b.name as building_name, b.address, h.unit, b.lat, b.lon, h.living_alone,
       t.due_at as next_deadline, t.stage as deadline_stage
from incidents i
left join households h on h.id = i.household_id
left join buildings b on b.id = h.building_id
left join users u on u.id = i.assigned_to
left join escalation_timers t on t.incident_id = i.id and t.fired_at is null
     and t.cancelled_at is null
where (%(scope)s::text is null or coalesce(i.grid_id, b.grid_id) = %(scope)s)
  and (%(id)s::bigint is null or i.id = %(id)s)
"""
_OPEN = "and i.state not in ('resolved', 'false_alarm', 'test')"
# Mine first, then alarms before supervisory before trouble, severity, the nearest deadline.
_URGENT = """
order by coalesce(i.assigned_to = %(me)s, false) desc,
         case i.signal when 'alarm' then 1 when 'supervisory' then 2 else 3 end,
         i.severity desc, t.due_at nulls last, i.opened_at, i.id
"""


def _tasks(conn: SessionDep, user: Principal, *, incident_id: int | None) -> list[Task]:
    sql = _TASKS + ("" if incident_id else _OPEN) + _URGENT
    params = {"me": user.id, "scope": grid_scope(user), "id": incident_id}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.encode(), params).fetchall()
    return [Task.model_validate(r) for r in rows]


def _task(conn: SessionDep, user: Principal, incident_id: int) -> Task:
    found = _tasks(conn, user, incident_id=incident_id)
    if not found:
        raise not_found("incident")
    return found[0]


@router.get("/tasks")
def my_tasks(conn: SessionDep, user: IncidentReader) -> Tasks:
    """Open incidents of my grid, the ones dispatched to me first, most urgent first."""
    return Tasks(now=now(), items=_tasks(conn, user, incident_id=None))


def _photos(conn: SessionDep, incident_id: int) -> list[Photo]:
    rows = conn.execute(
        "select id, sha256, size_bytes, content_type, received_at from incident_evidence "
        "where incident_id = %s order by id",
        (incident_id,),
    ).fetchall()
    return [
        Photo(
            id=r[0],
            sha256=r[1],
            size_bytes=r[2],
            content_type=r[3],
            received_at=r[4],
            url=f"/api/field/photos/{r[0]}",
        )
        for r in rows
    ]


def _can(user: Principal, task: Task) -> list[Any]:
    state = State(task.state)
    if state in CLOSED_STATES:
        return ["note", "photo"] if may_act(user.role, "note") else []
    can: list[Any] = []
    if state in (State.NEW, State.ACKNOWLEDGED) or (
        state is State.DISPATCHED and task.mine and task.accepted_at is None
    ):
        can.append("accept")
    if state in (State.NEW, State.ACKNOWLEDGED, State.DISPATCHED) and may_act(user.role, "arrive"):
        can.append("arrive")
    can += ["note", "photo"]
    if may_act(user.role, "resolve"):
        can.append("resolve")
    return can


@router.get("/tasks/{incident_id}")
def task_detail(incident_id: BigId, conn: SessionDep, user: IncidentReader) -> TaskDetail:
    """One task's card: where, who lives there and what a responder must know, the timeline."""
    task = _task(conn, user, incident_id)
    notes = conn.execute(
        "select notes from households where id = %s", (task.household_id,)
    ).fetchone()
    timeline = fetch_all(
        conn,
        TimelineEntry,
        "select at, actor, action, from_state, to_state, note from incident_timeline "
        "where incident_id = %s order by at, id",
        (incident_id,),
    )
    return TaskDetail(
        now=now(),
        task=task,
        household_notes=notes[0] if notes else None,
        residents=_resident_cards(conn, user, task.household_id),
        timeline=timeline,
        photos=_photos(conn, incident_id),
        can=_can(user, task),
        outcomes=[OutcomeOption(code=o.code, zh=o.zh, en=o.en) for o in field.OUTCOMES],
    )


def _when(conn: SessionDep, incident_id: int, taken_at: datetime | None) -> datetime:
    """The action's time: the phone's (an offline action) within reason, else the server's.
    Never before the incident's last change, so the lifecycle's times stay in order."""
    server = now()
    if taken_at is None or taken_at.tzinfo is None or not server - MAX_OFFLINE < taken_at:
        return server
    row = conn.execute("select updated_at from incidents where id = %s", (incident_id,)).fetchone()
    floor = row[0] if row else server
    return min(server, max(taken_at, floor))


def _once(
    conn: SessionDep,
    user: Principal,
    *,
    key: str,
    incident_id: int,
    kind: str,
    taken_at: datetime | None,
    run: Callable[[], FieldResult],
) -> JSONResponse:
    """Run the action once per (user, key); store and return its answer, 200 or 409."""
    conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 21))", (f"{user.id}:{key}",))
    seen = conn.execute(
        "select incident_id, kind, status_code, response from field_actions "
        "where user_id = %s and action_id = %s",
        (user.id, key),
    ).fetchone()
    if seen is not None:
        if (seen[0], seen[1]) != (incident_id, kind):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "此操作编号已用于另一操作 / this Idempotency-Key was used for another action",
            )
        return JSONResponse(seen[3], status_code=seen[2], headers={"Idempotent-Replay": "true"})
    try:
        result = run()
        code = status.HTTP_200_OK
    except IncidentNotFoundError as exc:
        raise not_found("incident") from exc
    except IllegalTransition as exc:
        state = store.load(conn, incident_id)
        result = FieldResult(ok=False, state=str(state.state), detail=_moved_on(exc, state))
        code = status.HTTP_409_CONFLICT
    body = json.loads(result.model_dump_json())
    conn.execute(
        "insert into field_actions (user_id, action_id, incident_id, kind, status_code, "
        "response, taken_at) values (%s, %s, %s, %s, %s, %s, %s)",
        (user.id, key, incident_id, kind, code, Jsonb(body), taken_at),
    )
    return JSONResponse(body, status_code=code)


_STATE_ZH = {
    "new": "新事件",
    "acknowledged": "已确认",
    "dispatched": "已派遣",
    "on_site": "已到场",
    "resolved": "已处置",
    "false_alarm": "误报",
    "test": "测试",
}


def _moved_on(exc: IllegalTransition, row: store.IncidentRow) -> str:
    state = str(row.state)
    return (
        f"事件状态已变为「{_STATE_ZH.get(state, state)}」，此操作未执行 / "
        f"the incident is now {state}; this action was not applied ({exc})"
    )


def _result(row: store.IncidentRow, **extra: Any) -> FieldResult:
    return FieldResult(ok=True, state=str(row.state), **extra)


@router.post("/tasks/{incident_id}/accept", responses={409: {"model": FieldResult}})
def accept(
    *,
    incident_id: BigId,
    key: IdempotencyKey,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
    body: Annotated[FieldAction | None, Body()] = None,
) -> FieldResult:
    """One tap: the task is mine. Stops the acknowledge/dispatch deadline; arrive's starts."""
    _task(conn, user, incident_id)
    taken = body.taken_at if body else None
    at = _when(conn, incident_id, taken)
    audit("field.accept", f"incident:{incident_id}")
    return _once(  # type: ignore[return-value]
        conn,
        user,
        key=key,
        incident_id=incident_id,
        kind="accept",
        taken_at=taken,
        run=lambda: _result(
            field.accept(
                conn, incident_id=incident_id, user_id=user.id, actor=user.username, now=at
            )
        ),
    )


@router.post("/tasks/{incident_id}/arrive", responses={409: {"model": FieldResult}})
def arrive(
    *,
    incident_id: BigId,
    body: ArriveRequest,
    key: IdempotencyKey,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
) -> FieldResult:
    """At the door: the time and, if the member shared it, the position and distance."""
    _task(conn, user, incident_id)
    if (body.lat is None) != (body.lon is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "lat and lon go together")
    position = (body.lat, body.lon, body.accuracy_m) if body.lat is not None else None
    at = _when(conn, incident_id, body.taken_at)
    audit("field.arrive", f"incident:{incident_id}")

    def run() -> FieldResult:
        row, distance = field.arrive(
            conn,
            incident_id=incident_id,
            user_id=user.id,
            actor=user.username,
            now=at,
            position=position,  # type: ignore[arg-type]
        )
        return _result(row, distance_m=distance)

    return _once(
        conn, user, key=key, incident_id=incident_id, kind="arrive", taken_at=body.taken_at, run=run
    )  # type: ignore[return-value]


@router.post("/tasks/{incident_id}/note", responses={409: {"model": FieldResult}})
def add_note(
    *,
    incident_id: BigId,
    body: NoteRequest,
    key: IdempotencyKey,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
) -> FieldResult:
    """A typed (or dictated) note on the timeline."""
    _task(conn, user, incident_id)
    at = _when(conn, incident_id, body.taken_at)
    audit("field.note", f"incident:{incident_id}")
    from alerting.lifecycle import Action

    return _once(  # type: ignore[return-value]
        conn,
        user,
        key=key,
        incident_id=incident_id,
        kind="note",
        taken_at=body.taken_at,
        run=lambda: _result(
            store.act(
                conn,
                incident_id=incident_id,
                action=Action.NOTE,
                actor=user.username,
                now=at,
                note=body.note,
            )
        ),
    )


@router.post("/tasks/{incident_id}/resolve", responses={409: {"model": FieldResult}})
def resolve(
    *,
    incident_id: BigId,
    body: ResolveRequest,
    key: IdempotencyKey,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
) -> FieldResult:
    """Feedback: close with what was found; the console sees it at once."""
    _task(conn, user, incident_id)
    action = field.OUTCOME_BY_CODE[body.outcome].action
    if not may_act(user.role, action.value):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {action}")
    at = _when(conn, incident_id, body.taken_at)
    audit("field.resolve", f"incident:{incident_id}", {"outcome": body.outcome})
    return _once(  # type: ignore[return-value]
        conn,
        user,
        key=key,
        incident_id=incident_id,
        kind="resolve",
        taken_at=body.taken_at,
        run=lambda: _result(
            field.resolve(
                conn,
                incident_id=incident_id,
                actor=user.username,
                now=at,
                outcome=body.outcome,
                note=body.note,
            )
        ),
    )


@router.post(
    "/tasks/{incident_id}/photos",
    responses={
        413: {"description": "larger than 4 MB"},
        415: {"description": "not a JPEG, PNG or WebP image"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _MAGIC},
        }
    },
)
async def add_photo(
    *,
    incident_id: BigId,
    request: Request,
    key: IdempotencyKey,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
) -> FieldResult:
    """A photo from the scene, the image itself as the body (the phone resized it)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _MAGIC:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "只收 JPEG、PNG 或 WebP 照片 / only JPEG, PNG or WebP photos are accepted",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PHOTO_BYTES:
        raise _too_large()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_PHOTO_BYTES:
            raise _too_large()
    if not data or not bytes(data).startswith(_MAGIC[content_type]):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"内容不是 {content_type} 图片 / the body is not a {content_type} image",
        )
    _task(conn, user, incident_id)
    audit("field.photo", f"incident:{incident_id}")

    def run() -> FieldResult:
        photo = field.attach_photo(
            conn,
            incident_id=incident_id,
            user_id=user.id,
            actor=user.username,
            now=now(),
            content_type=content_type,
            data=bytes(data),
        )
        row = store.load(conn, incident_id)
        stored = next(p for p in _photos(conn, incident_id) if p.id == photo.id)
        return _result(row, photo=stored)

    return _once(conn, user, key=key, incident_id=incident_id, kind="photo", taken_at=None, run=run)  # type: ignore[return-value]


def _too_large() -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"照片超过 {MAX_PHOTO_BYTES // 1024 // 1024} MB / the photo is larger than "
        f"{MAX_PHOTO_BYTES // 1024 // 1024} MB",
    )


@router.get(
    "/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in _MAGIC}}},
)
def photo(photo_id: BigId, conn: SessionDep, user: IncidentReader) -> Response:
    """A photo's bytes, for whoever may see its incident."""
    row = conn.execute(
        "select incident_id, content_type, sha256, data from incident_evidence where id = %s",
        (photo_id,),
    ).fetchone()
    if row is None:
        raise not_found("photo")
    try:
        _task(conn, user, row[0])
    except HTTPException as exc:
        raise not_found("photo") from exc
    return Response(
        bytes(row[3]),
        media_type=row[1],
        headers={"ETag": f'"{row[2]}"', "Cache-Control": "private, max-age=86400"},
    )


@router.get("/push/key")
def push_key(settings: SettingsDep, user: CurrentUser) -> PushKey:
    """The VAPID public key the phone subscribes with; null when push is not configured."""
    return PushKey(public_key=settings.vapid_public_key or None)


@router.post("/push/subscription", status_code=status.HTTP_204_NO_CONTENT)
def subscribe(body: PushSubscription, conn: SessionDep, user: CurrentUser) -> None:
    """Keep this browser's push subscription for the signed-in user (the latest user wins)."""
    conn.execute(
        "insert into push_subscriptions (user_id, endpoint, p256dh, auth) "
        "values (%s, %s, %s, %s) on conflict (endpoint) do update set user_id = excluded.user_id, "
        "p256dh = excluded.p256dh, auth = excluded.auth, revoked_at = null",
        (user.id, body.endpoint, body.p256dh, body.auth),
    )
