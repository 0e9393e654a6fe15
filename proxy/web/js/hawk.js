// Hawk request signing as tooltool.py does it (PROTOCOL.md §5; the server checks it in
// proxy/auth.py): HMAC-SHA256 with the accessToken over Hawk 1's normalized string, whose
// resource is path plus query and whose host and port are those the request goes to; a payload
// hash only when there is a body; no ext. Web Crypto only: the token never leaves this tab.

const encoder = new TextEncoder();

function base64(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text);
}

function subtle() {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error("Signing requests needs a secure page: open this page over https (or on localhost).");
  }
  return crypto.subtle;
}

export function nonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return base64(bytes).replaceAll("+", "-").replaceAll("/", "_").slice(0, 6);
}

export async function payloadHash(contentType, body) {
  const normalized = `hawk.1.payload\n${contentType}\n${body}\n`;
  return base64(await subtle().digest("SHA-256", encoder.encode(normalized)));
}

export async function hawkHeader({ clientId, accessToken }, method, url, body, contentType, nowMs = Date.now()) {
  const ts = String(Math.floor(nowMs / 1000));
  const once = nonce();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const hash = body === undefined ? "" : await payloadHash(contentType, body);
  const normalized = ["hawk.1.header", ts, once, method.toUpperCase(), url.pathname + url.search, url.hostname, port, hash, "", ""]
    .join("\n");
  const key = await subtle().importKey("raw", encoder.encode(accessToken), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = base64(await subtle().sign("HMAC", key, encoder.encode(normalized)));
  return `Hawk mac="${mac}"${hash ? `, hash="${hash}"` : ""}, id="${clientId}", ts="${ts}", nonce="${once}"`;
}
