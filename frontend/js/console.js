// The operations page refreshes itself every two seconds from /console/operations.json.

import { $, el, setText } from "./dom.js";
import { drawLine } from "./charts.js";

const series = [];
const EVERY_MS = 2000;

function health(id, extraId, check, extra) {
  const node = $(id);
  node.dataset.ok = String(check.ok);
  setText(node, check.ok ? `${check.ms} ms` : "down");
  setText(extraId, check.ok ? extra : check.error);
}

function render(ops) {
  setText("o-online", ops.workers.online);
  setText("o-registered", `${ops.workers.registered} registered, ${ops.workers.blocked} blocked on every job`);
  setText("o-leases", ops.leases.in_flight);
  setText("o-expiring", ops.leases.expiring);
  setText("o-overdue", ops.leases.overdue);
  setText("o-aps", ops.answers_per_second);
  health("o-db", "o-db-extra", ops.database, `${ops.database.connections} connections`);
  health("o-redis", "o-redis-extra", ops.redis, `${ops.redis.memory} used`);
  $("o-waiting").querySelector("tbody").replaceChildren(
    ...ops.waiting.map((w) => el("tr", {}, el("td", { text: w.name }), el("td", { text: w.status }), el("td", { class: "num", text: w.priority }), el("td", { class: "num", text: w.waiting }))),
  );
  $("o-queues").querySelector("tbody").replaceChildren(
    ...Object.entries(ops.queues).map(([name, n]) => el("tr", {}, el("td", { text: name }), el("td", { class: "num", text: n }))),
  );
  const errors = [
    ...ops.errors.map((e) => el("li", {}, el("strong", { text: e.task }), " ", el("span", { class: "muted", text: e.at }), el("br"), e.error)),
    ...ops.failed_uploads.map((u) => el("li", {}, el("strong", { text: `upload ${u.file}` }), ` (job ${u.job})`, el("br"), u.error)),
  ];
  $("o-errors").replaceChildren(...(errors.length ? errors : [el("li", { class: "muted", text: "None." })]));
  series.push({ t: Date.now(), v: ops.answers_per_second });
  if (series.length > 300) series.shift();
  drawLine($("aps-chart"), series, { windowMs: 5 * 60 * 1000, empty: "No answers in the last minutes." });
}

async function refresh() {
  try {
    const response = await fetch("/console/operations.json", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    setText("ops-updated", `updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    setText("ops-updated", `cannot refresh: ${error.message}`);
  } finally {
    setTimeout(refresh, EVERY_MS);
  }
}

refresh();
