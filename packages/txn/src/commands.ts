/**
 * One transactional command per KV RPC, on one region (tinykv.md §4.3; TiKV's storage
 * scheduler). Flow of a writing command:
 *
 *   latches on its keys (sorted, FIFO: commands on the same keys run one at a time on this store)
 *   → a ReadIndex view of the region (`TxnStorage.snapshot`) → the rules of actions.ts on an
 *   MvccTxn → its WriteBatch proposed as ONE raft command at the view's epoch and term
 *   → latches released once that command applied or certainly will not.
 *
 * Reads take no latches: they raise the store's max_ts and check its memory locks
 * (concurrency.ts) first, then read a view. Keys outside the view's region are KeyNotInRegion.
 * Results are the kvrpcpb responses; region errors travel in them, other failures throw
 * (TxnStorageError from the storage; programming errors).
 */
import type { WriteBatch } from "@regionkv/engine";
import { kvrpcpb, type errorpb, type metapb } from "@regionkv/proto";
import { clampToRegion, keyInRange, keyInRegion, regionErrorToPb } from "@regionkv/raftstore";
import {
  checkPrewrite,
  checkSecondaryLocks,
  checkTxnStatus,
  commitKey,
  lockedError,
  lockInfo,
  readKey,
  rollbackKey,
  writeOnePc,
  writePrewrite,
  type KeyError,
  type PrewriteMutation,
} from "./actions.js";
import { decodeUserKey, encodeBytes } from "./codec.js";
import { ConcurrencyManager, type MemoryLock } from "./concurrency.js";
import { gcRegion, type GcStats } from "./gc.js";
import { Latches } from "./latches.js";
import { MvccReader, MvccTxn, afterAllVersions, type MvccView } from "./mvcc.js";
import { decodeLock, type Lock } from "./records.js";
import type { TxnScope, TxnSnapshot, TxnStorage } from "./storage.js";

/** Locks resolved per raft command by KvResolveLock over a whole region. */
export const RESOLVE_BATCH = 256;
/** Most locks KvScanLock returns when the request asks for 0 (no limit). */
export const SCAN_LOCK_DEFAULT_LIMIT = 1024;

export interface TxnCommandsOptions {
  storage: TxnStorage;
  concurrency?: ConcurrencyManager;
  latches?: Latches;
}

const EMPTY = Buffer.alloc(0);

type RegionFailure = { regionError: errorpb.Error };

function notInRegion(key: Buffer, region: metapb.Region): RegionFailure {
  return { regionError: regionErrorToPb({ kind: "KeyNotInRegion", key, regionId: region.id, startKey: region.startKey, endKey: region.endKey }) };
}

function firstOutside(keys: readonly Buffer[], region: metapb.Region): Buffer | undefined {
  return keys.find((k) => !keyInRegion(k, region));
}

function dedupe(keys: readonly Buffer[]): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const k of keys) {
    const id = k.toString("hex");
    if (!seen.has(id)) {
      seen.add(id);
      out.push(k);
    }
  }
  return out;
}

function resolvedOf(ctx: kvrpcpb.Context | undefined): Set<bigint> {
  return new Set(ctx?.resolvedLocks ?? []);
}

function requireContext(ctx: kvrpcpb.Context | undefined): kvrpcpb.Context {
  if (!ctx) throw new Error("request without a context");
  return ctx;
}

export class TxnCommands {
  readonly storage: TxnStorage;
  readonly cm: ConcurrencyManager;
  readonly latches: Latches;
  /** The newest GC safe point this store has collected at: no transaction may start at or below it. */
  private gcSafePoint = 0n;

  constructor(opts: TxnCommandsOptions) {
    this.storage = opts.storage;
    this.cm = opts.concurrency ?? new ConcurrencyManager();
    this.latches = opts.latches ?? new Latches();
  }

  // ---- reads --------------------------------------------------------------------------------

  /** Raise the GC safe point this store enforces (from the scheduler, or a GC it ran). */
  noteGcSafePoint(safePoint: bigint): void {
    if (safePoint > this.gcSafePoint) this.gcSafePoint = safePoint;
  }

  /** A read below the GC safe point may miss collected versions: refused. */
  private tooOld(version: bigint): kvrpcpb.KeyError | undefined {
    if (version >= this.gcSafePoint || version === 0n) return undefined;
    return { kind: { $case: "abort", value: `snapshot too old: read ts ${version} is below the GC safe point ${this.gcSafePoint}; versions it needs may be collected, start a new transaction` } };
  }

