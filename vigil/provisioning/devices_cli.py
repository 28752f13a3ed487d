"""`vigil gateway ...` (registry side) and `vigil device ...`, through the console API.

`gateway add` prints the gateway's broker password once; `gateway revoke` cuts it off at once.
`device test` commissions a device end to end and exits 0 only when the signal came through.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vigil.broker_auth import BrokerAuth
from vigil.errors import VigilError
from vigil.provisioning import zigbee
from vigil.provisioning.output import (
    JsonOpt,
    done,
    err,
    fail,
    fields,
    out,
    print_json,
    show_list,
    show_one,
    signed_in,
)
from vigil.settings import get_settings
from vigil.stack import LocalStack

device_app = typer.Typer(help="Devices: register, replace, commission.", no_args_is_help=True)

GATEWAY_COLUMNS = ("id", "site_id", "building_id", "status", "devices", "revoked_at")
DEVICE_COLUMNS = ("id", "device_type", "gateway_id", "household_id", "room", "last_seen")


def _show_credentials(gateway: dict[str, Any]) -> None:
    creds = gateway["credentials"]
    out.print(
        f"[bold]broker user[/bold] {creds['username']}\n"
        f"[bold]password[/bold]    {creds['password']}\n"
        "[yellow]shown once: the broker keeps only a hash. Configure the gateway now:[/yellow]\n"
        f"  VIGIL_GATEWAY_PASSWORD='{creds['password']}' vigil gateway run "
        f"--id {gateway['id']} --site {gateway['site_id']}",
        highlight=False,
    )


# ---------------------------------------------------------------- gateways
def gateway_add(
    gateway_id: Annotated[str, typer.Argument(help="gateway id, also its broker user name")],
    site: Annotated[str, typer.Option(help="the site it serves")],
    building: Annotated[str | None, typer.Option(help="the building it is installed in")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a gateway and issue its broker credentials (printed once)."""
    body = {"id": gateway_id, "site_id": site, "mqtt_username": gateway_id} | fields(
        building_id=building
    )
    with signed_in() as api:
        gateway = api.post("/api/gateways", body)
    if as_json:
        print_json(gateway)
        return
    out.print(f"[green]✓[/green] gateway {gateway_id} registered in site {site}")
    _show_credentials(gateway)


def gateway_list(as_json: JsonOpt = False) -> None:
    """Registered gateways (retired ones are not listed)."""
    with signed_in() as api:
        show_list(api.get("/api/gateways"), GATEWAY_COLUMNS, as_json)


def gateway_show(
    gateway_id: str,
    hours: Annotated[float, typer.Option(help="dead letters of the last N hours")] = 24,
    as_json: JsonOpt = False,
) -> None:
    """A gateway, and what ingest refused from it (e.g. devices registered elsewhere)."""
    with signed_in() as api:
        gateway = api.get(f"/api/gateways/{gateway_id}")
        dead = api.get(f"/api/gateways/{gateway_id}/dead-letters", hours=hours)
    hub = zigbee.load_report(zigbee.report_path(get_settings().var_dir, gateway_id))
    if as_json:
        print_json(gateway | {"dead_letters": dead} | ({"zigbee2mqtt": hub} if hub else {}))
        return
    show_one(gateway, False)
    if hub is not None:
        _show_hub(hub)
    if dead["total"]:
        err.print(
            f"[yellow]{dead['total']} messages dead-lettered by ingest in the last {hours:g} h:"
            "[/yellow]"
        )
        show_list(dead["reasons"], ("reason", "letters", "last_at", "example"), False)
    else:
        out.print(f"no dead letters in the last {hours:g} h")


