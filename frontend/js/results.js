// The results and item pages of a job whose questions show the item's own columns (docs/ANNOTATION.md): each
// such result is drawn by its question type (spans on the text, boxes on the image, a pair's preferred side), and
// a job that ranks candidates gets its ranking table (GET /api/jobs/<id>/ranking/) and the ranking export.

import { $, el, readJSON } from "./dom.js";
import { questionType } from "./questions/index.js";

const context = readJSON("annotation-context");

function drawResults() {
  const byName = new Map(context.questions.map((q) => [q.name, q]));
  for (const cell of document.querySelectorAll("[data-question]")) {
    const holder = cell.closest("[data-item]");
    const item = holder && context.items[holder.dataset.item];
    const question = byName.get(cell.dataset.question);
    const type = question && questionType(question.type);
    if (!item || !type || !type.showResult) continue;
    const result = item.results[question.name];
    if (result === undefined || result === null) continue;
    const view = el("div", { class: "annotation-result" });
    if (type.showResult(view, question, result, { item, blocks: context.display })) cell.replaceChildren(view);
  }
}

const number = (value, places) => (typeof value === "number" && Number.isFinite(value) ? value.toFixed(places) : "–");

function rankingTable(group) {
  const head = ["Rank", "Candidate", "Score", "Std. error", "Wins", "Losses", "Ties", "Comparisons"];
  const numeric = new Set([0, 2, 3, 4, 5, 6, 7]);
  return el(
    "table",
    { class: "table compact ranking" },
    el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: numeric.has(i) ? "num" : "", text: h })))),
    el(
      "tbody",
      {},
      ...(group.candidates || []).map((c) =>
        el(
          "tr",
          {},
          el("td", { class: "num", text: c.rank ?? "–" }),
          el("td", { class: "item-text", text: typeof c.candidate === "string" ? c.candidate : JSON.stringify(c.candidate) }),
          el("td", { class: "num", text: number(c.score, 3) }),
          el("td", { class: "num", text: number(c.std_error, 3) }),
          el("td", { class: "num", text: c.wins ?? "–" }),
          el("td", { class: "num", text: c.losses ?? "–" }),
          el("td", { class: "num", text: c.ties ?? "–" }),
          el("td", { class: "num", text: c.comparisons ?? "–" }),
        ),
      ),
    ),
  );
}

async function drawRanking() {
  const section = $("ranking");
  if (!section || !context.questions.some((q) => questionType(q.type)?.ranksCandidates)) return;
  section.hidden = false;
  const actions = document.querySelector(".page-head .actions");
  if (actions) actions.append(el("a", { class: "button", id: "download-ranking", href: `/api/jobs/${context.job}/export/?format=ranking&spreadsheet=1`, download: "", text: "Export ranking (CSV)" }));
  const body = $("ranking-body");
  let data = null;
  try {
    const response = await fetch(`/api/jobs/${context.job}/ranking/`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    data = response.ok ? await response.json() : null;
  } catch {
    data = null;
  }
  if (!data || !Array.isArray(data.groups)) {
    body.replaceChildren(el("p", { class: "muted", text: "The ranking is not available yet." }));
    return;
  }
  const groups = data.groups.filter((g) => (g.candidates || []).length);
  if (!groups.length) {
    body.replaceChildren(el("p", { class: "muted", text: "No comparisons answered yet." }));
    return;
  }
  const method = { noisy_bt: "Bradley-Terry with worker reliability", bt: "Bradley-Terry" }[data.method] || data.method || "";
  body.replaceChildren(
    method ? el("p", { class: "muted", text: `By ${method}. Score: log strength, centred on 0 in its group.` }) : "",
    ...groups.map((g) =>
      el("div", { class: "ranking-group" }, groups.length > 1 || (g.group !== null && g.group !== "") ? el("h3", { text: `Group ${g.group ?? ""}`.trim() }) : null, el("div", { class: "scroll-x" }, rankingTable(g))),
    ),
  );
}

if (context) {
  drawResults();
  drawRanking();
}
