// Several seats: who has which incident open, from the live stream ("presence" messages) and
// the incident page's own reads. A seat is dropped 45 s after its last heartbeat.
import { el } from "./format.js";
import { t } from "./i18n.js";
import { onLive } from "./live.js";

const TTL_MS = 45000;
const seats = new Map(); // incident id -> Map(user id -> {name, activity, at})
const listeners = new Set();
const lastLive = new Map(); // incident id -> Map(user id -> time of its latest live message)

function changed(id) {
  for (const callback of listeners) callback(id);
}

export function onPresence(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

// A read of who is here is a snapshot taken when it was asked for; a live message that came
// after the ask is newer (someone arrived or left meanwhile), so it wins over the snapshot.
export function setSeats(incidentId, list, askedAt) {
  const now = Date.now();
  const before = seats.get(incidentId) ?? new Map();
  const newer = new Set([...(lastLive.get(incidentId) ?? new Map())]
    .filter(([, at]) => at >= askedAt).map(([userId]) => userId));
  const here = new Map(list.filter((p) => !newer.has(p.user_id)).map((p) => [p.user_id, {
    name: p.display_name, activity: p.activity, at: now - Math.max(0, now - Date.parse(p.seen_at)) }]));
  for (const userId of newer) if (before.has(userId)) here.set(userId, before.get(userId));
  seats.set(incidentId, here);
  changed(incidentId);
}

export function others(incidentId, me) {
  const now = Date.now();
  const here = seats.get(incidentId) ?? new Map();
  return [...here.entries()]
    .filter(([userId, s]) => userId !== me?.id && now - s.at < TTL_MS)
    .map(([, s]) => s)
    .sort((a, b) => (b.activity === "handling") - (a.activity === "handling"));
}

// "王芳 正在处理 · 李强 正在查看", or nothing.
export function badge(incidentId, me) {
  const list = others(incidentId, me);
  if (!list.length) return null;
  return el("span", { class: "presence", "data-testid": "presence" },
    list.map((s, i) => el("span", { class: `seat seat-${s.activity}` }, i ? " · " : "",
      el("strong", {}, s.name), " ", t(`presence.${s.activity}`))));
}

onLive((change, message) => {
  if (change.kind !== "presence" || !Number.isFinite(change.id)) return;
  const p = message.payload;
  const here = seats.get(change.id) ?? new Map();
  const live = lastLive.get(change.id) ?? new Map();
  live.set(p.user_id, Date.now());
  lastLive.set(change.id, live);
  if (p.activity === "left") here.delete(p.user_id);
  else {
    const before = here.get(p.user_id);
    const activity = before?.activity === "handling" && p.activity === "viewing" ? "handling" : p.activity;
    here.set(p.user_id, { name: p.display_name, activity, at: Date.now() });
  }
  seats.set(change.id, here);
  changed(change.id);
});
