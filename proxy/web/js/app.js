// The tooltool web page: search, a file's page, a batch's page, sign-in, and uploads.
// Views are addressed by the query string of "/" (?q=, ?file=, ?batch=, ?view=upload|sign-in),
// so each one has a shareable URL and back and forward work.
import { api, ApiError, credentials, forgetCredentials, parseCredentials, saveCredentials } from "./api.js";
import { h, link, replaceChildren, userText } from "./dom.js";
import { humanSize, localTime, manifest, messageWithBugLinks, shellQuote, shortDigest } from "./format.js";
import { announce, clearError, copyBlock, SIGNED_OUT, showError, state } from "./ui.js";
import { uploadView } from "./upload.js";

const main = document.getElementById("main");
const account = document.getElementById("account");
const searchInput = document.getElementById("search-input");

export function navigate(url) {
  history.pushState(null, "", url);
  render();
}

function heading(text) {
  return h("h1", { tabindex: "-1", id: "view-title" }, text);
}

function focusTitle() {
  const title = document.getElementById("view-title");
  if (title) title.focus({ preventScroll: false });
}

function loading(what) {
  replaceChildren(main, h("p", { class: "loading", "aria-busy": "true" }, `${what}…`));
}

// --- who is signed in -------------------------------------------------------------------

// Who is signed in; credentials the server refuses (expired, revoked) are forgotten, and the
// reason is returned to be shown.
async function loadWhoami() {
  let refused = null;
  try {
    state.whoami = (await api("GET", "/auth/whoami")).data;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !credentials()) throw error;
    forgetCredentials();
    state.whoami = (await api("GET", "/auth/whoami")).data;
    refused = `Your credentials were refused, so you are signed out: ${error.message}`;
  }
  renderAccount();
  return refused;
}

function renderAccount() {
  const who = state.whoami;
  if (who.clientId === null) {
    replaceChildren(
      account,
      h("span", { class: "who" }, "Not signed in"),
      link("/?view=sign-in", "Sign in"),
    );
    return;
  }
  const signOut = h("button", { type: "button", id: "sign-out" }, "Sign out");
  signOut.addEventListener("click", () => {
    forgetCredentials();
    state.whoami = SIGNED_OUT;
    announce("Signed out; the credentials are forgotten.");
    loadWhoami().then(render, showError);  // refusal is impossible: no credentials are left
  });
  replaceChildren(
    account,
    h("span", { class: "who", id: "signed-in-as" }, "Signed in as ", userText(who.clientId)),
    who.may.upload.length ? link("/?view=upload", "Upload") : null,
    signOut,
  );
}

function scopeList(scopes) {
  if (!scopes.length) return h("p", {}, "This client holds no tooltool scope.");
  return h("ul", { id: "scopes" }, scopes.map((scope) => h("li", {}, h("code", {}, scope))));
}

// --- views ------------------------------------------------------------------------------

function homeView(into) {
  replaceChildren(
    into,
    heading("tooltool"),
    h(
      "p",
      {},
      "Search for files by filename or digest prefix, and for uploads by author or message " +
        "(bug numbers included). Anonymous visitors see public files; sign in to see what your client may download.",
    ),
    state.whoami.clientId === null ? null : h("section", { "aria-labelledby": "scopes-title" }, h("h2", { id: "scopes-title" }, "Your scopes"), scopeList(state.whoami.scopes)),
  );
}

function visibilityBadge(visibility) {
  return h("span", { class: `badge ${visibility === "public" ? "public" : "internal"}` }, visibility);
}

function regions(file) {
  if (!file.has_instances) return h("span", { class: "gone" }, "bytes deleted");
  return file.instances && file.instances.length ? file.instances.join(", ") : "stored";
}

function downloadLink(file, filename) {
  if (!file.has_instances) return null;
  const href = `/sha512/${file.digest}`;
  if (file.visibility !== "public") {
    return h("span", { class: "hint" }, "needs credentials: use the commands on the file's page");
  }
  return h("a", { href, download: filename || file.digest }, "Download");
}

