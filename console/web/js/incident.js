// One incident: what happened, the sensor curves around it, who lives there, who was told.
import { api } from "./api.js";
import { actionButtons } from "./actions.js";
import { hushButton } from "./hush.js";
import { el, waited, when } from "./format.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";

// The window the detail page asks for around the first alert, in seconds.
const BEFORE_S = 600;
const AFTER_S = 300;
const COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

function section(title, ...children) {
  return el("section", { class: "card" }, el("h3", {}, title), ...children);
}

function timeline(entries) {
  return el("ol", { class: "timeline", "data-testid": "timeline" }, entries.map((e) =>
    el("li", { dataset: { action: e.action } },
      el("time", {}, when(e.at)), " ",
      el("strong", {}, label("action", e.action)), " ",
      e.to_state && e.from_state !== e.to_state ? `→ ${label("state", e.to_state)} ` : "",
      el("span", { class: "actor" }, e.actor),
      e.note ? el("div", { class: "note" }, e.note) : null)));
}

function residentCards(detail) {
  const inc = detail.incident;
  return [
    el("p", {}, inc.address ?? inc.household_id, inc.living_alone ? el("span", { class: "tag" }, t("alone")) : null),
    detail.household_notes ? el("p", { class: "note" }, `${t("incident.notes")}: ${detail.household_notes}`) : null,
    ...detail.residents.map((r) => el("div", { class: "resident" },
      el("h4", {}, r.name, r.age ? ` · ${r.age}${t("age.unit")}` : ""),
      r.phone ? el("p", {}, `${t("col.phone")}: `, el("a", { href: `tel:${r.phone}` }, r.phone)) : null,
      r.medical_notes ? el("p", { class: "medical" }, `${t("incident.medical")}: ${r.medical_notes}`) : null,
      el("table", { class: "small" }, el("tbody", {}, r.contacts.map((c) => el("tr", {},
        el("td", {}, c.priority), el("td", {}, c.name), el("td", {}, c.relation ?? ""),
        el("td", {}, el("a", { href: `tel:${c.phone}` }, c.phone)))))))),
  ];
}

function notifications(list) {
  return el("table", { class: "small", "data-testid": "notifications" },
    el("thead", {}, el("tr", {}, ["notif.channel", "notif.recipient", "notif.status", "notif.sent",
      "notif.delivered", "notif.error"].map((k) => el("th", {}, t(k))))),
    el("tbody", {}, list.map((n) => el("tr", { class: `status-${n.status}` },
      el("td", {}, n.channel), el("td", {}, n.recipient),
      el("td", {}, label("status", n.status), n.attempts > 1 ? ` ×${n.attempts}` : ""),
      el("td", {}, n.sent_at ? when(n.sent_at) : ""), el("td", {}, n.delivered_at ? when(n.delivered_at) : ""),
      el("td", {}, n.last_error ?? "")))));
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
    container.append(el("div", { class: "chart" }, canvas));
    charts.push(new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: series.map((s, i) => ({
          label: `${s.device_id} ${s.room ?? ""} ${label("metric", metric)} ${s.unit}`,
          data: s.points.map(([x, y]) => ({ x, y })),
          borderColor: COLOURS[i % COLOURS.length],
          pointRadius: 0, borderWidth: 1.5, stepped: metric === "button" || metric === "tamper",
        })),
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

export function mount(root, { id }) {
  let charts = [];
  const head = el("div", { class: "incident-head" });
  const body = el("div", { class: "incident-grid" });
  root.append(el("a", { href: "#/board", class: "back" }, `← ${t("back")}`), head, body);

  async function load() {
    const detail = await api(`/incidents/${id}`);
    const inc = detail.incident;
    head.replaceChildren(
      el("h2", { "data-testid": "incident-title" },
        el("span", { class: `badge badge-${inc.signal}` }, label("signal", inc.signal)), " ",
        label("cause", inc.cause), ` #${inc.id} · `,
        el("span", { class: "state", "data-testid": "incident-state" }, label("state", inc.state))),
      el("p", {}, `${t("incident.opened")}: ${when(inc.opened_at)} · ${t("col.waited")} `,
        el("span", { class: "waited", dataset: { since: inc.opened_at } }, waited(inc.opened_at)),
        inc.assignee_name ? ` · ${t("col.assignee")}: ${inc.assignee_name}` : ""),
      el("div", { class: "actions" }, actionButtons(inc, () => load()), hushButton(inc, () => load())),
      detail.alerts.some((a) => a.kind === "inactivity")
        ? el("p", {}, el("a", { href: `#/routine/${inc.household_id}`, "data-testid": "routine-link" }, "作息规律 / Routine"))
        : null,
    );
    const curveBox = el("div", { class: "curves" });
    body.replaceChildren(
      section(t("incident.curves"), curveBox),
      section(t("incident.resident"), ...residentCards(detail)),
      section(t("incident.timeline"), timeline(detail.timeline)),
      section(t("incident.alerts"), el("ul", {}, detail.alerts.map((a) =>
        el("li", {}, `${when(a.ts)} ${a.device_id} ${label("cause", a.kind)} — ${a.reason}`,
          ...sourceOf(detail, a))))),
      section(t("incident.notifications"), notifications(detail.notifications)),
    );
    for (const chart of charts) chart.destroy();
    charts = curves(curveBox, await api(`/incidents/${id}/readings?before_s=${BEFORE_S}&after_s=${AFTER_S}`));
  }

  const stop = onLive((change) => { if (change.kind === "incident" && change.id === Number(id)) load(); });
  const ticker = setInterval(() => {
    for (const cell of root.querySelectorAll(".waited")) cell.textContent = waited(cell.dataset.since);
  }, 1000);
  load().catch((error) => root.append(el("p", { class: "error" }, `${t("error")}: ${error.message}`)));
  return () => {
    stop();
    clearInterval(ticker);
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
