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

// A zip archive (media files and one CSV / JSON Lines file of items): its central directory, read from the end.
// Only what the preview needs: names, sizes, and the bytes of an entry (stored or deflated).
const ZIP_TAIL = 65536 + 22;
const DATA_NAME = /\.(csv|jsonl|ndjson|json)$/i;
const IMAGE_TYPES = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", avif: "image/avif" };
const PREVIEW_IMAGE_BYTES = 4 * 1024 * 1024;

async function zipEntries(file) {
  const tailStart = Math.max(0, file.size - ZIP_TAIL);
  const tail = new DataView(await file.slice(tailStart).arrayBuffer());
  let end = -1;
  for (let i = tail.byteLength - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end === -1) throw new Error("This is not a zip archive.");
  const count = tail.getUint16(end + 10, true);
  const size = tail.getUint32(end + 12, true);
  const offset = tail.getUint32(end + 16, true);
  if (offset === 0xffffffff || size > 16 * 1024 * 1024) throw new Error("No preview for an archive this large (zip64).");
  const dir = new DataView(await file.slice(offset, offset + size).arrayBuffer());
  const decoder = new TextDecoder();
  const entries = new Map();
  for (let p = 0, n = 0; n < count && p + 46 <= dir.byteLength; n++) {
    if (dir.getUint32(p, true) !== 0x02014b50) break;
    const method = dir.getUint16(p + 10, true);
    const packed = dir.getUint32(p + 20, true);
    const unpacked = dir.getUint32(p + 24, true);
    const nameLength = dir.getUint16(p + 28, true);
    const extraLength = dir.getUint16(p + 30, true);
    const commentLength = dir.getUint16(p + 32, true);
    const local = dir.getUint32(p + 42, true);
    const name = decoder.decode(new Uint8Array(dir.buffer, dir.byteOffset + p + 46, nameLength));
    if (!name.endsWith("/") && !name.startsWith("__MACOSX/")) entries.set(name, { name, method, packed, unpacked, local });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

async function zipEntryBlob(file, entry, type = "") {
  const header = new DataView(await file.slice(entry.local, entry.local + 30).arrayBuffer());
  const start = entry.local + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  const packed = file.slice(start, start + entry.packed);
  if (entry.method === 0) return new Blob([packed], { type });
  if (entry.method !== 8) throw new Error(`${entry.name}: compression method ${entry.method} has no preview.`);
  const stream = packed.stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Blob([await new Response(stream).arrayBuffer()], { type });
}

// Returns what sampleFile returns, plus `dataName` (the items file inside) and `mediaURL(name)`: a promise of a
// data: URL for a small image in the archive (the page's policy lets images come from data: URLs), else null.
export async function sampleArchive(file, maxRows = 8) {
  let entries;
  try {
    entries = await zipEntries(file);
  } catch (error) {
    return { columns: [], rows: [], estimatedRows: null, note: error.message, mediaURL: async () => null };
  }
  const data = [...entries.values()].filter((e) => DATA_NAME.test(e.name));
  if (data.length !== 1) {
    const note = data.length ? `The archive holds ${data.length} items files; it should hold one.` : "The archive holds no CSV or JSON Lines file of items.";
    return { columns: [], rows: [], estimatedRows: null, note, mediaURL: async () => null };
  }
  const inner = data[0];
  const sample = await sampleFile(new File([await zipEntryBlob(file, inner)], inner.name.split("/").pop()), maxRows);
  const cache = new Map();
  sample.dataName = inner.name;
  // The name as the server reads it (tasks/media.py normal_name): the path inside the archive, '/' between parts.
  const normalName = (name) => String(name).trim().normalize("NFC").replaceAll("\\", "/").replace(/^(\.\/)+/, "");
  sample.mediaURL = (name) => {
    const entry = entries.get(normalName(name));
    const type = entry && IMAGE_TYPES[entry.name.split(".").pop().toLowerCase()];
    if (!entry || !type || entry.unpacked > PREVIEW_IMAGE_BYTES) return Promise.resolve(null);
    if (!cache.has(entry.name)) {
      const read = zipEntryBlob(file, entry, type).then(
        (blob) =>
          new Promise((resolve) => {
            const reader = new FileReader();
            reader.onload = () => resolve(reader.result);
            reader.onerror = () => resolve(null);
            reader.readAsDataURL(blob);
          }),
        () => null,
      );
      cache.set(entry.name, read);
    }
    return cache.get(entry.name);
  };
  return sample;
}
