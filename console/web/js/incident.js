// One incident: what happened, the evidence this kind of alarm needs, the curves around it,
// who lives there, who was told, and who else is on it. Every sentence comes from the server
// in the viewer's language (vigil/messages.py); ids stay ids, with the room and home beside them.
import { api } from "./api.js";
import { actionButtons, refusal, runAction } from "./actions.js";
import { hushButton } from "./hush.js";
import { colon, el, waited, when } from "./format.js";
import { label, language, t } from "./i18n.js";
import { onLive } from "./live.js";
import { badge, onPresence, setSeats } from "./presence.js";

// The window the detail page asks for around the first alert, in seconds.
const BEFORE_S = 600;
const AFTER_S = 300;
const HEARTBEAT_MS = 15000;
const COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#7f7f7f", "#bcbd22"];
const EVENT_METRICS = new Set(["button", "tamper", "motion", "door"]);
const KEYS = { a: "acknowledge", d: "dispatch", n: "note", r: "resolve", f: "false_alarm", v: "arrive" };

function section(title, attrs, ...children) {
  return el("section", { class: "card", ...attrs }, el("h3", {}, title), ...children);
}

function actorName(e) {
  if (e.actor === "system") return t("actor.system");
  return e.actor_name ?? e.actor;
}

function timeline(entries) {
  return el("ol", { class: "timeline", "data-testid": "timeline" }, entries.map((e) =>
    el("li", { dataset: { action: e.action } },
      el("time", {}, when(e.at)), " ",
      el("strong", {}, label("action", e.action)), " ",
      e.to_state && e.from_state !== e.to_state ? `→ ${label("state", e.to_state)} ` : "",
      el("span", { class: "actor" }, actorName(e)),
      e.text ? el("div", { class: e.code ? "note system" : "note" }, e.text) : null)));
}

function deviceLine(d) {
  return [el("code", {}, d.id), " ", label("type", d.device_type), " · ", label("room", d.room),
    d.unit ? ` · ${d.unit}` : ""];
}

function residentCards(detail) {
  const inc = detail.incident;
  return [
    el("p", {}, detail.building ? `${detail.building} ${detail.unit ?? ""} · ` : "", inc.address ?? inc.household_id,
      inc.living_alone ? el("span", { class: "tag" }, t("alone")) : null),
    detail.household_notes ? el("p", { class: "note" }, `${t("incident.notes")}${colon()}${detail.household_notes}`) : null,
    ...detail.residents.map((r) => el("div", { class: "resident" },
      el("h4", {}, r.name, r.age ? ` · ${r.age}${t("age.unit")}` : "",
        r.mobility ? el("span", { class: "tag mobility" }, `${t("ev.mobility")}${colon()}${label("mobility", r.mobility)}`) : null),
      r.phone ? el("p", {}, `${t("col.phone")}${colon()}`, el("a", { href: `tel:${r.phone}` }, r.phone)) : null,
      r.medical_notes ? el("p", { class: "medical" }, `${t("incident.medical")}${colon()}${r.medical_notes}`) : null,
      el("table", { class: "small" }, el("tbody", {}, r.contacts.map((c) => el("tr", {},
        el("td", {}, c.priority), el("td", {}, c.name), el("td", {}, c.relation ?? ""),
        el("td", {}, el("a", { href: `tel:${c.phone}` }, c.phone)),
        el("td", {}, c.has_key ? el("span", { class: "tag key" }, t("ev.has_key")) : ""))))))),
  ];
}

function notifications(list) {
  return el("table", { class: "small", "data-testid": "notifications" },
    el("thead", {}, el("tr", {}, ["notif.channel", "notif.recipient", "notif.status", "notif.sent",
      "notif.delivered", "notif.error"].map((k) => el("th", {}, t(k))))),
    el("tbody", {}, list.map((n) => el("tr", { class: `status-${n.status}` },
      el("td", {}, label("channel", n.channel)),
      el("td", {}, n.recipient_name ? n.recipient_name[language()] ?? n.recipient : n.recipient),
      el("td", {}, label("status", n.status), n.attempts > 1 ? ` ×${n.attempts}` : ""),
      el("td", {}, n.sent_at ? when(n.sent_at) : ""), el("td", {}, n.delivered_at ? when(n.delivered_at) : ""),
      el("td", {}, n.last_error ? el("code", {}, n.last_error) : "")))));
}

