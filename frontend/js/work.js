// The worker's task page: takes microtasks pushed over /ws/work/, answers them from the keyboard.

import { $, el, randomKey, setText } from "./dom.js";
import { LiveSocket, describeState } from "./socket.js";
import { preloadMedia } from "./display.js";
import { renderTask } from "./task-view.js";
import { format, gettext } from "./i18n.js";

// ahead=1: the server may lease one microtask beyond the one in view, so the next one (and its media) is here
// when this one is done. A server that does not know the hint ignores it.
// job=<id>: the worker chose that job on the job board (the page checked they may work on it).
const chosenJob = $("working-on").dataset.job;
const socket = new LiveSocket("/ws/work/", { persistPending: true, query: chosenJob ? `ahead=1&job=${chosenJob}` : "ahead=1" });
const taskRoot = $("task");
const connState = $("conn-state");
const timer = $("lease-timer");
const dialog = $("instructions-dialog");
const instructionsButton = $("instructions-button");

const queue = []; // task.assigned messages not yet answered, in arrival order
let current = null; // { message, view }
const preloads = new Map(); // assignment id -> the elements downloading its media, for microtasks not shown yet
const sending = new Set(); // assignment ids whose submits await their ack
let waitingText = gettext("Waiting for work…");
let notice = "";
let answersGiven = Number($("w-answers").textContent) || 0;

socket.onState((state, detail) => {
  connState.dataset.state = state;
  connState.textContent = describeState(state, detail);
  if (state === "refused" && detail.code === 4401) toLogin();
  // A socket refused during the handshake closes without a code: after a few tries, ask whether we are signed out.
  if (state === "reconnecting" && detail.attempt === 3) checkSignedIn();
});

function toLogin() {
  location.assign(`/login/?next=${encodeURIComponent(location.pathname)}`);
}

async function checkSignedIn() {
  try {
    const response = await fetch("/api/me/", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401 || response.status === 403) toLogin();
  } catch {
    // Offline: the socket keeps retrying.
  }
}

// Who is signed in on this socket (for what this browser remembers per worker).
let workerId = "";

socket.on("session.ready", (message) => {
  workerId = String(message.worker.id);
  if (!current && queue.length === 0) socket.send({ type: "task.request" });
});

socket.on("task.assigned", (message) => {
  const id = message.assignment.id;
  const known = queue.find((m) => m.assignment.id === id);
  if (known) {
    // A reconnect sends the same lease again: keep the answers typed so far, refresh the expiry.
    known.assignment = message.assignment;
    return;
  }
  queue.push(message);
  if (!current) showNext();
  else preload(message);
});

function preload(message) {
  if (!preloads.has(message.assignment.id)) preloads.set(message.assignment.id, preloadMedia(message.job.display, message.items));
}

socket.on("task.none", (message) => {
  if (message.reason === "blocked") {
    // One notice, the page's, which says why; the task area just stops.
    queue.length = 0;
    notice = "";
    $("blocked-note").hidden = false;
    showWaiting(gettext("No more work."));
    return;
  }
  if (current) return;
  if (chosenJob) showWaiting(gettext("No microtask of this job for you right now. Waiting… or choose another job."));
  else showWaiting(message.reason === "no_work" ? gettext("No work for you right now. Waiting: a microtask shows here as soon as there is one.") : gettext("Waiting for work…"));
});

socket.on("task.revoked", (message) => {
  const reasons = {
    expired: gettext("The time for that microtask ran out."),
    job_paused: gettext("The requester paused that job."),
    job_cancelled: gettext("The requester cancelled that job."),
    blocked: gettext("That microtask was taken back: you are blocked on its job."),
    other_job: "",
    skipped: gettext("Skipped."),
  };
  dropAssignment(message.assignment_id, reasons[message.reason] ?? gettext("That microtask was taken back."));
});

socket.on("answer.ack", (message) => {
  sending.delete(message.assignment_id);
  if (message.status === "rejected") {
    notice = format(gettext("Your answer was not taken: %(reason)s."), { reason: rejectedReason(message) });
  } else {
    const done = queue.find((m) => m.assignment.id === message.assignment_id);
    if (message.status === "accepted") {
      answersGiven += done ? done.items.length : 1;
      setText("w-answers", answersGiven);
      addHistory(done ? done.job.name : format(gettext("microtask %(id)s"), { id: message.assignment_id }), "submitted");
      refreshEarnings();
    }
    notice = gettext("Thanks, answer saved.");
  }
  dropAssignment(message.assignment_id, notice);
});