  async get(req: kvrpcpb.GetRequest, scope: TxnScope): Promise<kvrpcpb.GetResponse> {
    const old = this.tooOld(req.version);
    if (old) return { regionError: undefined, error: old, value: EMPTY, notFound: false };
    const resolved = resolvedOf(req.context);
    const mem = this.cm.onRead(req.version, [req.key], resolved)[0];
    if (mem) return { regionError: undefined, error: lockedError(mem.key, mem.lock), value: EMPTY, notFound: false };
    return this.withView<kvrpcpb.GetResponse>(req.context, scope, [req.key], (snap) => {
      const r = readKey(new MvccReader(snap.view), req.key, req.version, resolved);
      if ("error" in r) return { regionError: undefined, error: r.error, value: EMPTY, notFound: false };
      return { regionError: undefined, error: undefined, value: r.value ?? EMPTY, notFound: r.value === undefined };
    }, (f) => ({ ...f, error: undefined, value: EMPTY, notFound: false }));
  }

  async batchGet(req: kvrpcpb.BatchGetRequest, scope: TxnScope): Promise<kvrpcpb.BatchGetResponse> {
    const keys = dedupe(req.keys);
    const old = this.tooOld(req.version);
    if (old) return { regionError: undefined, pairs: keys.map((key) => ({ error: old, key, value: EMPTY })) };
    const resolved = resolvedOf(req.context);
    const mem = byKey(this.cm.onRead(req.version, keys, resolved));
    return this.withView<kvrpcpb.BatchGetResponse>(req.context, scope, keys, (snap) => {
      const reader = new MvccReader(snap.view);
      const pairs: kvrpcpb.KvPair[] = [];
      for (const key of keys) {
        const m = mem.get(key.toString("hex"));
        if (m) {
          pairs.push({ error: lockedError(key, m.lock), key, value: EMPTY });
          continue;
        }
        const r = readKey(reader, key, req.version, resolved);
        if ("error" in r) pairs.push({ error: r.error, key, value: EMPTY });
        else if (r.value !== undefined) pairs.push({ error: undefined, key, value: r.value });
      }
      return { regionError: undefined, pairs };
    }, (f) => ({ ...f, pairs: [] }));
  }

  async scan(req: kvrpcpb.ScanRequest, scope: TxnScope): Promise<kvrpcpb.ScanResponse> {
    const old = this.tooOld(req.version);
    if (old) return { regionError: undefined, pairs: [{ error: old, key: req.startKey, value: EMPTY }] };
    const resolved = resolvedOf(req.context);
    const [lo, hi] = req.reverse ? [req.endKey, req.startKey] : [req.startKey, req.endKey];
    const mem = byKey(this.cm.onRead(req.version, [], resolved, { start: lo, end: hi }));
    return this.withView<kvrpcpb.ScanResponse>(req.context, scope, [], (snap) => {
      const range = clampToRegion(lo, hi, snap.region);
      if (req.limit === 0 || !range) return { regionError: undefined, pairs: [] };
      const { start, end } = range;
      const pairs: kvrpcpb.KvPair[] = [];
      const reader = new MvccReader(snap.view);
      const memKeys = [...mem.values()].map((m) => m.key).filter((key) => keyInRange(key, start, end));
      for (const key of withMemoryLocked(userKeys(snap.view, start, end, req.reverse), memKeys, req.reverse)) {
        const m = mem.get(key.toString("hex"));
        if (m) {
          pairs.push({ error: lockedError(key, m.lock), key, value: EMPTY });
        } else {
          const r = readKey(reader, key, req.version, resolved);
          if ("error" in r) pairs.push({ error: r.error, key, value: EMPTY });
          else if (r.value !== undefined) pairs.push({ error: undefined, key, value: req.keyOnly ? EMPTY : r.value });
          else continue;
        }
        if (pairs.length >= req.limit) break;
      }
      return { regionError: undefined, pairs };
    }, (f) => ({ ...f, pairs: [] }));
  }

