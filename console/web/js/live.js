// The live stream: one WebSocket, reconnected with backoff. Each message names an incident or
// a device whose state changed; views re-read what they show through the REST API, which also
// applies the user's permissions.
const listeners = new Set();
let socket = null;
let retryMs = 500;
let statusCallback = () => {};

export function onLive(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

export function onLiveStatus(callback) {
  statusCallback = callback;
}

function incidentId(message) {
  const id = message.incident?.id ?? message.incident_id ?? (message.type === "incident" ? message.id : undefined);
  return id === undefined ? undefined : Number(id);
}

export function classify(message) {
  const kind = message.type ?? message.kind ?? message.channel ?? "";
  if (kind === "snapshot") return { kind: "snapshot" };
  if (kind === "presence") return { kind: "presence", id: Number(message.payload?.incident_id) };
  if (String(kind).includes("device")) return { kind: "device", id: message.device_id ?? message.id };
  const id = incidentId(message) ?? (message.id !== undefined ? Number(message.id) : undefined);
  return { kind: "incident", id };
}

export function connect(path = "/api/live") {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  socket = new WebSocket(url);
  socket.addEventListener("open", () => {
    retryMs = 500;
    statusCallback(true);
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      message = { id: event.data };
    }
    const change = classify(message);
    for (const callback of listeners) callback(change, message);
  });
  socket.addEventListener("close", () => {
    statusCallback(false);
    socket = null;
    setTimeout(() => connect(path), retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  });
}

export function disconnect() {
  if (socket) {
    const s = socket;
    socket = null;
    s.onclose = null;
    s.close();
  }
}
