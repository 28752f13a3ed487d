// Vigil for grid members: my tasks, one task's card, accept / arrive / photo / note / resolve.
// Every action goes into an IndexedDB queue first (with its own Idempotency-Key) and is sent in
// order when there is a signal; the server answers a replay with the first answer, so a queue
// sent twice acts once. Chinese first; the EN chip switches.
"use strict";

const T = {
  zh: {
    title: "Vigil 网格员", signin: "登录", user: "账号", pass: "密码", bad_login: "账号或密码不对",
    tasks: "我的任务", mine: "派给我", grid_open: "本网格待处理", none: "暂无待处理任务 👍",
    escalates: "升级倒计时", overdue: "已超时，正在升级", accepted: "已接单", arrived: "已到场",
    accept: "接单", arrive: "我已到达", resolve: "处置反馈", photo: "拍照取证", note: "备注",
    call: "拨打", family: "家属", resident: "住户", must_know: "上门须知", living_alone: "独居",
    map: "在地图中打开", unit: "单元/户", building: "楼栋", timeline: "处置记录（最新在前）",
    share_q: "记录到场位置？", share_why: "共享手机位置，系统会记下你与楼栋的距离，作为到场凭证。",
    share: "共享位置", no_share: "不共享，直接到场", outcome: "处置结果", note_ph: "补充说明（可用输入法语音输入）",
    send: "提交", cancel: "取消", pending: "条操作待发送（无信号时会自动重发）", sent: "已发送",
    queued: "已保存，有信号后自动发送", refused: "被拒绝", offline: "离线", online: "",
    logout: "退出", speak: "🎤 语音", photo_saved: "照片已保存", resolved_done: "已反馈，任务完成",
    dismiss: "知道了", age: "岁", pending_tag: "待发送", closed: "已结束", push_on: "开启通知",
    "state.new": "新报警", "state.acknowledged": "已确认", "state.dispatched": "已派遣",
    "state.on_site": "已到场", "state.resolved": "已处置", "state.false_alarm": "误报", "state.test": "测试",
    "cause.fire": "火灾", "cause.smoke": "烟雾报警", "cause.heat": "高温", "cause.panic": "紧急呼叫",
    "cause.inactivity": "长时间无活动", "cause.offline": "设备离线", "cause.low_battery": "电量低",
    "cause.tamper": "防拆", "cause.fault": "设备故障", "cause.co": "一氧化碳", "cause.gas": "燃气泄漏",
    "cause.fall": "跌倒", "cause.water": "漏水",
    "act.open": "报警", "act.accept": "接单", "act.dispatch": "派遣", "act.arrive": "到达",
    "act.photo": "照片", "act.note": "备注", "act.resolve": "处置完成", "act.false_alarm": "误报",
    "act.acknowledge": "确认", "act.escalate": "升级", "act.evidence": "新证据", "act.reopen": "重开", "act.mark_test": "测试",
  },
  en: {
    title: "Vigil field", signin: "Sign in", user: "Username", pass: "Password", bad_login: "Wrong username or password",
    tasks: "My tasks", mine: "For me", grid_open: "Open in my grid", none: "Nothing to do 👍",
    escalates: "Escalates in", overdue: "Overdue, escalating", accepted: "Accepted", arrived: "On site",
    accept: "Accept", arrive: "I have arrived", resolve: "Report outcome", photo: "Take photo", note: "Note",
    call: "Call", family: "Family", resident: "Resident", must_know: "Before you go in", living_alone: "Lives alone",
    map: "Open in maps", unit: "Unit", building: "Building", timeline: "Timeline (newest first)",
    share_q: "Record where you are?", share_why: "Share the phone's position: the distance to the building is kept as proof of arrival.",
    share: "Share position", no_share: "Arrive without it", outcome: "Outcome", note_ph: "Note (your keyboard's voice input works)",
    send: "Submit", cancel: "Cancel", pending: "action(s) waiting for a signal (sent automatically)", sent: "Sent",
    queued: "Saved; will be sent when there is a signal", refused: "Refused", offline: "Offline", online: "",
    logout: "Sign out", speak: "🎤 Speak", photo_saved: "Photo saved", resolved_done: "Reported: task done",
    dismiss: "OK", age: "y", pending_tag: "pending", closed: "Closed", push_on: "Turn on alerts",
    "state.new": "New", "state.acknowledged": "Acknowledged", "state.dispatched": "Dispatched",
    "state.on_site": "On site", "state.resolved": "Resolved", "state.false_alarm": "False alarm", "state.test": "Test",
    "cause.fire": "Fire", "cause.smoke": "Smoke alarm", "cause.heat": "Heat", "cause.panic": "Panic button",
    "cause.inactivity": "No activity", "cause.offline": "Device offline", "cause.low_battery": "Low battery",
    "cause.tamper": "Tamper", "cause.fault": "Device fault", "cause.co": "Carbon monoxide", "cause.gas": "Gas leak",
    "cause.fall": "Fall", "cause.water": "Water leak",
    "act.open": "Alarm", "act.accept": "Accepted", "act.dispatch": "Dispatched", "act.arrive": "Arrived",
    "act.photo": "Photo", "act.note": "Note", "act.resolve": "Resolved", "act.false_alarm": "False alarm",
    "act.acknowledge": "Acknowledged", "act.escalate": "Escalated", "act.evidence": "More evidence", "act.reopen": "Reopened", "act.mark_test": "Test",
  },
};
let lang = localStorage.getItem("vigil.m.lang") || "zh";
const t = (k) => T[lang][k] ?? T.zh[k] ?? k;
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const view = $("#view");
let me = null;
let serverSkew = 0; // server clock minus phone clock, for the countdowns
let tickers = [];