  async scanLock(req: kvrpcpb.ScanLockRequest, scope: TxnScope): Promise<kvrpcpb.ScanLockResponse> {
    return this.withView<kvrpcpb.ScanLockResponse>(req.context, scope, [], (snap) => {
      const limit = req.limit === 0 ? SCAN_LOCK_DEFAULT_LIMIT : req.limit;
      const locks = scanLocks(snap, req.startKey, req.endKey, limit, (l) => l.startTs <= req.maxVersion).map(({ key, lock }) => lockInfo(key, lock));
      return { regionError: undefined, error: undefined, locks };
    }, (f) => ({ ...f, error: undefined, locks: [] }));
  }

  // ---- writes -------------------------------------------------------------------------------

  async prewrite(req: kvrpcpb.PrewriteRequest, scope: TxnScope): Promise<kvrpcpb.PrewriteResponse> {
    const failed = (f: RegionFailure): kvrpcpb.PrewriteResponse => ({ ...f, errors: [], minCommitTs: 0n, onePcCommitTs: 0n });
    // Last mutation of a key wins.
    const byKey = new Map<string, PrewriteMutation>();
    for (const m of req.mutations) byKey.set(m.key.toString("hex"), { op: m.op, key: m.key, value: m.value });
    const mutations = [...byKey.values()];
    const startTs = req.startVersion;
    if (startTs <= this.gcSafePoint) {
      return { regionError: undefined, errors: [{ kind: { $case: "abort", value: `start ts ${startTs} is at or below the GC safe point ${this.gcSafePoint}: versions it would read may be gone; restart the transaction` } }], minCommitTs: 0n, onePcCommitTs: 0n };
    }
    let release: (() => void) | undefined;
    try {
      return await this.withWrite<kvrpcpb.PrewriteResponse>(req.context, scope, mutations.map((m) => m.key), async (snap) => {
        let useAsync = req.useAsyncCommit;
        let onePc = req.tryOnePc;
        if ((useAsync || onePc) && !this.cm.isSynced(snap.region.id, snap.term)) await this.cm.sync(snap.region.id, snap.term, () => this.storage.tso());
        const txn = new MvccTxn(snap.view, startTs);
        const params = { primary: req.primaryLock, startTs, ttlMs: req.lockTtl, minCommitTs: req.minCommitTs, secondaries: useAsync ? req.secondaries : undefined };
        const errors: KeyError[] = [];
        const toWrite: Array<{ m: PrewriteMutation; lock: Lock }> = [];
        // A re-sent prewrite: the min commit ts of our async-commit locks already there, and our
        // commit ts where the transaction is already committed; answered again, not as 0.
        let resentMin = 0n;
        let committedTs = 0n;
        for (const m of mutations) {
          const r = checkPrewrite(txn, m, params);
          if (r === "skip") continue;
          if ("error" in r) errors.push(r.error);
          else if ("existing" in r) {
            if (r.existing.secondaries !== undefined && r.existing.minCommitTs > resentMin) resentMin = r.existing.minCommitTs;
          } else if ("committed" in r) {
            if (r.committed > committedTs) committedTs = r.committed;
          } else toWrite.push({ m, lock: r.lock });
        }
        if (errors.length > 0) return { batch: undefined, response: { regionError: undefined, errors, minCommitTs: 0n, onePcCommitTs: 0n } };
        let commitTs = 0n;
        if ((useAsync || onePc) && toWrite.length > 0) {
          // Memory locks first, then the timestamp: a read arriving from now on either raised
          // max_ts before we read it, or meets the memory lock.
          const memLocks: MemoryLock[] = toWrite.map(({ m, lock }) => ({ key: m.key, lock }));
          release = this.cm.lockInMemory(memLocks);
          let min = this.cm.maxTs + 1n;
          if (startTs + 1n > min) min = startTs + 1n;
          if (req.minCommitTs > min) min = req.minCommitTs;
          if (req.maxCommitTs !== 0n && min > req.maxCommitTs) {
            // Declined: plain 2PC locks (the client commits as 2PC).
            release();
            release = undefined;
            useAsync = false;
            onePc = false;
            for (const w of toWrite) w.lock = { ...w.lock, secondaries: undefined };
          } else {
            commitTs = min;
            for (const w of toWrite) w.lock.minCommitTs = min;
          }
        }
        for (const { m, lock } of toWrite) {
          if (onePc) writeOnePc(txn, m, lock, commitTs);
          else writePrewrite(txn, m, lock);
        }
        return {
          batch: txn.writes,
          response: {
            regionError: undefined,
            errors: [],
            minCommitTs: useAsync && !onePc ? maxTs(commitTs, resentMin, committedTs) : 0n,
            onePcCommitTs: onePc ? maxTs(commitTs, committedTs) : 0n,
          },
        };
      }, failed);
    } finally {
      release?.();
    }
  }

