// Calls to this proxy's API, signed with the tab's credentials (session storage only: never a
// cookie, never a URL), and errors in the API's own words (its `detail`).
import { hawkHeader } from "./hawk.js";

const CREDENTIALS_KEY = "tooltool.credentials";
const TIMEOUT_MS = 60_000;

export class ApiError extends Error {
  constructor(status, detail, headers) {
    super(detail);
    this.status = status;
    this.headers = headers;
  }
}

// An auth file as tooltool.py reads it: JSON {clientId, accessToken} is Hawk; anything else is a
// Bearer token (tooltool.py sends a non-JSON file as `Authorization: Bearer <contents>`).
export function parseCredentials(text) {
  const content = text.trim();
  if (!content) throw new Error("The authentication file is empty.");
  let parsed;
  try {
    parsed = JSON.parse(content);
  } catch {
    if (/\s/.test(content)) throw new Error("That is neither a tooltool.py JSON auth file nor a Bearer token.");
    return { kind: "bearer", token: content };
  }
  if (!parsed || typeof parsed.clientId !== "string" || typeof parsed.accessToken !== "string" || !parsed.clientId) {
    throw new Error('A JSON authentication file needs "clientId" and "accessToken" strings.');
  }
  return { kind: "hawk", clientId: parsed.clientId, accessToken: parsed.accessToken };
}

export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(CREDENTIALS_KEY));
  } catch {
    return null;
  }
}

export function saveCredentials(value) {
  sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(value));
}

export function forgetCredentials() {
  sessionStorage.removeItem(CREDENTIALS_KEY);
}

export async function authorization(method, url, body, contentType) {
  const held = credentials();
  if (!held) return null;
  if (held.kind === "bearer") return `Bearer ${held.token}`;
  return hawkHeader(held, method, url, body, contentType);
}

export async function api(method, path, { body, signed = true } = {}) {
  const url = new URL(path, location.origin);
  const headers = {};
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const auth = signed ? await authorization(method, url, payload, "application/json") : null;
  if (auth) headers.Authorization = auth;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  let text;
  try {
    response = await fetch(url, { method, headers, body: payload, cache: "no-store", credentials: "omit", signal: controller.signal });
    text = await response.text();
  } catch (error) {
    const why = controller.signal.aborted ? `no answer within ${TIMEOUT_MS / 1000} seconds` : error.message;
    throw new ApiError(0, `The server could not be reached (${why}).`);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `The server answered HTTP ${response.status}.`;
    throw new ApiError(response.status, detail, response.headers);
  }
  return { status: response.status, data, headers: response.headers };
}