// ------------------------------------------------------------------ the offline queue
const DB = new Promise((resolve, reject) => {
  const req = indexedDB.open("vigil-field", 1);
  req.onupgradeneeded = () => req.result.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});
async function store(mode, fn) {
  const db = await DB;
  return new Promise((resolve, reject) => {
    const tx = db.transaction("queue", mode);
    const out = fn(tx.objectStore("queue"));
    tx.oncomplete = () => resolve(out && "result" in out ? out.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}
const queued = () => store("readonly", (s) => s.getAll());
const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).replace(/[^A-Za-z0-9_-]/g, "");

async function enqueue(incidentId, kind, body, contentType) {
  await store("readwrite", (s) =>
    s.add({ key: newKey(), incidentId, kind, body, contentType: contentType || "application/json",
            takenAt: new Date(Date.now() + serverSkew).toISOString(), status: "pending", message: null }));
  await flush();
}

let flushing = false;
async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    for (const item of await queued()) {
      if (item.status !== "pending") continue;
      let res;
      try {
        const isJson = item.contentType === "application/json";
        const body = isJson ? JSON.stringify({ ...item.body, taken_at: item.takenAt }) : item.body;
        res = await fetch(`/api/field/tasks/${item.incidentId}/${item.kind === "photo" ? "photos" : item.kind}`, {
          method: "POST", credentials: "same-origin", body,
          headers: { "Content-Type": item.contentType, "Idempotency-Key": item.key },
        });
      } catch {
        break; // no signal: keep this one and everything after it, in order
      }
      if (res.status === 401) { showLogin(); break; }
      if (res.ok) {
        await store("readwrite", (s) => s.delete(item.seq));
        continue;
      }
      if (res.status >= 500) break; // the server's trouble: try again later, in order
      const answer = await res.json().catch(() => ({}));
      const message = typeof answer.detail === "string" ? answer.detail : `请求无效 / invalid request (${res.status})`;
      await store("readwrite", (s) => s.put({ ...item, status: "refused", message }));
    }
  } finally {
    flushing = false;
  }
  await showQueue();
  if (navigator.onLine) route();
}

async function showQueue() {
  const items = await queued();
  const box = $("#pending");
  const waiting = items.filter((i) => i.status === "pending");
  const refused = items.filter((i) => i.status === "refused");
  if (!items.length) { box.hidden = true; return; }
  box.hidden = false;
  box.className = refused.length ? "pending err" : "pending";
  box.innerHTML =
    (waiting.length ? `<div>⏳ ${waiting.length} ${esc(t("pending"))}</div>` : "") +
    refused.map((i) => `<div class="row"><span>⚠ ${esc(t("act." + i.kind) || i.kind)} #${i.incidentId} ${esc(t("refused"))}：${esc(i.message)}</span>
      <button class="btn" data-dismiss="${i.seq}" style="min-height:40px">${esc(t("dismiss"))}</button></div>`).join("");
  box.querySelectorAll("[data-dismiss]").forEach((b) =>
    b.addEventListener("click", async () => { await store("readwrite", (s) => s.delete(Number(b.dataset.dismiss))); showQueue(); }));
}

