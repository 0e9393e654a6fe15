// What every view shares: the deployment's settings, who is signed in, and where messages go.
import { h, replaceChildren } from "./dom.js";

const alertBox = document.getElementById("alert");
const statusLine = document.getElementById("status");

export const SIGNED_OUT = Object.freeze({ clientId: null, scopes: [], may: { download: [], upload: [], manage: false } });

export const state = {
  config: { bugUrl: "https://bugzilla.mozilla.org/show_bug.cgi?id={}", uploadsThroughProxy: true },
  whoami: SIGNED_OUT,
};

// For screen readers: a polite announcement of what just happened.
export function announce(text) {
  statusLine.textContent = text;
}

// Errors in words, where they are seen and read out (role=alert).
export function showError(error) {
  const text = error instanceof Error ? error.message : String(error);
  replaceChildren(alertBox, text);
  alertBox.hidden = false;
}

export function clearError() {
  alertBox.hidden = true;
  alertBox.replaceChildren();
}

// A block of text to copy (a manifest entry, a command), with its button.
export function copyBlock(id, label, text) {
  const pre = h("pre", { id, class: "copyable", tabindex: "0", "aria-label": label }, text);
  const button = h("button", { type: "button", class: "copy" }, `Copy ${label}`);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      announce(`${label} copied.`);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      announce("Copying is not allowed here; the text is selected, press Ctrl+C.");
    }
  });
  return h("div", { class: "copy-block" }, pre, button);
}