// What this alarm needs: the button and the home's last activity and keys for a panic press,
// the rules and thresholds for a fire, the device and its history for a trouble.
function evidenceCard(detail) {
  const ev = detail.evidence;
  if (!ev) return null;
  const parts = [];
  if (ev.layout === "panic" || ev.layout === "inactivity") {
    const buttons = ev.devices.filter((d) => d.device_type === "panic");
    if (buttons.length) parts.push(el("p", { "data-testid": "ev-button" }, el("strong", {}, `${t("ev.button")}${colon()}`), buttons.map(deviceLine)));
    const last = ev.last_activity;
    parts.push(el("p", { "data-testid": "ev-last-activity" }, el("strong", {}, `${t("ev.last_activity")}${colon()}`),
      last ? [when(last.at), " · ", label("metric", last.metric), " · ", label("room", last.room), " (", el("code", {}, last.device_id), ")"]
        : t("ev.no_activity")));
  }
  if (ev.layout === "panic" || ev.layout === "inactivity" || ev.layout === "fire") {
    parts.push(el("p", { "data-testid": "ev-keys" }, el("strong", {}, `${t("ev.keys")}${colon()}`),
      ev.key_holders.length ? ev.key_holders.map((c, i) => [i ? "、" : "", `${c.name}${c.relation ? (language() === "zh" ? `（${c.relation}）` : ` (${c.relation}) `) : " "}`,
        el("a", { href: `tel:${c.phone}` }, c.phone)]) : t("ev.no_keys")));
  }
  if (ev.rules.length) {
    parts.push(el("h4", {}, t("ev.rules")), el("table", { class: "small", "data-testid": "ev-rules" },
      el("thead", {}, el("tr", {}, ["col.time", "col.device", "col.kind", "col.rule", "col.note"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, detail.alerts.map((a) => el("tr", {},
        el("td", {}, when(a.ts)), el("td", {}, el("code", {}, a.device_id), " ", label("room", a.room)),
        el("td", {}, label("kind", a.kind)), el("td", {}, a.rule ? label("rule", a.rule) : "—"),
        el("td", {}, a.text))))));
  }
  if (ev.layout === "fire" && ev.building_devices.length) {
    parts.push(el("h4", {}, t("ev.detectors")), el("ul", { class: "detectors", "data-testid": "ev-detectors" },
      ev.building_devices.map((d) => el("li", {}, deviceLine(d),
        d.household_id === detail.incident.household_id ? el("span", { class: "tag" }, t("ev.this_home")) : null))));
  }
  if (ev.layout === "trouble") {
    parts.push(el("h4", {}, t("ev.device")), el("ul", {}, ev.devices.map((d) => el("li", {}, deviceLine(d),
      d.last_seen ? ` · ${t("col.last_seen")} ${when(d.last_seen)}` : "",
      d.battery_v !== null && d.battery_v !== undefined ? ` · ${d.battery_v.toFixed(2)} V` : ""))));
    parts.push(el("h4", {}, t("ev.history")), ev.history.length
      ? el("table", { class: "small", "data-testid": "ev-history" }, el("tbody", {}, ev.history.map((h) => el("tr", {},
        el("td", {}, when(h.ts)), el("td", {}, el("code", {}, h.device_id)), el("td", {}, label("kind", h.kind)),
        el("td", {}, h.text), el("td", {}, h.incident_id ? el("a", { href: `#/incident/${h.incident_id}` }, `#${h.incident_id}`) : "")))))
      : el("p", { class: "empty", "data-testid": "ev-history" }, t("history.none")));
  }
  return section(t(`ev.title.${ev.layout}`) === `ev.title.${ev.layout}` ? t("incident.alerts") : t(`ev.title.${ev.layout}`),
    { "data-testid": "evidence", dataset: { layout: ev.layout } }, ...parts);
}

function seriesLabel(s) {
  const where = s.unit_no ?? (s.household_id ? "" : t("ev.common"));
  return `${s.device_id} · ${label("room", s.room)}${where ? ` · ${where}` : ""}`;
}

function curves(container, data) {
  if (!data.series.length) {
    container.append(el("p", { class: "empty" }, t("incident.no_curves")));
    return [];
  }
  const byMetric = new Map();
  for (const s of data.series) {
    if (!byMetric.has(s.metric)) byMetric.set(s.metric, []);
    byMetric.get(s.metric).push(s);
  }
  const charts = [];
  for (const [metric, series] of byMetric) {
    const canvas = el("canvas", { "data-metric": metric });
    const unit = series[0].unit;
    container.append(el("div", { class: "chart" }, el("h4", {}, `${label("metric", metric)}${unit ? ` (${unit})` : ""}`), canvas));
    const lines = data.thresholds.filter((th) => th.metric === metric).map((th) => ({
      label: `${t("ev.threshold")} ${th.value}${unit ? ` ${unit}` : ""}${th.rule ? ` · ${label("rule", th.rule)}` : ""}`,
      data: [{ x: -BEFORE_S, y: th.value }, { x: AFTER_S, y: th.value }],
      borderColor: "#000", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0,
    }));
    charts.push(new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: [...series.map((s, i) => ({
          label: seriesLabel(s),
          data: s.points.map(([x, y]) => ({ x, y })),
          borderColor: COLOURS[i % COLOURS.length],
          pointRadius: EVENT_METRICS.has(metric) ? 4 : 0, borderWidth: 1.5, stepped: EVENT_METRICS.has(metric),
        })), ...lines],
      },
      options: {
        animation: false, parsing: false, maintainAspectRatio: false,
        scales: { x: { type: "linear", min: -BEFORE_S, max: AFTER_S,
          title: { display: true, text: t("incident.seconds_from_alarm") } } },
        plugins: { legend: { position: "bottom" } },
      },
    }));
  }
  return charts;
}

