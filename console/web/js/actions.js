// Incident actions from the board and the detail page, with the note and dispatch dialogs.
import { api } from "./api.js";
import { colon, el, toast } from "./format.js";
import { label, t } from "./i18n.js";

function dialog(title, body) {
  return new Promise((resolve) => {
    const form = el("form", { method: "dialog", class: "dialog" }, el("h3", {}, title), body,
      el("menu", {}, el("button", { value: "cancel", type: "submit" }, t("cancel")),
        el("button", { value: "ok", type: "submit", class: "primary", "data-testid": "dialog-ok" }, t("ok"))));
    const box = el("dialog", {}, form);
    document.body.append(box);
    // Enter in the note or the list confirms (Shift+Enter for a new line): keys alone suffice.
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && ["TEXTAREA", "SELECT"].includes(event.target.tagName)) {
        event.preventDefault();
        box.close("ok");
      }
    });
    box.addEventListener("close", () => {
      resolve(box.returnValue === "ok" ? new FormData(form) : null);
      box.remove();
    });
    box.showModal();
  });
}

export async function runAction(incident, action) {
  const body = { action, expected_state: incident.state };
  if (action === "note" || action === "false_alarm" || action === "resolve") {
    const data = await dialog(label("action", action),
      el("textarea", { name: "note", rows: 3, placeholder: t("note.prompt"), required: action === "note" }));
    if (!data) return null;
    if (data.get("note")) body.note = data.get("note");
  } else if (action === "dispatch") {
    const people = await api(`/incidents/${incident.id}/responders`);
    const select = el("select", { name: "assignee" },
      people.map((p) => el("option", { value: p.id }, `${p.display_name} (${label("role", p.role)}${p.grid_id ? " · " + p.grid_id : ""})`)));
    const data = await dialog(t("dispatch.prompt"), select);
    if (!data) return null;
    body.assignee_id = Number(data.get("assignee"));
  }
  return api(`/incidents/${incident.id}/actions`, { method: "POST", body });
}

// A refused action, in words: a 409 names who got there first; the page then re-reads.
export function refusal(error) {
  toast(error.status === 409 ? `${t("conflict")}${colon()}${error.message}` : `${t("error")}${colon()}${error.message}`);
}

export function actionButtons(incident, after) {
  return incident.actions
    .filter((a) => a !== "escalate" && a !== "reopen" && a !== "mark_test")
    .map((action) => el("button", {
      class: `act act-${action}`, "data-action": action,
      onclick: async (event) => {
        event.stopPropagation();
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const updated = await runAction(incident, action);
          if (updated) after(updated);
        } catch (error) {
          refusal(error);
          if (error.status === 409) after(null);
        } finally {
          button.disabled = false;
        }
      },
    }, label("action", action)));
}
