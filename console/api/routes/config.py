"""What the console page needs before sign-in: the base map, the district's time zone, the
languages offered, and the message catalogue (vigil/messages.py) the web client renders with."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from console.api.deps import SettingsDep
from console.api.words import LangDep
from vigil.messages import catalogue

router = APIRouter(tags=["config"])


class ConsoleConfig(BaseModel):
    tile_url: str | None
    tile_attribution: str
    tile_crs: str = Field(description="wgs84, or gcj02 (AMap and most Chinese tiles)")
    tile_subdomains: str
    tile_overlay_url: str | None
    timezone: str
    languages: list[str]
    live_path: str


@router.get("/config")
def console_config(settings: SettingsDep) -> ConsoleConfig:
    return ConsoleConfig(
        tile_url=settings.console_tile_url or None,
        tile_attribution=settings.console_tile_attribution,
        tile_crs=settings.console_tile_crs,
        tile_subdomains=settings.console_tile_subdomains,
        tile_overlay_url=settings.console_tile_overlay_url or None,
        timezone=settings.district_timezone,
        languages=["zh", "en"],
        live_path="/api/live",
    )


@router.get("/messages")
def messages(lang: LangDep) -> dict[str, str]:
    """The catalogue in one language, flat: "room.kitchen" → "厨房", "tl.open" → its template."""
    return catalogue(lang)
