// The registry: households, residents and contacts, with search.
import { api } from "./api.js";
import { el } from "./format.js";
import { label, t } from "./i18n.js";

const TABS = {
  households: {
    path: "/households",
    columns: ["col.household", "col.grid", "col.address", "col.resident", "col.alone"],
    cells: (h) => [h.id, h.grid_id, `${h.address} ${h.unit}`, h.residents.join("、"), h.living_alone ? "✓" : ""],
  },
  residents: {
    path: "/residents",
    columns: ["col.resident", "col.age", "col.phone", "col.address", "col.grid", "col.alone"],
    cells: (r) => [r.name, r.age ?? "", r.phone ?? "", r.address, r.grid_id, r.living_alone ? "✓" : ""],
  },
  contacts: {
    path: "/contacts",
    columns: ["col.contacts", "col.relation", "col.phone", "col.resident", "col.household", "col.priority"],
    cells: (c) => [c.name, c.relation ?? "", c.phone, c.resident_name, c.household_id, c.priority],
  },
};

export function mount(root) {
  let tab = "households";
  const input = el("input", { type: "search", placeholder: t("registry.search"), "data-testid": "search" });
  const tabs = el("div", { class: "tabs" }, Object.keys(TABS).map((name) =>
    el("button", { dataset: { tab: name }, onclick: () => { tab = name; load(); } }, t(`registry.${name}`))));
  const total = el("p", { class: "total" });
  const table = el("table", { class: "registry", "data-testid": "registry" });
  const detail = el("div", { class: "household-detail", "data-testid": "household-detail" });
  root.append(tabs, input, total, table, detail);

  // One household in full: its residents, their contacts and the devices installed.
  async function showHousehold(id) {
    const [residents, contacts, devices] = await Promise.all([
      api(`/residents?household_id=${encodeURIComponent(id)}`),
      api(`/contacts?household_id=${encodeURIComponent(id)}`),
      api(`/devices?household_id=${encodeURIComponent(id)}`),
    ]);
    const small = (columns, rows) => el("table", { class: "small" },
      el("thead", {}, el("tr", {}, columns.map((k) => el("th", {}, t(k))))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
    detail.replaceChildren(el("section", { class: "card" }, el("h3", {}, id),
      small(["col.resident", "col.age", "col.phone"], residents.items.map((r) => [r.name, r.age ?? "", r.phone ?? ""])),
      small(["col.contacts", "col.relation", "col.phone", "col.resident"], contacts.items.map((c) => [c.name, c.relation ?? "", c.phone, c.resident_name])),
      small(["col.device", "col.type", "col.room", "col.health"], devices.items.map((d) => [d.id, label("type", d.device_type), label("room", d.room),
        Object.entries(d.health).filter(([, bad]) => bad).map(([k]) => t(`health.${k}`)).join("、") || t("health.ok")]))));
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    for (const b of tabs.querySelectorAll("button")) b.classList.toggle("on", b.dataset.tab === tab);
    const spec = TABS[tab];
    const q = input.value.trim();
    const page = await api(`${spec.path}?limit=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
    if (mine !== seq) return; // a newer search has started
    total.textContent = `${t("registry.total")} ${page.total}`;
    table.replaceChildren(
      el("thead", {}, el("tr", {}, spec.columns.map((k) => el("th", {}, t(k))))),
      el("tbody", {}, page.items.map((item) => el("tr", {
        class: "clickable",
        onclick: () => showHousehold(item.household_id ?? item.id).catch(() => {}),
      }, spec.cells(item).map((c) => el("td", {}, c))))));
  }

  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch(() => {}), 250);
  });
  load().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  return () => clearTimeout(timer);
}
