// The app shell is cached so the app opens with no signal; the API is never cached here (the
// page keeps its own last answers and its queue of actions). A push opens the task it names.
const SHELL = "vigil-m-v1";
const FILES = ["/m/", "/m/index.html", "/m/app.js", "/m/app.css", "/m/manifest.webmanifest",
  "/m/icon.svg", "/m/icon-192.png", "/m/icon-512.png"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
// The shell: the network first (a new version shows at once), the cache when there is none.
self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/m/")) return;
  ev.respondWith(fetch(ev.request).then((res) => {
    if (res.ok) { const copy = res.clone(); caches.open(SHELL).then((c) => c.put(ev.request, copy)); }
    return res;
  }).catch(() => caches.match(ev.request, { ignoreSearch: true }).then((hit) => hit || caches.match("/m/"))));
});
self.addEventListener("push", (ev) => {
  let data = {};
  try { data = ev.data ? ev.data.json() : {}; } catch { data = { body: ev.data && ev.data.text() }; }
  ev.waitUntil(self.registration.showNotification(data.title || "Vigil 网格员", {
    body: data.body || "", tag: data.incident_id ? `incident-${data.incident_id}` : undefined,
    data: { url: data.incident_id ? `/m/#/task/${data.incident_id}` : "/m/" }, requireInteraction: true,
  }));
});
self.addEventListener("notificationclick", (ev) => {
  ev.notification.close();
  const url = (ev.notification.data && ev.notification.data.url) || "/m/";
  ev.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((list) => {
    for (const c of list) if (new URL(c.url).pathname.startsWith("/m/")) { c.navigate(url); return c.focus(); }
    return self.clients.openWindow(url);
  }));
});