function fileTable(files) {
  const rows = files.map((file) =>
    h(
      "tr",
      {},
      h("td", { class: "names", "data-label": "Filenames" }, file.filenames.length ? file.filenames.map((name) => h("div", {}, userText(name))) : h("span", { class: "hint" }, "no filename")),
      h("td", { "data-label": "Digest" }, link(`/?file=${file.digest}`, h("code", { title: file.digest }, shortDigest(file.digest)))),
      h("td", { class: "number", "data-label": "Size" }, humanSize(file.size)),
      h("td", { "data-label": "Visibility" }, visibilityBadge(file.visibility)),
      h("td", { "data-label": "Regions" }, regions(file)),
      h("td", { "data-label": "Download" }, downloadLink(file, file.filenames[0])),
    ),
  );
  return h(
    "table",
    { class: "files", id: "file-results" },
    h("caption", { class: "visually-hidden" }, "Files"),
    h("thead", {}, h("tr", {}, ["Filenames", "Digest", "Size", "Visibility", "Regions", "Download"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows),
  );
}

function batchFiles(batch) {
  return h(
    "ul",
    { class: "batch-files" },
    Object.entries(batch.files).map(([name, file]) =>
      h(
        "li",
        {},
        link(`/?file=${file.digest}`, userText(name)),
        " ",
        h("span", { class: "hint" }, humanSize(file.size)),
        " ",
        visibilityBadge(file.visibility),
      ),
    ),
  );
}

function batchItem(batch, { expanded = false } = {}) {
  const count = Object.keys(batch.files).length;
  const filesId = `batch-${batch.id}-files`;
  const list = batchFiles(batch);
  list.id = filesId;
  list.hidden = !expanded;
  const toggle = h("button", { type: "button", class: "toggle", "aria-expanded": String(expanded), "aria-controls": filesId }, expanded ? "Hide files" : `Show ${count} ${count === 1 ? "file" : "files"}`);
  toggle.addEventListener("click", () => {
    list.hidden = !list.hidden;
    toggle.setAttribute("aria-expanded", String(!list.hidden));
    toggle.textContent = list.hidden ? `Show ${count} ${count === 1 ? "file" : "files"}` : "Hide files";
  });
  return h(
    "li",
    { class: "batch" },
    h("div", { class: "batch-head" }, link(`/?batch=${batch.id}`, localTime(batch.uploaded)), " by ", h("span", { class: "author" }, userText(batch.author))),
    h("p", {}, messageWithBugLinks(batch.message, state.config.bugUrl)),
    toggle,
    list,
  );
}

async function searchView(into, query) {
  searchInput.value = query;
  loading(`Searching for “${query}”`);
  const path = (base) => `${base}?q=${encodeURIComponent(query)}`;
  const [files, batches] = await Promise.all([api("GET", path("/file/search")), api("GET", path("/upload"))]);
  const fileResults = files.data.result;
  const batchResults = batches.data.result;
  replaceChildren(
    into,
    heading("Search results"),
    h("p", { class: "summary" }, `${fileResults.length} ${fileResults.length === 1 ? "file" : "files"} and ${batchResults.length} ${batchResults.length === 1 ? "upload" : "uploads"} for “`, userText(query), "”."),
    h("section", { "aria-labelledby": "files-title" }, h("h2", { id: "files-title" }, "Files"), fileResults.length ? h("div", { class: "scroll" }, fileTable(fileResults)) : h("p", {}, "No file matches.")),
    h("section", { "aria-labelledby": "batches-title" }, h("h2", { id: "batches-title" }, "Uploads"), batchResults.length ? h("ul", { class: "batches", id: "batch-results" }, batchResults.map((b) => batchItem(b))) : h("p", {}, "No upload matches.")),
  );
  announce(`${fileResults.length} files and ${batchResults.length} uploads found.`);
}

function fetchCommands(file, filename) {
  const origin = location.origin;
  const base = `${origin}/`;
  const auth = state.whoami.clientId !== null ? " --authentication-file AUTH_FILE" : "";
  const tooltool = `# with the entry above saved as manifest.tt\npython tooltool.py --url ${base}${auth} fetch`;
  const url = `${origin}/sha512/${file.digest}`;
  const curl =
    file.visibility === "public"
      ? `curl -L -o ${shellQuote(filename)} ${url}`
      : `curl -L -o ${shellQuote(filename)} -H "Authorization: Bearer $(cat TOKEN_FILE)" ${url}`;
  return [copyBlock("tooltool-command", "tooltool.py command", tooltool), copyBlock("curl-command", "curl command", curl)];
}

function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const yes = document.getElementById("confirm-yes");
    const no = document.getElementById("confirm-no");
    const done = (answer) => {
      yes.removeEventListener("click", onYes);
      no.removeEventListener("click", onNo);
      dialog.removeEventListener("cancel", onNo);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    yes.addEventListener("click", onYes);
    no.addEventListener("click", onNo);
    dialog.addEventListener("cancel", onNo);
    dialog.showModal();
    no.focus();
  });
}

