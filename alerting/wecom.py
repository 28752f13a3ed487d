"""The grid's WeCom (企业微信) group robot: new incidents, dispatches and escalations posted
where the grid team already talks, through the outbox like an SMS.

A group robot is a webhook: POST {"msgtype": "markdown", "markdown": {"content": …}} to
`/cgi-bin/webhook/send?key=KEY`; it answers {"errcode": 0, "errmsg": "ok"}. The key (per grid,
in the registry: `grids.wecom_key`) is a secret — whoever has it can post to the group — so it
is read when the message goes out and never copied into the outbox or shown in full. A robot
takes 20 messages a minute (errcode 45009: retried); markdown content is at most 4096 bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from alerting.errors import SmsError
from alerting.templates import CAUSES, STAGES, Place

if TYPE_CHECKING:
    from alerting.store import IncidentRow
    from vigil.db.connect import Conn

MAX_BYTES = 4096
EVENTS = {
    "open": ("新事件", "new incident"),
    "escalate": ("事件升级", "escalated"),
    "dispatch": ("已派单", "dispatched"),
}
# WeCom's global error codes a robot post can meet.
THROTTLED = frozenset({45009, 45033, -1})  # API frequency, concurrency, system busy
REFUSED = frozenset({93000, 93004, 93008, 40008, 40058, 44004, 45002, 40001, 40014})


def markdown(row: IncidentRow, *, place: Place, event: str, reason: str, console_url: str) -> str:
    """The robot's text: Chinese first, English after, the link to the incident."""
    zh_cause, en_cause = CAUSES.get(row.cause, (row.cause, row.cause))
    zh_event, en_event = EVENTS.get(event, (event, event))
    zh_why, en_why = STAGES.get(reason, ("", ""))
    colour = "warning" if row.severity >= 4 else "comment"
    link = f"{console_url.rstrip('/')}/incidents/{row.id}"
    lines = [
        f'### 【Vigil】{zh_event}：<font color="{colour}">{zh_cause}</font> 级别{row.severity}',
        f"> 地址：{place.address}{place.unit}",
        f"> 事件：#{row.id}" + (f"，{zh_why}" if zh_why else ""),
        f"{en_event}: {en_cause}, severity {row.severity}" + (f", {en_why}" if en_why else ""),
        f"[查看事件 / open incident #{row.id}]({link})",
    ]
    text = "\n".join(lines)
    while len(text.encode()) > MAX_BYTES:  # an absurd address: cut it, keep the link
        lines[1] = lines[1][: len(lines[1]) // 2] + "…"
        text = "\n".join(lines)
    return text


def plan(
    conn: Conn,
    row: IncidentRow,
    *,
    entry: int,
    place: Place,
    event: str,
    reason: str,
    console_url: str,
) -> None:
    """An outbox row for the incident's grid robot, if the grid registered one."""
    if row.grid_id is None:
        return
    found = conn.execute(
        "select 1 from grids where id = %s and wecom_key is not null and wecom_key <> ''",
        (row.grid_id,),
    ).fetchone()
    if found is None:
        return
    conn.execute(
        "insert into notification_outbox (idempotency_key, incident_id, channel, recipient, "
        "language, body, kind) values (%s, %s, 'wecom', %s, 'zh', %s, 'grid_wecom') "
        "on conflict (idempotency_key) do nothing",
        (
            f"t{entry}:wecom:{row.grid_id}",
            row.id,
            row.grid_id,
            markdown(row, place=place, event=event, reason=reason, console_url=console_url),
        ),
    )


def key_of(conn: Conn, grid_id: str) -> str | None:
    found = conn.execute("select wecom_key from grids where id = %s", (grid_id,)).fetchone()
    return str(found[0]) if found and found[0] else None


class WeComRobot:
    name = "wecom"

    def __init__(self, base_url: str = "https://qyapi.weixin.qq.com", timeout: float = 5.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the WeCom URL must be http(s), got {base_url!r}")
        self._url = base_url.rstrip("/") + "/cgi-bin/webhook/send"
        self._timeout = timeout

    async def post(self, *, key: str, content: str) -> str:
        """Post one markdown message; returns a local id (the robot gives none)."""
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = await client.post(self._url, params={"key": key}, json=payload)
        except httpx.HTTPError as exc:
            raise SmsError(
                f"企业微信不可达 / WeCom unreachable: {exc}", provider_down=True
            ) from exc
        if answer.status_code != 200:
            raise SmsError(
                f"企业微信答 HTTP {answer.status_code} / WeCom answered {answer.status_code}",
                provider_down=answer.status_code >= 500,
            )
        try:
            body = answer.json()
            code = int(body.get("errcode", -1))
        except (ValueError, AttributeError) as exc:
            raise SmsError(f"WeCom answered something that is not JSON: {exc}") from exc
        if code == 0:
            return f"wecom:{answer.headers.get('Date', '')}"[:60]
        message = str(body.get("errmsg", ""))[:200]
        if code in REFUSED:
            raise SmsError(
                f"企业微信拒绝，不再重试 / WeCom refused, given up ({code}: {message})",
                retryable=False,
            )
        raise SmsError(
            f"企业微信限流或繁忙，稍后重试 / WeCom throttled or busy, will retry "
            f"({code}: {message})"
        )
