/**
 * The limits of the client-facing KV API, checked at the edge (before anything reaches raft).
 * A request over a limit is refused with gRPC INVALID_ARGUMENT and a message that names the
 * limit, the offending size and what to do. The raft entry limit (`maxRaftEntryBytes`) stays the
 * last line of defence for what these checks let through.
 */

/** Largest key, in bytes. */
export const MAX_KEY_BYTES = 8 * 1024;
/** Largest value, in bytes. */
export const MAX_VALUE_BYTES = 4 * 1024 * 1024;
/** Most keys (or pairs) in one batch request. */
export const MAX_BATCH_KEYS = 10_000;
/** Most payload bytes (keys + values) in one batch write; below the raft entry limit. */
export const MAX_BATCH_BYTES = 6 * 1024 * 1024;
/** Largest scan limit. */
export const MAX_SCAN_LIMIT = 10_000;
/** Longest lock TTL a transaction may ask for (heartbeats extend a live transaction's lock). */
export const MAX_LOCK_TTL_MS = 60 * 60 * 1000;
/** Largest gRPC message a store accepts (a full batch plus headroom). */
export const MAX_GRPC_MESSAGE_BYTES = 16 * 1024 * 1024;

/** A failed check: the message for INVALID_ARGUMENT. */
export type LimitViolation = string;

const KIB = 1024;

function size(n: number): string {
  return n >= 1024 * KIB ? `${(n / (1024 * KIB)).toFixed(n % (1024 * KIB) === 0 ? 0 : 2)} MiB` : n >= KIB ? `${(n / KIB).toFixed(n % KIB === 0 ? 0 : 2)} KiB` : `${n} B`;
}

/** A key must be non-empty and at most MAX_KEY_BYTES. */
export function checkKey(key: Uint8Array, what = "key"): LimitViolation | undefined {
  if (key.byteLength === 0) return `${what} is empty: keys must be at least 1 byte`;
  if (key.byteLength > MAX_KEY_BYTES) {
    return `${what} is ${size(key.byteLength)}, over the key size limit of ${size(MAX_KEY_BYTES)} (MAX_KEY_BYTES): use a shorter key`;
  }
  return undefined;
}

/** A value may be empty, and at most MAX_VALUE_BYTES. */
export function checkValue(value: Uint8Array): LimitViolation | undefined {
  if (value.byteLength > MAX_VALUE_BYTES) {
    return `value is ${size(value.byteLength)}, over the value size limit of ${size(MAX_VALUE_BYTES)} (MAX_VALUE_BYTES): split it over several keys`;
  }
  return undefined;
}

/** A batch has 1..MAX_BATCH_KEYS entries and at most MAX_BATCH_BYTES of payload. */
export function checkBatch(count: number, bytes: number): LimitViolation | undefined {
  if (count === 0) return "the batch is empty: send at least one key";
  if (count > MAX_BATCH_KEYS) return `the batch has ${count} keys, over the batch limit of ${MAX_BATCH_KEYS} (MAX_BATCH_KEYS): send several smaller batches`;
  if (bytes > MAX_BATCH_BYTES) {
    return `the batch carries ${size(bytes)}, over the batch size limit of ${size(MAX_BATCH_BYTES)} (MAX_BATCH_BYTES): send several smaller batches`;
  }
  return undefined;
}

/** A scan limit is 1..MAX_SCAN_LIMIT (0 is allowed by the wire contract and returns nothing). */
export function checkScanLimit(limit: number): LimitViolation | undefined {
  if (limit > MAX_SCAN_LIMIT) return `scan limit ${limit} is over the scan limit of ${MAX_SCAN_LIMIT} (MAX_SCAN_LIMIT): page through the range with several scans`;
  return undefined;
}

/** `[start, end)` is a valid range: start < end unless end is empty (+∞). */
export function checkRange(start: Uint8Array, end: Uint8Array, what: string): LimitViolation | undefined {
  if (start.byteLength > MAX_KEY_BYTES || end.byteLength > MAX_KEY_BYTES) return `${what} bound is over the key size limit of ${size(MAX_KEY_BYTES)} (MAX_KEY_BYTES)`;
  if (end.byteLength > 0 && Buffer.compare(start, end) >= 0) return `${what} range is empty or inverted: start must sort before end (an empty end means "to the end of the key space")`;
  return undefined;
}

/** A transactional request must name its region (the client routes it). */
export function checkContext(ctx: { regionId: bigint } | undefined): LimitViolation | undefined {
  if (!ctx || ctx.regionId === 0n) return "context.region_id is missing: route the request with the region from the scheduler";
  return undefined;
}

/** A TSO timestamp field must be set (non-zero). */
export function checkTs(ts: bigint, field: string): LimitViolation | undefined {
  if (ts === 0n) return `${field} is 0: take a timestamp from the scheduler's TSO`;
  return undefined;
}

/** The keys of a commit, rollback, resolve or secondary-lock check: a non-empty batch of valid keys. */
export function checkKeys(keys: readonly Uint8Array[]): LimitViolation | undefined {
  const batch = checkBatch(keys.length, keys.reduce((n, k) => n + k.byteLength, 0));
  if (batch) return batch;
  for (const k of keys) {
    const v = checkKey(k);
    if (v) return v;
  }
  return undefined;
}

/** A lock TTL is 1 ms .. MAX_LOCK_TTL_MS. */
export function checkLockTtl(ttl: bigint): LimitViolation | undefined {
  if (ttl === 0n) return "lock_ttl is 0: a lock needs a time to live so that others can clean it up if the client dies";
  if (ttl > BigInt(MAX_LOCK_TTL_MS)) return `lock_ttl ${ttl} ms is over the limit of ${MAX_LOCK_TTL_MS} ms (MAX_LOCK_TTL_MS): keep a long transaction alive with heartbeats instead`;
  return undefined;
}

/** Mutation kinds a prewrite accepts: Put, Del, Lock, Insert, CheckNotExists. */
export function checkMutationOp(op: number): LimitViolation | undefined {
  if (op === 0 || op === 1 || op === 2 || op === 4 || op === 6) return undefined;
  return `mutation op ${op} is not one of Put (0), Del (1), Lock (2), Insert (4), CheckNotExists (6)`;
}

/** The raw API works on the default column family only; the others belong to transactions. */
export function checkRawCf(cf: string): LimitViolation | undefined {
  if (cf === "" || cf === "default") return undefined;
  return `column family "${cf}" is not available to the raw API: use "" or "default" ("lock" and "write" belong to the transactional API)`;
}

/** TTLs are not supported yet (leases arrive with the watch/lease work). */
export function checkTtl(ttl: bigint): LimitViolation | undefined {
  if (ttl === 0n) return undefined;
  return `ttl ${ttl} is not supported by this store: send ttl 0 (keys without expiry)`;
}
