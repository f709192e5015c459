// The live job page: a snapshot, then job.* events over /ws/jobs/<id>/. Events only change state; one
// requestAnimationFrame per frame writes the DOM, so hundreds of events a second cost one repaint.

import { errorLines, uploadFile } from "./api.js";
import { $, el, formatDuration, frameScheduler, percent, readJSON, setText } from "./dom.js";
import { drawHistogram, drawLine } from "./charts.js";
import { LiveSocket, describeState } from "./socket.js";
import { reviewInBulk } from "./bulk-review.js";
import { bucketPanel } from "./bucket-panel.js";

const snapshot = readJSON("job-snapshot");
const jobId = snapshot.id;
const state = {
  status: snapshot.status,
  counts: snapshot.counts,
  details: snapshot.details,
  ingest: snapshot.ingest,
  series: [],
  detailsVersion: 1,
  drawnDetails: 0,
};
const blockTemplate = $("block-form-template");
const reviewTemplate = $("review-buttons-template");
const bonusTemplate = $("bonus-form-template");
const STATUS_LABELS = { draft: "Draft", open: "Open", paused: "Paused", cancelled: "Cancelled", done: "Done" };

function addPoint(value) {
  const now = Date.now();
  const last = state.series[state.series.length - 1];
  // At most one point a second: a burst of progress events moves the last point instead of adding many.
  if (last && now - last.t < 1000) last.v = value;
  else state.series.push({ t: now, v: value });
  if (state.series.length > 1200) state.series.splice(0, state.series.length - 1200);
}
addPoint(snapshot.counts.answers_per_minute || 0);

const schedule = frameScheduler(render);

const socket = new LiveSocket(`/ws/jobs/${jobId}/`);
socket.onState((s, detail) => {
  const node = $("live-state");
  node.dataset.state = s;
  node.textContent = s === "open" ? "live" : describeState(s, detail);
});
socket.on("job.snapshot", ({ job }) => {
  state.status = job.status;
  state.counts = job.counts;
  state.details = job.details;
  state.ingest = job.ingest || state.ingest;
  state.detailsVersion += 1;
  schedule();
});
socket.on("job.progress", (event) => {
  state.counts = { ...state.counts, ...event.counts };
  if (event.status) state.status = event.status;
  addPoint(state.counts.answers_per_minute || 0);
  schedule();
});
socket.on("job.details", (event) => {
  state.details = event.details;
  state.detailsVersion += 1;
  schedule();
});
socket.on("job.ingest", (event) => {
  state.ingest = event;
  if (event.status === "done" || event.status === "failed") setText("upload-text", "");
  schedule();
});
socket.on("job.status", (event) => {
  state.status = event.status;
  schedule();
});
bucketPanel(jobId, socket);
socket.start();

function eta(counts) {
  if (state.status === "done") return "done";
  const perMinute = counts.answers_per_minute || 0;
  const remaining = counts.answers_remaining ?? Math.max(0, (counts.items || 0) * snapshot.redundancy - (counts.answers || 0));
  if (!remaining) return counts.items ? "done" : "–";
  if (!perMinute) return "–";
  return formatDuration((remaining / perMinute) * 60);
}

function renderIngest() {
  const ingest = state.ingest;
  const section = $("ingest");
  if (!ingest || ingest.status === "done") {
    section.hidden = !ingest || ingest.status === "done";
    return;
  }
  section.hidden = false;
  const bar = $("ingest-progress");
  bar.max = ingest.rows_total || 1;
  bar.value = ingest.rows_done || 0;
  if (ingest.status === "failed") {
    const e = ingest.error || {};
    const where = [e.file, e.line ? `line ${e.line}` : "", e.field ? `column ${e.field}` : ""].filter(Boolean).join(", ");
    setText("ingest-text", `The file was not accepted (${where}): ${e.message || "error"}. Nothing was stored; fix the file and upload it again.`);
    section.classList.add("failed");
  } else {
    section.classList.remove("failed");
    setText("ingest-text", `${(ingest.rows_done || 0).toLocaleString()} of about ${(ingest.rows_total || 0).toLocaleString()} rows`);
  }
}

const bonusForms = new Map(); // worker id -> their bonus form, kept across redraws so typed amounts survive
let workersDrawn = "";