// Earnings: re-read from the server (which writes the amounts with their currency) when money moves
// (`earnings.changed`: an accept, a bonus, a payout), after each acknowledged answer, and every 30 s in case a
// nudge was missed. Off the answer path: one small GET, at most one at a time.
const EARNINGS_EVERY_MS = 30_000;
let earningsLoading = false;
let earningsAgain = false;

async function refreshEarnings() {
  if (earningsLoading) {
    earningsAgain = true;
    return;
  }
  earningsLoading = true;
  try {
    const response = await fetch("/api/me/statement/?summary=1", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) {
      const body = await response.json();
      setText("w-today", body.text.earnings_today);
      setText("w-total", body.text.earnings_total);
      setText("w-pending", body.text.earnings_pending);
    }
  } catch {
    // Offline: the next tick tries again.
  } finally {
    earningsLoading = false;
    if (earningsAgain) {
      earningsAgain = false;
      refreshEarnings();
    }
  }
}

socket.on("earnings.changed", refreshEarnings);
setInterval(() => {
  if (document.visibilityState === "visible") refreshEarnings();
}, EARNINGS_EVERY_MS);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshEarnings();
});

socket.on("error", (message) => {
  notice = message.message || gettext("The server could not read that.");
  renderNotice();
});

// The history's badges, as the server writes them (Assignment.Status labels).
const STATUS_LABELS = { submitted: gettext("Submitted") };

// Why an answer was not taken (docs/PROTOCOL.md `answer.ack`), in the worker's words.
function rejectedReason(message) {
  const reasons = {
    no_longer_needed: gettext("enough people answered that microtask already"),
    not_your_lease: gettext("that microtask is no longer yours"),
    already_answered: gettext("you already answered that microtask"),
    skipped: gettext("you skipped that microtask"),
    blocked: gettext("you are blocked on its job"),
    retry: gettext("the server was busy; send it again"),
  };
  if (message.reason === "invalid" && message.message) return message.message;
  return reasons[message.reason] || gettext("it is no longer needed");
}

function addHistory(jobName, status) {
  const empty = $("history-empty");
  if (empty) empty.remove();
  const list = $("history");
  list.prepend(el("li", {}, el("span", { class: "history-job", text: jobName }), " ", el("span", { class: `badge status-${status}`, text: STATUS_LABELS[status] || status })));
  while (list.children.length > 20) list.lastElementChild.remove();
}

function dropAssignment(assignmentId, message) {
  const index = queue.findIndex((m) => m.assignment.id === assignmentId);
  if (index !== -1) queue.splice(index, 1);
  preloads.delete(assignmentId);
  notice = message || "";
  if (current && current.message.assignment.id === assignmentId) {
    current = null;
    showNext();
  } else {
    renderNotice();
  }
}

function showWaiting(text) {
  current = null;
  waitingText = text;
  taskRoot.replaceChildren(el("p", { id: "task-waiting", class: "muted", text }));
  renderNotice();
  timer.hidden = true;
  instructionsButton.disabled = true;
}

function showNext() {
  const message = queue.find((m) => !sending.has(m.assignment.id));
  if (!message) {
    showWaiting("Waiting for work…");
    socket.send({ type: "task.request" });
    return;
  }
  const view = renderTask(taskRoot, message, { prefix: `a${message.assignment.id}` });
  current = { message, view };
  preloads.delete(message.assignment.id);
  const actions = el(
    "div",
    { class: "task-actions" },
    el("button", { type: "submit", class: "primary", id: "submit-task", text: gettext("Submit (Enter)"), onclick: submit }),
    el("button", { type: "button", id: "skip-task", text: gettext("Skip (S)"), onclick: skip }),
  );
  taskRoot.append(actions, el("p", { id: "task-notice", class: "notice", role: "status" }));
  if (message.job.instructions && firstOfJob(message.job.id)) {
    // The first microtask of a job shows its instructions open above it (not a dialog: the keys keep working).
    taskRoot.prepend(
      el(
        "section",
        { class: "first-instructions", id: "first-instructions", "aria-label": gettext("Instructions for this job") },
        el("h3", { text: gettext("Instructions (shown on your first microtask of this job; press I to see them again)") }),
        el("p", { class: "prewrap", text: message.job.instructions }),
      ),
    );
  }
  $("instructions-text").textContent = message.job.instructions || gettext("No instructions for this job.");
  instructionsButton.disabled = false;
  renderNotice();
  tick();
  if (!view.isChoice) view.focusInput();
}

