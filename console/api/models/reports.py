from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class ResponseTimeRow(BaseModel):
    key: str | None = Field(description="the grid or department; null: none recorded")
    incidents: int
    acknowledged: int
    ack_p50_s: float | None = Field(description="opening to first acknowledge or dispatch")
    ack_p90_s: float | None
    arrive_p50_s: float | None = Field(description="opening to a responder's arrival")
    close_p50_s: float | None = Field(description="opening to resolved or false alarm")


class FalseAlarmRow(BaseModel):
    key: str | None
    closed: int
    false_alarms: int
    rate: float | None = Field(description="false alarms / closed incidents")


class WeeklyRow(BaseModel):
    week: date = Field(description="the Monday the week starts on")
    signal: str
    incidents: int
