// The live alarm board: open incidents by signal class, severity and age; new alarms arrive
// without reload, with sound and a flash, and each row shows how long it has waited.
import { api } from "./api.js";
import { actionButtons, refusal, runAction } from "./actions.js";
import { el, waited } from "./format.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";
import { badge, onPresence } from "./presence.js";

const SIGNAL_RANK = { alarm: 1, supervisory: 2, trouble: 3 };

function order(a, b) {
  return (SIGNAL_RANK[a.signal] ?? 9) - (SIGNAL_RANK[b.signal] ?? 9)
    || b.severity - a.severity
    || Date.parse(a.opened_at) - Date.parse(b.opened_at)
    || a.id - b.id;
}

export function mount(root, { me }) {
  const incidents = new Map();
  const seen = new Set();
  let first = true;
  const tbody = el("tbody");
  const count = el("span", { class: "count", "data-testid": "open-count" }, "0");
  const empty = el("p", { class: "empty" }, t("board.empty"));
  let selected = null;
  root.append(
    el("div", { class: "board-head" }, el("h2", {}, t("board.count"), " ", count)),
    el("table", { class: "board", "data-testid": "board" },
      el("thead", {}, el("tr", {}, ["col.signal", "col.cause", "col.severity", "col.address",
        "col.resident", "col.state", "col.assignee", "col.waited", "col.actions"]
        .map((k) => el("th", {}, t(k))))),
      tbody),
    empty,
    el("p", { class: "keys" }, t("keys.board")),
  );

  function row(inc) {
    const fresh = !first && !seen.has(inc.id);
    seen.add(inc.id);
    const tr = el("tr", {
      class: `signal-${inc.signal} state-${inc.state}${fresh ? " fresh" : ""}${selected === inc.id ? " selected" : ""}`,
      dataset: { incidentId: inc.id, state: inc.state, cause: inc.cause },
      onclick: () => { location.hash = `#/incident/${inc.id}`; },
    },
    el("td", {}, el("span", { class: `badge badge-${inc.signal}` }, label("signal", inc.signal))),
    el("td", { class: "cause" }, label("cause", inc.cause)),
    el("td", {}, "★".repeat(inc.severity)),
    el("td", {}, inc.address ?? inc.household_id ?? "—", " ", inc.grid_id ? el("small", {}, inc.grid_id) : null,
      badge(inc.id, me)),
    el("td", {}, inc.residents.join("、"), inc.living_alone ? el("span", { class: "tag" }, t("alone")) : null),
    el("td", { class: "state" }, label("state", inc.state)),
    el("td", {}, inc.assignee_name ?? ""),
    el("td", { class: "waited", dataset: { since: inc.opened_at } }, waited(inc.opened_at)),
    el("td", { class: "actions" }, actionButtons(inc, (updated) => (updated ? upsert(updated) : reload().catch(() => {})))));
    if (fresh && inc.signal === "alarm") flashTitle();
    return tr;
  }

  function render() {
    const open = [...incidents.values()].filter((i) => !i.closed_at).sort(order);
    tbody.replaceChildren(...open.map(row));
    count.textContent = String(open.length);
    empty.hidden = open.length > 0;
  }

  function upsert(inc) {
    incidents.set(inc.id, inc);
    render();
  }

  async function reload() {
    const page = await api("/incidents?state=open&limit=500");
    incidents.clear();
    for (const inc of page.items) incidents.set(inc.id, inc);
    render();
    first = false;
  }

  async function refreshOne(id) {
    try {
      const detail = await api(`/incidents/${id}`);
      upsert(detail.incident);
    } catch (error) {
      if (error.status === 404) {
        incidents.delete(id);
        render();
      }
    }
  }

  const stopLive = onLive((change) => {
    if (change.kind === "incident" && Number.isFinite(change.id)) refreshOne(change.id);
    else if (change.kind === "snapshot") reload().catch(() => {});
  });
  const stopPresence = onPresence(() => render());
  // Keyboard: arrows move the selection, Enter opens it, A acknowledges it.
  async function onKey(event) {
    if (event.target.closest("input, textarea, select, dialog") || event.ctrlKey || event.metaKey || event.altKey) return;
    const open = [...incidents.values()].filter((i) => !i.closed_at).sort(order);
    if (!open.length) return;
    const at = open.findIndex((i) => i.id === selected);
    if (event.key === "ArrowDown" || event.key === "j") selected = open[Math.min(open.length - 1, at + 1)].id;
    else if (event.key === "ArrowUp" || event.key === "k") selected = open[Math.max(0, at - 1)].id;
    else if (event.key === "Enter" && at >= 0) {
      location.hash = `#/incident/${selected}`;
      return;
    } else if (event.key.toLowerCase() === "a") {
      const target = at >= 0 ? open[at] : open.find((i) => i.state === "new");
      if (!target || !target.actions.includes("acknowledge")) return;
      selected = target.id;
      try {
        upsert(await runAction(target, "acknowledge"));
      } catch (error) {
        refusal(error);
        reload().catch(() => {});
      }
      return;
    } else return;
    event.preventDefault();
    render();
  }
  document.addEventListener("keydown", onKey);
  const ticker = setInterval(() => {
    for (const cell of tbody.querySelectorAll("td.waited")) cell.textContent = waited(cell.dataset.since);
  }, 1000);
  // The safety net: a full re-read now and then, in case a live message was missed.
  const poll = setInterval(() => reload().catch(() => {}), 15000);
  reload().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  return () => {
    stopLive();
    stopPresence();
    document.removeEventListener("keydown", onKey);
    clearInterval(ticker);
    clearInterval(poll);
  };
}

let titleTimer = null;
function flashTitle() {
  const original = t("title");
  let on = false;
  clearInterval(titleTimer);
  let n = 0;
  titleTimer = setInterval(() => {
    document.title = on ? original : `🔴 ${t("new_alarm")}`;
    on = !on;
    if (++n > 20) {
      clearInterval(titleTimer);
      document.title = original;
    }
  }, 500);
}