function renderWorkers() {
  const rows = (state.details && state.details.workers) || [];
  const body = $("workers-table").querySelector("tbody");
  // Redrawn only when the table changed, and never under the requester's hands (typing a bonus).
  const drawn = JSON.stringify(rows);
  if (drawn === workersDrawn || body.contains(document.activeElement)) return;
  workersDrawn = drawn;
  body.replaceChildren(
    ...rows.map((w) => {
      const actions = el("td", { class: "actions" });
      if (reviewTemplate) {
        const buttons = reviewTemplate.content.firstElementChild.cloneNode(true);
        for (const button of buttons.querySelectorAll("button")) {
          const decision = button.dataset.decision;
          button.setAttribute("aria-label", `${decision === "accept" ? "Accept" : "Reject"} all pending answers of ${w.username}`);
          // Afterwards the feed re-reads the cost and the workers (job.refresh).
          button.addEventListener("click", () =>
            reviewInBulk(jobId, { decision, worker: w.id }, `of ${w.username}`, () => socket.send({ type: "job.refresh" })),
          );
        }
        actions.append(buttons, " ");
      }
      if (!w.blocked && blockTemplate) {
        const form = blockTemplate.content.firstElementChild.cloneNode(true);
        form.action = `/jobs/${jobId}/workers/${w.id}/block/`;
        form.querySelector("button").setAttribute("aria-label", `Block ${w.username} on this job`);
        actions.append(form);
      }
      if (bonusTemplate && w.answers > 0) {
        let form = bonusForms.get(w.id);
        if (!form) {
          form = bonusTemplate.content.firstElementChild.cloneNode(true);
          form.action = `/jobs/${jobId}/workers/${w.id}/bonus/`;
          form.querySelector("button").setAttribute("aria-label", `Pay ${w.username} a bonus`);
          bonusForms.set(w.id, form);
        }
        actions.append(form);
      }
      return el(
        "tr",
        {},
        el("td", { text: w.username }),
        el("td", { class: "num", text: w.answers }),
        el("td", { class: "num", text: w.accuracy === null ? "–" : `${w.accuracy_text} (${w.accuracy_basis})` }),
        el("td", { class: "num", text: w.trust === null ? "–" : w.trust.toFixed(2) }),
        el("td", { text: w.blocked_everywhere ? "on every job (by staff)" : w.blocked ? "on this job" : "no" }),
        actions,
      );
    }),
  );
  $("workers-empty").hidden = rows.length > 0;
}

function render() {
  const c = state.counts;
  const badge = $("job-status");
  badge.className = `badge status-${state.status}`;
  setText(badge, STATUS_LABELS[state.status] || state.status);
  for (const node of document.querySelectorAll("[data-when]")) node.hidden = !node.dataset.when.split(" ").includes(state.status);
  setText("s-items", `${(c.items_done || 0).toLocaleString()} / ${(c.items || 0).toLocaleString()}`);
  const bar = $("s-items-bar");
  bar.max = c.items || 1;
  bar.value = c.items_done || 0;
  setText("s-apm", (c.answers_per_minute || 0).toLocaleString());
  setText("s-workers", c.workers_active || 0);
  setText("s-answers", (c.answers || 0).toLocaleString());
  setText("s-eta", eta(c));
  const d = state.details || {};
  setText("s-agreement", d.agreement === null || d.agreement === undefined ? "–" : percent(d.agreement));
  // Amounts come written by the server, with the deployment's currency (quorum/money.py).
  setText("s-cost", d.cost_text ?? "–");
  setText("s-budget", d.budget_text ? `of ${d.budget_text}` : "");
  renderIngest();
  drawLine($("apm-chart"), state.series);
  if (state.drawnDetails !== state.detailsVersion) {
    state.drawnDetails = state.detailsVersion;
    drawHistogram($("confidence-chart"), d.confidence_histogram || []);
    renderWorkers();
  }
}

// The answers-per-minute line keeps moving along the time axis even when nothing arrives.
setInterval(() => {
  addPoint(state.counts.answers_per_minute || 0);
  schedule();
}, 5000);

const uploadForm = $("upload-form");
uploadForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  setText("upload-text", "Uploading…");
  const result = await uploadFile(`/api/jobs/${jobId}/uploads/`, file, (loaded, total) => {
    $("upload-progress").value = Math.round((100 * loaded) / total);
  });
  setText("upload-text", result.ok ? "Uploaded; slicing…" : errorLines(result.data).join(" "));
});

render();
