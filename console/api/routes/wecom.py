"""A grid's WeCom group robot key (企业微信群机器人): set, see whether one is set, remove.

The key is a secret (whoever has it posts to the group): it is written, never read back —
the answer shows its last four characters only.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from console.api.deps import AuditDep, GridWriter, RegistryReader, SessionDep, not_found
from console.api.models.common import Key

router = APIRouter(prefix="/grids", tags=["grids"])


class WeComKey(BaseModel):
    key: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9-]+$")


class WeComStatus(BaseModel):
    grid_id: str
    configured: bool
    key_hint: str | None = Field(description="the key's last four characters")


def _status(conn: SessionDep, grid_id: str) -> WeComStatus:
    row = conn.execute(
        "select wecom_key from grids where id = %s and retired_at is null", (grid_id,)
    ).fetchone()
    if row is None:
        raise not_found("grid")
    key = row[0]
    return WeComStatus(grid_id=grid_id, configured=bool(key), key_hint=key[-4:] if key else None)


@router.get("/{grid_id}/wecom")
def get_wecom(grid_id: Key, conn: SessionDep, user: RegistryReader) -> WeComStatus:
    return _status(conn, grid_id)


@router.put("/{grid_id}/wecom")
def set_wecom(
    grid_id: Key, body: WeComKey, conn: SessionDep, user: GridWriter, audit: AuditDep
) -> WeComStatus:
    _status(conn, grid_id)
    conn.execute("update grids set wecom_key = %s where id = %s", (body.key, grid_id))
    audit("grid.wecom_set", f"grid:{grid_id}", {})
    return _status(conn, grid_id)


@router.delete("/{grid_id}/wecom")
def clear_wecom(grid_id: Key, conn: SessionDep, user: GridWriter, audit: AuditDep) -> WeComStatus:
    _status(conn, grid_id)
    conn.execute("update grids set wecom_key = null where id = %s", (grid_id,))
    audit("grid.wecom_clear", f"grid:{grid_id}", {})
    return _status(conn, grid_id)