// Jobs whose first microtask this browser has shown, per worker (their instructions then stay in the dialog).
function firstOfJob(jobId) {
  const key = `quorum.instructions-seen.${workerId}`;
  let seen;
  try {
    seen = new Set(JSON.parse(localStorage.getItem(key) || "[]"));
  } catch {
    seen = new Set();
  }
  if (seen.has(jobId)) return false;
  seen.add(jobId);
  try {
    localStorage.setItem(key, JSON.stringify([...seen].slice(-500)));
  } catch {
    /* storage full or off: the instructions just show again next time */
  }
  return true;
}

function renderNotice() {
  const waiting = $("task-waiting");
  if (waiting) waiting.textContent = notice ? `${notice} ${waitingText}` : waitingText;
  const node = $("task-notice");
  if (node) node.textContent = notice;
}

function submit() {
  if (!current) return;
  const missing = current.view.missing();
  if (missing.length) {
    notice = missingNotice(missing[0], current);
    current.view.showMissing(missing[0]);
    renderNotice();
    return;
  }
  const id = current.message.assignment.id;
  sending.add(id);
  socket.submit({ type: "answer.submit", key: randomKey(), assignment_id: id, answers: current.view.answers() });
  notice = socket.isOpen ? gettext("Sending…") : gettext("Offline: your answer is sent when the connection is back.");
  current = null;
  showNext();
}

function missingNotice(entry, { message, view }) {
  const where = message.items.length > 1 ? format(gettext(" (item %(n)s)"), { n: entry.index + 1 }) : "";
  if (entry.message) return view.isForm ? `${entry.prompt}${where}: ${entry.message}` : `${entry.message.replace(/\.$/, "")}${where}.`;
  if (view.isForm) return format(gettext("Answer “%(question)s”%(where)s first."), { question: entry.prompt, where });
  return message.items.length === 1 ? gettext("Pick an answer first.") : format(gettext("Answer item %(n)s first."), { n: entry.index + 1 });
}

function skip() {
  if (!current) return;
  const id = current.message.assignment.id;
  socket.send({ type: "task.skip", assignment_id: id });
  dropAssignment(id, gettext("Skipped. You will not see that microtask again."));
}

function tick() {
  if (!current) {
    timer.hidden = true;
    return;
  }
  const left = (Date.parse(current.message.assignment.expires_at) - Date.now()) / 1000;
  timer.hidden = false;
  if (left <= 0) {
    timer.textContent = gettext("Time is up");
    timer.dataset.level = "out";
    return;
  }
  const minutes = Math.floor(left / 60);
  const seconds = Math.floor(left % 60);
  timer.textContent = format(gettext("%(time)s left"), { time: `${minutes}:${String(seconds).padStart(2, "0")}` });
  timer.dataset.level = left < 30 ? "low" : "ok";
}
setInterval(tick, 1000);

function openInstructions() {
  if (!instructionsButton.disabled && !dialog.open) dialog.showModal();
}
instructionsButton.addEventListener("click", openInstructions);

// The page's own keys; any other key goes first to the question in view (its key(event): arrows, labels...).
const PAGE_KEYS = new Set(["s", "S", "p", "P", "i", "I", "j", "J", "k", "K"]);

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || dialog.open) return;
  const target = event.target;
  const typing = target instanceof HTMLTextAreaElement || (target instanceof HTMLInputElement && ["text", "number", "search"].includes(target.type));
  if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
    if (target instanceof HTMLButtonElement && target.id !== "submit-task") return;
    event.preventDefault();
    submit();
    return;
  }
  if (typing || !current) return;
  if (!PAGE_KEYS.has(event.key) && event.key !== "Enter" && current.view.key(event)) {
    event.preventDefault();
    return;
  }
  if (event.altKey) return;
  if (/^[0-9]$/.test(event.key)) {
    if (current.view.pick(event.key)) event.preventDefault();
  } else if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    skip();
  } else if (event.key === "p" || event.key === "P") {
    if (current.view.togglePlay()) event.preventDefault();
  } else if (event.key === "i" || event.key === "I") {
    event.preventDefault();
    openInstructions();
  } else if (event.key === "ArrowDown" || event.key === "j") {
    event.preventDefault();
    current.view.next();
  } else if (event.key === "ArrowUp" || event.key === "k") {
    event.preventDefault();
    current.view.previous();
  }
});

socket.start();