// ------------------------------------------------------------------ talking to the server
async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  if (res.status === 401) { me = null; localStorage.removeItem("vigil.m.me"); showLogin(); throw new Error("401"); }
  if (!res.ok) throw new Error(`${res.status}`);
  return res.json();
}
async function cached(path) {
  try {
    const data = await api(path);
    localStorage.setItem("vigil.m.cache:" + path, JSON.stringify(data));
    return data;
  } catch (e) {
    if (e.message === "401") throw e;
    const kept = localStorage.getItem("vigil.m.cache:" + path);
    if (kept) return JSON.parse(kept);
    throw e;
  }
}

// ------------------------------------------------------------------ pages
function setBar(title, back) {
  $("#title").textContent = title;
  $("#back").hidden = !back;
  $("#lang").textContent = lang === "zh" ? "EN" : "中文";
  const net = $("#net");
  net.textContent = navigator.onLine ? t("online") : t("offline");
  net.className = navigator.onLine ? "net" : "net off";
}

// Called again by every flush and route while no one is signed in: a form already shown in this
// language is kept, and a new one keeps what was typed, so a slow typist loses nothing.
function showLogin() {
  tickers.forEach(clearInterval); tickers = [];
  setBar(t("title"), false);
  const shown = $("#login");
  if (shown && shown.dataset.lang === lang) return;
  const typed = shown ? [$("#u").value, $("#p").value] : ["", ""];
  view.innerHTML = `<form class="login" id="login" data-lang="${lang}">
    <label for="u">${esc(t("user"))}</label><input id="u" type="text" autocomplete="username" autocapitalize="none" required>
    <label for="p">${esc(t("pass"))}</label><input id="p" type="password" autocomplete="current-password" required>
    <div class="err" id="lerr"></div>
    <button class="btn main" style="width:100%">${esc(t("signin"))}</button></form>`;
  [$("#u").value, $("#p").value] = typed;
  $("#login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await fetch("/api/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ username: $("#u").value.trim(), password: $("#p").value }),
    }).catch(() => null);
    if (!res || !res.ok) { $("#lerr").textContent = res ? t("bad_login") : t("offline"); return; }
    me = (await res.json()).user;
    localStorage.setItem("vigil.m.me", JSON.stringify(me));
    subscribePush();
    live();
    location.hash = "#/";
    route();
  });
}

function countdown(el, due) {
  const draw = () => {
    const left = Math.round((Date.parse(due) - (Date.now() + serverSkew)) / 1000);
    if (left <= 0) { el.textContent = t("overdue"); el.className = "countdown late"; return; }
    const m = Math.floor(left / 60), s = left % 60;
    el.textContent = `${t("escalates")} ${m}:${String(s).padStart(2, "0")}`;
  };
  draw();
  tickers.push(setInterval(draw, 1000));
}

function pendingOf(items, id) { return items.filter((i) => i.incidentId === id && i.status === "pending"); }

// What the task looks like once the queued actions land: the phone shows it that way now.
function projected(task, waiting) {
  const kinds = waiting.map((w) => w.kind);
  let state = task.state;
  if (kinds.includes("accept") && ["new", "acknowledged"].includes(state)) state = "dispatched";
  if (kinds.includes("arrive")) state = "on_site";
  if (kinds.includes("resolve")) state = "resolved";
  return { ...task, state, accepted: !!task.accepted_at || kinds.includes("accept"), mine: task.mine || kinds.includes("accept") };
}

