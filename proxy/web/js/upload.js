// Uploading from the browser, as tooltool.py uploads (PROTOCOL.md §4): hash each file with
// SHA-512 while reading it in pieces (in a worker), POST /upload, PUT each file to its put_url,
// then GET /upload/complete until the server has verified it; the manifest.tt at the end.
import { api, ApiError } from "./api.js";
import { h, link, replaceChildren, userText } from "./dom.js";
import { humanSize, manifest } from "./format.js";
import { announce, clearError, copyBlock, showError, state } from "./ui.js";

const COMPLETE_ATTEMPTS = 60;
const DEFAULT_RETRY_SECONDS = 5;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function progressRow(file) {
  const hashing = h("progress", { max: String(Math.max(file.size, 1)), value: "0", "aria-label": `Hashing ${file.name}` });
  const uploading = h("progress", { max: String(Math.max(file.size, 1)), value: "0", "aria-label": `Uploading ${file.name}` });
  const status = h("span", { class: "upload-status" }, "waiting");
  const row = h(
    "li",
    { class: "upload-row" },
    h("div", { class: "upload-name" }, userText(file.name), " ", h("span", { class: "hint" }, humanSize(file.size))),
    h("div", { class: "bars" }, h("span", {}, "Hashing"), hashing, h("span", {}, "Uploading"), uploading),
    status,
  );
  return { row, hashing, uploading, setStatus: (text) => (status.textContent = text) };
}

function hashInWorker(worker, id, file, onProgress) {
  return new Promise((resolve, reject) => {
    const listener = (event) => {
      const message = event.data;
      if (message.id !== id) return;
      if (message.digest || message.error) worker.removeEventListener("message", listener);
      if (message.digest) resolve(message.digest);
      else if (message.error) reject(new Error(`Reading ${file.name} failed: ${message.error}`));
      else onProgress(message.done);
    };
    worker.addEventListener("message", listener);
    worker.postMessage({ id, file });
  });
}

function storeRefusal(xhr) {
  try {
    const detail = JSON.parse(xhr.responseText).detail;
    if (typeof detail === "string") return detail;
  } catch {
    // An object store answers XML.
  }
  const xml = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
  const code = xml.querySelector("Code");
  const message = xml.querySelector("Message");
  return [code && code.textContent, message && message.textContent].filter(Boolean).join(": ") || "no reason given";
}

function unreachable(url, file) {
  const target = new URL(url);
  if (target.origin === location.origin) {
    return `The upload of ${file.name} was interrupted: the connection to the server failed.`;
  }
  return (
    `The browser could not send ${file.name} to the object store at ${target.origin}: the store refused the ` +
    `cross-origin request or could not be reached. The bucket needs a CORS rule allowing PUT from ` +
    `${location.origin} with the Content-Type header (README, "Web interface").`
  );
}

// A bare PUT as tooltool.py makes it: only Content-Type (and Content-Length, from the file).
function put(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status === 200) resolve();
      else reject(new Error(`The upload of ${file.name} was refused (HTTP ${xhr.status}: ${storeRefusal(xhr)}).`));
    });
    xhr.addEventListener("error", () => reject(new Error(unreachable(url, file))));
    xhr.addEventListener("abort", () => reject(new Error(`The upload of ${file.name} was cancelled.`)));
    xhr.send(file);
  });
}

async function complete(digest, file, setStatus) {
  for (let attempt = 1; attempt <= COMPLETE_ATTEMPTS; attempt += 1) {
    try {
      await api("GET", `/upload/complete/sha512/${digest}`);
      return;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409) throw error;
      const wait = Number(error.headers.get("X-Retry-After")) || DEFAULT_RETRY_SECONDS;
      setStatus(`the server has not received all of it yet; asking again in ${wait} s (${attempt} of ${COMPLETE_ATTEMPTS})`);
      await sleep(wait * 1000);
    }
  }
  throw new Error(`The server did not confirm ${file.name} after ${COMPLETE_ATTEMPTS} attempts; upload it again later.`);
}

