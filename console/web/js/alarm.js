// Never missed: the alarm tone repeats while any alarm is still unacknowledged; an operator may
// mute the ones ringing now (kept per operator), but a new alarm always rings again. When the
// console is in the background a browser notification names the alarm.
import { api } from "./api.js";
import { colon } from "./format.js";
import { label, t } from "./i18n.js";
import { onLive } from "./live.js";
import { alarmTone } from "./sound.js";

const REPEAT_MS = 4000;
const LOUD = new Set(["alarm"]);
let user = null;
let ringing = new Map(); // incident id -> incident, unacknowledged alarms
let muted = new Set();
let known = null; // ids seen since sign-in; null until the first read
let timer = null;
let stopLive = null;
let poll = null;
const listeners = new Set();

const mutedKey = () => `vigil.muted.${user?.username ?? ""}`;

function save() {
  localStorage.setItem(mutedKey(), JSON.stringify([...muted]));
}

function changed() {
  for (const callback of listeners) callback(state());
}

export function state() {
  const unmuted = [...ringing.keys()].filter((id) => !muted.has(id));
  return { ringing: ringing.size, unmuted: unmuted.length, muted: ringing.size > 0 && unmuted.length === 0 };
}

export function onAlarmState(callback) {
  listeners.add(callback);
  callback(state());
  return () => listeners.delete(callback);
}

// Mute what rings now; an alarm that arrives later is not in the set and rings.
export function mute() {
  for (const id of ringing.keys()) muted.add(id);
  save();
  changed();
}

export function unmute() {
  muted.clear();
  save();
  changed();
}

function tick() {
  if ([...ringing.keys()].some((id) => !muted.has(id))) alarmTone();
}

function notify(inc) {
  if (!document.hidden || typeof Notification === "undefined" || Notification.permission !== "granted") return;
  const where = inc.address ?? inc.household_id ?? "";
  const note = new Notification(`${t("notification.new")}${colon()}${label("cause", inc.cause)}`, {
    body: `${where} #${inc.id}`, tag: `vigil-incident-${inc.id}`, requireInteraction: true,
  });
  note.onclick = () => {
    window.focus();
    location.hash = `#/incident/${inc.id}`;
  };
}

function take(inc) {
  const loud = LOUD.has(inc.signal) && inc.state === "new" && !inc.closed_at;
  const fresh = known !== null && !known.has(inc.id);
  known?.add(inc.id);
  if (loud) {
    if (!ringing.has(inc.id) && fresh) {
      muted.delete(inc.id); // a new alarm is never muted
      notify(inc);
      alarmTone();
    }
    ringing.set(inc.id, inc);
  } else {
    ringing.delete(inc.id);
  }
}

async function reload() {
  const page = await api("/incidents?state=open&limit=500");
  const seen = new Set(page.items.map((i) => i.id));
  for (const id of [...ringing.keys()]) if (!seen.has(id)) ringing.delete(id);
  for (const inc of page.items) take(inc);
  if (known === null) known = seen;
  for (const id of [...muted]) if (!ringing.has(id)) muted.delete(id);
  save();
  changed();
}

export function start(me) {
  stop();
  user = me;
  muted = new Set(JSON.parse(localStorage.getItem(mutedKey()) || "[]"));
  known = null;
  ringing = new Map();
  if (typeof Notification !== "undefined" && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
  stopLive = onLive((change, message) => {
    if (change.kind === "incident" && message?.incident) {
      take(message.incident);
      changed();
    } else if (change.kind === "snapshot") {
      reload().catch(() => {});
    }
  });
  reload().catch(() => {});
  poll = setInterval(() => reload().catch(() => {}), 15000);
  timer = setInterval(tick, REPEAT_MS);
}

export function stop() {
  stopLive?.();
  stopLive = null;
  clearInterval(poll);
  clearInterval(timer);
  ringing = new Map();
  changed();
}
