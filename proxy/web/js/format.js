// Formatting for people: sizes, times, bug links, manifest entries and shell commands.
import { h, userText } from "./dom.js";

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

export function humanSize(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function localTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return userText(iso);
  const text = date.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
  });
  return h("time", { datetime: date.toISOString() }, text);
}

const BUG = /\bbug\s*#?\s*(\d{1,9})\b/gi;

// The message as text, with each "Bug N" a link to the configured tracker.
export function messageWithBugLinks(message, bugUrl) {
  const parts = [];
  let last = 0;
  for (const match of message.matchAll(BUG)) {
    parts.push(message.slice(last, match.index));
    const url = bugUrl.replace("{}", match[1]);
    parts.push(h("a", { href: url, rel: "noopener noreferrer", class: "bug" }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(message.slice(last));
  return h("bdi", { class: "user-text message" }, ...parts);
}

// A manifest.tt as tooltool.py writes it (PROTOCOL.md §7): key order, 2-space indent.
export function manifest(records) {
  const ordered = records.map((r) => ({
    filename: r.filename,
    size: r.size,
    algorithm: r.algorithm || "sha512",
    digest: r.digest,
    visibility: r.visibility,
  }));
  return JSON.stringify(ordered, null, 2) + "\n";
}

export function shellQuote(text) {
  return /^[A-Za-z0-9_.\/:=@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

export function shortDigest(digest) {
  return `${digest.slice(0, 12)}…${digest.slice(-6)}`;
}
