/**
 * MVCC encoding (Percolator over three column families; tinykv.md §4.1; key layouts of every
 * family in @regionkv/engine keys.ts):
 *
 *   lock        CF: raw user key             → Lock  (primary, kind, start ts, ttl, …)
 *   txn_default CF: encodeKey(key, startTs)  → the value written by the transaction that started at startTs
 *   write       CF: encodeKey(key, commitTs) → Write (kind, start ts); a rollback sits at encodeKey(key, startTs)
 *
 * `encodeKey` = memcomparable `encodeBytes(key)` ++ 8-byte big-endian `~ts`, so versions of one key
 * sort together, newest first, and no encoded key is a prefix of another's encoding. (TinyKV calls
 * the value family "default"; here it is `txn_default`, apart from the raw API's `default`.)
 *
 * Timestamps are the scheduler's TSO: physical milliseconds << 18 | logical.
 */
import { KeyCodecError, decodeBytes, encodeBytes } from "@regionkv/engine";
import { TS_MAX } from "@regionkv/proto";

export { decodeBytes, encodeBytes };
/** Malformed MVCC keys and timestamps (the engine's key codec error). */
export { KeyCodecError as MvccCodecError };
const MvccCodecError = KeyCodecError;

/** The TSO timestamp layout (`@regionkv/proto` timestamp.ts), under the names this package uses. */
export { PHYSICAL_SHIFT_BITS as LOGICAL_BITS, TS_MAX, composeTs, physicalMs as physicalTime } from "@regionkv/proto";

function checkTs(ts: bigint, what: string): void {
  if (ts < 0n || ts > TS_MAX) throw new MvccCodecError(`${what} ${ts} is not an unsigned 64-bit timestamp`);
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