  async commit(req: kvrpcpb.CommitRequest, scope: TxnScope): Promise<kvrpcpb.CommitResponse> {
    const keys = dedupe(req.keys);
    if (req.commitVersion <= req.startVersion) {
      return { regionError: undefined, error: { kind: { $case: "abort", value: `commit ts ${req.commitVersion} is not above start ts ${req.startVersion}` } } };
    }
    return this.withWrite<kvrpcpb.CommitResponse>(req.context, scope, keys, (snap) => {
      const txn = new MvccTxn(snap.view, req.startVersion);
      for (const key of keys) {
        const err = commitKey(txn, key, req.commitVersion);
        if (err) return { batch: undefined, response: { regionError: undefined, error: err } };
      }
      return { batch: txn.writes, response: { regionError: undefined, error: undefined } };
    }, (f) => ({ ...f, error: undefined }));
  }

  async batchRollback(req: kvrpcpb.BatchRollbackRequest, scope: TxnScope): Promise<kvrpcpb.BatchRollbackResponse> {
    const keys = dedupe(req.keys);
    return this.withWrite<kvrpcpb.BatchRollbackResponse>(req.context, scope, keys, (snap) => {
      const txn = new MvccTxn(snap.view, req.startVersion);
      for (const key of keys) {
        const err = rollbackKey(txn, key);
        if (err) return { batch: undefined, response: { regionError: undefined, error: err } };
      }
      return { batch: txn.writes, response: { regionError: undefined, error: undefined } };
    }, (f) => ({ ...f, error: undefined }));
  }

  async checkTxnStatus(req: kvrpcpb.CheckTxnStatusRequest, scope: TxnScope): Promise<kvrpcpb.CheckTxnStatusResponse> {
    // The caller's timestamp counts as a read: an async-commit prewrite after this must commit above it.
    this.cm.updateMaxTs(req.callerStartTs);
    return this.withWrite<kvrpcpb.CheckTxnStatusResponse>(req.context, scope, [req.primaryKey], (snap) => {
      const txn = new MvccTxn(snap.view, req.lockTs);
      const s = checkTxnStatus(txn, req.primaryKey, req.callerStartTs, req.currentTs, req.rollbackIfNotExist);
      return { batch: txn.writes, response: { regionError: undefined, ...s } };
    }, (f) => ({ ...f, error: undefined, lockTtl: 0n, commitVersion: 0n, action: kvrpcpb.Action.NoAction, lockInfo: undefined }));
  }

  async checkSecondaryLocks(req: kvrpcpb.CheckSecondaryLocksRequest, scope: TxnScope): Promise<kvrpcpb.CheckSecondaryLocksResponse> {
    const keys = dedupe(req.keys);
    return this.withWrite<kvrpcpb.CheckSecondaryLocksResponse>(req.context, scope, keys, (snap) => {
      const txn = new MvccTxn(snap.view, req.startVersion);
      const r = checkSecondaryLocks(txn, keys);
      return { batch: txn.writes, response: { regionError: undefined, error: undefined, locks: r.locks, commitTs: r.commitTs } };
    }, (f) => ({ ...f, error: undefined, locks: [], commitTs: 0n }));
  }

  async txnHeartBeat(req: kvrpcpb.TxnHeartBeatRequest, scope: TxnScope): Promise<kvrpcpb.TxnHeartBeatResponse> {
    return this.withWrite<kvrpcpb.TxnHeartBeatResponse>(req.context, scope, [req.primaryLock], (snap) => {
      const txn = new MvccTxn(snap.view, req.startVersion);
      const lock = txn.reader.getLock(req.primaryLock);
      if (!lock || lock.startTs !== req.startVersion) {
        return {
          batch: undefined,
          response: { regionError: undefined, error: { kind: { $case: "txnNotFound", value: { startTs: req.startVersion, primaryKey: req.primaryLock } } }, lockTtl: 0n },
        };
      }
      if (req.adviseLockTtl > lock.ttlMs) {
        txn.putLock(req.primaryLock, { ...lock, ttlMs: req.adviseLockTtl });
        return { batch: txn.writes, response: { regionError: undefined, error: undefined, lockTtl: req.adviseLockTtl } };
      }
      return { batch: undefined, response: { regionError: undefined, error: undefined, lockTtl: lock.ttlMs } };
    }, (f) => ({ ...f, error: undefined, lockTtl: 0n }));
  }

