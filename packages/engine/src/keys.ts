/**
 * How each column family lays out its keys, and the memcomparable encoding the MVCC column
 * families use. Region boundaries are user keys; every range operation on a column family
 * (snapshots, deletes, size checks) and every key-in-region check goes through `cfKeyRange` /
 * `userKeyOf` so that it compares like with like.
 *
 *   default     raw-API data: the user key itself
 *   lock        transaction locks: the user key itself (one lock per key, no version)
 *   write       commit/rollback records: encodeBytes(user key) ++ 8-byte version
 *   txn_default transaction values: encodeBytes(user key) ++ 8-byte version
 *
 * The versioned families cannot store the raw user key followed by a timestamp: "a"++ts would
 * interleave with the user key "a\0…" and compare differently from a region boundary than "a"
 * does. Memcomparable bytes keep order (a < b ⇔ enc(a) < enc(b)) and are prefix-free, so for a
 * region [s, e) a user key k is inside exactly when enc(s) ≤ enc(k) ++ anything < enc(e).
 * Raw-API data keeps its own family so the two key spaces never share one ordered range.
 *
 * Memcomparable bytes: the key in groups of 8 bytes, each followed by a marker byte 0xFF − pad
 * (pad = zero bytes added to fill the last group); a key whose length is a multiple of 8 ends
 * with an extra all-zero group (marker 0xF7).
 */
import type { ColumnFamily } from "./column-family.js";

const GROUP = 8;
const MARKER = 0xff;
/** Bytes of the version after the encoded user key in a versioned column family. */
export const VERSION_BYTES = 8;

export class KeyCodecError extends Error {
  override readonly name: string = "KeyCodecError";
}

/** Memcomparable encoding of `key`. */
export function encodeBytes(key: Uint8Array): Buffer {
  const groups = Math.floor(key.length / GROUP) + 1;
  const out = Buffer.alloc(groups * (GROUP + 1));
  for (let g = 0; g < groups; g++) {
    const from = g * GROUP;
    const n = Math.min(GROUP, key.length - from);
    out.set(key.subarray(from, from + n), g * (GROUP + 1));
    out[g * (GROUP + 1) + GROUP] = MARKER - (GROUP - n);
  }
  return out;
}

/**
 * Decode a memcomparable key at the start of `buf`: the key and how many bytes it took. Throws
 * KeyCodecError on a malformed encoding (bad marker, non-zero padding, truncated group).
 */
export function decodeBytes(buf: Uint8Array): { key: Buffer; read: number } {
  const parts: Buffer[] = [];
  let off = 0;
  for (;;) {
    if (off + GROUP + 1 > buf.length) throw new KeyCodecError(`memcomparable key truncated at byte ${off} of ${buf.length}`);
    const marker = buf[off + GROUP]!;
    const pad = MARKER - marker;
    if (pad < 0 || pad > GROUP) throw new KeyCodecError(`memcomparable key has a bad marker ${marker} at byte ${off + GROUP}`);
    const n = GROUP - pad;
    for (let i = n; i < GROUP; i++) {
      if (buf[off + i] !== 0) throw new KeyCodecError(`memcomparable key has non-zero padding at byte ${off + i}`);
    }
    parts.push(Buffer.from(buf.subarray(off, off + n)));
    off += GROUP + 1;
    if (pad !== 0) return { key: Buffer.concat(parts), read: off };
  }
}

/** Whether the family's keys are encodeBytes(user key) ++ version. */
export function isVersionedCf(cf: ColumnFamily): boolean {
  return cf === "write" || cf === "txn_default";
}

/**
 * The byte range of `cf` holding the user keys [start, end) (empty end = unbounded, as for
 * regions): the range itself for the raw families, the encoded bounds for the versioned ones.
 */
export function cfKeyRange(cf: ColumnFamily, start: Uint8Array, end: Uint8Array): { start: Buffer; end: Buffer } {
  if (!isVersionedCf(cf)) return { start: Buffer.from(start), end: Buffer.from(end) };
  return { start: start.length === 0 ? Buffer.alloc(0) : encodeBytes(start), end: end.length === 0 ? Buffer.alloc(0) : encodeBytes(end) };
}

/** The user key a key of `cf` belongs to. Throws KeyCodecError for a malformed versioned key. */
export function userKeyOf(cf: ColumnFamily, key: Uint8Array): Buffer {
  if (!isVersionedCf(cf)) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const { key: user, read } = decodeBytes(key);
  if (key.length !== read + VERSION_BYTES) {
    throw new KeyCodecError(`a "${cf}" key must be a memcomparable user key followed by an ${VERSION_BYTES}-byte version; this one has ${key.length - read} bytes after the user key`);
  }
  return user;
}
