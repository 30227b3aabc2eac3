/**
 * MVCC encoding (Percolator over three column families; tinykv.md §4.1):
 *
 *   lock    CF: raw user key            → Lock  (primary, kind, start ts, ttl)
 *   default CF: encodeKey(key, startTs) → the value written by the transaction that started at startTs
 *   write   CF: encodeKey(key, commitTs)→ Write (kind, start ts); a rollback sits at encodeKey(key, startTs)
 *
 * `encodeKey` = memcomparable `encodeBytes(key)` ++ 8-byte big-endian `~ts`, so versions of one key
 * sort together, newest first, and no encoded key is a prefix of another's encoding.
 *
 * Memcomparable bytes: the key in groups of 8 bytes, each followed by a marker byte 0xFF − pad
 * (pad = zero bytes added to fill the last group); a key whose length is a multiple of 8 ends
 * with an extra all-zero group (marker 0xF7). Byte-wise order of encodings = order of the keys.
 *
 * Timestamps are the scheduler's TSO: physical milliseconds << 18 | logical.
 */

/** Timestamps are unsigned 64-bit; `TS_MAX` reads the newest version of everything. */
export const TS_MAX = (1n << 64n) - 1n;
/** Bits of the logical part of a TSO timestamp. */
export const LOGICAL_BITS = 18n;

const GROUP = 8;
const MARKER = 0xff;

export class MvccCodecError extends Error {
  override readonly name = "MvccCodecError";
}

function checkTs(ts: bigint, what: string): void {
  if (ts < 0n || ts > TS_MAX) throw new MvccCodecError(`${what} ${ts} is not an unsigned 64-bit timestamp`);
}

/** The physical (millisecond) part of a timestamp, for TTL arithmetic. */
export function physicalTime(ts: bigint): bigint {
  return ts >> LOGICAL_BITS;
}

export function composeTs(physicalMs: bigint, logical: bigint): bigint {
  return (physicalMs << LOGICAL_BITS) | (logical & ((1n << LOGICAL_BITS) - 1n));
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
 * on a malformed encoding (bad marker, non-zero padding, truncated group).
 */
export function decodeBytes(buf: Uint8Array): { key: Buffer; read: number } {
  const parts: Buffer[] = [];
  let off = 0;
  for (;;) {
    if (off + GROUP + 1 > buf.length) throw new MvccCodecError(`memcomparable key truncated at byte ${off} of ${buf.length}`);
    const marker = buf[off + GROUP]!;
    const pad = MARKER - marker;
    if (pad < 0 || pad > GROUP) throw new MvccCodecError(`memcomparable key has a bad marker ${marker} at byte ${off + GROUP}`);
    const n = GROUP - pad;
    for (let i = n; i < GROUP; i++) {
      if (buf[off + i] !== 0) throw new MvccCodecError(`memcomparable key has non-zero padding at byte ${off + i}`);
    }
    parts.push(Buffer.from(buf.subarray(off, off + n)));
    off += GROUP + 1;
    if (pad !== 0) return { key: Buffer.concat(parts), read: off };
  }
}

/** The default/write-CF key of `key` at `ts`: versions of a key sort newest first. */
export function encodeKey(key: Uint8Array, ts: bigint): Buffer {
  checkTs(ts, "timestamp");
  const enc = encodeBytes(key);
  const out = Buffer.alloc(enc.length + 8);
  enc.copy(out, 0);
  out.writeBigUInt64BE(TS_MAX - ts, enc.length);
  return out;
}

/** The user key and timestamp of an encoded MVCC key. */
export function decodeKey(encoded: Uint8Array): { key: Buffer; ts: bigint } {
  const { key, read } = decodeBytes(encoded);
  if (encoded.length !== read + 8) throw new MvccCodecError(`MVCC key has ${encoded.length - read} bytes after the user key, expected 8 (the timestamp)`);
  const ts = TS_MAX - Buffer.from(encoded.buffer, encoded.byteOffset + read, 8).readBigUInt64BE(0);
  return { key, ts };
}

/** The user key of an encoded MVCC key (the split checker cuts between user keys). */
export function decodeUserKey(encoded: Uint8Array): Buffer {
  return decodeKey(encoded).key;
}