  async resolveLock(req: kvrpcpb.ResolveLockRequest, scope: TxnScope): Promise<kvrpcpb.ResolveLockResponse> {
    const failed = (f: RegionFailure): kvrpcpb.ResolveLockResponse => ({ ...f, error: undefined });
    const resolveKeys = (keys: Buffer[]) =>
      this.withWrite<kvrpcpb.ResolveLockResponse>(req.context, scope, keys, (snap) => {
        const txn = new MvccTxn(snap.view, req.startVersion);
        for (const key of keys) {
          const lock = txn.reader.getLock(key);
          if (!lock || lock.startTs !== req.startVersion) continue; // resolved meanwhile
          const err = req.commitVersion > 0n ? commitKey(txn, key, req.commitVersion) : rollbackKey(txn, key);
          if (err) return { batch: undefined, response: { regionError: undefined, error: err } };
        }
        return { batch: txn.writes, response: { regionError: undefined, error: undefined } };
      }, failed);
    if (req.keys.length > 0) return resolveKeys(dedupe(req.keys));
    // Every lock of the transaction in the region, a batch per raft command.
    for (;;) {
      const found = await this.withView<{ regionError: errorpb.Error | undefined; keys: Buffer[] }>(req.context, scope, [], (snap) => ({
        regionError: undefined,
        keys: scanLocks(snap, EMPTY, EMPTY, RESOLVE_BATCH, (l) => l.startTs === req.startVersion).map((x) => x.key),
      }), (f) => ({ ...f, keys: [] as Buffer[] }));
      if (found.regionError) return failed({ regionError: found.regionError });
      if (found.keys.length === 0) return { regionError: undefined, error: undefined };
      const r = await resolveKeys(found.keys);
      if (r.regionError || r.error || found.keys.length < RESOLVE_BATCH) return r;
    }
  }

  async gc(req: kvrpcpb.GCRequest, scope: TxnScope): Promise<kvrpcpb.GCResponse & { stats?: GcStats }> {
    this.noteGcSafePoint(req.safePoint);
    const stats = await gcRegion(this.storage, requireContext(req.context), req.safePoint, scope);
    if ("regionError" in stats) return { regionError: stats.regionError, error: undefined };
    return { regionError: undefined, error: undefined, stats };
  }

  // ---- plumbing -----------------------------------------------------------------------------

  /** Run `fn` on a view of the region; keys outside it are KeyNotInRegion. */
  private async withView<R>(
    ctx: kvrpcpb.Context | undefined,
    scope: TxnScope,
    keys: readonly Buffer[],
    fn: (snap: TxnSnapshot) => R,
    failed: (f: RegionFailure) => R,
  ): Promise<R> {
    const s = await this.storage.snapshot(requireContext(ctx), scope);
    if (!s.ok) return failed({ regionError: s.regionError });
    try {
      const outside = firstOutside(keys, s.snapshot.region);
      if (outside) return failed(notInRegion(outside, s.snapshot.region));
      return fn(s.snapshot);
    } finally {
      s.snapshot.release();
    }
  }

  /**
   * Latch `keys`, take a view, let `fn` decide, propose its batch (if any) as one raft command,
   * release the latches after. The response is `fn`'s, or the region error of the view or the write.
   */
  private async withWrite<R>(
    ctx: kvrpcpb.Context | undefined,
    scope: TxnScope,
    keys: readonly Buffer[],
    fn: (snap: TxnSnapshot) => { batch: WriteBatch | undefined; response: R } | Promise<{ batch: WriteBatch | undefined; response: R }>,
    failed: (f: RegionFailure) => R,
  ): Promise<R> {
    const context = requireContext(ctx);
    const guard = await this.latches.acquire(keys);
    try {
      const s = await this.storage.snapshot(context, scope);
      if (!s.ok) return failed({ regionError: s.regionError });
      let decided: { batch: WriteBatch | undefined; response: R };
      try {
        const outside = firstOutside(keys, s.snapshot.region);
        if (outside) return failed(notInRegion(outside, s.snapshot.region));
        decided = await fn(s.snapshot);
      } finally {
        s.snapshot.release();
      }
      if (!decided.batch || decided.batch.isEmpty) return decided.response;
      const w = await this.storage.write(context, s.snapshot, decided.batch);
      if (!w.ok) return failed({ regionError: w.regionError });
      return decided.response;
    } finally {
      guard.release();
    }
  }
}

