"""Settings: environment and TOML sources, and no placeholder secrets outside the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.settings import Settings


def test_environment_variables_use_the_vigil_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STACK_PG_PORT", "56000")
    monkeypatch.setenv("VIGIL_RAW_RETENTION_DAYS", "7")
    settings = Settings()
    assert settings.stack_pg_port == 56000
    assert settings.raw_retention_days == 7


def test_a_toml_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('stack_mqtt_port = 52000\nmqtt_host = "broker.local"\n')
    monkeypatch.setenv("VIGIL_CONFIG", str(config))
    for name in ("VIGIL_STACK_MQTT_PORT", "VIGIL_MQTT_HOST"):  # the environment would win
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.stack_mqtt_port == 52000
    assert settings.mqtt_host == "broker.local"


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text("stack_mqtt_port = 52000\n")
    monkeypatch.setenv("VIGIL_CONFIG", str(config))
    monkeypatch.setenv("VIGIL_STACK_MQTT_PORT", "52001")
    assert Settings().stack_mqtt_port == 52001


def test_placeholder_secrets_are_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings.model_validate({"env": "production", "database_url": "postgresql://db/vigil"})


def test_production_needs_a_database_url() -> None:
    with pytest.raises(ValidationError, match="VIGIL_DATABASE_URL must be set"):
        Settings.model_validate(
            {"env": "production", "mqtt_password": "s3cret-long", "secret_key": "another-s3cret"}
        )


def test_real_secrets_pass_in_production() -> None:
    settings = Settings.model_validate(
        {
            "env": "production",
            "database_url": "postgresql://vigil:pw@db/vigil",
            "mqtt_password": "s3cret-long",
            "secret_key": "another-s3cret",
        }
    )
    assert settings.env == "production"


def test_placeholders_are_fine_in_the_demo() -> None:
    assert Settings(env="demo").mqtt_password.get_secret_value().startswith("changeme")


@pytest.mark.parametrize(
    ("field", "value"),
    [("stack_pg_port", 80), ("stack_mqtt_port", 70000), ("raw_retention_days", 0), ("env", "x")],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({field: value})


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"no_such_setting": 1})


def test_the_two_stack_ports_must_differ() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Settings(stack_pg_port=56001, stack_mqtt_port=56001)


_PRODUCTION = {
    "env": "production",
    "database_url": "postgresql://vigil:pw@db/vigil",
    "mqtt_password": "s3cret-long",
    "secret_key": "another-s3cret",
}
_TEMPLATES = {
    f"{k}.{lang}": f"SMS_{i}{j}"
    for i, k in enumerate(("family_alarm", "family_closed", "responder"))
    for j, lang in enumerate(("zh", "en"))
}
_ALIYUN: dict[str, object] = {
    "sms_provider": "aliyun",
    "aliyun_access_key_id": "LTAI5tRealKeyId",
    "aliyun_access_key_secret": "real-secret-value",
    "aliyun_sms_sign_name": "幸福街道",
    "aliyun_sms_templates": _TEMPLATES,
    "callback_token": "a-long-random-callback-token",
}


def test_cloud_sms_with_real_values_passes_in_production() -> None:
    settings = Settings.model_validate({**_PRODUCTION, **_ALIYUN})
    assert settings.sms_provider == "aliyun"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("aliyun_sms_sign_name", "changeme签名"),
        ("aliyun_access_key_secret", "changeme-aliyun-secret"),
        ("callback_token", "changeme-callback-token"),
        ("aliyun_sms_templates", {**_TEMPLATES, "responder.en": "SMS_changeme"}),
    ],
)
def test_cloud_sms_placeholders_are_refused_in_production(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=f"VIGIL_{field.upper()} still holds a placeholder"):
        Settings.model_validate({**_PRODUCTION, **_ALIYUN, field: value})


def test_a_voice_provider_needs_its_caller_number_and_template_in_production() -> None:
    with pytest.raises(ValidationError, match="ALIYUN_VOICE_SHOW_NUMBER"):
        Settings.model_validate({**_PRODUCTION, **_ALIYUN, "voice_provider": "aliyun"})


def test_the_demo_voice_provider_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="VOICE_PROVIDER=demo"):
        Settings.model_validate({**_PRODUCTION, "voice_provider": "demo"})
    assert Settings().voice_provider == "none"
