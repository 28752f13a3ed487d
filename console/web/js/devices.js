// Device health per grid: offline, low battery, dirty detector, tamper, last seen.
import { api } from "./api.js";
import { el, when } from "./format.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";

const PROBLEMS = ["offline", "low_battery", "dirty", "tamper", "fault", "poor_signal"];

export function mount(root) {
  const summary = el("table", { class: "summary", "data-testid": "health-summary" });
  const select = el("select", { "data-testid": "problem" },
    el("option", { value: "any" }, t("health.any")),
    PROBLEMS.map((p) => el("option", { value: p }, t(`health.${p}`))),
    el("option", { value: "" }, t("health.all")));
  const list = el("table", { class: "devices", "data-testid": "devices" });
  const sourced = el("table", { class: "devices", "data-testid": "source-events" });
  const broker = el("div", { "data-testid": "broker-health" });
  root.append(broker, summary, el("label", {}, `${t("health.problem")} `, select), list,
    el("h3", {}, t("source.events")), sourced);

  async function load() {
    const health = await api("/devices/health");
    broker.replaceChildren(...(health.brokers ?? []).filter((b) => b.shedding).map((b) =>
      el("p", { class: "error", role: "alert" }, t("health.broker_shedding"), ` ${b.broker}: `,
        `${b.dropped} — ${when(b.last_drop_at)}`)));
    summary.replaceChildren(
      el("thead", {}, el("tr", {}, el("th", {}, t("col.grid")), el("th", {}, t("health.devices")),
        PROBLEMS.map((p) => el("th", {}, t(`health.${p}`))))),
      el("tbody", {}, health.grids.map((g) => el("tr", {}, el("td", {}, g.grid_id ?? "—"),
        el("td", {}, g.devices), PROBLEMS.map((p) => el("td", { class: g[p] ? "bad" : "" }, g[p]))))));
    const query = select.value ? `?problem=${select.value}&limit=500` : "?limit=500";
    const devices = await api(`/devices${query}`);
    list.replaceChildren(
      el("thead", {}, el("tr", {}, ["col.device", "col.type", "col.source", "col.grid", "col.address", "col.room",
        "col.last_seen", "col.battery", "col.health"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, devices.items.map((d) => {
        const bad = PROBLEMS.filter((p) => d.health[p]);
        return el("tr", { dataset: { deviceId: d.id } }, el("td", {}, d.id), el("td", {}, label("type", d.device_type)),
          el("td", { "data-testid": "source" }, d.model ? `${label("source", d.source)} · ${d.model}` : label("source", d.source)),
          el("td", {}, d.grid_id ?? "—"), el("td", {}, d.address ?? ""), el("td", {}, label("room", d.room)),
          el("td", {}, when(d.last_seen)), el("td", {}, d.battery_v === null ? "—" : `${d.battery_v.toFixed(2)} V`),
          el("td", { class: bad.length ? "bad" : "good" },
            bad.length ? bad.map((p) => t(`health.${p}`)).join("、") : t("health.ok")));
      })));
  }

  // What foreign sources sent (DC-09 panels: account, zone, code), unknown codes included.
  async function loadSourced() {
    const rows = await api("/source-events?limit=100");
    sourced.replaceChildren(
      el("thead", {}, el("tr", {}, ["col.when", "col.device", "source.source", "source.account",
        "source.zone", "source.code", "col.event"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, rows.map((e) => el("tr", { class: e.known ? "" : "bad" },
        el("td", {}, when(e.time)), el("td", {}, e.device_id), el("td", {}, e.source ?? ""),
        el("td", {}, e.account ?? ""), el("td", {}, e.zone ?? ""), el("td", {}, e.code ?? ""),
        el("td", {}, `${e.kind} ${e.value ?? ""} ${e.name ?? ""}${e.name_en ? ` / ${e.name_en}` : ""}`
          + `${e.room ? ` · ${e.room}` : ""}${e.text ? ` · ${e.text}` : ""}`)))));
  }

  select.addEventListener("change", () => load());
  const stop = onLive((change) => { if (change.kind === "device") load().catch(() => {}); });
  const poll = setInterval(() => { load().catch(() => {}); loadSourced().catch(() => {}); }, 30000);
  load().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  loadSourced().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  return () => {
    stop();
    clearInterval(poll);
  };
}
