"""What Docker would refuse, or quietly get wrong, in compose.yaml, found without Docker.

`check(text, root)` returns one plain sentence per problem. It reads the file as Compose does:
YAML (with merge keys), then `${VAR}` interpolation from `.env.example`, then the Compose
specification's JSON schema (shipped by the check-jsonschema package), then our own rules,
which the schema cannot express because they cross from one service to another or to files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema.validators import validator_for

from tests.ops.emqx_authn import hocon
from vigil.broker_login import LOGIN_PATH, SECRET_HEADER
from vigil.cli.ops import DEFAULT_LOGIN_PORT
from vigil.settings import Settings

Doc = dict[str, Any]

PROBE = ("python", "-m", "vigil.probe")
# An exact version: three numeric parts somewhere in the tag (2.19.3-pg15, v3.4.1, 0.1.0).
_EXACT_TAG = re.compile(r"\d+\.\d+\.\d+")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$"
)
_SECRET = re.compile(r"PASSWORD|SECRET|COOKIE|TOKEN")
_NOT_FIELDS = {"VIGIL_CONFIG"}  # read by settings.py itself, not a field


def compose_schema() -> dict[str, Any]:
    """The Compose specification's schema, as vendored by check-jsonschema."""
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text())
    return schema


# ------------------------------------------------------------------ interpolation
@dataclass
class Variables:
    """The values Compose would substitute, and what each `${...}` in the file asked for."""

    values: Mapping[str, str]
    used: dict[str, bool] = field(default_factory=dict)  # name -> has a default
    problems: list[str] = field(default_factory=list)

    def substitute(self, text: str, where: str) -> str:
        return _VARIABLE.sub(lambda m: self._one(m, where), text)

    def _one(self, match: re.Match[str], where: str) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            self.used.setdefault(match["named"], False)
            return self.values.get(match["named"], "")
        braced = _BRACED.match(match["braced"])
        if braced is None or "$" in (braced["arg"] or ""):
            self.problems.append(f"{where}: cannot read the substitution ${{{match['braced']}}}")
            return ""
        name, op, arg = braced["name"], braced["op"] or "", braced["arg"] or ""
        has_default = op in (":-", "-", ":+", "+")
        self.used[name] = self.used.get(name, False) or has_default
        value = self.values.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":+", "+"):
            return arg if value else ""
        return value or ""