async function showTasks() {
  currentTask = null;
  setBar(t("tasks"), false);
  const [data, items] = await Promise.all([cached("/api/field/tasks"), queued()]);
  serverSkew = Date.parse(data.now) - Date.now();
  tickers.forEach(clearInterval); tickers = [];
  const all = data.items.map((x) => projected(x, pendingOf(items, x.id)));
  const isClosed = (x) => ["resolved", "false_alarm", "test"].includes(x.state);
  const tasks = all.filter((x) => !isClosed(x));
  const sending = all.filter((x) => isClosed(x) && pendingOf(items, x.id).length);
  const card = (x) => `<button class="card ${esc(x.signal)}" data-id="${x.id}">
      <div class="row"><span class="cause">${esc(t("cause." + x.cause))}</span>
        ${x.mine ? `<span class="badge mine">${esc(t("mine"))}</span>` : `<span class="badge">${esc(t("state." + x.state))}</span>`}</div>
      <div class="addr">${esc(x.address || "")} ${esc(x.building_name || "")} ${esc(x.unit || "")}</div>
      <div class="row"><span class="muted">${esc(t("state." + x.state))}${x.living_alone ? " · " + esc(t("living_alone")) : ""}
        ${pendingOf(items, x.id).length ? ` <span class="badge pend">${esc(t("pending_tag"))}</span>` : ""}</span>
        ${x.next_deadline ? `<span class="countdown" data-due="${esc(x.next_deadline)}"></span>` : ""}</div></button>`;
  const mine = tasks.filter((x) => x.mine), rest = tasks.filter((x) => !x.mine);
  view.innerHTML = (tasks.length ? "" : `<div class="empty">${esc(t("none"))}</div>`) +
    (mine.length ? `<h2>${esc(t("mine"))}</h2>${mine.map(card).join("")}` : "") +
    (rest.length ? `<h2>${esc(t("grid_open"))}</h2>${rest.map(card).join("")}` : "") +
    (sending.length ? `<h2>${esc(t("pending_tag"))}</h2>${sending.map(card).join("")}` : "") +
    `<div class="muted" style="text-align:center;margin-top:24px">${esc(me?.display_name || "")} ·
      <a href="#" id="logout">${esc(t("logout"))}</a></div>`;
  view.querySelectorAll("[data-due]").forEach((el) => countdown(el, el.dataset.due));
  view.querySelectorAll(".card").forEach((b) => b.addEventListener("click", () => { location.hash = `#/task/${b.dataset.id}`; }));
  $("#logout").addEventListener("click", async (ev) => {
    ev.preventDefault();
    await fetch("/api/auth/logout", { method: "POST", credentials: "same-origin" }).catch(() => null);
    localStorage.removeItem("vigil.m.me");
    showLogin();
  });
}

function tel(phone) { return `tel:${String(phone).replace(/[^+0-9]/g, "")}`; }

let currentTask = null; // the task on screen: where a photo from the camera goes

async function showTask(id) {
  currentTask = id;
  const [d, items] = await Promise.all([cached(`/api/field/tasks/${id}`), queued()]);
  serverSkew = Date.parse(d.now) - Date.now();
  tickers.forEach(clearInterval); tickers = [];
  const waiting = pendingOf(items, id);
  const x = projected(d.task, waiting);
  setBar(t("cause." + x.cause), true);
  const closed = ["resolved", "false_alarm", "test"].includes(x.state);
  const must = [];
  if (x.living_alone) must.push(t("living_alone"));
  if (d.household_notes) must.push(d.household_notes);
  d.residents.forEach((r) => { if (r.medical_notes) must.push(`${r.name}：${r.medical_notes}`); });
  const calls = d.residents.flatMap((r) => [
    r.phone ? `<a class="call" href="${tel(r.phone)}"><span>${esc(r.name)} · ${esc(t("resident"))}${r.age ? ` · ${r.age}${esc(t("age"))}` : ""}</span><span class="tel">📞 ${esc(t("call"))}</span></a>` : "",
    ...r.contacts.map((c) => `<a class="call" href="${tel(c.phone)}"><span>${esc(c.name)} · ${esc(c.relation || t("family"))}</span><span class="tel">📞 ${esc(t("call"))}</span></a>`),
  ]).join("");
  const photos = new Map(d.photos.map((p) => [p.id, p]));
  const line = (e) => {
    const m = e.action === "photo" && /#(\d+)/.exec(e.note || "");
    const p = m && photos.get(Number(m[1]));
    return `<li><div class="what">${esc(t("act." + e.action))} <span class="muted">${esc(new Date(e.at).toLocaleTimeString())} · ${esc(e.actor)}</span></div>
      ${e.note && !p ? `<div>${esc(e.note)}</div>` : ""}${p ? `<div class="photos"><img src="${esc(p.url)}" alt="photo ${p.id}"></div>` : ""}</li>`;
  };
  const pend = waiting.slice().reverse().map((w) => `<li class="pend"><div class="what">${esc(t("act." + w.kind))} <span class="badge pend">${esc(t("pending_tag"))}</span>
      <span class="muted">${esc(new Date(w.takenAt).toLocaleTimeString())}</span></div></li>`).join("");
  const map = x.lat != null ? `<a class="pin" href="geo:${x.lat},${x.lon}?q=${x.lat},${x.lon}(${encodeURIComponent(x.address || "")})">📍 ${esc(t("map"))}</a>` : "";
  view.innerHTML = `
    <div class="section">
      <div class="row"><span class="state">${esc(t("state." + x.state))}${x.mine ? " · " + esc(t("mine")) : ""}</span>
        ${!closed && d.task.next_deadline ? `<span class="countdown" data-due="${esc(d.task.next_deadline)}"></span>` : ""}</div>
      <div class="addr" style="font-size:19px;font-weight:700">${esc(x.address || "")}</div>
      <div>${esc(t("building"))}：${esc(x.building_name || "-")} · ${esc(t("unit"))}：${esc(x.unit || "-")}</div>
      ${map}
    </div>
    ${must.length ? `<div class="section must"><b>⚠ ${esc(t("must_know"))}</b>${must.map((m) => `<div>${esc(m)}</div>`).join("")}</div>` : ""}
    ${calls ? `<div class="section">${calls}</div>` : ""}
    <h2>${esc(t("timeline"))}</h2>
    <div class="section"><ul class="tl">${pend}${d.timeline.slice().reverse().map(line).join("")}</ul></div>`;
  view.querySelectorAll("[data-due]").forEach((el) => countdown(el, el.dataset.due));
  dock(id, x, closed);
}

