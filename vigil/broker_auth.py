"""Broker accounts: one login per gateway, fenced in to its own topics, managed at run time.

The local stack's Mosquitto runs the dynamic-security plugin: accounts and their rights live in
the broker and change through its control topic, over MQTT, with the service account. Deleting
an account disconnects the gateway at once (reason 0x98, administrative action) — no files to
share with the broker, no signal to send, so the console API can do it from another host.
docs/provisioning.md says why this and not a password file, and what EMQX does instead.

A gateway's role lets it publish only its own uplink and status (and last will) and subscribe to
and receive only its own downlink; anything else is refused by the broker's default deny.

Every gateway account is also bound to one MQTT client id, `vigil-gw-<gateway id>` (the
plugin's `clientid`): the broker refuses that login with any other id. A client id is what the
broker keys sessions by, and a second connection with an id in use throws the first one off and
takes (or with clean start, wipes) its session; unbound, a gateway's login could do that to
ingest's workers or to another gateway (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.errors import VigilError
from vigil.settings import Settings
from vigil.topics import PREFIX, TopicKind, check_gateway_id, check_site

if TYPE_CHECKING:
    from vigil.stack import LocalStack

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
SERVICE_ROLE = "vigil-service"
GATEWAY_ROLE_PREFIX = "gateway:"
# PBKDF2-SHA512 rounds for the accounts written before the broker starts (the service account,
# whose password an operator chooses). Mosquitto checks a password on its one thread, so each
# login attempt, a wrong one too, holds every client up for the hash: 20,000 rounds is about
# 10 ms on a server core (210,000 would let a stream of bad logins stall the broker). Gateway
# accounts get the plugin's own 101 rounds (2.0 takes no count over the control topic), which
# is sound for them only because their passwords are 192 random bits (docs/security.md).
PASSWORD_ITERATIONS = 20_000
GATEWAY_CLIENT_PREFIX = "vigil-gw-"
DEFAULT_TIMEOUT_S = 10.0
COMMANDS_PER_MESSAGE = 200  # a few hundred bytes each: well inside the broker's packet limit
SECONDS_PER_COMMAND = 0.02  # measured: ~11 ms per new account with 400 in place (provisioning.md)

# Anything not granted by a role is refused.
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


class BrokerAuthError(VigilError):
    """An account could not be added or removed, or the broker did not answer."""


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def gateway_role_name(gateway_id: str) -> str:
    return GATEWAY_ROLE_PREFIX + check_gateway_id(gateway_id)


def gateway_client_id(gateway_id: str) -> str:
    """The one MQTT client id a gateway's account may connect with."""
    return GATEWAY_CLIENT_PREFIX + check_gateway_id(gateway_id)


def gateway_acls(gateway_id: str, site: str | None = None) -> list[dict[str, Any]]:
    """The rights of one gateway account (its user name is the gateway id).

    With `site` the gateway is fenced into that site's subtree too; without it any site level
    is accepted and ingest checks the site against the registry.
    """
    gw = check_gateway_id(gateway_id)
    s = check_site(site) if site is not None else "+"
    own = f"{PREFIX}/{s}/{gw}"
    return [
        _acl("publishClientSend", f"{own}/{TopicKind.TELEMETRY.value}"),
        _acl("publishClientSend", f"{own}/{TopicKind.EVENT.value}"),
        _acl("publishClientSend", f"{own}/status"),
        _acl("subscribePattern", f"{own}/down/#"),
        _acl("publishClientReceive", f"{own}/down/#"),
    ]


def service_acls() -> list[dict[str, Any]]:
    """The service account keeps everything, including the control topic ($ topics need their
    own grants: `#` does not match them)."""
    acls = []
    for topic in ("#", "$CONTROL/dynamic-security/#", "$SYS/#"):
        for acltype in (
            "publishClientSend",
            "publishClientReceive",
            "subscribePattern",
            "unsubscribePattern",
        ):
            if topic == "$SYS/#" and acltype == "publishClientSend":
                continue
            acls.append(_acl(acltype, topic))
    return acls


def derive(password: str, salt: bytes, iterations: int = PASSWORD_ITERATIONS) -> bytes:
    """The plugin's PBKDF2-SHA512 digest; also how EMQX's login check verifies a stored one
    (a lone surrogate, which JSON can carry, is hashed rather than refused)."""
    return hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8", "surrogatepass"), salt, iterations
    )