function manageSection(file, filename, redraw) {
  if (!state.whoami.may.manage) return null;
  const other = file.visibility === "public" ? "internal" : "public";
  const result = h("p", { id: "manage-result", role: "status" });
  const act = async (question, operations, done) => {
    if (!(await confirmAction(question))) return;
    try {
      const answer = await api("PATCH", `/file/sha512/${file.digest}`, { body: operations });
      redraw(answer.data);
      announce(done);
      const shown = document.getElementById("manage-result");
      if (shown) shown.textContent = done;
    } catch (error) {
      showError(error);
    }
  };
  const name = `“${filename}” (${shortDigest(file.digest)})`;
  const visibility = h("button", { type: "button", id: "set-visibility" }, `Make ${other}`);
  visibility.addEventListener("click", () =>
    act(`Make ${name} ${other}?`, [{ op: "set_visibility", visibility: other }], `${filename} is now ${other}.`),
  );
  const remove = h("button", { type: "button", id: "delete-instances", class: "danger", disabled: !file.has_instances }, "Delete the stored bytes");
  remove.addEventListener("click", () =>
    act(
      `Delete the stored bytes of ${name}? Downloads will fail until it is uploaded again; its metadata stays.`,
      [{ op: "delete_instances" }],
      `The bytes of ${filename} are deleted.`,
    ),
  );
  return h("section", { "aria-labelledby": "manage-title" }, h("h2", { id: "manage-title" }, "Manage"), h("div", { class: "buttons" }, visibility, remove), result);
}

async function fileView(into, digest) {
  loading("Loading the file");
  const [file, batches] = await Promise.all([
    api("GET", `/file/sha512/${encodeURIComponent(digest)}`),
    api("GET", `/file/batches/sha512/${encodeURIComponent(digest)}`),
  ]);
  const uploads = batches.data.result;
  const names = [];
  for (const batch of uploads) {
    for (const [name, entry] of Object.entries(batch.files)) if (entry.digest === digest && !names.includes(name)) names.push(name);
  }
  const filename = names[0] || digest;
  const draw = (info) => {
    const facts = h(
      "dl",
      { class: "facts", id: "file-facts" },
      h("dt", {}, "Filenames"),
      h("dd", {}, names.length ? names.map((n) => h("div", {}, userText(n))) : "none recorded"),
      h("dt", {}, "Digest (sha512)"),
      h("dd", {}, h("code", { class: "digest" }, info.digest)),
      h("dt", {}, "Size"),
      h("dd", {}, info.size < 1024 ? humanSize(info.size) : `${humanSize(info.size)} (${info.size.toLocaleString()} bytes)`),
      h("dt", {}, "Visibility"),
      h("dd", { id: "file-visibility" }, visibilityBadge(info.visibility)),
      h("dt", {}, "Regions"),
      h("dd", { id: "file-regions" }, regions(info)),
      h("dt", {}, "Download"),
      h("dd", {}, downloadLink(info, filename) || "not available: the bytes were deleted"),
    );
    replaceChildren(
      into,
      heading("File"),
      h("p", { class: "subtitle" }, userText(filename)),
      facts,
      manageSection(info, filename, (updated) => {
        draw(updated);
      }),
      h(
        "section",
        { "aria-labelledby": "manifest-title" },
        h("h2", { id: "manifest-title" }, "manifest.tt entry"),
        copyBlock("manifest-entry", "manifest entry", manifest([{ ...info, filename }])),
      ),
      h("section", { "aria-labelledby": "fetch-title" }, h("h2", { id: "fetch-title" }, "Fetch it"), fetchCommands(info, filename)),
      h(
        "section",
        { "aria-labelledby": "uploads-title" },
        h("h2", { id: "uploads-title" }, "Uploaded in"),
        uploads.length ? h("ul", { class: "batches", id: "file-batches" }, uploads.map((b) => batchItem(b))) : h("p", {}, "No upload batch is recorded for this file."),
      ),
    );
  };
  draw(file.data);
}

