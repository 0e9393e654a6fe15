// SHA-512 of a file read in pieces (Blob.slice), so that multi-gigabyte files are never held in
// memory at once. Web Crypto has no incremental digest; @noble/hashes (vendor/, MIT) has one.
import { sha512 } from "../vendor/noble-hashes/sha2.js";
import { bytesToHex } from "../vendor/noble-hashes/utils.js";

export const PIECE_BYTES = 8 * 1024 * 1024;

async function readPiece(blob, offset, pieceBytes) {
  return new Uint8Array(await blob.slice(offset, offset + pieceBytes).arrayBuffer());
}

// onProgress(doneBytes, totalBytes) after each piece. The next piece is read while this one is
// hashed.
export async function sha512File(blob, { pieceBytes = PIECE_BYTES, onProgress } = {}) {
  const hash = sha512.create();
  let offset = 0;
  let next = blob.size > 0 ? readPiece(blob, 0, pieceBytes) : null;
  while (next) {
    const piece = await next;
    if (piece.length === 0) throw new Error("The file became shorter while it was read.");
    offset += piece.length;
    next = offset < blob.size ? readPiece(blob, offset, pieceBytes) : null;
    hash.update(piece);
    if (onProgress) onProgress(offset, blob.size);
  }
  return bytesToHex(hash.digest());
}