def _show_hub(hub: dict[str, Any]) -> None:
    """The zigbee2mqtt hub behind the gateway, as its adapter on this machine last saw it."""
    online = hub.get("hub_online")
    state = "unknown" if online is None else ("online" if online else "offline")
    out.print(f"zigbee2mqtt hub {hub.get('hub')}: {state}; devices Vigil maps:")
    show_list(
        hub.get("devices", []),
        ("device_id", "friendly_name", "model", "vendor", "device_type", "kinds"),
        False,
    )
    unmapped = hub.get("unmapped", [])
    if unmapped:
        err.print(f"[yellow]{len(unmapped)} devices map to nothing Vigil uses (ignored):[/yellow]")
        rows = [u | {"exposes": ", ".join(u.get("exposes", []))} for u in unmapped]
        show_list(rows, ("ieee_address", "friendly_name", "model", "vendor", "exposes"), False)


def gateway_update(
    gateway_id: str,
    building: Annotated[str | None, typer.Option(help="the building it is installed in")] = None,
    as_json: JsonOpt = False,
) -> None:
    if building is None:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        gateway = api.patch(f"/api/gateways/{gateway_id}", {"building_id": building})
    done(f"gateway {gateway_id} updated", gateway, as_json)


def gateway_retire(gateway_id: str, as_json: JsonOpt = False) -> None:
    """Retire a gateway without devices; its broker account is deleted."""
    with signed_in() as api:
        api.delete(f"/api/gateways/{gateway_id}")
    done(f"gateway {gateway_id} retired and revoked", {"id": gateway_id, "retired": True}, as_json)


