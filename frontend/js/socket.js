// The one module that owns a WebSocket: reconnects with exponential backoff, dispatches by event type, and
// resends submits until the server acknowledges them (same idempotency key, so a resend is never counted twice).

import { format, gettext } from "./i18n.js";

const REFUSED = new Set([4401, 4403]);
const STORE_PREFIX = "quorum.pending:";

export class LiveSocket {
  constructor(path, { minDelay = 500, maxDelay = 15000, persistPending = false, query = "" } = {}) {
    this.path = path;
    this.query = query;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.handlers = new Map();
    this.stateHandlers = [];
    this.attempts = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = false;
    this.storeKey = persistPending ? STORE_PREFIX + path : null;
    // Submits in the order they were made, keyed by idempotency key.
    this.pending = new Map(this.loadPending());
    window.addEventListener("online", () => this.reconnectNow());
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  onState(handler) {
    this.stateHandlers.push(handler);
    return this;
  }

  setState(state, detail = {}) {
    this.state = state;
    for (const handler of this.stateHandlers) handler(state, detail);
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${this.path}${this.query ? `?${this.query}` : ""}`;
  }

  connect() {
    clearTimeout(this.timer);
    this.setState("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempts = 0;
      this.setState("open");
      for (const message of this.pending.values()) ws.send(JSON.stringify(message));
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "answer.ack" && message.key) this.forget(message.key);
      this.dispatch(message);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return this.setState("closed");
      if (REFUSED.has(event.code)) return this.setState("refused", { code: event.code });
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempts);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempts += 1;
    this.setState("reconnecting", { delay, attempt: this.attempts });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    this.attempts = 0;
    this.connect();
  }

  dispatch(message) {
    for (const handler of this.handlers.get(message.type) || []) handler(message);
    for (const handler of this.handlers.get("*") || []) handler(message);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // Sends now if connected, and again after every reconnect until an answer.ack names its key.
  submit(message) {
    this.pending.set(message.key, message);
    this.savePending();
    this.send(message);
  }

  forget(key) {
    if (this.pending.delete(key)) this.savePending();
  }

  loadPending() {
    if (!this.storeKey) return [];
    try {
      return JSON.parse(sessionStorage.getItem(this.storeKey) || "[]");
    } catch {
      return [];
    }
  }

  savePending() {
    if (!this.storeKey) return;
    try {
      sessionStorage.setItem(this.storeKey, JSON.stringify([...this.pending.entries()]));
    } catch {
      // Storage full or disabled: resends still work within this page.
    }
  }
}

export function describeState(state, detail = {}) {
  switch (state) {
    case "open":
      return gettext("Connected");
    case "connecting":
      return gettext("Connecting…");
    case "reconnecting":
      return format(gettext("Connection lost, retrying in %(seconds)s s"), { seconds: Math.max(1, Math.round(detail.delay / 1000)) });
    case "refused":
      return detail.code === 4401 ? gettext("Not signed in") : gettext("Not allowed");
    default:
      return gettext("Disconnected");
  }
}