export function mount(root, { id, me }) {
  let charts = [];
  let current = null;
  const incidentId = Number(id);
  const head = el("div", { class: "incident-head" });
  const seatsBox = el("div", { class: "seats", "data-testid": "seats" });
  const body = el("div", { class: "incident-grid" });
  root.append(el("a", { href: "#/board", class: "back" }, `← ${t("back")}`), head, seatsBox, body,
    el("p", { class: "keys", "data-testid": "keys-hint" }, t("keys.hint")));

  function showSeats() {
    seatsBox.replaceChildren(badge(incidentId, me) ?? "");
  }

  async function load() {
    const askedAt = Date.now();
    const detail = await api(`/incidents/${id}`);
    const inc = detail.incident;
    current = inc;
    setSeats(incidentId, detail.presence, askedAt);
    head.replaceChildren(
      el("h2", { "data-testid": "incident-title" },
        el("span", { class: `badge badge-${inc.signal}` }, label("signal", inc.signal)), " ",
        label("cause", inc.cause), ` #${inc.id} · `,
        el("span", { class: "state", "data-testid": "incident-state" }, label("state", inc.state))),
      el("p", {}, `${t("incident.opened")}${colon()}${when(inc.opened_at)} · ${t("col.waited")} `,
        el("span", { class: "waited", dataset: { since: inc.opened_at } }, waited(inc.opened_at)),
        inc.assignee_name ? ` · ${t("col.assignee")}${colon()}${inc.assignee_name}` : ""),
      el("div", { class: "actions" }, actionButtons(inc, () => load()), hushButton(inc, () => load())),
      detail.alerts.some((a) => a.kind === "inactivity")
        ? el("p", {}, el("a", { href: `#/routine/${inc.household_id}`, "data-testid": "routine-link" }, t("ev.routine")))
        : "",
    );
    const curveBox = el("div", { class: "curves" });
    const sources = (detail.source_events || []).length
      ? section(t("incident.alerts"), {}, el("ul", {}, detail.alerts.map((a) =>
        el("li", {}, `${when(a.ts)} ${a.device_id} ${label("kind", a.kind)}`, ...sourceOf(detail, a)))))
      : "";
    body.replaceChildren(
      el("div", { class: "column" },
        evidenceCard(detail) ?? "",
        sources,
        section(t("incident.curves"), {}, curveBox),
        section(t("incident.timeline"), {}, timeline(detail.timeline))),
      el("div", { class: "column" },
        section(t("incident.resident"), {}, ...residentCards(detail)),
        section(t("incident.notifications"), {}, notifications(detail.notifications))),
    );
    for (const chart of charts) chart.destroy();
    charts = curves(curveBox, await api(`/incidents/${id}/readings?before_s=${BEFORE_S}&after_s=${AFTER_S}`));
  }

  async function heartbeat(activity = "viewing") {
    try {
      const askedAt = Date.now();
      setSeats(incidentId, await api(`/incidents/${id}/presence`, { method: "POST", body: { activity } }), askedAt);
    } catch {
      // the next heartbeat tries again
    }
  }

  async function onKey(event) {
    if (event.target.closest("input, textarea, select, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      location.hash = "#/board";
      return;
    }
    const action = KEYS[event.key.toLowerCase()];
    if (!action || !current || !current.actions.includes(action)) return;
    event.preventDefault();
    try {
      const updated = await runAction(current, action);
      if (updated) await load();
    } catch (error) {
      refusal(error);
      load().catch(() => {});
    }
  }

  const stopLive = onLive((change) => { if (change.kind === "incident" && change.id === incidentId) load().catch(() => {}); });
  const stopPresence = onPresence((changed) => { if (changed === incidentId) showSeats(); });
  document.addEventListener("keydown", onKey);
  // Closing the tab leaves the incident too (keepalive: the request outlives the page).
  const leave = () => fetch(`/api/incidents/${id}/presence`, {
    method: "POST", keepalive: true, credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ activity: "left" }),
  }).catch(() => {});
  window.addEventListener("pagehide", leave);
  heartbeat();
  const beat = setInterval(() => heartbeat(), HEARTBEAT_MS);
  const ticker = setInterval(() => {
    for (const cell of root.querySelectorAll(".waited")) cell.textContent = waited(cell.dataset.since);
    showSeats();
  }, 1000);
  load().catch((error) => root.append(el("p", { class: "error" }, `${t("error")}${colon()}${error.message}`)));
  return () => {
    stopLive();
    stopPresence();
    document.removeEventListener("keydown", onKey);
    window.removeEventListener("pagehide", leave);
    clearInterval(beat);
    clearInterval(ticker);
    api(`/incidents/${id}/presence`, { method: "POST", body: { activity: "left" } }).catch(() => {});
    for (const chart of charts) chart.destroy();
  };
}

// What the alert's source reported (a DC-09 panel: account, zone, code), for the installer call.
function sourceOf(detail, alert) {
  return (detail.source_events || []).filter((e) => e.alert_id === alert.id).map((e) =>
    el("div", { class: "source-event", "data-testid": "source-event" },
      [`${t("source.source")}: ${e.source}`,
        e.account ? `${t("source.account")} ${e.account}` : "",
        e.zone ? `${t("source.zone")} ${e.zone}` : "",
        e.code ? `${t("source.code")} ${e.code}` : "",
        e.room || "", (e.name ? `${e.name}${e.name_en ? ` / ${e.name_en}` : ""}` : ""),
        e.text || ""].filter(Boolean).join(" · ")));
}