async function batchView(into, id) {
  loading("Loading the upload");
  const batch = (await api("GET", `/upload/${encodeURIComponent(id)}`)).data;
  replaceChildren(into, heading("Upload"), h("ul", { class: "batches", id: "batch" }, batchItem(batch, { expanded: true })));
}

function signInView(into) {
  if (state.whoami.clientId !== null) {
    replaceChildren(
      into,
      heading("Signed in"),
      h("p", {}, "Signed in as ", userText(state.whoami.clientId), "."),
      scopeList(state.whoami.scopes),
    );
    return;
  }
  const fileInput = h("input", { type: "file", id: "auth-file", accept: ".json,.txt,application/json,text/plain" });
  const pasted = h("textarea", { id: "auth-text", rows: "4", spellcheck: "false", autocomplete: "off" });
  const form = h(
    "form",
    { id: "sign-in-form", class: "stack" },
    h("p", {}, "Use the authentication file you give tooltool.py (", h("code", {}, '{"clientId": …, "accessToken": …}'), ") or a Bearer token. It stays in this tab only and is forgotten when you sign out or close the tab."),
    h("label", { for: "auth-file" }, "Authentication file"),
    fileInput,
    h("label", { for: "auth-text" }, "or paste its contents"),
    pasted,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    try {
      const text = fileInput.files.length ? await fileInput.files[0].text() : pasted.value;
      saveCredentials(parseCredentials(text));
      pasted.value = "";
      fileInput.value = "";
      const who = await api("GET", "/auth/whoami");
      state.whoami = who.data;
      renderAccount();
      announce(`Signed in as ${state.whoami.clientId}.`);
      await render();
    } catch (error) {
      forgetCredentials();
      showError(error instanceof ApiError ? `Sign-in failed: ${error.message}` : error);
    }
  });
  replaceChildren(into, heading("Sign in"), form);
}

function notFoundView(into) {
  replaceChildren(into, heading("Nothing here"), h("p", {}, "This address names no view of this page. ", link("/", "Start again"), "."));
}

let generation = 0;

// Render the view the URL names. A view is built off the page and shown only if no newer
// navigation started meanwhile, so a slow answer never replaces a newer view.
export async function render() {
  const mine = ++generation;
  clearError();
  const into = h("div", { class: "view" });
  const params = new URLSearchParams(location.search);
  try {
    if (params.has("file")) await fileView(into, params.get("file"));
    else if (params.has("batch")) await batchView(into, params.get("batch"));
    else if (params.get("view") === "upload") uploadView(into, heading("Upload files"));
    else if (params.get("view") === "sign-in") signInView(into);
    else if (params.has("q")) await searchView(into, params.get("q"));
    else if ([...params.keys()].length === 0) homeView(into);
    else notFoundView(into);
  } catch (error) {
    if (mine !== generation) return;
    replaceChildren(into, heading("Something went wrong"));
    showError(error);
  }
  if (mine !== generation) return;
  replaceChildren(main, into);
  const title = into.querySelector("h1");
  document.title = title && title.textContent !== "tooltool" ? `${title.textContent} · tooltool` : "tooltool";
  focusTitle();
}

function wireNavigation() {
  document.addEventListener("click", (event) => {
    const anchor = event.target.closest("a[data-nav]");
    if (!anchor || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(anchor.href);
  });
  window.addEventListener("popstate", () => render());
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = searchInput.value.trim();
    if (query) navigate(`/?q=${encodeURIComponent(query)}`);
  });
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
}

async function start() {
  wireNavigation();
  let problem = null;
  try {
    state.config = (await api("GET", "/ui/config.json", { signed: false })).data;
    problem = await loadWhoami();
  } catch (error) {
    problem = error;
  }
  await render();
  if (problem) showError(problem);
  document.documentElement.dataset.ready = "true";
}

start();
