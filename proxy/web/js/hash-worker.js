// Hashes files off the page's thread: {id, file} in; {id, done, total} progress and then
// {id, digest} or {id, error} out.
import { sha512File } from "./hash.js";

self.addEventListener("message", async (event) => {
  const { id, file } = event.data;
  try {
    const digest = await sha512File(file, { onProgress: (done, total) => self.postMessage({ id, done, total }) });
    self.postMessage({ id, digest });
  } catch (error) {
    self.postMessage({ id, error: String((error && error.message) || error) });
  }
});