async function runUpload(files, visibility, message, list, result, button) {
  const rows = files.map((file) => ({ file, ...progressRow(file) }));
  replaceChildren(list, rows.map((r) => r.row));
  replaceChildren(result);
  button.disabled = true;
  const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
  try {
    for (const [index, row] of rows.entries()) {
      row.setStatus("hashing");
      row.digest = await hashInWorker(worker, index, row.file, (done) => (row.hashing.value = done));
      row.hashing.value = row.hashing.max;
      row.setStatus("hashed");
    }
    const body = {
      message,
      files: Object.fromEntries(
        rows.map((r) => [r.file.name, { size: r.file.size, digest: r.digest, algorithm: "sha512", visibility }]),
      ),
    };
    const batch = (await api("POST", "/upload", { body })).data.result;
    for (const row of rows) {
      const putUrl = batch.files[row.file.name].put_url;
      if (putUrl) {
        row.setStatus("uploading");
        await put(putUrl, row.file, (done) => (row.uploading.value = done));
        row.uploading.value = row.uploading.max;
        row.setStatus("verifying");
        await complete(row.digest, row.file, row.setStatus);
        row.setStatus("done");
      } else {
        row.uploading.value = row.uploading.max;
        row.setStatus("already stored");
      }
      row.row.append(" ", link(`/?file=${row.digest}`, "file page"));
    }
    const entries = rows.map((r) => ({ filename: r.file.name, size: r.file.size, digest: r.digest, visibility }));
    replaceChildren(
      result,
      h("h2", { id: "upload-done", tabindex: "-1" }, "Uploaded"),
      h("p", {}, "Upload batch ", link(`/?batch=${batch.id}`, String(batch.id)), ". Its manifest.tt:"),
      copyBlock("upload-manifest", "manifest.tt", manifest(entries)),
    );
    document.getElementById("upload-done").focus();
    announce(`${rows.length} ${rows.length === 1 ? "file" : "files"} uploaded.`);
  } catch (error) {
    for (const row of rows) if (!["done", "already stored"].includes(row.row.querySelector(".upload-status").textContent)) row.setStatus("not uploaded");
    showError(error);
  } finally {
    worker.terminate();
    button.disabled = false;
  }
}

export function uploadView(main, title) {
  const allowed = state.whoami.may.upload;
  if (!allowed.length) {
    replaceChildren(
      main,
      title,
      h("p", {}, "Uploading needs a client holding an upload scope. ", link("/?view=sign-in", "Sign in"), " with one."),
    );
    return;
  }
  const filesInput = h("input", { type: "file", id: "upload-files", multiple: true, required: true });
  const visibilitySelect = h("select", { id: "upload-visibility" }, allowed.map((v) => h("option", { value: v }, v)));
  const messageInput = h("textarea", { id: "upload-message", rows: "3", required: true, "aria-describedby": "message-hint" });
  const button = h("button", { type: "submit", id: "upload-start" }, "Hash and upload");
  const list = h("ul", { id: "upload-progress", class: "upload-list", "aria-label": "Upload progress" });
  const result = h("section", { id: "upload-result" });
  const form = h(
    "form",
    { id: "upload-form", class: "stack" },
    h("label", { for: "upload-files" }, "Files to upload"),
    filesInput,
    h("label", { for: "upload-visibility" }, "Visibility"),
    visibilitySelect,
    h("label", { for: "upload-message" }, "Message"),
    messageInput,
    h("p", { id: "message-hint", class: "hint" }, "Why these files: name the bug, e.g. “Bug 1234567: clang 19 for Linux”."),
    button,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    const files = [...filesInput.files];
    const message = messageInput.value.trim();
    const names = new Set(files.map((f) => f.name));
    if (!files.length) return showError("Choose at least one file.");
    if (!message) return showError("A message is required: say why these files are uploaded.");
    if (names.size !== files.length) return showError("Two of the files have the same name; upload them in separate batches.");
    const tooBig = files.find((f) => f.size > state.config.maxFileBytes);
    if (tooBig) return showError(`${tooBig.name} is larger than this server accepts (${humanSize(state.config.maxFileBytes)}).`);
    runUpload(files, visibilitySelect.value, message, list, result, button);
  });
  replaceChildren(
    main,
    title,
    h("p", {}, "Each file is hashed here in the browser, then sent straight to its upload URL."),
    form,
    list,
    result,
  );
}
