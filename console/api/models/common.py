"""Field types shared by the resource models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _no_control_chars(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise ValueError("control characters are not allowed")
    return value


Text = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_chars)
]
LongText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_no_control_chars)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
Language = Literal["zh", "en"]
BigId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    """How many matched in all, besides the page returned."""

    total: int
