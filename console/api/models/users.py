from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, SecretStr

from console.api.models.common import Body, Key, Language, Phone, Text
from console.api.roles import Role

Password = SecretStr


class UserBase(BaseModel):
    username: Key
    display_name: Text
    role: Role
    grid_id: Key | None = None
    phone: Phone | None = None
    language: Language = "zh"
    department: Text | None = None


class UserCreate(UserBase, Body):
    password: Password = Field(min_length=8, max_length=200)


class UserUpdate(Body):
    display_name: Text | None = None
    role: Role | None = None
    grid_id: Key | None = None
    phone: Phone | None = None
    language: Language | None = None
    department: Text | None = None
    disabled: bool | None = None
    password: Password | None = Field(default=None, min_length=8, max_length=200)


class UserPublic(UserBase):
    id: int
    created_at: datetime
    disabled_at: datetime | None


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    grid_id: str | None
    language: str
    permissions: list[str]
    incident_actions: list[str]


class LoginRequest(Body):
    username: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1, max_length=200)


class LoginResponse(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; also set as cookie")
    user: Me


class PasswordChange(Body):
    current_password: SecretStr = Field(max_length=200)
    new_password: SecretStr = Field(min_length=8, max_length=200)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    target: str | None
    detail: dict[str, object] | None
    remote_addr: str | None
