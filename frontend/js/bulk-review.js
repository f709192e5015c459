// Review in bulk (the job page's workers, the results page's filter): a preview from POST /api/jobs/<id>/review/
// with "preview": true says how many answers and microtasks, and how much money, the decision moves; the same
// request without it makes the decision once the requester confirms in the dialog.

import { apiJSON, errorLines } from "./api.js";
import { $, setText } from "./dom.js";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function describe(totals, whose) {
  const what = `${plural(totals.answers, "answer")} on ${plural(totals.microtasks, "microtask")}`;
  if (totals.decision === "accept") return `Accept ${what} ${whose}: this pays ${totals.amount_text} in rewards.`;
  return `Reject ${what} ${whose}: nothing is paid (${totals.amount_text} withheld).`;
}

const EFFECT = {
  accept: "Accepted answers keep counting, and their rewards are paid once. Answers reviewed before stay as they are.",
  reject: "Rejected answers stop counting and their microtasks are answered again by other workers. A review is final; answers reviewed before stay as they are.",
};

let pending = null;

// Ask for the preview, show it in the dialog; on Confirm, decide and call onDone(totals).
export async function reviewInBulk(jobId, request, whose, onDone) {
  const dialog = $("review-dialog");
  const confirm = $("review-confirm");
  setText("review-summary", "Counting…");
  setText("review-effect", "");
  confirm.disabled = true;
  if (!dialog.open) dialog.showModal();
  const preview = await apiJSON("POST", `/api/jobs/${jobId}/review/`, { ...request, preview: true });
  if (!preview.ok) {
    setText("review-summary", errorLines(preview.data).join(" "));
    return;
  }
  if (!preview.data.assignments) {
    setText("review-summary", `No pending answers ${whose}: nothing to ${request.decision}.`);
    return;
  }
  setText("review-summary", describe(preview.data, whose));
  setText("review-effect", EFFECT[request.decision]);
  confirm.textContent = request.decision === "accept" ? `Accept and pay ${preview.data.amount_text}` : "Reject";
  confirm.disabled = false;
  pending = { jobId, request, whose, onDone };
}

function setUp() {
  const dialog = $("review-dialog");
  if (!dialog) return;
  $("review-cancel").addEventListener("click", () => {
    pending = null;
    dialog.close();
  });
  $("review-confirm").addEventListener("click", async () => {
    if (!pending) return;
    const { jobId, request, whose, onDone } = pending;
    pending = null;
    $("review-confirm").disabled = true;
    const result = await apiJSON("POST", `/api/jobs/${jobId}/review/`, request);
    dialog.close();
    if (!result.ok) {
      setText("review-result", errorLines(result.data).join(" "));
      return;
    }
    const done = result.data;
    const verb = done.decision === "accept" ? "Accepted" : "Rejected";
    const money = done.decision === "accept" ? `; ${done.amount_text} paid` : "; their microtasks are answered again";
    setText("review-result", `${verb} ${plural(done.answers, "answer")} on ${plural(done.microtasks, "microtask")} ${whose}${money}.`);
    if (onDone) onDone(done);
  });
}

setUp();
