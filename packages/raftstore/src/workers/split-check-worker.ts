/**
 * Split-check worker: where to split a region that grew too large.
 *
 * Flow: peer split-check tick → `{worker: "splitCheck"}` task → `runSplitCheck` takes an engine
 * snapshot and walks the region's data families (raw `default`, and the transactional
 * `txn_default`, `write`, `lock`) together by user key, in chunks of `scanBatch` rows, yielding
 * between chunks so the raft worker keeps running → `SplitKeyFinder` places split keys
 * → the measured size and the split keys go back to the peer through the router
 * (`regionApproximateSize`).
 *
 * The rule (TinyKV's `sizeSplitChecker`, extended to several keys as TiKV's BatchSplit):
 * - each user key counts the `len(key) + len(value)` bytes of all its rows (raw value, MVCC
 *   versions, lock) and one key, so a split key is a user key, never between two versions;
 * - a split key is the first key at which the running size of the current piece would exceed
 *   regionSplitSize, or its key count regionSplitKeys; that key starts the next piece, so every
 *   piece holds at least one row and no split key equals the region's start key;
 * - keys are returned only if the region exceeds regionMaxSize or regionMaxKeys;
 * - the last key is dropped when the last two pieces together stay within the max limits (no
 *   sliver of a region at the end; with one key this is exactly "only when past the max");
 * - at most `batchSplitLimit` keys: the scan stops once it has that many and the last is
 *   certain to stay, so a huge region costs about limit × split size of reading, not all of it.
 *
 * The size reported is exact when the walk reached the end, otherwise the part walked plus an SQL
 * count (rows, not user keys) of the part not walked.
 */
import { cfKeyRange, userKeyOf, type ColumnFamily, type Engine, type EngineSnapshot } from "@regionkv/engine";
import type { metapb } from "@regionkv/proto";
import type { RaftstoreConfig } from "../config.js";
import type { Router } from "../router.js";

export interface SplitCheckLimits {
  /** Split only a region above this many default-CF bytes (or above maxKeys keys). */
  maxSize: number;
  /** A split key every splitSize bytes. Invariant: splitSize ≤ maxSize. */
  splitSize: number;
  maxKeys: number;
  /** A split key every splitKeys keys. Invariant: splitKeys ≤ maxKeys. */
  splitKeys: number;
  /** Most split keys per check (≥ 1). */
  batchSplitLimit: number;
  /** Rows read per chunk between yields (≥ 1). */
  scanBatch: number;
}

export function splitCheckLimits(cfg: RaftstoreConfig): SplitCheckLimits {
  return {
    maxSize: cfg.regionMaxSize,
    splitSize: cfg.regionSplitSize,
    maxKeys: cfg.regionMaxKeys,
    splitKeys: cfg.regionSplitKeys,
    batchSplitLimit: cfg.batchSplitLimit,
    scanBatch: cfg.splitCheckScanBatch,
  };
}

export interface SplitCheckResult {
  /** Bytes (key + value) of the region over every column family. */
  bytes: number;
  /** Keys of the region over every column family. */
  keys: number;
  /** Where to split, ascending, each strictly inside the region; empty: no split. */
  splitKeys: Buffer[];
  /** Whether the scan read the default CF to the region's end (false: stopped at the key limit). */
  scannedToEnd: boolean;
}

/** The reads a split check needs from an engine snapshot. */
export type SplitCheckView = Pick<EngineSnapshot, "scan" | "approximateSize">;

/**
 * Places split keys over rows fed in key order; no I/O. `onRow` returns true once reading more
 * cannot change the answer, `finish` applies the end rules.
 */
export class SplitKeyFinder {
  /** Totals of the rows fed so far. */
  bytes = 0;
  keys = 0;
  private readonly found: Buffer[] = [];
  /** The piece being filled: rows since the last split key (or the start). */
  private pieceBytes = 0;
  private pieceKeys = 0;
  /** The piece before it (zero before the first split key). */
  private prevBytes = 0;
  private prevKeys = 0;

  constructor(private readonly limits: SplitCheckLimits) {}