function dock(id, x, closed) {
  const el = document.createElement("div");
  el.className = "dock";
  let main = "";
  if (!closed) {
    if (!x.accepted && ["new", "acknowledged", "dispatched"].includes(x.state)) main = `<button class="btn main" id="do-accept">✋ ${esc(t("accept"))}</button>`;
    else if (["new", "acknowledged", "dispatched"].includes(x.state)) main = `<button class="btn main" id="do-arrive">📍 ${esc(t("arrive"))}</button>`;
    else main = `<button class="btn main go" id="do-resolve">✅ ${esc(t("resolve"))}</button>`;
  }
  el.innerHTML = `${main}<button class="btn" id="do-photo">📷 ${esc(t("photo"))}</button><button class="btn" id="do-note">📝 ${esc(t("note"))}</button>`;
  view.appendChild(el);
  $("#do-accept")?.addEventListener("click", () => enqueue(id, "accept", {}));
  $("#do-arrive")?.addEventListener("click", () => arriveSheet(id));
  $("#do-resolve")?.addEventListener("click", () => resolveSheet(id));
  $("#do-note").addEventListener("click", () => noteSheet(id));
  $("#do-photo").addEventListener("click", () => { const c = $("#camera"); c.value = ""; c.click(); });
}

function sheet(html) {
  const s = $("#sheet");
  s.innerHTML = `<div>${html}</div>`;
  s.hidden = false;
  s.addEventListener("click", (ev) => { if (ev.target === s) s.hidden = true; }, { once: true });
  return s;
}
const closeSheet = () => { $("#sheet").hidden = true; };

function arriveSheet(id) {
  sheet(`<h3>${esc(t("share_q"))}</h3><p class="muted">${esc(t("share_why"))}</p>
    <div class="opts"><button class="btn main" id="share">📍 ${esc(t("share"))}</button>
    <button class="btn" id="noshare">${esc(t("no_share"))}</button></div>`);
  $("#noshare").addEventListener("click", () => { closeSheet(); enqueue(id, "arrive", {}); });
  $("#share").addEventListener("click", () => {
    const done = (body) => { closeSheet(); enqueue(id, "arrive", body); };
    if (!navigator.geolocation) return done({});
    navigator.geolocation.getCurrentPosition(
      (p) => done({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy }),
      () => done({}), { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 });
  });
}

function voice(target) {
  const Rec = window.SpeechRecognition || window.webkitSpeechRecognition;
  if (!Rec) return "";
  setTimeout(() => $("#speak")?.addEventListener("click", () => {
    const r = new Rec(); r.lang = lang === "zh" ? "zh-CN" : "en-US";
    r.onresult = (ev) => { const box = $(target); box.value = (box.value + " " + ev.results[0][0].transcript).trim(); };
    r.start();
  }));
  return `<button type="button" class="btn" id="speak">${esc(t("speak"))}</button>`;
}

