// The shift hand-over: every incident still open, with its state, who holds it, the latest
// entry of its timeline and who has it open now; printable.
import { api } from "./api.js";
import { colon, el, waited, when } from "./format.js";
import { label, t } from "./i18n.js";

export function mount(root) {
  const body = el("div", { "data-testid": "handover" });
  root.append(el("div", { class: "board-head" }, el("h2", {}, t("handover.title")),
    el("button", { type: "button", onclick: () => window.print() }, t("handover.print"))), body);

  async function load() {
    const data = await api("/handover");
    if (!data.open.length) {
      body.replaceChildren(el("p", { class: "empty" }, t("handover.none")));
      return;
    }
    body.replaceChildren(el("table", { class: "board" },
      el("thead", {}, el("tr", {}, ["col.signal", "col.cause", "col.address", "col.state", "col.assignee",
        "col.waited", "handover.last", "handover.who"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, data.open.map(({ incident: inc, last, presence }) => el("tr", {
        class: `signal-${inc.signal}`, dataset: { incidentId: inc.id },
        onclick: () => { location.hash = `#/incident/${inc.id}`; },
      },
      el("td", {}, el("span", { class: `badge badge-${inc.signal}` }, label("signal", inc.signal))),
      el("td", {}, label("cause", inc.cause), ` #${inc.id}`),
      el("td", {}, inc.address ?? inc.household_id ?? "—"),
      el("td", {}, label("state", inc.state)),
      el("td", {}, inc.assignee_name ?? ""),
      el("td", {}, waited(inc.opened_at)),
      el("td", {}, last ? [when(last.at), " ", label("action", last.action), last.text ? `${colon()}${last.text}` : ""] : ""),
      el("td", {}, presence.map((p) => `${p.display_name} ${t(`presence.${p.activity}`)}`).join("、")))))));
  }

  load().catch((error) => root.append(el("p", { class: "error" }, error.message)));
  const poll = setInterval(() => load().catch(() => {}), 15000);
  return () => clearInterval(poll);
}