def _interpolate(node: Any, variables: Variables, where: str = "") -> Any:
    if isinstance(node, str):
        return variables.substitute(node, where or "(top)")
    if isinstance(node, list):
        return [_interpolate(item, variables, f"{where}[{i}]") for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {
            k: _interpolate(v, variables, f"{where}.{k}" if where else str(k))
            for k, v in node.items()
        }
    return node


def read_env_example(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; comments and blank lines skipped."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# ------------------------------------------------------------------ the checks
@dataclass
class Compose:
    """A parsed, interpolated compose file and where its relative paths start."""

    doc: Doc
    raw: Doc  # before interpolation
    root: Path
    env_example: dict[str, str]

    @property
    def services(self) -> dict[str, Doc]:
        services: dict[str, Doc] = self.doc.get("services") or {}
        return services

    def is_vigil(self, name: str) -> bool:
        """Runs the image built from our Dockerfile."""
        return "build" in self.services[name]


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; Compose refuses the file, and so do we."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` brings keys an explicit one may override
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse(text: str, root: Path) -> tuple[Compose | None, list[str]]:
    """The file as Compose reads it, or None with the reasons it cannot be read."""
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        return None, [f"not YAML: {exc}"]
    if not isinstance(raw, dict):
        return None, ["the file is not a mapping of top-level keys"]
    env_path = root / ".env.example"
    if not env_path.is_file():
        return None, [f"{env_path} is missing: it must list every variable the file requires"]
    env_example = read_env_example(env_path)
    variables = Variables(env_example)
    doc = _interpolate(raw, variables)
    problems = variables.problems + _schema(doc)
    if problems:  # the rules assume a file of the right shape
        return None, problems
    return Compose(doc, raw, root, env_example), _variables(variables, env_example)


def check(text: str, root: Path) -> list[str]:
    """Every problem found in compose text whose relative paths start at `root`."""
    compose, problems = parse(text, root)
    if compose is None:
        return problems
    for rule in RULES:
        problems += rule(compose)
    return problems


def _schema(doc: Doc) -> list[str]:
    schema = compose_schema()
    validator = validator_for(schema)(schema)
    problems = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
        path = ".".join(map(str, error.path)) or "(top)"
        problems.append(f"Compose schema: {path}: {error.message}")
    return problems


def _variables(variables: Variables, env_example: dict[str, str]) -> list[str]:
    problems = []
    for name, has_default in sorted(variables.used.items()):
        if not has_default and name not in env_example:
            problems.append(f"${{{name}}} has no default and is not listed in .env.example")
        elif name in env_example and not env_example[name]:
            problems.append(f"{name} in .env.example has no placeholder value")
    for name in sorted(set(env_example) - set(variables.used)):
        problems.append(f"{name} is listed in .env.example but the compose file never uses it")
    return problems


def _images(c: Compose) -> Iterator[str]:
    for name, service in c.services.items():
        image = service.get("image")
        if image is None:
            yield f"service {name}: no image: name the image, even one built here, with its version"
            continue
        if _DIGEST.search(image):
            continue
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag:
            yield f"service {name}: image {image} has no tag; pin an exact version or a digest"
        elif tag == "latest" or not _EXACT_TAG.search(tag):
            yield f"service {name}: image {image} is not pinned to an exact version or a digest"
    dockerfile = c.root / "Dockerfile"
    if any(c.is_vigil(n) for n in c.services):
        if not dockerfile.is_file():
            yield "services build from ./Dockerfile, which is missing"
            return
        for line in dockerfile.read_text().splitlines():
            if line.upper().startswith("FROM "):
                base = line.split()[1]
                if not (_DIGEST.search(base) or _EXACT_TAG.search(base.rpartition(":")[2])):
                    yield f"Dockerfile: base image {base} is not pinned to an exact version"


def _is_one_shot(service: Doc) -> bool:
    return service.get("restart") == "no" and "healthcheck" not in service


def _health(c: Compose) -> Iterator[str]:
    completed_by: dict[str, list[str]] = {}
    for name, service in c.services.items():
        for target, dep in _depends_on(service):
            if isinstance(dep, dict) and dep.get("condition") == "service_completed_successfully":
                completed_by.setdefault(target, []).append(name)
    for name, service in c.services.items():
        test = (service.get("healthcheck") or {}).get("test")
        if service.get("healthcheck", {}).get("disable") or test in (None, ["NONE"]):
            if not _is_one_shot(service):
                yield (
                    f"service {name}: no healthcheck; give it one, or make it a one-shot "
                    '(restart: "no") that others wait for with service_completed_successfully'
                )
            elif name not in completed_by:
                yield f"service {name}: a one-shot that nothing waits for to complete"


def _depends_on(service: Doc) -> Iterator[tuple[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        yield from ((d, None) for d in deps)
    else:
        yield from deps.items()


def _dependencies(c: Compose) -> Iterator[str]:
    for name, service in c.services.items():
        profiles = set(service.get("profiles") or [])
        for target, dep in _depends_on(service):
            if target not in c.services:
                yield f"service {name}: depends on {target}, which is not a service"
                continue
            condition = dep.get("condition") if isinstance(dep, dict) else None
            if condition is None:
                yield (
                    f"service {name}: depends on {target} without a condition; say "
                    "service_healthy or service_completed_successfully"
                )
            elif condition == "service_started":
                yield f"service {name}: waits for {target} only to start, not to be healthy"
            elif condition == "service_healthy" and "healthcheck" not in c.services[target]:
                yield f"service {name}: waits for {target} to be healthy, but it has no healthcheck"
            elif condition == "service_completed_successfully" and not _is_one_shot(
                c.services[target]
            ):
                yield f"service {name}: waits for {target} to complete, but it is not a one-shot"
            target_profiles = set(c.services[target].get("profiles") or [])
            if target_profiles and not target_profiles & profiles:
                yield f"service {name}: depends on {target}, which runs only in profile(s) " + (
                    ", ".join(sorted(target_profiles))
                )


def _mounts(service: Doc) -> Iterator[tuple[str, str, str]]:
    """(kind, source, target) of each mount: kind is volume or bind."""
    for mount in service.get("volumes") or []:
        if isinstance(mount, str):
            source, _, rest = mount.partition(":")
            target = rest.split(":")[0]
            if not rest:
                continue  # an anonymous volume
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
            yield kind, source, target
        else:
            yield mount.get("type", "volume"), str(mount.get("source", "")), str(mount["target"])


def _volumes(c: Compose) -> Iterator[str]:
    declared = set(c.doc.get("volumes") or {})
    used = set()
    for name, service in c.services.items():
        for kind, source, _ in _mounts(service):
            if kind == "volume" and source:
                used.add(source)
                if source not in declared:
                    yield f"service {name}: volume {source} is not declared under volumes:"
            elif kind == "bind" and not (c.root / source).exists():
                yield f"service {name}: mounts {source}, which does not exist"
    for volume in sorted(declared - used):
        yield f"volume {volume} is declared but no service mounts it"


def _environment(service: Doc) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _settings(c: Compose) -> Iterator[str]:
    for name, service in c.services.items():
        env = _environment(service)
        unknown = [
            k
            for k in env
            if k.startswith("VIGIL_")
            and k not in _NOT_FIELDS
            and k.removeprefix("VIGIL_").lower() not in Settings.model_fields
        ]
        for key in sorted(unknown):
            yield f"service {name}: sets {key}, which is not a field of vigil.settings.Settings"
        if c.is_vigil(name) and not unknown:
            yield from _settings_validate(name, env)


def _settings_validate(name: str, env: dict[str, str]) -> Iterator[str]:
    """The service's settings must load in production once .env holds real secrets."""
    fields = {
        k.removeprefix("VIGIL_").lower(): v.replace("changeme", "r3al")
        for k, v in env.items()
        if k.startswith("VIGIL_") and k not in _NOT_FIELDS
    }
    try:
        Settings.model_validate(fields)
    except ValueError as exc:
        yield f"service {name}: its VIGIL_* settings do not load: {exc}"


def _secrets(c: Compose) -> Iterator[str]:
    """A secret is required from the environment (`${NAME:?why}`), never written here."""
    for name, service in (c.raw.get("services") or {}).items():
        for key, value in _environment(service).items():
            if _SECRET.search(key) and not re.fullmatch(r"\$\{[A-Za-z0-9_]+:\?[^}]*\}", value):
                yield f"service {name}: {key} must be required from the environment (${{NAME:?}})"


def _probe_port(service: Doc) -> int | None:
    test = (service.get("healthcheck") or {}).get("test") or []
    if tuple(test[1:4]) == PROBE and len(test) == 5:
        match = re.match(r"http://127\.0\.0\.1:(\d+)/healthz$", test[4])
        return int(match[1]) if match else -1
    return None


def _container_ports(service: Doc) -> set[int]:
    ports = {int(p) for p in service.get("expose") or []}
    for spec in service.get("ports") or []:
        target = spec.get("target") if isinstance(spec, dict) else str(spec).rsplit(":", 1)[-1]
        ports.add(int(str(target).split("/")[0]))
    return ports


def _scrapes(c: Compose) -> Iterator[str]:
    config = c.root / "deploy/prometheus/prometheus.yml"
    if not config.is_file():
        yield f"{config.relative_to(c.root)} is missing"
        return
    targets: set[tuple[str, int]] = set()
    for job in yaml.safe_load(config.read_text()).get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, text_port = str(target).rpartition(":")
                targets.add((host, int(text_port)))
                if host not in c.services:
                    yield f"prometheus job {job['job_name']}: target {target} is not a service"
                elif int(text_port) not in _container_ports(c.services[host]):
                    yield (
                        f"prometheus job {job['job_name']}: target {target}: {host} does not "
                        f"expose port {text_port}"
                    )
    for name, service in c.services.items():
        port = _probe_port(service)
        if port is None:
            continue
        if port == -1:
            yield f"service {name}: its probe must ask http://127.0.0.1:PORT/healthz"
            continue
        metrics_port = _environment(service).get("VIGIL_METRICS_PORT", "0")
        if name != "console" and str(port) != metrics_port:
            yield f"service {name}: probes port {port} but VIGIL_METRICS_PORT is {metrics_port}"
        if port not in _container_ports(service):
            yield f"service {name}: serves /metrics on {port} but does not expose it"
        # The console answers its probe on its public port; its /metrics is on the metrics
        # port, which is not published (docs/security.md).
        scraped = int(metrics_port) if name == "console" else port
        if (name, scraped) not in targets:
            yield f"service {name}: prometheus does not scrape {name}:{scraped}"


def _grafana(c: Compose) -> Iterator[str]:
    grafana = c.services.get("grafana")
    if grafana is None:
        yield "no grafana service"
        return
    binds = {target: c.root / source for kind, source, target in _mounts(grafana) if kind == "bind"}
    provisioning = binds.get("/etc/grafana/provisioning")
    if provisioning is None or not provisioning.is_dir():
        yield "grafana: /etc/grafana/provisioning is not mounted from a directory here"
        return
    env = _environment(grafana)
    files = {p: p.read_text() for p in sorted(provisioning.rglob("*.y*ml"))}
    for path, text in files.items():
        for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text):
            if var not in env:
                yield f"{path.relative_to(c.root)}: ${var} is not in grafana's environment"
    contents = {path: yaml.safe_load(text) or {} for path, text in files.items()}
    uids = {d["uid"] for content in contents.values() for d in content.get("datasources") or []}
    for path, content in contents.items():
        for provider in content.get("providers") or []:
            yield from _dashboards(c, path, provider["options"]["path"], binds, uids)


def _dashboards(
    c: Compose, provider: Path, container_path: str, binds: dict[str, Path], uids: set[str]
) -> Iterator[str]:
    host = next(
        (
            source / PurePosixPath(container_path).relative_to(target)
            for target, source in binds.items()
            if PurePosixPath(container_path).is_relative_to(target)
        ),
        None,
    )
    where = provider.relative_to(c.root)
    if host is None or not host.is_dir():
        yield f"{where}: dashboards path {container_path} is not mounted from a directory here"
        return
    boards = sorted(host.glob("*.json"))
    if not boards:
        yield f"{where}: no dashboard JSON in {host.relative_to(c.root)}"
    for board in boards:
        for uid in sorted(_datasource_uids(json.loads(board.read_text())) - uids):
            yield f"{board.relative_to(c.root)}: datasource uid {uid} is not provisioned"


def _datasource_uids(node: Any) -> set[str]:
    """The uid of every `datasource` a dashboard's panels and queries name."""
    found: set[str] = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and "uid" in source:
            found.add(str(source["uid"]))
        for value in node.values():
            found |= _datasource_uids(value)
    elif isinstance(node, list):
        for item in node:
            found |= _datasource_uids(item)
    return found


def emqx_authenticators(c: Compose) -> list[Any]:
    """EMQX's authentication chain as compose.yaml sets it (interpolated), read as HOCON."""
    text = _environment(c.services.get("emqx") or {}).get("EMQX_AUTHENTICATION", "[]")
    chain = hocon(text)
    return chain if isinstance(chain, list) else [chain]


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def _broker_login(c: Compose) -> Iterator[str]:
    """EMQX's one authenticator is the HTTP login check, posting EMQX's placeholders to the
    service running `vigil ops broker-login`, with that service's secret (vigil/broker_login)."""
    try:
        chain = emqx_authenticators(c)
    except ValueError as exc:
        yield f"service emqx: EMQX_AUTHENTICATION is not HOCON: {exc}"
        return
    if len(chain) != 1:
        yield (
            f"service emqx: {len(chain)} authenticators; the login check must be the only one "
            "(EMQX skips an HTTP authenticator that fails, and the next would not check client ids)"
        )
        return
    (authn,) = chain
    if (authn.get("mechanism"), authn.get("backend"), authn.get("method")) != (
        "password_based",
        "http",
        "post",
    ):
        yield "service emqx: the authenticator must be password_based, backend http, method post"
    body = authn.get("body")
    if body != {p: f"${{{p}}}" for p in ("clientid", "username", "password")}:
        yield f"service emqx: the login check's body must carry EMQX's placeholders, not {body}"
    url = urlsplit(str(authn.get("url", "")))
    logins = {n: a for n, a in vigil_commands(c).items() if a[:2] == ["ops", "broker-login"]}
    if url.hostname not in logins:
        yield f"service emqx: the login check's URL {url.geturl()} names no broker-login service"
        return
    argv = logins[url.hostname]
    port = _option(argv, "--port") or str(DEFAULT_LOGIN_PORT)
    if str(url.port) != port or url.path != LOGIN_PATH:
        yield f"service emqx: the login check is http://{url.hostname}:{port}{LOGIN_PATH}"
    if _option(argv, "--host") != "0.0.0.0":
        yield f"service {url.hostname}: must listen on 0.0.0.0 to be reached by emqx"
    headers = {str(k).lower(): v for k, v in (authn.get("headers") or {}).items()}
    if headers.get("content-type") != "application/json":
        yield "service emqx: the login check must send Content-Type application/json"
    secret = _environment(c.services[url.hostname]).get("VIGIL_BROKER_LOGIN_SECRET")
    if not secret or headers.get(SECRET_HEADER.lower()) != secret:
        yield (
            f"service emqx: the login check must send {SECRET_HEADER} with "
            f"{url.hostname}'s VIGIL_BROKER_LOGIN_SECRET"
        )


EMQX_API_PORT, EMQX_API_PATH = 18083, "/api/v5"  # EMQX 5's dashboard listener and API base


def emqx_api_keys(c: Compose) -> dict[str, str]:
    """The API keys (key -> secret) EMQX makes at boot from its bootstrap file, as mounted."""
    emqx = c.services.get("emqx") or {}
    path = _environment(emqx).get("EMQX_API_KEY__BOOTSTRAP_FILE")
    configs = c.doc.get("configs") or {}
    for mount in emqx.get("configs") or []:
        if isinstance(mount, dict) and mount.get("target") == path:
            content = str((configs.get(mount.get("source")) or {}).get("content", ""))
            lines = (line.strip().split(":") for line in content.splitlines() if line.strip())
            return {parts[0]: parts[1] for parts in lines if len(parts) in (2, 3)}
    return {}


def _emqx_api(c: Compose) -> Iterator[str]:
    """The console ends revoked gateways' sessions through EMQX's API: its URL must reach the
    emqx service's API, with a key and secret EMQX's bootstrap file makes."""
    env = _environment(c.services.get("console") or {})
    url = urlsplit(env.get("VIGIL_EMQX_API_URL", ""))
    if not url.hostname:
        yield "service console: VIGIL_EMQX_API_URL must name EMQX's API (revoked sessions)"
        return
    if (url.hostname, url.port, url.path.rstrip("/")) != ("emqx", EMQX_API_PORT, EMQX_API_PATH):
        yield f"service console: VIGIL_EMQX_API_URL must be http://emqx:{EMQX_API_PORT}{EMQX_API_PATH}"
    keys = emqx_api_keys(c)
    if not keys:
        yield "service emqx: EMQX_API_KEY__BOOTSTRAP_FILE must be a config mounted on emqx"
    elif keys.get(env.get("VIGIL_EMQX_API_KEY", "")) != env.get("VIGIL_EMQX_API_SECRET"):
        yield (
            "service console: VIGIL_EMQX_API_KEY and VIGIL_EMQX_API_SECRET must be a key:secret "
            "line of EMQX's API key bootstrap file"
        )


def vigil_commands(c: Compose) -> dict[str, list[str]]:
    """The `vigil` arguments of each service that runs our image."""
    return {
        name: [str(a) for a in service["command"]]
        for name, service in c.services.items()
        if c.is_vigil(name) and isinstance(service.get("command"), list)
    }


def command_problem(root: Any, argv: list[str]) -> str | None:
    """Why `vigil argv` would not start, or None. Parses only; nothing runs.

    `root` is `typer.main.get_command(app)`; typer vendors its own click, so this goes by the
    click API (groups have `get_command`, errors have `format_message`) rather than its classes.
    """
    command, args = root, list(argv)
    ctx = root.context_class(root, info_name="vigil")
    while hasattr(command, "get_command"):
        if not args:
            return "names a group, not a command"
        sub = command.get_command(ctx, args[0])
        if sub is None:
            return f"no such command {args[0]!r}"
        command, args = sub, args[1:]
        ctx = command.context_class(command, info_name=command.name, parent=ctx)
    try:
        command.make_context(command.name, args, parent=ctx.parent)
    except Exception as exc:
        if hasattr(exc, "format_message"):
            return str(exc.format_message())
        raise
    return None


RULES: tuple[Callable[[Compose], Iterator[str]], ...] = (
    _images,
    _health,
    _dependencies,
    _volumes,
    _settings,
    _secrets,
    _scrapes,
    _grafana,
    _broker_login,
    _emqx_api,
)
