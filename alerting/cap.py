"""An incident as a CAP 1.2 (Common Alerting Protocol, OASIS) document, and recent incidents as
an Atom feed of them, for other systems: the city's 12345 hotline platform, a building's
management system, a warning feed.

Chinese first: the first `info` block is zh-CN, the second en-US. The scope is "Restricted":
the document names a flat's address, so it goes to authorised systems, never to the public
(`restriction` says so). No resident's name or health ever appears. Pure functions of the
incident's data, handed `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

from alerting.templates import CAUSES

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CHINA = timezone(timedelta(hours=8))
CLOSED = {"resolved", "false_alarm", "test"}

# cause -> CAP category, and the English/Chinese event names come from templates.CAUSES.
CATEGORY = {"fire": "Fire", "panic": "Rescue", "inactivity": "Health"}
SEVERITY = {5: "Extreme", 4: "Severe", 3: "Moderate", 2: "Minor", 1: "Minor"}
URGENCY = {5: "Immediate", 4: "Immediate", 3: "Expected", 2: "Future", 1: "Future"}


@dataclass(frozen=True)
class CapIncident:
    id: int
    district: str
    cause: str
    signal: str
    severity: int
    state: str
    opened_at: datetime
    updated_at: datetime
    address: str
    unit: str
    lat: float | None
    lon: float | None


def cap_time(at: datetime) -> str:
    """CAP's dateTime: seconds, an explicit offset (Beijing time), no 'Z'."""
    return at.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def identifier(incident: CapIncident) -> str:
    return f"vigil-{incident.district or 'district'}-incident-{incident.id}"


def _cap(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def document(incident: CapIncident, *, console_url: str) -> ET.Element:
    ET.register_namespace("", CAP_NS)
    sub = _cap
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", identifier(incident))
    sub(alert, "sender", f"vigil@{incident.district or 'district'}")
    sub(alert, "sent", cap_time(incident.updated_at))
    sub(alert, "status", "Actual")
    sub(alert, "msgType", "Alert" if incident.updated_at == incident.opened_at else "Update")
    sub(alert, "scope", "Restricted")
    sub(
        alert,
        "restriction",
        "含住户地址，仅限授权机构 / contains a home address: authorised systems only",
    )
    if incident.updated_at != incident.opened_at:
        first_sent = cap_time(incident.opened_at)
        sub(
            alert,
            "references",
            f"vigil@{incident.district or 'district'},{identifier(incident)},{first_sent}",
        )
    for language in ("zh-CN", "en-US"):
        _info(alert, incident, language, console_url)
    return alert


def _info(alert: ET.Element, incident: CapIncident, language: str, console_url: str) -> None:
    add = _cap
    zh = language == "zh-CN"
    what_zh, what_en = CAUSES.get(
        incident.cause, (incident.cause, incident.cause.replace("_", " "))
    )
    what = what_zh if zh else what_en
    closed = incident.state in CLOSED
    info = add(alert, "info")
    add(info, "language", language)
    add(info, "category", CATEGORY.get(incident.cause, "Safety"))
    add(info, "event", what)
    add(info, "responseType", "AllClear" if closed else "Monitor")
    add(info, "urgency", "Past" if closed else URGENCY.get(incident.severity, "Unknown"))
    add(info, "severity", SEVERITY.get(incident.severity, "Unknown"))
    add(info, "certainty", "Observed" if incident.signal == "alarm" else "Likely")
    add(info, "senderName", "Vigil 社区安全平台" if zh else "Vigil community safety platform")
    place = f"{incident.address}{incident.unit}" if zh else f"{incident.address} {incident.unit}"
    if zh:
        headline = f"{what}：{place}" + ("（已关闭）" if closed else "")
        description = f"事件 #{incident.id}，级别 {incident.severity}，状态 {incident.state}。"
    else:
        headline = f"{what.capitalize()} at {place}" + (" (closed)" if closed else "")
        description = (
            f"Incident #{incident.id}, severity {incident.severity}, state {incident.state}."
        )
    add(info, "headline", headline[:160])
    add(info, "description", description)
    add(info, "web", f"{console_url.rstrip('/')}/incidents/{incident.id}")
    area = add(info, "area")
    add(area, "areaDesc", place)
    if incident.lat is not None and incident.lon is not None:
        add(area, "circle", f"{incident.lat:.6f},{incident.lon:.6f} 0.05")


def to_xml(element: ET.Element) -> bytes:
    data: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return data


def feed(incidents: list[CapIncident], *, console_url: str, now: datetime, self_url: str) -> bytes:
    """An Atom feed whose entries carry each incident's CAP document as their content."""
    ET.register_namespace("", ATOM_NS)
    ET.register_namespace("cap", CAP_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}")
        if text is not None:
            element.text = text
        return element

    root = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(root, "id", f"urn:vigil:cap-feed:{incidents[0].district if incidents else 'district'}")
    sub(root, "title", "Vigil 告警 / Vigil alerts (CAP 1.2)")
    sub(root, "updated", now.astimezone(CHINA).isoformat(timespec="seconds"))
    author = sub(root, "author")
    sub(author, "name", "Vigil")
    link = sub(root, "link")
    link.set("rel", "self")
    link.set("href", self_url)
    for incident in incidents:
        entry = sub(root, "entry")
        sub(entry, "id", f"urn:vigil:{identifier(incident)}")
        what_zh, what_en = CAUSES.get(incident.cause, (incident.cause, incident.cause))
        sub(entry, "title", f"{what_zh} / {what_en}: {incident.address}{incident.unit}")
        sub(entry, "updated", incident.updated_at.astimezone(CHINA).isoformat(timespec="seconds"))
        alternate = sub(entry, "link")
        alternate.set("rel", "alternate")
        alternate.set("type", "application/cap+xml")
        alternate.set("href", f"{self_url.rsplit('/', 1)[0]}/cap/{incident.id}")
        content = sub(entry, "content")
        content.set("type", "application/cap+xml")
        content.append(document(incident, console_url=console_url))
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