  onRow(key: Buffer, size: number): boolean {
    this.bytes += size;
    this.keys += 1;
    const l = this.limits;
    const full = this.pieceBytes + size > l.splitSize || this.pieceKeys + 1 > l.splitKeys;
    if (full && this.pieceKeys > 0 && this.found.length < l.batchSplitLimit) {
      this.found.push(key);
      this.prevBytes = this.pieceBytes;
      this.prevKeys = this.pieceKeys;
      this.pieceBytes = size;
      this.pieceKeys = 1;
    } else {
      this.pieceBytes += size;
      this.pieceKeys += 1;
    }
    return this.found.length >= l.batchSplitLimit && this.lastTwoPiecesOverMax();
  }

  /** The split keys, given whether the rows fed were all of the region. */
  finish(reachedEnd: boolean): Buffer[] {
    if (!reachedEnd) return [...this.found];
    const l = this.limits;
    if (this.bytes <= l.maxSize && this.keys <= l.maxKeys) return [];
    const out = [...this.found];
    if (out.length > 0 && !this.lastTwoPiecesOverMax()) out.pop();
    return out;
  }

  private lastTwoPiecesOverMax(): boolean {
    return this.prevBytes + this.pieceBytes > this.limits.maxSize || this.prevKeys + this.pieceKeys > this.limits.maxKeys;
  }
}