def gateway_revoke(
    gateway_id: Annotated[str | None, typer.Argument(help="the gateway to cut off")] = None,
    id_option: Annotated[
        str | None, typer.Option("--id", help="the same, as an option (older scripts)")
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="only delete the account on this checkout's stack broker (no API)"
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Cut a gateway off: its broker account is deleted, a connected gateway is disconnected
    at once, and ingest refuses anything still arriving under its name."""
    target = gateway_id or id_option
    if target is None:
        raise fail("which gateway? give its id")
    if local:
        try:
            BrokerAuth.for_stack(LocalStack(get_settings())).remove_gateway(target)
        except (VigilError, ValueError) as exc:
            raise fail(str(exc)) from exc
        done(f"gateway {target} removed from the local broker", {"id": target}, as_json)
        return
    with signed_in() as api:
        gateway = api.post(f"/api/gateways/{target}/revoke")
    said = _LIVE_SESSION.get(gateway.get("live_session"), "and disconnected")
    done(f"gateway {target} revoked {said}", gateway, as_json)


# What the console says became of a revoked gateway's connected session (docs/deployment.md).
_LIVE_SESSION = {
    "unconfirmed": "(its login is refused), but EMQX did not confirm its live session ended: "
    "it may stay connected until it reconnects; end it by EMQX's API (docs/deployment.md)",
    "not_checked": "(its login is refused); its live session on EMQX was not checked "
    "(no VIGIL_EMQX_API_URL)",
}


def gateway_rekey(gateway_id: str, as_json: JsonOpt = False) -> None:
    """New broker credentials (also lets a revoked gateway back in); printed once."""
    with signed_in() as api:
        gateway = api.post(f"/api/gateways/{gateway_id}/credentials")
    if as_json:
        print_json(gateway)
        return
    out.print(f"[green]✓[/green] new credentials for gateway {gateway_id}")
    _show_credentials(gateway)


def register_gateway_commands(app: typer.Typer) -> None:
    """The registry commands join `vigil gateway run|grant` of gateway/cli.py."""
    for name, command in (
        ("add", gateway_add),
        ("list", gateway_list),
        ("show", gateway_show),
        ("update", gateway_update),
        ("retire", gateway_retire),
        ("revoke", gateway_revoke),
        ("rekey", gateway_rekey),
    ):
        app.command(name)(command)


# ---------------------------------------------------------------- devices
@device_app.command("add")
def device_add(  # noqa: PLR0917 - typer reads the options from the signature
    device_id: Annotated[
        str | None, typer.Argument(help="serial number, the id it reports with")
    ] = None,
    device_type: Annotated[
        str | None, typer.Option("--type", help="smoke, heat, panic, pir, sos, smoke_alarm, ...")
    ] = None,
    gateway: Annotated[str | None, typer.Option(help="the gateway it reports through")] = None,
    household: Annotated[str | None, typer.Option(help="the household it protects")] = None,
    room: Annotated[str | None, typer.Option(help="kitchen, bedroom, ...")] = None,
    source: Annotated[str, typer.Option(help="vigil, or zigbee2mqtt for a Zigbee device")] = (
        "vigil"
    ),
    ieee: Annotated[str | None, typer.Option(help="zigbee2mqtt: its IEEE address")] = None,
    friendly_name: Annotated[
        str | None, typer.Option(help="zigbee2mqtt: its friendly name (on the adapter's machine)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="the device's model")] = None,
    supervision_s: Annotated[
        float | None, typer.Option(min=1, help="its own heartbeat, seconds [type's; 4 h zigbee]")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a device; a Zigbee one by IEEE address or friendly name (--source zigbee2mqtt)."""
    if gateway is None:
        raise fail("--gateway is required")
    external_id = None
    if source == zigbee.SOURCE or ieee or friendly_name:
        source = zigbee.SOURCE
        hub = _hub_device(gateway, ieee, friendly_name)
        ieee = hub.ieee
        device_id = device_id or hub.device_id
        device_type = device_type or hub.device_type
        model = model or hub.model
        external_id = hub.ieee
        supervision_s = supervision_s or zigbee.DEFAULT_SUPERVISION_S
    if device_id is None or device_type is None:
        raise fail("give the device's id and --type (or, for Zigbee, --ieee / --friendly-name)")
    body: dict[str, Any] = {
        "id": device_id, "device_type": device_type, "gateway_id": gateway, "source": source
    }  # fmt: skip
    body |= fields(
        household_id=household, room=room, model=model, external_id=external_id,
        supervision_s=supervision_s,
    )  # fmt: skip
    with signed_in() as api:
        device = api.post("/api/devices", body)
    done(f"device {device_id} registered behind gateway {gateway}", device, as_json)


def _hub_device(gateway: str, ieee: str | None, name: str | None) -> zigbee.HubDevice:
    """The Zigbee device named by IEEE address or friendly name, with what the adapter's list of
    the hub's devices says about it (model, proposed type) when that list is on this machine."""
    if not ieee and not name:
        raise fail("a zigbee2mqtt device needs --ieee or --friendly-name")
    report = zigbee.load_report(zigbee.report_path(get_settings().var_dir, gateway))
    try:
        found = zigbee.find(report, ieee=ieee, name=name)
        if found is not None:
            return found
        if ieee:
            return zigbee.HubDevice(zigbee.ieee_of(ieee), name or "", None, None)
    except zigbee.ZigbeeError as exc:
        raise fail(str(exc)) from exc
    what = (
        f"no list of the devices of the hub behind gateway {gateway} is on this machine"
        if report is None
        else f"it is not among the devices of the hub behind gateway {gateway}"
    )
    raise fail(
        f"friendly name {name!r}: {what} "
        "(run this where `vigil gateway run --source zigbee2mqtt` runs, or give --ieee)"
    )


@device_app.command("list")
def device_list(
    gateway: Annotated[str | None, typer.Option(help="only this gateway's")] = None,
    household: Annotated[str | None, typer.Option(help="only this household's")] = None,
    problem: Annotated[
        str | None, typer.Option(help="any, offline, low_battery, dirty, tamper, fault")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    with signed_in() as api:
        page = api.get(
            "/api/devices",
            gateway_id=gateway,
            household_id=household,
            problem=problem,
            limit=1000,
        )
    show_list(page["items"], DEVICE_COLUMNS, as_json)


@device_app.command("show")
def device_show(device_id: str, as_json: JsonOpt = False) -> None:
    """A device, its health, and the devices it replaced."""
    with signed_in() as api:
        device = api.get(f"/api/devices/{device_id}")
        history = api.get(f"/api/devices/{device_id}/history")
    if as_json:
        print_json(device | {"history": history})
        return
    show_one(device, False)
    if len(history) > 1:
        show_list(
            history, ("id", "device_type", "installed_at", "retired_at", "replaced_by"), False
        )


@device_app.command("update")
def device_update(
    device_id: str,
    gateway: Annotated[str | None, typer.Option(help="now reports through this gateway")] = None,
    household: Annotated[str | None, typer.Option(help="moved to this household")] = None,
    room: Annotated[str | None, typer.Option(help="room")] = None,
    as_json: JsonOpt = False,
) -> None:
    changes = fields(gateway_id=gateway, household_id=household, room=room)
    if not changes:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        device = api.patch(f"/api/devices/{device_id}", changes)
    done(f"device {device_id} updated", device, as_json)


@device_app.command("retire")
def device_retire(device_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/devices/{device_id}")
    done(f"device {device_id} retired", {"id": device_id, "retired": True}, as_json)


@device_app.command("replace")
def device_replace(
    old: Annotated[str, typer.Argument(help="the device taken down")],
    new: Annotated[str, typer.Argument(help="the device put up in its place")],
    device_type: Annotated[
        str | None, typer.Option("--type", help="when the new one is another model")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Put NEW where OLD was: same gateway, household and room; OLD's history is kept."""
    with signed_in() as api:
        device = api.post(
            f"/api/devices/{old}/replace", {"new_id": new} | fields(device_type=device_type)
        )
    done(f"device {old} replaced by {new}", device, as_json)


@device_app.command("test")
def device_test(
    serial: Annotated[str, typer.Argument(help="the device to commission")],
    send_command: Annotated[
        bool,
        typer.Option("--send-command", help="send a self_test command instead of a press"),
    ] = False,
    timeout: Annotated[float, typer.Option(min=1, max=600, help="seconds to wait")] = 60,
    as_json: JsonOpt = False,
) -> None:
    """Commission a device: press its test button when asked; green with the end-to-end
    latency when the signal came through, red with where it stopped."""
    body = {"mode": "command" if send_command else "press", "timeout_s": timeout}
    result: dict[str, Any] = {}
    lines: list[dict[str, Any]] = []
    with signed_in() as api:
        for line in api.stream_lines(f"/api/devices/{serial}/test", body, timeout + 30):
            lines.append(line)
            if line["step"] == "result":
                result = line
            elif not as_json:
                _progress(line)
    if as_json:
        print_json({"device": serial, "steps": lines[:-1], **result})
    else:
        _verdict(serial, result)
    if not result.get("passed"):
        raise typer.Exit(1)


def _progress(line: dict[str, Any]) -> None:
    mark = {"checks": "✓", "waiting": "…", "seen": "→"}.get(line["step"], "·")
    style = "bold yellow" if line["step"] == "waiting" else "dim"
    out.print(f"[{style}]{mark} {line['message']}[/{style}]", highlight=False)


def _verdict(serial: str, result: dict[str, Any]) -> None:
    if not result:
        out.print(f"[bold red]✗ {serial}: the console ended the test without a result[/bold red]")
        return
    if result.get("passed"):
        hops = ", ".join(f"{k} {v:g} ms" for k, v in (result.get("hops_ms") or {}).items())
        latency = result.get("latency_ms")
        timing = f" in {latency:g} ms end to end" if latency is not None else ""
        out.print(f"[bold green]✓ {serial} commissioned{timing}[/bold green]", highlight=False)
        if hops:
            out.print(f"  {hops}", highlight=False)
        return
    out.print(
        f"[bold red]✗ {serial}: stopped at {result.get('stopped_at')}: "
        f"{result.get('message')}[/bold red]",
        highlight=False,
    )
