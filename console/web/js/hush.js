// "Cooking, confirmed by phone": hush a household's kitchen smoke-only alarms from an incident.
import { api } from "./api.js";
import { el } from "./format.js";
import { t } from "./i18n.js";

const CLOSED = new Set(["resolved", "false_alarm", "test"]);

export function hushButton(incident, after) {
  if (incident.cause !== "fire" || CLOSED.has(incident.state) || !incident.actions.includes("note")) {
    return [];
  }
  return [el("button", {
    class: "act act-hush", "data-testid": "hush-kitchen",
    onclick: async (event) => {
      const button = event.currentTarget;
      if (!window.confirm(t("hush.confirm"))) return;
      button.disabled = true;
      try {
        const done = await api(`/incidents/${incident.id}/hush`, {
          method: "POST", body: { room: "kitchen", minutes: 10 },
        });
        button.textContent = `${t("hush.done")} ${new Date(done.until).toLocaleTimeString()}`;
        after?.();
      } catch (err) {
        button.disabled = false;
        window.alert(`${t("error")}: ${err.message ?? err}`);
      }
    },
  }, t("hush.button"))];
}