/** The smallest key after `key`. */
function nextKey(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

/** The column families holding user data, walked together by user key. */
const DATA_CFS: readonly ColumnFamily[] = ["default", "txn_default", "write", "lock"];

/** One column family's rows of the region, read in chunks, each with its user key. */
class CfCursor {
  private rows: Array<{ key: Buffer; user: Buffer; size: number }> = [];
  private pos = 0;
  private from: Buffer;
  private readonly end: Buffer;
  /** Whether the engine may hold rows after the chunk in hand. */
  private more = true;
  /** Chunks read so far (the runner yields after reading). */
  reads = 0;

  constructor(
    private readonly view: SplitCheckView,
    readonly cf: ColumnFamily,
    region: metapb.Region,
    private readonly batch: number,
  ) {
    const r = cfKeyRange(cf, region.startKey, region.endKey);
    this.from = r.start;
    this.end = r.end;
  }

  /** The next row, reading a chunk when the one in hand is used up; undefined at the end. */
  head(): { user: Buffer; size: number } | undefined {
    if (this.pos >= this.rows.length && this.more) this.read();
    return this.rows[this.pos];
  }

  take(): void {
    this.pos += 1;
  }

  get finished(): boolean {
    return this.pos >= this.rows.length && !this.more;
  }

  /** The byte range not taken yet (sized by SQL when the scan stops early). */
  unread(): { start: Buffer; end: Buffer } {
    return { start: this.pos < this.rows.length ? this.rows[this.pos]!.key : this.from, end: this.end };
  }

  private read(): void {
    const raw = this.view.scan(this.cf, this.from, this.end, { limit: this.batch });
    this.reads += 1;
    this.rows = raw.map((r) => {
      let user: Buffer;
      try {
        user = userKeyOf(this.cf, r.key);
      } catch {
        user = r.key; // a malformed key still counts toward the size
      }
      return { key: r.key, user, size: r.key.byteLength + r.value.byteLength };
    });
    this.pos = 0;
    this.more = raw.length === this.batch;
    if (raw.length > 0) this.from = nextKey(raw[raw.length - 1]!.key);
  }
}

/**
 * The split check as steps: each `next()` reads about one chunk per family; the return value is the result. Lets
 * the synchronous and the yielding runner share one scan.
 *
 * Every data column family is walked at once, merged by user key: all rows of one user key (its
 * raw value, its versions, its lock) count as one key of their summed size, so a split key is
 * always a user key and never falls between the versions of one.
 */
export function* splitCheckSteps(view: SplitCheckView, region: metapb.Region, limits: SplitCheckLimits): Generator<void, SplitCheckResult> {
  const finder = new SplitKeyFinder(limits);
  const batch = Math.max(1, limits.scanBatch);
  const cursors = DATA_CFS.map((cf) => new CfCursor(view, cf, region, batch));
  const reads = () => cursors.reduce((n, c) => n + c.reads, 0);
  for (;;) {
    const before = reads();
    let min: Buffer | undefined;
    for (const c of cursors) {
      const h = c.head();
      if (h && (min === undefined || Buffer.compare(h.user, min) < 0)) min = h.user;
    }
    if (min === undefined) break;
    // Every row of this user key, in every family (a chunk ending inside it is read on).
    let size = 0;
    for (const c of cursors) {
      for (let h = c.head(); h !== undefined && h.user.equals(min); h = c.head()) {
        size += h.size;
        c.take();
      }
    }
    if (finder.onRow(min, size) && cursors.some((c) => !c.finished)) {
      let bytes = finder.bytes;
      let keys = finder.keys;
      for (const c of cursors) {
        if (c.finished) continue;
        const u = c.unread();
        const rest = view.approximateSize(c.cf, u.start, u.end);
        bytes += rest.bytes;
        keys += rest.keys;
      }
      return { bytes, keys, splitKeys: finder.finish(false), scannedToEnd: false };
    }
    if (reads() !== before) yield;
  }
  return { bytes: finder.bytes, keys: finder.keys, splitKeys: finder.finish(true), scannedToEnd: true };
}

/** The bytes and keys of `region` over every data column family (SQL count, no scan). */
export function regionDataSize(view: Pick<EngineSnapshot, "approximateSize">, region: metapb.Region): { bytes: number; keys: number } {
  let bytes = 0;
  let keys = 0;
  for (const cf of DATA_CFS) {
    const r = cfKeyRange(cf, region.startKey, region.endKey);
    const s = view.approximateSize(cf, r.start, r.end);
    bytes += s.bytes;
    keys += s.keys;
  }
  return { bytes, keys };
}

/** The whole check on `view` at once (tests, small regions). */
export function scanSplitKeys(view: SplitCheckView, region: metapb.Region, limits: SplitCheckLimits): SplitCheckResult {
  const steps = splitCheckSteps(view, region, limits);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/**
 * Limits that cut a region of `bytes` default-CF bytes in two at about its middle (a scheduler's
 * split step without keys): one key, at the first row past half the size.
 */
export function halfSplitLimits(bytes: number, scanBatch: number): SplitCheckLimits {
  return { maxSize: 0, splitSize: Math.max(1, Math.ceil(bytes / 2)), maxKeys: Number.MAX_SAFE_INTEGER, splitKeys: Number.MAX_SAFE_INTEGER, batchSplitLimit: 1, scanBatch };
}

function report(router: Router, region: metapb.Region, r: SplitCheckResult, reason: string): void {
  router.send(Number(region.id), {
    type: "regionApproximateSize",
    bytes: r.bytes,
    keys: r.keys,
    splitKeys: r.splitKeys,
    version: region.regionEpoch?.version ?? 0n,
    reason,
  });
}

/**
 * The worker's runner: checks `region` on an engine snapshot, awaiting `yieldNow` between chunks,
 * and reports to the peer. `policy` "half" finds the key that halves the region instead of
 * applying the size limits. Returns the result, or undefined when the engine closed meanwhile
 * (nothing is reported then).
 */
export async function runSplitCheck(
  engine: Engine,
  router: Router,
  region: metapb.Region,
  limits: SplitCheckLimits,
  yieldNow: () => Promise<void>,
  policy: "size" | "half" = "size",
): Promise<SplitCheckResult | undefined> {
  const view = engine.snapshot();
  try {
    const l = policy === "half" ? halfSplitLimits(regionDataSize(view, region).bytes, limits.scanBatch) : limits;
    const steps = splitCheckSteps(view, region, l);
    for (;;) {
      const s = steps.next();
      if (s.done) {
        report(router, region, s.value, policy === "half" ? "half" : "size");
        return s.value;
      }
      await yieldNow();
      if (engine.isClosed) return undefined;
    }
  } finally {
    view.release();
  }
}
