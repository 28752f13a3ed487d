// The console shell: sign-in, navigation between views by URL hash, language, live status.
import { api, whenSignedOut } from "./api.js";
import * as board from "./board.js";
import * as devices from "./devices.js";
import * as alarm from "./alarm.js";
import { el, setTimeZone } from "./format.js";
import * as handover from "./handover.js";
import { applyStatic, language, label, loadCatalogue, setLanguage, t } from "./i18n.js";
import * as incident from "./incident.js";
import { connect, disconnect, onLiveStatus } from "./live.js";
import * as map from "./map.js";
import * as registry from "./registry.js";
import * as reports from "./reports.js";
import * as routine from "./routine.js";
import { unlock } from "./sound.js";

const VIEWS = { board, map, devices, registry, reports, handover };
const view = document.getElementById("view");
const loginDialog = document.getElementById("login");
const loginError = document.getElementById("login-error");
let me = null;
let config = null;
let unmount = null;
let liveUp = false;

function route() {
  if (!me) return;
  unmount?.();
  unmount = null;
  view.replaceChildren();
  const [, name = "board", id] = location.hash.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.dataset.view === name);
  if (name === "incident" && id) unmount = incident.mount(view, { id, me, config });
  else if (name === "routine" && id) unmount = routine.mount(view, { id, me, config });
  else unmount = (VIEWS[name] ?? board).mount(view, { me, config });
}

function showUser() {
  document.getElementById("who").textContent = me ? `${me.display_name} · ${label("role", me.role)}${me.grid_id ? ` · ${me.grid_id}` : ""}` : "";
  document.body.classList.toggle("signed-in", Boolean(me));
  for (const a of document.querySelectorAll("nav a[data-needs]")) {
    a.hidden = !me || !me.permissions.includes(a.dataset.needs);
  }
}

async function signedIn(user) {
  me = user;
  showUser();
  loginDialog.close();
  if (me.permissions.includes("incidents.read")) {
    alarm.start(me);
    connect(me.role === "grid_member" ? `${config.live_path}?grid_id=${encodeURIComponent(me.grid_id)}` : config.live_path);
  }
  route();
}

function signedOut() {
  if (!me && loginDialog.open) return;
  me = null;
  alarm.stop();
  disconnect();
  liveUp = false;
  showLive();
  unmount?.();
  unmount = null;
  view.replaceChildren();
  showUser();
  if (!loginDialog.open) loginDialog.showModal();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  unlock(); // the sign-in click lets the page play the alarm tone later
  const form = new FormData(event.target);
  loginError.textContent = "";
  try {
    const result = await api("/auth/login", { method: "POST", body: { username: form.get("username"), password: form.get("password") } });
    event.target.reset();
    await signedIn(result.user);
  } catch (error) {
    loginError.textContent = error.status === 429 ? t("login.slow") : t("login.failed");
  }
});
loginDialog.addEventListener("cancel", (event) => event.preventDefault());

document.getElementById("logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST" }).catch(() => {});
  signedOut();
});

document.getElementById("lang").addEventListener("click", async () => {
  await setLanguage(language() === "zh" ? "en" : "zh");
  showUser();
  showLive();
  showMute(alarm.state());
  route();
});

// The mute button: shown while alarms ring; mutes those, never the next one.
const muteButton = document.getElementById("mute");
function showMute(s) {
  muteButton.hidden = !me || s.ringing === 0;
  muteButton.textContent = s.muted ? t("unmute") : t("mute");
  muteButton.title = s.muted ? t("muted") : "";
  muteButton.classList.toggle("ringing", s.unmuted > 0);
}
muteButton.addEventListener("click", () => (alarm.state().muted ? alarm.unmute() : alarm.mute()));
alarm.onAlarmState(showMute);

function showLive() {
  const badge = document.getElementById("live");
  badge.textContent = me ? t(liveUp ? "live.on" : "live.off") : "";
  badge.className = liveUp ? "live on" : "live off";
}

onLiveStatus((up) => {
  liveUp = up;
  showLive();
});

window.addEventListener("hashchange", route);
document.addEventListener("click", unlock, { once: true });
whenSignedOut(signedOut);

async function start() {
  await loadCatalogue().catch(() => {});
  applyStatic();
  config = await api("/config");
  setTimeZone(config.timezone);
  try {
    await signedIn(await api("/auth/me"));
  } catch {
    signedOut();
  }
}

start().catch((error) => view.append(el("p", { class: "error" }, error.message)));
