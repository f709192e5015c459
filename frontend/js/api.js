// Calls to the JSON API with the session cookie and the CSRF token; uploads with progress events.

import { csrfToken } from "./dom.js";

export async function apiJSON(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

// fetch() has no upload progress, so the file goes with XMLHttpRequest.
export function uploadFile(url, file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, data });
    });
    xhr.addEventListener("error", () => resolve({ ok: false, status: 0, data: { detail: "The connection failed." } }));
    xhr.send(form);
  });
}

// DRF error bodies ({field: [messages]}, {detail}, or nested ones such as {questions: [{}, {options: [...]}]}) as
// readable lines: "questions 2 options: ...".
export function errorLines(data) {
  if (!data) return ["Something went wrong."];
  if (typeof data === "string") return [data];
  if (data.detail) return [String(data.detail)];
  const lines = [];
  const walk = (where, value) => {
    if (value === null || value === undefined) return;
    if (typeof value !== "object") return lines.push(where ? `${where}: ${value}` : String(value));
    if (Array.isArray(value) && value.every((v) => typeof v !== "object" || v === null)) return lines.push(`${where}: ${value.join(" ")}`);
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i + 1), v]) : Object.entries(value);
    for (const [key, inner] of entries) walk(where ? `${where} ${key}` : key, inner);
  };
  walk("", data);
  return lines.length ? lines : ["Something went wrong."];
}