def hash_password(password: str, salt: bytes | None = None) -> dict[str, Any]:
    """The plugin's stored form of a password, for the file written before the broker starts."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = derive(password, salt)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PASSWORD_ITERATIONS,
    }


def with_service_account(config: dict[str, Any], username: str, password: str) -> dict[str, Any]:
    """The plugin's config with the service account (re)set to `username`/`password` and full
    rights; every other account and role is kept as it is."""
    clients = [_bound(c) for c in config.get("clients", []) if c.get("username") != username]
    roles = [
        _exact_uplinks(r) for r in config.get("roles", []) if r.get("rolename") != SERVICE_ROLE
    ]
    clients.insert(
        0,
        {
            "username": username,
            "textName": "Vigil services",
            **hash_password(password),
            "roles": [{"rolename": SERVICE_ROLE}],
        },
    )
    roles.insert(0, {"rolename": SERVICE_ROLE, "acls": service_acls()})
    return {
        **config,
        "clients": clients,
        "roles": roles,
        "groups": config.get("groups", []),
        "defaultACLAccess": DEFAULT_ACL_ACCESS,
    }


def _bound(client: dict[str, Any]) -> dict[str, Any]:
    """A gateway account from before client ids were bound gets its binding (on restart)."""
    if any(r.get("rolename", "").startswith(GATEWAY_ROLE_PREFIX) for r in client.get("roles", [])):
        return {**client, "clientid": gateway_client_id(str(client.get("username")))}
    return client


def _exact_uplinks(role: dict[str, Any]) -> dict[str, Any]:
    """A gateway role from before uplinks were named exactly (`up/#` let a gateway keep a
    retained message on any number of topics) gets the two uplink topics instead."""
    acls = []
    for acl in role.get("acls", []):
        topic = str(acl.get("topic", ""))
        if acl.get("acltype") == "publishClientSend" and topic.endswith("/up/#"):
            own = topic[: -len("/up/#")]
            acls += [{**acl, "topic": f"{own}/{kind.value}"} for kind in _UPLINKS]
        else:
            acls.append(acl)
    return {**role, "acls": acls}


_UPLINKS = (TopicKind.TELEMETRY, TopicKind.EVENT)


class GatewayAccounts(Protocol):
    """Where gateways' broker logins are made and removed: in the broker (`BrokerAuth`) or in
    the registry for a broker that asks Vigil at every login (`vigil.broker_accounts`)."""

    def add_gateway(self, gateway_id: str, password: str, site: str | None = None) -> None: ...

    def add_gateways(self, accounts: list[tuple[str, str, str | None]]) -> None: ...

    def remove_gateway(self, gateway_id: str) -> None: ...


@dataclass(frozen=True)
class _Command:
    body: dict[str, Any]
    tolerate: str | None = None  # an error this command may answer without failing the call


class BrokerAuth:
    """Adds, re-keys and removes gateway accounts through the dynamic-security control topic."""

    def __init__(
        self,
        host: str,
        port: int,
        service_user: str,
        service_password: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.service_user = service_user
        self._password = service_password
        self.timeout_s = timeout_s

    @classmethod
    def for_settings(cls, settings: Settings) -> BrokerAuth:
        """The broker the settings point at (the local stack's unless `mqtt_port` is set)."""
        return cls(
            settings.mqtt_host,
            settings.mqtt_port or settings.stack_mqtt_port,
            settings.mqtt_username,
            settings.mqtt_password.get_secret_value(),
        )

    @classmethod
    def for_stack(cls, stack: LocalStack) -> BrokerAuth:
        """The broker of a `LocalStack`."""
        settings = stack.settings
        return cls(
            "127.0.0.1",
            settings.stack_mqtt_port,
            settings.mqtt_username,
            settings.mqtt_password.get_secret_value(),
        )

    # ---- accounts ----------------------------------------------------------------------
    def gateways(self) -> list[str]:
        (answer,) = self._run([_Command({"command": "listClients"})])
        users = answer.get("data", {}).get("clients", [])
        return sorted(u for u in users if isinstance(u, str) and u != self.service_user)

    def add_gateway(self, gateway_id: str, password: str, site: str | None = None) -> None:
        """Create or re-key a gateway account; it may connect once this returns.

        Re-keying disconnects a gateway still logged in with the old password.
        """
        self.add_gateways([(gateway_id, password, site)])

    def add_gateways(self, accounts: list[tuple[str, str, str | None]]) -> None:
        """`add_gateway` for many (gateway id, password, site) at once.

        The plugin rewrites its whole file after every command, so a new account is made with
        two commands (its role, then the client holding it); only accounts that exist already
        take the longer way (`_rekey`).
        """
        fresh: list[_Command] = []
        for gateway_id, password, site in accounts:
            acls = gateway_acls(gateway_id, site)
            if gateway_id == self.service_user:
                raise BrokerAuthError(f"{gateway_id!r} is the service account, not a gateway")
            if not password:
                raise BrokerAuthError("a gateway needs a non-empty password")
            role = gateway_role_name(gateway_id)
            fresh += [
                _Command(
                    {"command": "createRole", "rolename": role, "acls": acls},
                    tolerate="Role already exists",
                ),
                _Command(
                    {"command": "createClient", "username": gateway_id, "password": password,
                     "clientid": gateway_client_id(gateway_id), "roles": [{"rolename": role}]},
                    tolerate="Client already exists",
                ),
            ]  # fmt: skip
        if not fresh:
            return
        answers = self._run(fresh)
        existing = [
            account
            for account, (role_answer, client_answer) in zip(
                accounts, zip(answers[::2], answers[1::2], strict=True), strict=True
            )
            if role_answer.get("error") or client_answer.get("error")
        ]
        if existing:
            self._run([c for account in existing for c in self._rekey(*account)])

    @staticmethod
    def _rekey(gateway_id: str, password: str, site: str | None) -> list[_Command]:
        """An account that exists already is made again whole: client deleted (which
        disconnects a gateway logged in with the old password), then role, then both made
        anew. (Mosquitto 2.0.11's dynamic-security plugin corrupted a client's roles after
        setClientId and addClientRole on an existing client, then crashed on that client's next
        connection; and deleting a role its client still held, before the client, crashed the
        broker by the fifth re-key.)"""
        role = gateway_role_name(gateway_id)
        return [
            _Command(
                {"command": "deleteClient", "username": gateway_id}, tolerate="Client not found"
            ),
            _Command({"command": "deleteRole", "rolename": role}, tolerate="Role not found"),
            _Command(
                {"command": "createRole", "rolename": role, "acls": gateway_acls(gateway_id, site)}
            ),
            _Command(
                {
                    "command": "createClient",
                    "username": gateway_id,
                    "password": password,
                    "clientid": gateway_client_id(gateway_id),
                    "roles": [{"rolename": role}],
                }
            ),
        ]

    def remove_gateway(self, gateway_id: str) -> None:
        """Delete the account; a gateway connected with it is disconnected at once."""
        check_gateway_id(gateway_id)
        if gateway_id == self.service_user:
            raise BrokerAuthError(f"{gateway_id!r} is the service account, not a gateway")
        answers = self._run(
            [
                _Command({"command": "deleteClient", "username": gateway_id}, "Client not found"),
                _Command(
                    {"command": "deleteRole", "rolename": gateway_role_name(gateway_id)},
                    tolerate="Role not found",
                ),
            ]
        )
        if answers[0].get("error"):
            raise BrokerAuthError(f"no gateway account {gateway_id!r}")

    def gateway_rights(self, gateway_id: str) -> list[dict[str, Any]]:
        """The ACL entries the broker holds for a gateway (for `gateway show` and tests)."""
        role = gateway_role_name(gateway_id)
        (answer,) = self._run(
            [_Command({"command": "getRole", "rolename": role}, tolerate="Role not found")]
        )
        acls: list[dict[str, Any]] = answer.get("data", {}).get("role", {}).get("acls", [])
        return acls

    # ---- the control topic -------------------------------------------------------------
    def _run(self, commands: list[_Command]) -> list[dict[str, Any]]:
        """Send the commands in one message and wait for every answer (matched by correlation
        data: the response topic is shared by every admin client)."""
        ids = [uuid.uuid4().hex for _ in commands]
        bodies = [{**c.body, "correlationData": i} for c, i in zip(commands, ids, strict=True)]
        answers: dict[str, dict[str, Any]] = {}
        done = threading.Event()
        failure: list[str] = []

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                failure.append(f"the broker refused the service account: {reason}")
                done.set()
                return
            client.subscribe(RESPONSE_TOPIC, qos=1)

        def on_subscribe(client: mqtt.Client, _u: Any, _m: Any, codes: Any, _p: Any) -> None:
            if any(code.is_failure for code in codes):
                failure.append(f"{self.service_user!r} may not use {CONTROL_TOPIC}")
                done.set()
                return
            # In slices: the broker refuses a message over its packet limit (stack.py).
            for start in range(0, len(bodies), COMMANDS_PER_MESSAGE):
                chunk = bodies[start : start + COMMANDS_PER_MESSAGE]
                client.publish(CONTROL_TOPIC, json.dumps({"commands": chunk}), qos=1)

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            try:
                responses = json.loads(msg.payload).get("responses", [])
            except (ValueError, AttributeError):
                return
            for r in responses:
                if isinstance(r, dict) and r.get("correlationData") in ids:
                    answers[r["correlationData"]] = r
            if len(answers) == len(ids):
                done.set()

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-auth-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(self.service_user, self._password)
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise BrokerAuthError(
                f"cannot reach the broker at {self.host}:{self.port}: {exc}"
            ) from exc
        client.loop_start()
        # The plugin answers a message once every command in it is done, and it rewrites its
        # file after each one: give big batches (a bulk import's gateways) time in proportion.
        allowance = self.timeout_s + len(commands) * SECONDS_PER_COMMAND
        try:
            answered = done.wait(allowance)
        finally:
            client.disconnect()
            client.loop_stop()
        if failure:
            raise BrokerAuthError(failure[0])
        if not answered:
            raise BrokerAuthError(
                f"the broker at {self.host}:{self.port} did not answer on {CONTROL_TOPIC} "
                f"within {allowance:.0f}s (is the dynamic-security plugin loaded?)"
            )
        ordered = [answers[i] for i in ids]
        for command, answer in zip(commands, ordered, strict=True):
            error = answer.get("error")
            if error and error != command.tolerate:
                raise BrokerAuthError(f"{command.body['command']} refused by the broker: {error}")
        return ordered