/** Locks in [start, end) ∩ the view's region that pass `keep`, in key order, at most `limit`. */
function scanLocks(snap: TxnSnapshot, start: Buffer, end: Buffer, limit: number, keep: (l: Lock) => boolean): Array<{ key: Buffer; lock: Lock }> {
  const out: Array<{ key: Buffer; lock: Lock }> = [];
  const range = clampToRegion(start, end, snap.region);
  if (!range) return out;
  let from = range.start;
  const to = range.end;
  for (;;) {
    if (to.length > 0 && Buffer.compare(from, to) >= 0) return out;
    const rows = snap.view.scan("lock", from, to, { limit: 256 });
    for (const r of rows) {
      const lock = decodeLock(r.value);
      if (keep(lock)) out.push({ key: r.key, lock });
      if (out.length >= limit) return out;
    }
    if (rows.length < 256) return out;
    from = Buffer.concat([rows[rows.length - 1]!.key, Buffer.from([0])]);
  }
}

function maxTs(...ts: bigint[]): bigint {
  return ts.reduce((a, b) => (b > a ? b : a), 0n);
}

function byKey(locks: readonly MemoryLock[]): Map<string, MemoryLock> {
  return new Map(locks.map((m) => [m.key.toString("hex"), m]));
}

/**
 * `keys` (in scan order) merged with the memory-locked keys `extra`, each once: a key an in-flight
 * prewrite is writing may have nothing in the view yet, and must still be reported as locked.
 */
function* withMemoryLocked(keys: Iterable<Buffer>, extra: readonly Buffer[], reverse: boolean): Generator<Buffer> {
  const order = (a: Buffer, b: Buffer) => (reverse ? Buffer.compare(b, a) : Buffer.compare(a, b));
  const pending = [...extra].sort(order);
  let i = 0;
  for (const key of keys) {
    while (i < pending.length && order(pending[i]!, key) < 0) yield pending[i++]!;
    if (i < pending.length && order(pending[i]!, key) === 0) i++;
    yield key;
  }
  while (i < pending.length) yield pending[i++]!;
}

/**
 * The user keys in [start, end) that have a lock or any version, in order (reverse: descending).
 * Merges the lock family and the write family, one row at a time from each; a family is read on
 * only after its head was used.
 */
function* userKeys(view: MvccView, start: Buffer, end: Buffer, reverse: boolean): Generator<Buffer> {
  const encStart = start.length === 0 ? EMPTY : encodeBytes(start);
  const encEnd = end.length === 0 ? EMPTY : encodeBytes(end);
  // The next key of each family past `after` (the previous key yielded; undefined: the range's edge).
  const nextLock = (after?: Buffer): Buffer | undefined =>
    reverse ? view.scan("lock", start, after ?? end, { limit: 1, reverse: true })[0]?.key : view.scan("lock", after ? Buffer.concat([after, Buffer.from([0])]) : start, end, { limit: 1 })[0]?.key;
  const nextWrite = (after?: Buffer): Buffer | undefined => {
    const row = reverse
      ? view.scan("write", encStart, after ? encodeBytes(after) : encEnd, { limit: 1, reverse: true })[0]
      : view.scan("write", after ? afterAllVersions(after) : encStart, encEnd, { limit: 1 })[0];
    return row ? decodeUserKey(row.key) : undefined;
  };
  const first = (a: Buffer, b: Buffer) => (reverse ? Buffer.compare(a, b) >= 0 : Buffer.compare(a, b) <= 0);
  let l = nextLock();
  let w = nextWrite();
  for (;;) {
    const next = l && w ? (first(l, w) ? l : w) : (l ?? w);
    if (!next) return;
    yield next;
    if (l?.equals(next)) l = nextLock(next);
    if (w?.equals(next)) w = nextWrite(next);
  }
}
