// Small formatting helpers shared by the views.
import { language, t } from "./i18n.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function waited(fromIso, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

let timeZone = "Asia/Shanghai";

// The district's zone (from /api/config): every time the console shows is local to it.
export function setTimeZone(zone) {
  if (zone) timeZone = zone;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// "12月6日 13:48:55" or "6 Dec 13:48:55", in the district's time zone (as vigil/messages.py).
export function when(iso) {
  if (!iso) return t("never");
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false,
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  const time = `${parts.hour === "24" ? "00" : parts.hour}:${parts.minute}:${parts.second}`;
  const month = Number(parts.month);
  const day = Number(parts.day);
  return language() === "zh" ? `${month}月${day}日 ${time}` : `${day} ${MONTHS[month - 1]} ${time}`;
}

export function seconds(value) {
  return value === null || value === undefined ? "—" : Math.round(value).toString();
}

// A message that stays on screen long enough to read (refusals, errors), never a blocking alert.
export function toast(text) {
  const box = el("div", { class: "toast", role: "alert", "data-testid": "toast" }, text,
    el("button", { type: "button", class: "close", onclick: () => box.remove() }, "×"));
  document.body.append(box);
  setTimeout(() => box.remove(), 12000);
  return box;
}

// The colon after a label: full-width in Chinese, ": " in English.
export function colon() {
  return language() === "zh" ? "：" : ": ";
}