async function resolveSheet(id) {
  const d = await cached(`/api/field/tasks/${id}`);
  sheet(`<h3>${esc(t("outcome"))}</h3><form id="rf"><div class="opts">
    ${d.outcomes.map((o) => `<label class="opt"><input type="radio" name="o" value="${esc(o.code)}" required>${esc(lang === "zh" ? o.zh : o.en)}</label>`).join("")}
    </div><textarea id="rnote" placeholder="${esc(t("note_ph"))}"></textarea>${voice("#rnote")}
    <div class="two"><button type="button" class="btn" id="rcancel">${esc(t("cancel"))}</button>
    <button class="btn main go">${esc(t("send"))}</button></div></form>`);
  $("#rcancel").addEventListener("click", closeSheet);
  $("#rf").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const outcome = new FormData(ev.target).get("o");
    const note = $("#rnote").value.trim();
    closeSheet();
    await enqueue(id, "resolve", note ? { outcome, note } : { outcome });
    toast(navigator.onLine ? t("resolved_done") : t("queued"));
    location.hash = "#/";
  });
}

function noteSheet(id) {
  sheet(`<h3>${esc(t("note"))}</h3><form id="nf"><textarea id="ntext" required placeholder="${esc(t("note_ph"))}"></textarea>${voice("#ntext")}
    <div class="two"><button type="button" class="btn" id="ncancel">${esc(t("cancel"))}</button><button class="btn main">${esc(t("send"))}</button></div></form>`);
  $("#ncancel").addEventListener("click", closeSheet);
  $("#nf").addEventListener("submit", (ev) => { ev.preventDefault(); const note = $("#ntext").value.trim(); closeSheet(); if (note) enqueue(id, "note", { note }); });
}

// A phone's photo is several MB: shrink it to 1280 px on its long side, JPEG, before it queues.
async function shrink(file, edge = 1280) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, edge / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
}
$("#camera").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  const id = currentTask;
  if (!id) return;
  let blob;
  try { blob = await shrink(file); } catch { toast(lang === "zh" ? "这不是一张照片" : "That is not a photo", true); return; }
  await enqueue(id, "photo", blob, "image/jpeg");
  toast(navigator.onLine ? t("photo_saved") : t("queued"));
});

function toast(text, bad) {
  const el = $("#toast");
  el.textContent = text;
  el.className = bad ? "toast bad" : "toast";
  el.hidden = false;
  setTimeout(() => { el.hidden = true; }, 2500);
}

// ------------------------------------------------------------------ push, polling, routing
function b64url(s) {
  const pad = "=".repeat((4 - (s.length % 4)) % 4);
  const raw = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}
async function subscribePush() {
  try {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) return;
    const { public_key } = await api("/api/field/push/key");
    if (!public_key) return;
    const reg = await navigator.serviceWorker.ready;
    if ((await Notification.requestPermission()) !== "granted") return;
    const sub = (await reg.pushManager.getSubscription()) ||
      (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64url(public_key) }));
    const j = sub.toJSON();
    await fetch("/api/field/push/subscription", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ endpoint: j.endpoint, p256dh: j.keys.p256dh, auth: j.keys.auth }),
    });
  } catch { /* push is a bonus: the app polls while open */ }
}

let routing = false;
async function route() {
  if (routing || !$("#sheet").hidden) return;
  if (!me) { showLogin(); return; }
  routing = true;
  try {
    const m = /^#\/task\/(\d+)/.exec(location.hash);
    if (m) await showTask(Number(m[1])); else await showTasks();
  } catch (e) {
    if (e.message !== "401") view.innerHTML = `<div class="empty">${esc(t("offline"))}</div>`;
  } finally {
    routing = false;
  }
}

$("#back").addEventListener("click", () => { location.hash = "#/"; });
$("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("vigil.m.lang", lang); document.documentElement.lang = lang === "zh" ? "zh-CN" : "en"; route(); showQueue(); });
window.addEventListener("hashchange", route);
window.addEventListener("online", () => { flush(); });
window.addEventListener("offline", () => { setBar($("#title").textContent, !$("#back").hidden); });
document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";

// Live: the grid's stream says something changed; polling covers a dropped stream or no push.
function live() {
  if (!me || !window.EventSource) return;
  const url = me.grid_id ? `/api/live/sse?grid_id=${encodeURIComponent(me.grid_id)}` : "/api/live/sse";
  const src = new EventSource(url);
  let pending = null;
  src.onmessage = () => { clearTimeout(pending); pending = setTimeout(route, 300); };
}
setInterval(() => { if (document.visibilityState === "visible") { flush(); } }, 15000);

if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {});

(async () => {
  me = JSON.parse(localStorage.getItem("vigil.m.me") || "null");
  if (me) {
    try { me = await api("/api/auth/me"); localStorage.setItem("vigil.m.me", JSON.stringify(me)); } catch (e) { if (e.message === "401") return; }
    live();
  }
  await showQueue();
  await route();
  flush();
})();
