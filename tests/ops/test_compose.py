"""compose.yaml: valid Compose, every part pinned, health-gated, wired to what exists.

Docker has no engine on our machines, so this is the file's only test before a deployment:
`tests/ops/compose_rules.py` holds the rules, and each rule is shown to refuse a broken copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from tests.ops.compose_rules import (
    Compose,
    check,
    command_problem,
    compose_schema,
    emqx_api_keys,
    emqx_authenticators,
    parse,
    read_env_example,
    vigil_commands,
)
from vigil.cli import app
from vigil.settings import REPO_ROOT, Settings

COMPOSE = REPO_ROOT / "compose.yaml"


@pytest.fixture(scope="module")
def text() -> str:
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def compose(text: str) -> Compose:
    parsed, problems = parse(text, REPO_ROOT)
    assert parsed is not None, problems
    return parsed


def test_the_compose_file_passes_every_rule(text: str) -> None:
    assert check(text, REPO_ROOT) == []


def test_the_schema_is_the_compose_specification() -> None:
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    assert "healthcheck" in schema["$defs"]


def test_the_parts_the_issue_asks_for_are_there(compose: Compose) -> None:
    services = compose.services
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert "-oss" not in services["timescaledb"]["image"]  # the full edition, not Apache-only
    assert services["emqx"]["image"].startswith("emqx/emqx:")
    ingest = [n for n in services if n.startswith("ingest-")]
    assert len(ingest) >= 2
    # Claiming workers of one pool: the same command, one detector state volume, and one cache
    # of compiled kernels (what the image warmed, kept across restarts).
    commands = {tuple(services[n]["command"]) for n in ingest}
    assert len(commands) == 1
    (command,) = commands
    assert command[:3] == ("ingest", "run", "--partitions")
    assert int(command[3]) >= len(ingest)
    mounts = {tuple(services[n]["volumes"]) for n in ingest}
    assert mounts == {
        ("detector-state:/var/lib/vigil/detectors", "numba-cache:/var/cache/vigil/numba")
    }
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "NUMBA_CACHE_DIR=/var/cache/vigil/numba" in dockerfile
    as_vigil = dockerfile.partition("USER vigil")[2]
    assert "RUN python -m detectors.aot --jit && python -m ingest.warm" in as_vigil
    for role in ("migrate", "alerting", "notifier", "console", "prometheus", "grafana"):
        assert role in services
    assert services["gateway-sim"]["profiles"] == ["demo"]
    assert services["migrate"]["command"] == ["db", "migrate"]
    assert any(p.endswith(":8000") for p in services["console"]["ports"])


def test_emqx_asks_the_login_check_at_every_connect(compose: Compose) -> None:
    """The one authenticator is EMQX 5.8's HTTP one, posting the CONNECT's three fields as its
    placeholders to `vigil ops broker-login`, reached on the compose network only."""
    (authn,) = emqx_authenticators(compose)
    assert (authn["mechanism"], authn["backend"], authn["method"]) == (
        "password_based",
        "http",
        "post",
    )
    assert authn["url"] == "http://broker-login:8081/mqtt/auth"
    assert authn["body"] == {
        "clientid": "${clientid}",
        "username": "${username}",
        "password": "${password}",
    }
    login = compose.services["broker-login"]
    assert authn["headers"] == {
        "Content-Type": "application/json",
        "X-Vigil-Broker-Secret": login["environment"]["VIGIL_BROKER_LOGIN_SECRET"],
    }
    assert login["command"] == ["ops", "broker-login", "--host", "0.0.0.0", "--port", "8081"]
    assert "ports" not in login  # not published on the host
    assert compose.services["emqx"]["depends_on"]["broker-login"] == {
        "condition": "service_healthy"
    }
    assert login["environment"]["VIGIL_BROKER_ACCOUNTS"] == "registry"
    assert compose.services["console"]["environment"]["VIGIL_BROKER_ACCOUNTS"] == "registry"


def test_the_console_ends_revoked_sessions_through_emqx_api(compose: Compose) -> None:
    """The console's EMQX API key is one EMQX makes at boot from its bootstrap file, and both
    take the secret from the same variable of .env (vigil/broker_sessions.py)."""
    env = compose.services["console"]["environment"]
    assert env["VIGIL_EMQX_API_URL"] == "http://emqx:18083/api/v5"
    assert emqx_api_keys(compose) == {"vigil-console": "changeme-emqx-api-secret"}
    assert env["VIGIL_EMQX_API_KEY"] == "vigil-console"
    assert env["VIGIL_EMQX_API_SECRET"] == "changeme-emqx-api-secret"
    emqx_env = compose.services["emqx"]["environment"]
    assert emqx_env["EMQX_API_KEY__BOOTSTRAP_FILE"] == "/opt/emqx/etc/vigil-api-key.conf"
    with pytest.raises(ValueError, match="VIGIL_EMQX_API_SECRET still holds a placeholder"):
        Settings.model_validate(
            {k.removeprefix("VIGIL_").lower(): v for k, v in env.items() if k.startswith("VIGIL_")}
            | {"mqtt_password": "x", "secret_key": "y", "database_url": "postgresql://z"}
        )


def test_every_secret_is_required_from_the_environment(text: str) -> None:
    for secret in (
        "VIGIL_DB_PASSWORD",
        "VIGIL_MQTT_PASSWORD",
        "VIGIL_SECRET_KEY",
        "VIGIL_BROKER_LOGIN_SECRET",
        "EMQX_API_SECRET",
    ):
        assert f"${{{secret}:?" in text


def test_the_example_secrets_are_refused_by_the_services(compose: Compose) -> None:
    """A forgotten `cp .env.example .env` must stop the services, not run with placeholders."""
    env = compose.services["alerting"]["environment"]
    fields = {k.removeprefix("VIGIL_").lower(): v for k, v in env.items() if k.startswith("VIGIL_")}
    with pytest.raises(ValueError, match="placeholder"):
        Settings.model_validate(fields)
    assert all("changeme" in v for v in read_env_example(REPO_ROOT / ".env.example").values())


def _vigil_commands() -> dict[str, list[str]]:
    parsed, problems = parse(COMPOSE.read_text(), REPO_ROOT)
    assert parsed is not None, problems
    return vigil_commands(parsed)


@pytest.mark.parametrize(("service", "argv"), sorted(_vigil_commands().items()))
def test_each_service_runs_a_vigil_command_that_exists(service: str, argv: list[str]) -> None:
    root = typer.main.get_command(app)
    if root.get_command(root.context_class(root), argv[0]) is None:  # type: ignore[attr-defined]
        pytest.skip(f"`vigil {argv[0]}` is not registered on this branch yet")
    assert command_problem(root, argv) is None


def test_a_command_with_a_wrong_option_is_found() -> None:
    root = typer.main.get_command(app)
    assert command_problem(root, ["db", "migrate"]) is None
    assert command_problem(root, ["db", "migrat"]) == "no such command 'migrat'"
    assert "--partitions" in str(command_problem(root, ["db", "migrate", "--partitions", "2"]))
    assert command_problem(root, ["db"]) == "names a group, not a command"


# ---------------------------------------------------------------- broken copies are refused
Edit = Callable[[str], str]


def _replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert old in text, f"the fixture text {old!r} is gone from compose.yaml"
        return text.replace(old, new, 1)

    return edit


BROKEN: dict[str, tuple[Edit, str]] = {
    "image on latest": (
        _replace("timescale/timescaledb:2.19.3-pg15", "timescale/timescaledb:latest-pg15"),
        "service timescaledb: image timescale/timescaledb:latest-pg15 is not pinned",
    ),
    "image without a tag": (
        _replace("grafana/grafana:11.5.1", "grafana/grafana"),
        "service grafana: image grafana/grafana has no tag",
    ),
    "image on a major version": (
        _replace("emqx/emqx:5.8.6", "emqx/emqx:5"),
        "service emqx: image emqx/emqx:5 is not pinned",
    ),
    "misspelt key": (
        _replace("    shm_size: 256mb\n", "    shm_sise: 256mb\n"),
        "Compose schema: services.timescaledb: Unevaluated properties are not allowed "
        "('shm_sise' was unexpected)",
    ),
    "no healthcheck": (
        _replace(
            '      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/healthy"]\n',
            "      disable: true\n",
        ),
        "service prometheus: no healthcheck",
    ),
    "a key given twice": (
        _replace("    shm_size: 256mb\n", "    shm_size: 256mb\n    shm_size: 1gb\n"),
        "duplicate key 'shm_size'",
    ),
    "dependency without a condition": (
        _replace(
            "    depends_on:\n      timescaledb:\n        condition: service_healthy\n"
            "      prometheus:\n        condition: service_healthy\n",
            "    depends_on: [timescaledb, prometheus]\n",
        ),
        "service grafana: depends on timescaledb without a condition",
    ),
    "waiting for a one-shot to be healthy": (
        _replace(
            "    migrate:\n      condition: service_completed_successfully\n",
            "    migrate:\n      condition: service_healthy\n",
        ),
        "waits for migrate to be healthy, but it has no healthcheck",
    ),
    "waiting on a demo-only service": (
        _replace(
            "      prometheus:\n        condition: service_healthy\n",
            "      prometheus:\n        condition: service_healthy\n"
            "      gateway-sim:\n        condition: service_healthy\n",
        ),
        "service grafana: depends on gateway-sim, which runs only in profile(s) demo",
    ),
    "undeclared volume": (
        _replace("      - prometheus-data:/prometheus\n", "      - prom-data:/prometheus\n"),
        "service prometheus: volume prom-data is not declared under volumes:",
    ),
    "missing bind source": (
        _replace("./deploy/emqx/acl.conf", "./deploy/emqx/acl.cfg"),
        "service emqx: mounts ./deploy/emqx/acl.cfg, which does not exist",
    ),
    "unlisted variable": (
        _replace("GF_SECURITY_ADMIN_USER: admin", "GF_SECURITY_ADMIN_USER: ${GRAFANA_USER}"),
        "${GRAFANA_USER} has no default and is not listed in .env.example",
    ),
    "a secret written into the file": (
        _replace(
            "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?",
            "GF_SECURITY_ADMIN_PASSWORD: hunter2  # ${GRAFANA_ADMIN_PASSWORD:?",
        ),
        "service grafana: GF_SECURITY_ADMIN_PASSWORD must be required from the environment",
    ),
    "a secret with a default": (
        _replace(
            "${VIGIL_SECRET_KEY:?set VIGIL_SECRET_KEY in .env}", "${VIGIL_SECRET_KEY:-dev-key}"
        ),
        "VIGIL_SECRET_KEY must be required from the environment",
    ),
    "a setting that does not exist": (
        _replace(
            "  VIGIL_MQTT_HOST: emqx\n", "  VIGIL_MQTT_HOST: emqx\n  VIGIL_MQTT_TLS: 'true'\n"
        ),
        "sets VIGIL_MQTT_TLS, which is not a field of vigil.settings.Settings",
    ),
    "a setting that does not load": (
        _replace('  VIGIL_MQTT_PORT: "1883"\n', '  VIGIL_MQTT_PORT: "mqtt"\n'),
        "its VIGIL_* settings do not load",
    ),
    "probe and metrics port disagree": (
        _replace('  VIGIL_METRICS_PORT: "9100"\n', '  VIGIL_METRICS_PORT: "9200"\n'),
        "probes port 9100 but VIGIL_METRICS_PORT is 9200",
    ),
    "a login check that is not the only authenticator": (
        _replace(
            "pool_size = 8, connect_timeout = 5s, request_timeout = 5s}]",
            "pool_size = 8, connect_timeout = 5s, request_timeout = 5s},\n"
            "        {mechanism = password_based, backend = built_in_database}]",
        ),
        "service emqx: 2 authenticators; the login check must be the only one",
    ),
    "a login check not told the client id": (
        _replace('clientid = "$${clientid}"', 'clientid = "$${username}"'),
        "the login check's body must carry EMQX's placeholders",
    ),
    "a login check on the wrong port": (
        _replace("http://broker-login:8081/mqtt/auth", "http://broker-login:8080/mqtt/auth"),
        "service emqx: the login check is http://broker-login:8081/mqtt/auth",
    ),
    "a login check at a service that is not one": (
        _replace("http://broker-login:8081/mqtt/auth", "http://console:8000/mqtt/auth"),
        "names no broker-login service",
    ),
    "a login check without the secret": (
        _replace('"X-Vigil-Broker-Secret" = ', '"X-Broker-Secret" = '),
        "the login check must send X-Vigil-Broker-Secret with broker-login's "
        "VIGIL_BROKER_LOGIN_SECRET",
    ),
    "a login check with another secret": (
        _replace(
            '"X-Vigil-Broker-Secret" = "${VIGIL_BROKER_LOGIN_SECRET:?',
            '"X-Vigil-Broker-Secret" = "${VIGIL_SECRET_KEY:?',
        ),
        "the login check must send X-Vigil-Broker-Secret",
    ),
    "a login check without a content type": (
        _replace('"Content-Type" = "application/json",', ""),
        "the login check must send Content-Type application/json",
    ),
    "the console signing EMQX API calls with another secret": (
        _replace(
            "VIGIL_EMQX_API_SECRET: ${EMQX_API_SECRET:?",
            "VIGIL_EMQX_API_SECRET: ${VIGIL_MQTT_PASSWORD:?",
        ),
        "must be a key:secret line of EMQX's API key bootstrap file",
    ),
    "no bootstrap file mounted": (
        _replace("        target: /opt/emqx/etc/vigil-api-key.conf", "        target: /tmp/k.conf"),
        "EMQX_API_KEY__BOOTSTRAP_FILE must be a config mounted on emqx",
    ),
    "the EMQX API on the wrong port": (
        _replace("http://emqx:18083/api/v5", "http://emqx:1883/api/v5"),
        "VIGIL_EMQX_API_URL must be http://emqx:18083/api/v5",
    ),
    "authentication that is not HOCON": (
        _replace("body {clientid", "body {{clientid"),
        "service emqx: EMQX_AUTHENTICATION is not HOCON",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_copy_is_refused_with_a_clear_message(text: str, case: str) -> None:
    edit, expected = BROKEN[case]
    problems = check(edit(text), REPO_ROOT)
    assert any(expected in p for p in problems), problems


def _copy_of_the_deployment(tmp_path: Path) -> Path:
    for name in ("compose.yaml", ".env.example", "Dockerfile"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "deploy", tmp_path / "deploy")
    return tmp_path


def test_the_copy_used_below_passes(tmp_path: Path) -> None:
    root = _copy_of_the_deployment(tmp_path)
    assert check((root / "compose.yaml").read_text(), root) == []


def test_a_scrape_target_must_name_a_service_and_its_port(tmp_path: Path) -> None:
    root = _copy_of_the_deployment(tmp_path)
    config = root / "deploy/prometheus/prometheus.yml"
    config.write_text(
        config.read_text()
        .replace('"alerting:9100"', '"alerter:9100"')
        .replace('"console:9100"', '"console:9200"')
    )
    problems = check((root / "compose.yaml").read_text(), root)
    assert "prometheus job vigil: target alerter:9100 is not a service" in problems
    assert (
        "prometheus job vigil: target console:9200: console does not expose port 9200" in problems
    )
    assert "service alerting: prometheus does not scrape alerting:9100" in problems


def test_grafana_provisioning_must_match_the_dashboards(tmp_path: Path) -> None:
    root = _copy_of_the_deployment(tmp_path)
    sources = root / "deploy/grafana/provisioning/datasources/vigil.yml"
    sources.write_text(
        sources.read_text()
        .replace("uid: vigil-timescaledb", "uid: timescale")
        .replace("${GRAFANA_DB_PASSWORD}", "${GRAFANA_PG_PASSWORD}")
    )
    problems = check((root / "compose.yaml").read_text(), root)
    board = "deploy/grafana/dashboards/vigil-overview.json"
    assert f"{board}: datasource uid vigil-timescaledb is not provisioned" in problems
    assert (
        "deploy/grafana/provisioning/datasources/vigil.yml: $GRAFANA_PG_PASSWORD is not in "
        "grafana's environment" in problems
    )
    shutil.rmtree(root / "deploy/grafana/dashboards")
    problems = check((root / "compose.yaml").read_text(), root)
    assert "service grafana: mounts ./deploy/grafana/dashboards, which does not exist" in problems


def test_an_unused_example_variable_and_a_missing_env_file_are_found(tmp_path: Path) -> None:
    root = _copy_of_the_deployment(tmp_path)
    env = root / ".env.example"
    env.write_text(env.read_text() + "OLD_TOKEN=changeme-old\n")
    problems = check((root / "compose.yaml").read_text(), root)
    assert "OLD_TOKEN is listed in .env.example but the compose file never uses it" in problems
    env.unlink()
    (problem,) = check((root / "compose.yaml").read_text(), root)
    assert ".env.example is missing" in problem


def test_a_base_image_must_be_pinned(tmp_path: Path) -> None:
    root = _copy_of_the_deployment(tmp_path)
    dockerfile = root / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("python:3.11.12-slim-bookworm", "python:3.11-slim")
    )
    problems = check((root / "compose.yaml").read_text(), root)
    assert problems == ["Dockerfile: base image python:3.11-slim is not pinned to an exact version"]


def test_text_that_is_not_yaml_is_refused() -> None:
    (problem,) = check("services: [unclosed\n", REPO_ROOT)
    assert problem.startswith("not YAML:")
