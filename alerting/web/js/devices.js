// Device health per grid: offline, low battery, dirty detector, tamper, last seen.
import { api } from "./api.js";
import { el, when } from "./format.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";

const PROBLEMS = ["offline", "low_battery", "dirty", "tamper", "fault"];

export function mount(root) {
  const summary = el("table", { class: "summary", "data-testid": "health-summary" });
  const select = el("select", { "data-testid": "problem" },
    el("option", { value: "any" }, t("health.any")),
    PROBLEMS.map((p) => el("option", { value: p }, t(`health.${p}`))),
    el("option", { value: "" }, t("health.all")));
  const list = el("table", { class: "devices", "data-testid": "devices" });
  const broker = el("div", { "data-testid": "broker-health" });
  root.append(broker, summary, el("label", {}, `${t("health.problem")} `, select), list);

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
      el("thead", {}, el("tr", {}, ["col.device", "col.type", "col.grid", "col.address", "col.room",
        "col.last_seen", "col.battery", "col.health"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, devices.items.map((d) => {
        const bad = PROBLEMS.filter((p) => d.health[p]);
        return el("tr", { dataset: { deviceId: d.id } }, el("td", {}, d.id), el("td", {}, label("type", d.device_type)),
          el("td", {}, d.grid_id ?? "—"), el("td", {}, d.address ?? ""), el("td", {}, d.room ?? ""),
          el("td", {}, when(d.last_seen)), el("td", {}, d.battery_v === null ? "—" : `${d.battery_v.toFixed(2)} V`),
          el("td", { class: bad.length ? "bad" : "good" },
            bad.length ? bad.map((p) => t(`health.${p}`)).join("、") : t("health.ok")));
      })));
  }

  select.addEventListener("change", () => load());
  const stop = onLive((change) => { if (change.kind === "device") load().catch(() => {}); });
  const poll = setInterval(() => load().catch(() => {}), 30000);
  load().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  return () => {
    stop();
    clearInterval(poll);
  };
}
