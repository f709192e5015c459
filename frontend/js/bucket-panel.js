// The job page's bucket panel: start an import from a bucket prefix or a results export to one
// (/api/jobs/<id>/imports/ and /exports/, docs/STORAGE.md), and list them with their status. The list is read
// again over HTTP whenever a job.bucket event says one moved. The secret goes to the server once, never back.

import { apiJSON, errorLines } from "./api.js";
import { $, el, setText } from "./dom.js";

const ACTIONS = {
  "import-rows": { path: "imports", extra: () => ({ kind: "rows" }) },
  "import-media": { path: "imports", extra: () => ({ kind: "media" }) },
  "export-done": { path: "exports", extra: () => ({ when: "done", format: $("bucket-format").value }) },
  "export-now": { path: "exports", extra: () => ({ when: "now", format: $("bucket-format").value }) },
};
const FIELDS = ["endpoint_url", "region", "bucket", "prefix", "access_key_id", "secret"];

function describe(run, direction) {
  const where = `s3://${run.bucket}/${run.prefix}`;
  if (direction === "import") {
    const what = run.kind === "media" ? "media" : "items";
    let text = `Import of ${what} from ${where}: ${run.status}`;
    if (run.status === "done") text += `, ${run.items_created} items`;
    else if (run.files_total) text += ` (${run.files_done} of ${run.files_total} files)`;
    return text;
  }
  let text = `Results to ${where}: ${run.status}`;
  if (run.status === "done") text += ` (s3://${run.bucket}/${run.key})`;
  if (run.status === "waiting") text += " for the job to be done";
  return text;
}

function errorText(error) {
  if (!error) return "";
  const where = [error.file, error.line ? `line ${error.line}` : "", error.field ? `field '${error.field}'` : ""];
  const place = where.filter(Boolean).join(", ");
  return place && !error.message.includes(error.file) ? `${place}: ${error.message}` : error.message;
}

export function bucketPanel(jobId, socket) {
  const form = $("bucket-form");
  const list = $("bucket-runs");
  if (!form || !list) return;

  async function refresh() {
    const [imports, exports] = await Promise.all([
      apiJSON("GET", `/api/jobs/${jobId}/imports/`),
      apiJSON("GET", `/api/jobs/${jobId}/exports/`),
    ]);
    const runs = [
      ...((imports.ok && imports.data.results) || []).map((run) => ({ run, direction: "import" })),
      ...((exports.ok && exports.data.results) || []).map((run) => ({ run, direction: "export" })),
    ].sort((a, b) => (a.run.created_at < b.run.created_at ? 1 : -1));
    list.replaceChildren(
      ...runs.map(({ run, direction }) =>
        el(
          "li",
          { "data-status": run.status },
          describe(run, direction),
          run.error ? el("div", { class: "error", text: errorText(run.error) }) : null,
        ),
      ),
    );
  }

  const chosen = $("bucket-action");
  const format = $("bucket-format");
  format.disabled = true;
  chosen.addEventListener("change", () => {
    format.disabled = !chosen.value.startsWith("export");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = ACTIONS[chosen.value];
    const body = Object.fromEntries(FIELDS.map((name) => [name, form.elements.namedItem(name).value]));
    setText("bucket-text", "Starting…");
    const result = await apiJSON("POST", `/api/jobs/${jobId}/${action.path}/`, { ...body, ...action.extra() });
    if (result.ok) {
      form.elements.namedItem("secret").value = "";
      setText("bucket-text", "Started.");
      refresh();
    } else {
      setText("bucket-text", errorLines(result.data).join(" "));
    }
  });
  socket.on("job.bucket", () => refresh());
  refresh();
}
