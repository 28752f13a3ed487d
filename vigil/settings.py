"""One typed settings object for every Vigil service.

Values come, highest first, from keyword arguments, `VIGIL_*` environment variables, a TOML
file (`VIGIL_CONFIG`, else `vigil.toml` in the working directory) and the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PLACEHOLDER_PREFIX = "changeme"
REPO_ROOT = Path(__file__).resolve().parent.parent


SMS_TEMPLATE_KEYS = tuple(
    f"{kind}.{lang}"
    for kind in ("family_alarm", "family_closed", "responder")
    for lang in ("zh", "en")
)


def _placeholders(prefix: str) -> dict[str, str]:
    """Template codes a district must replace with its approved ones (refused in production)."""
    return {key: f"{prefix}_{PLACEHOLDER_PREFIX}_{key}" for key in SMS_TEMPLATE_KEYS}


def _text_of(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _config_file() -> Path:
    return Path(os.environ.get("VIGIL_CONFIG", "vigil.toml"))


class Settings(BaseSettings):
    """Everything a Vigil process may be configured with."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="forbid", frozen=True)

    env: Literal["demo", "production"] = "demo"
    var_dir: Path = Field(default=REPO_ROOT / "var", description="local stack data, logs, PIDs")

    # Below Linux's ephemeral range (32768-60999), so an outgoing connection's source port can
    # never hold the stack's port when it restarts.
    stack_pg_port: int = Field(default=25432, ge=1024, le=65535)
    stack_mqtt_port: int = Field(default=21883, ge=1024, le=65535)

    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL DSN; unset means the local stack's"
    )
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int | None = Field(default=None, ge=1, le=65535, description="unset: local stack")
    mqtt_username: str = "vigil"
    mqtt_password: SecretStr = SecretStr("changeme-mqtt")
    secret_key: SecretStr = SecretStr("changeme-secret-key")
    # Where gateways' broker logins live: in the broker's dynamic-security plugin (Mosquitto,
    # the local stack), or in the registry for a broker that asks `vigil ops broker-login` at
    # every login (EMQX's HTTP authenticator, compose.yaml; vigil/broker_login.py).
    broker_accounts: Literal["dynamic-security", "registry"] = "dynamic-security"
    broker_login_secret: SecretStr = Field(
        default=SecretStr("changeme-broker-login"),
        description="the header EMQX sends to `vigil ops broker-login` (registry accounts)",
    )
    # EMQX keeps a session it has let in: the console ends a revoked gateway's through EMQX's
    # REST API (vigil/broker_sessions.py). Unset: not used (Mosquitto disconnects it itself).
    emqx_api_url: str = Field(
        default="",
        description="EMQX's REST API base, e.g. http://emqx:18083/api/v5; empty: not used",
    )
    emqx_api_key: str = Field(default="", description="an EMQX API key (its bootstrap file)")
    emqx_api_secret: SecretStr = Field(
        default=SecretStr(""), description="the secret of that API key"
    )

    console_tile_url: str = Field(
        default="",
        description="map tile URL template ({z}/{x}/{y}); empty: a schematic from our geometry",
    )
    console_tile_attribution: str = ""
    console_tile_crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84",
        description="the tiles' datum: gcj02 for AMap (高德) and most Chinese commercial maps, "
        "wgs84 for Tianditu (天地图, CGCS2000) and OpenStreetMap",
    )
    console_tile_subdomains: str = Field(
        default="", description="letters or digits for {s} in the tile URL, e.g. 01234567"
    )
    console_tile_overlay_url: str = Field(
        default="", description="a second tile layer drawn on top (Tianditu's labels, cva_w)"
    )
    district_timezone: str = Field(
        default="Asia/Shanghai", description="times the console shows are in this zone"
    )
    console_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    console_host: str = "127.0.0.1"
    console_port: int = Field(default=8760, ge=1, le=65535)
    vapid_public_key: str = Field(
        default="", description="Web Push (VAPID) public key, base64url; empty: push is off"
    )
    vapid_private_key: SecretStr = Field(
        default=SecretStr(""), description="Web Push (VAPID) private key, base64url or PEM"
    )
    vapid_subject: str = Field(
        default="mailto:ops@vigil.invalid", description="who push services may contact"
    )
    console_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="reverse proxies whose X-Forwarded-For is believed; none: no one's",
    )
    escalation_dir: Path | None = Field(
        default=None,
        description="folder of <district>.toml escalation policies; unset: the bundled one",
    )
    sms_provider: Literal["demo", "smpp", "http", "aliyun", "tencent"] = Field(
        default="demo", description="demo records messages locally and shows them in the console"
    )
    sms_sender: str = Field(default="10690000", description="source address / From number")
    sms_give_up_hours: float = Field(default=6.0, gt=0)
    sms_retry_cap_s: float = Field(default=30.0, gt=0, description="longest wait between tries")
    notifier_lease_s: float = Field(
        default=30.0,
        ge=1,
        description="a claimed notification whose notifier died is sent again after this long",
    )
    smpp_host: str = "127.0.0.1"
    smpp_port: int = Field(default=2775, ge=1, le=65535)
    smpp_system_id: str = Field(default="vigil", max_length=15)
    smpp_password: SecretStr = SecretStr("changeme")
    smpp_system_type: str = Field(default="", max_length=12)
    sms_http_url: str = Field(
        default="http://127.0.0.1:8700", description="Twilio-style API base URL (no trailing /)"
    )
    sms_http_account_sid: str = "ACchangeme"
    sms_http_auth_token: SecretStr = SecretStr("changeme-sms-token")
    sms_callback_url: str = Field(
        default="",
        description="public base URL of the alerting app, for delivery receipts and replies",
    )

    # Alibaba Cloud SMS / voice and Tencent Cloud SMS (docs/alerting.md): the signature and the
    # approved template of each message kind and language, "<kind>.<zh|en>" -> template code.
    aliyun_access_key_id: str = "changeme-aliyun-key-id"
    aliyun_access_key_secret: SecretStr = SecretStr("changeme-aliyun-secret")
    aliyun_sms_endpoint: str = "dysmsapi.aliyuncs.com"
    aliyun_voice_endpoint: str = "dyvmsapi.aliyuncs.com"
    aliyun_protocol: Literal["https", "http"] = "https"
    aliyun_sms_sign_name: str = "changeme签名"
    aliyun_sms_templates: dict[str, str] = Field(default_factory=lambda: _placeholders("SMS"))
    aliyun_sms_param_max: int = Field(default=35, ge=1, description="characters per variable")
    voice_provider: Literal["none", "demo", "aliyun"] = Field(
        default="none",
        description="places the family calls of the escalation policy; demo (make demo only) "
        "shows them in the console and answers with key 1",
    )
    aliyun_voice_show_number: str = Field(default="changeme", description="the caller number")
    aliyun_voice_tts_code: str = Field(default="TTS_changeme", description="family alarm TTS")
    tencent_secret_id: str = "changeme-tencent-id"  # noqa: S105 (an id, refused in production)
    tencent_secret_key: SecretStr = SecretStr("changeme-tencent-key")
    tencent_sms_endpoint: str = "sms.tencentcloudapi.com"
    tencent_protocol: Literal["https", "http"] = "https"
    tencent_region: str = "ap-guangzhou"
    tencent_sms_app_id: str = "changeme-app-id"
    tencent_sms_sign_name: str = "changeme签名"
    tencent_sms_templates: dict[str, str] = Field(default_factory=lambda: _placeholders("0"))
    tencent_sms_param_max: int = Field(default=12, ge=1, description="characters per variable")
    wecom_url: str = Field(
        default="https://qyapi.weixin.qq.com", description="WeCom group robots' API base URL"
    )
    console_public_url: str = Field(
        default="http://127.0.0.1:8760", description="the console as links in messages name it"
    )
    callback_token: SecretStr = Field(
        default=SecretStr("changeme-callback-token"),
        description="the secret path segment of the receipt URLs given to the cloud providers",
    )

    raw_retention_days: int = Field(default=30, ge=1)
    rollup_retention_days: int = Field(default=730, ge=1)
    dead_letter_retention_days: float = Field(
        default=30.0, gt=0, description="dead letters older than this are deleted"
    )
    dead_letter_max_bytes: int = Field(
        default=1024**3, ge=1024**2, description="past this size the oldest dead letters go"
    )

    ingest_batch_rows: int = Field(
        default=20_000,
        ge=1,
        description="readings per database transaction, about (a batch holds this many for "
        "each committer, split between them by device)",
    )
    ingest_committers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="database connections committing each batch in parallel, split by device",
    )
    ingest_batch_deadline_s: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="a batch is committed at latest this long after it opened",
    )
    ingest_receive_window: int = Field(
        default=2000,
        ge=1,
        le=65535,
        description="unacknowledged messages the broker may send to one ingest worker (MQTT 5 "
        "Receive Maximum); with MAX_MESSAGE_BYTES it bounds the worker's memory",
    )
    ingest_event_receive_window: int = Field(
        default=100,
        ge=1,
        le=65535,
        description="the same for the worker's second session, which takes only events, so an "
        "alarm never waits behind telemetry (docs/ingest.md)",
    )
    ingest_inbox_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024 * 1024,
        description="received bytes waiting to be decoded, at most; past it TCP holds the broker",
    )
    ingest_session_expiry_s: int = Field(
        default=7 * 86400, ge=60, description="how long the broker keeps a stopped worker's backlog"
    )
    ingest_max_future_s: float = Field(
        default=300.0, ge=0, description="device clocks may run this far ahead of ingest's"
    )
    ingest_max_age_s: float = Field(
        default=7 * 86400.0,
        gt=0,
        description="oldest reading accepted (a gateway's replay after an outage); also how long "
        "whole messages are remembered for deduplication",
    )
    ingest_maintain_interval_s: float = Field(
        default=60.0, gt=0, description="rollup refresh and retention under the Apache edition"
    )
    ingest_status_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="gateways.status (from status messages and last wills) is written this often",
    )
    ingest_last_seen_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="devices.last_seen / battery_v are written this often (one UPDATE per "
        "device per interval at most, however often it reports)",
    )
    detectors_checkpoint_s: float = Field(
        default=30.0,
        gt=0,
        description="the detector stage saves its state this often (and at a clean stop)",
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="/metrics and /healthz of a service; 0 = off"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address /metrics binds; 0.0.0.0 inside a container"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_placeholders_outside_demo(self) -> Settings:
        if self.stack_pg_port == self.stack_mqtt_port:
            raise ValueError("stack_pg_port and stack_mqtt_port must differ")
        if self.emqx_api_url and not (
            self.emqx_api_key and self.emqx_api_secret.get_secret_value()
        ):
            raise ValueError(
                "VIGIL_EMQX_API_URL needs VIGIL_EMQX_API_KEY and VIGIL_EMQX_API_SECRET"
            )
        if self.env == "demo":
            return self
        for name in ("mqtt_password", "secret_key", "database_url", "emqx_api_secret"):
            value = getattr(self, name)
            if value is None:
                if name == "database_url":
                    raise ValueError("VIGIL_DATABASE_URL must be set in production")
                continue
            secret = value.get_secret_value()
            if PLACEHOLDER_PREFIX in secret:
                raise ValueError(
                    f"VIGIL_{name.upper()} still holds a placeholder secret; "
                    "set a real one (placeholders are allowed only with VIGIL_ENV=demo)"
                )
        secrets = {
            "smpp": ("smpp_password",),
            "http": ("sms_http_auth_token",),
            "aliyun": (
                "aliyun_access_key_id",
                "aliyun_access_key_secret",
                "aliyun_sms_sign_name",
                "aliyun_sms_templates",
                "callback_token",
            ),
            "tencent": (
                "tencent_secret_id",
                "tencent_secret_key",
                "tencent_sms_app_id",
                "tencent_sms_sign_name",
                "tencent_sms_templates",
                "callback_token",
            ),
        }
        if self.voice_provider == "demo":
            raise ValueError(
                "VIGIL_VOICE_PROVIDER=demo answers every call with key 1 by itself: refused in "
                "production (use aliyun, or none)"
            )
        names = list(secrets.get(self.sms_provider, ()))
        if self.voice_provider == "aliyun":
            names += [
                "aliyun_access_key_id",
                "aliyun_access_key_secret",
                "aliyun_voice_show_number",
                "aliyun_voice_tts_code",
                "callback_token",
            ]
        for name in names:
            if PLACEHOLDER_PREFIX in _text_of(getattr(self, name)):
                raise ValueError(
                    f"VIGIL_{name.upper()} still holds a placeholder; set the real value "
                    "(placeholders are allowed only with VIGIL_ENV=demo)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml, file_secret_settings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
