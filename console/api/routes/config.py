"""What the console page needs before sign-in: map tiles and the languages offered."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from console.api.deps import SettingsDep

router = APIRouter(tags=["config"])


class ConsoleConfig(BaseModel):
    tile_url: str | None
    tile_attribution: str
    languages: list[str]
    live_path: str


@router.get("/config")
def console_config(settings: SettingsDep) -> ConsoleConfig:
    return ConsoleConfig(
        tile_url=settings.console_tile_url or None,
        tile_attribution=settings.console_tile_attribution,
        languages=["zh", "en"],
        live_path="/api/live",
    )
