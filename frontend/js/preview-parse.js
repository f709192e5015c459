// Reads the first rows of a file in the browser, for the preview and the column mapping. The server parses
// the whole file again on upload; this only has to be right for the first rows.

const SAMPLE_BYTES = 256 * 1024;
const WHOLE_JSON_LIMIT = 8 * 1024 * 1024;

// RFC 4180: quoted fields may hold commas, doubled quotes and newlines.
export function parseCSV(text, maxRows) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length && rows.length < maxRows; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  // A last line without a newline counts only if the sample held the whole file.
  if ((field || row.length) && rows.length < maxRows) rows.push([...row, field]);
  return rows;
}

function kindOf(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  if (lower.endsWith(".json")) return "json";
  return "csv";
}

// Returns {columns, rows (objects), estimatedRows, note}.
export async function sampleFile(file, maxRows = 8) {
  const kind = kindOf(file.name);
  const whole = file.size <= SAMPLE_BYTES;
  const text = await file.slice(0, SAMPLE_BYTES).text();
  let records = [];
  let sampledLines = 0;
  if (kind === "csv") {
    const table = parseCSV(text, whole ? Infinity : 2000);
    const header = table.shift() || [];
    const complete = whole ? table : table.slice(0, -1);
    sampledLines = complete.length;
    records = complete.filter((r) => r.length > 1 || r[0] !== "").map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""])));
  } else if (kind === "jsonl") {
    const lines = text.split(/\r?\n/);
    if (!whole) lines.pop();
    const nonEmpty = lines.filter((l) => l.trim());
    sampledLines = nonEmpty.length;
    for (const line of nonEmpty.slice(0, maxRows)) {
      try {
        records.push(JSON.parse(line));
      } catch {
        return { columns: [], rows: [], estimatedRows: null, note: "The first lines are not valid JSON." };
      }
    }
  } else {
    if (file.size > WHOLE_JSON_LIMIT) return { columns: [], rows: [], estimatedRows: null, note: "No preview for JSON arrays this large; JSON Lines previews at any size." };
    try {
      const all = JSON.parse(await file.text());
      records = Array.isArray(all) ? all : [];
      sampledLines = records.length;
    } catch {
      return { columns: [], rows: [], estimatedRows: null, note: "The file is not valid JSON." };
    }
  }
  const columns = [];
  for (const record of records.slice(0, 200)) for (const key of Object.keys(record || {})) if (!columns.includes(key)) columns.push(key);
  const bytesRead = Math.min(file.size, SAMPLE_BYTES);
  const estimatedRows = whole || kind === "json" ? sampledLines : Math.round((sampledLines * file.size) / bytesRead);
  return { columns, rows: records.slice(0, Math.max(maxRows, 50)), estimatedRows, note: "" };
}
