/**
 * One transaction: snapshot reads at its start timestamp, writes buffered until `commit`.
 *
 * Reads (get, batchGet, scan) see the transaction's own buffered writes over the snapshot. A read
 * blocked by another transaction's lock resolves it (lock-resolver.ts) and tries again, backing
 * off while the lock is alive, until the call's deadline (then KeyLockedError).
 *
 * Commit (Percolator, with TiKV's one-phase and async commit):
 *   keys sorted, the first is the primary; locks carry a TTL measured from the start timestamp's
 *   physical time, so it is extended by the time the transaction has lived, and heartbeats on the
 *   primary keep extending it while the commit runs.
 *   - 1PC: every key in one region (and one request) → one prewrite that writes commit records at
 *     once; the store picks the commit ts above every read it served.
 *   - async commit (≤ ASYNC_COMMIT_MAX_KEYS keys): prewrites in parallel per region, the primary's
 *     lock listing every key; once all are prewritten the transaction is committed at the largest
 *     min commit ts the stores returned; the commit records are written in the background.
 *   - 2PC: prewrites in parallel per region; commit ts from the TSO; commit the primary (this
 *     decides); the secondaries in the background.
 *   A prewrite meeting a newer commit → WriteConflictError; meeting a lock → resolve and retry;
 *   a failed prewrite rolls the transaction's locks back in the background. Region errors
 *   regroup the keys and retry. An ambiguous failure committing the primary → UnknownOutcomeError.
 */
import { kvrpcpb, physicalMs } from "@regionkv/proto";
import { RetryBudget, type CallScope } from "./call-scope.js";
import { InvalidArgumentError, KeyLockedError, ServerError, TxnAbortedError, TxnTimeoutError, UnknownOutcomeError, WriteConflictError } from "./errors.js";
import { checkedBound, checkedKey, checkedScanLimit, checkedValue, checkRange, type Bytes } from "./limits.js";
import type { LockResolver } from "./lock-resolver.js";
import { BATCH_MAX_KEYS, type CallOptions, type RegionClient } from "./region-client.js";
import { KV_BATCH_GET, KV_BATCH_ROLLBACK, KV_COMMIT, KV_GET, KV_PREWRITE, KV_SCAN, KV_TXN_HEART_BEAT } from "./txn-rpcs.js";

/** Transactions with more keys commit with 2PC rather than async commit (the primary lock lists them all). */
export const ASYNC_COMMIT_MAX_KEYS = 256;
const EMPTY = Buffer.alloc(0);
/** Backoff of a call waiting for another transaction's live lock: first poll, and the longest. */
const LOCK_POLL_FIRST_MS = 4;
const LOCK_POLL_MAX_MS = 200;

/** What a transaction needs from its client. */
export interface TxnContext {
  core: RegionClient;
  resolver: LockResolver;
  tso: () => Promise<bigint>;
  /** Lock TTL beyond the transaction's age, ms. */
  lockTtlMs: number;
  heartbeatIntervalMs: number;
  maxTxnDurationMs: number;
  asyncCommit: boolean;
  onePc: boolean;
  /** Work that outlives a call (secondary commits, cleanup); the client waits for it on close. */
  background: (what: string, work: () => Promise<void>) => void;
  /** Test hooks at the commit's turning points (crash tests kill the client process there). */
  failpoints: TxnFailpoints;
}

/** Hooks for fault-injection tests; each runs (and is awaited) at its point of a 2PC commit. */
export interface TxnFailpoints {
  /** Every key is prewritten, the primary not yet committed. */
  afterPrewrite?: () => void | Promise<void>;
  /** The primary is committed, the secondaries not yet. */
  afterCommitPrimary?: () => void | Promise<void>;
}

export interface TxnScanOptions extends CallOptions {
  /** Most pairs, 1..10,000 (default 10,000). */
  limit?: number;
}

export interface TxnKvPair {
  key: Buffer;
  value: Buffer;
}

interface Mutation {
  key: Buffer;
  op: kvrpcpb.Op;
  value: Buffer;
}

type State = "active" | "committing" | "committed" | "rolledBack";

function hex(k: Buffer): string {
  return k.toString("hex");
}

export class Transaction {
  private readonly mutations = new Map<string, Mutation>();
  private state: State = "active";
  /** Set once a prewrite may have left locks: a rollback must then clean them. */
  private prewriteStarted = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly ctx: TxnContext,
    /** The snapshot timestamp: reads see exactly what was committed at or before it. */
    readonly startTs: bigint,
  ) {}

  /** The value of `key` as of the start timestamp (or as this transaction wrote it), or undefined. */
  async get(key: Bytes, options?: CallOptions): Promise<Buffer | undefined> {
    const k = checkedKey(key);
    this.checkActive("get");
    const own = this.mutations.get(hex(k));
    if (own) return own.op === kvrpcpb.Op.Put ? own.value : undefined;
    return this.ctx.core.run("get", options, (scope) =>
      this.readLoop(scope, async (resolved) => {
        const r = await this.ctx.core.onKey(scope, k, KV_GET, (context) => ({ context: { ...context, resolvedLocks: resolved }, key: k, version: this.startTs }));
        if (r.error) return { locks: [lockOf(r.error, scope.op)] };
        return { value: r.notFound ? undefined : r.value };
      }),
    );
  }

  /** The values of `keys` that exist, by hex key. */
  async batchGet(keys: readonly Bytes[], options?: CallOptions): Promise<Map<string, Buffer>> {
    if (!Array.isArray(keys)) throw new InvalidArgumentError("batchGet takes an array of keys");
    const ks = keys.map((k, i) => checkedKey(k, `keys[${i}]`));
    this.checkActive("batchGet");
    const out = new Map<string, Buffer>();
    const fromStore: Buffer[] = [];
    for (const k of ks) {
      const own = this.mutations.get(hex(k));
      if (own) {
        if (own.op === kvrpcpb.Op.Put) out.set(hex(k), own.value);
      } else fromStore.push(k);
    }
    if (fromStore.length === 0) return out;
    let pending = [...new Map(fromStore.map((k) => [hex(k), k])).values()].sort(Buffer.compare);
    await this.ctx.core.run("batchGet", options, async (scope) => {
      const resolved: bigint[] = [];
      while (pending.length > 0) {
        const locks: kvrpcpb.LockInfo[] = [];
        await this.ctx.core.forEachKeyGroup(scope, new RetryBudget(), pending, (k) => k, (k) => k.byteLength, async (region, group, budget) => {
          const r = await this.ctx.core.sender.send(scope, budget, region, KV_BATCH_GET, (context) => ({ context: { ...context, resolvedLocks: [...resolved] }, keys: group, version: this.startTs }));
          if (!r.ok) return false;
          for (const p of r.value.pairs) {
            if (p.error) locks.push(lockOf(p.error, scope.op));
            else out.set(hex(p.key), p.value);
          }
          return true;
        });
        pending = locks.map((l) => l.key);
        if (locks.length > 0) await this.afterLocks(scope, locks, resolved);
      }
    });
    return out;
  }

  /**
   * Pairs of [start, end) as of the start timestamp, with this transaction's own writes applied,
   * in key order, at most `limit`.
   */
  async scan(start: Bytes, end: Bytes, options?: TxnScanOptions): Promise<TxnKvPair[]> {
    const s = checkedBound(start, "start");
    const e = checkedBound(end, "end");
    const limit = checkedScanLimit(options?.limit);
    this.checkActive("scan");
    if (!checkRange(s, e, "scan")) return [];
    const own = [...this.mutations.values()].filter((m) => Buffer.compare(m.key, s) >= 0 && (e.length === 0 || Buffer.compare(m.key, e) < 0));
    const deletes = own.filter((m) => m.op !== kvrpcpb.Op.Put).length;
    // Enough stored rows that the buffered deletes cannot leave fewer than `limit`.
    const want = Math.min(10_000, limit + deletes);
    const stored = await this.ctx.core.run("scan", options, (scope) => this.scanStore(scope, s, e, want));
    const merged = new Map<string, TxnKvPair>();
    for (const p of stored) merged.set(hex(p.key), p);
    for (const m of own) {
      if (m.op === kvrpcpb.Op.Put) merged.set(hex(m.key), { key: m.key, value: m.value });
      else merged.delete(hex(m.key));
    }
    let rows = [...merged.values()].sort((a, b) => Buffer.compare(a.key, b.key));
    // Stored rows stop at `want`: beyond the last one read, only buffered keys are certain.
    if (stored.length >= want && stored.length > 0) {
      const last = stored[stored.length - 1]!.key;
      rows = rows.filter((r) => Buffer.compare(r.key, last) <= 0);
    }
    return rows.slice(0, limit);
  }

  /** Buffer a write of `value` at `key` (sent at commit). */
  put(key: Bytes, value: Bytes): void {
    const k = checkedKey(key);
    const v = checkedValue(value);
    this.checkActive("put");
    this.mutations.set(hex(k), { key: k, op: kvrpcpb.Op.Put, value: v });
  }

  /** Buffer the deletion of `key` (sent at commit). */
  delete(key: Bytes): void {
    const k = checkedKey(key);
    this.checkActive("delete");
    this.mutations.set(hex(k), { key: k, op: kvrpcpb.Op.Del, value: EMPTY });
  }

  /**
   * Commit the buffered writes atomically; resolves with the commit timestamp (the start
   * timestamp for a transaction that wrote nothing). Rejects with WriteConflictError (run it
   * again), TxnAbortedError / TxnTimeoutError (it was rolled back), KeyLockedError, or
   * UnknownOutcomeError (the commit of the primary key may or may not have happened).
   */
  async commit(options?: CallOptions): Promise<bigint> {
    this.checkActive("commit");
    this.state = "committing";
    const muts = [...this.mutations.values()].sort((a, b) => Buffer.compare(a.key, b.key));
    if (muts.length === 0) {
      this.state = "committed";
      return this.startTs;
    }
    try {
      const commitTs = await this.ctx.core.run("commit", options, (scope) => this.twoPhase(scope, muts));
      this.state = "committed";
      return commitTs;
    } catch (err) {
      this.state = "rolledBack";
      if (this.prewriteStarted && !(err instanceof UnknownOutcomeError)) this.cleanup(muts.map((m) => m.key));
      throw err;
    }
  }

  /** Discard the buffered writes (and any locks a failed commit left). */
  async rollback(): Promise<void> {
    if (this.state === "committed") throw new InvalidArgumentError("rollback: the transaction is already committed");
    if (this.state === "rolledBack") return;
    this.state = "rolledBack";
    if (this.prewriteStarted) this.cleanup([...this.mutations.values()].map((m) => m.key));
  }

  /** Whether commit or rollback may still be called. */
  get isActive(): boolean {
    return this.state === "active";
  }

  // ---- reads --------------------------------------------------------------------------------

  /** Run `attempt` until it returns a value, resolving the locks it meets. */
  private async readLoop<T>(scope: CallScope, attempt: (resolved: bigint[]) => Promise<{ value: T } | { locks: kvrpcpb.LockInfo[] }>): Promise<T> {
    const resolved: bigint[] = [];
    for (;;) {
      const r = await attempt([...resolved]);
      if ("value" in r) return r.value;
      await this.afterLocks(scope, r.locks, resolved);
    }
  }

  /** Resolve `locks`; add what may be read past to `resolved`; wait if a live lock still blocks. */
  private async afterLocks(scope: CallScope, locks: kvrpcpb.LockInfo[], resolved: bigint[]): Promise<void> {
    const r = await this.ctx.resolver.resolve(scope, locks, this.startTs);
    for (const ts of r.bypass) if (!resolved.includes(ts)) resolved.push(ts);
    if (r.waitMs > 0) await this.waitForLock(scope, r.waitMs, r.blocking!);
  }

  private async waitForLock(scope: CallScope, waitMs: number, lock: kvrpcpb.LockInfo): Promise<void> {
    if (scope.remainingMs() <= Math.min(waitMs, 20)) {
      throw new KeyLockedError(
        `${scope.op}: key ${hex(lock.key)} is locked by transaction ${lock.lockVersion} (primary ${hex(lock.primaryLock)}), alive for another ${waitMs} ms; gave up at the call's deadline`,
        { key: lock.key, lockTs: lock.lockVersion },
      );
    }
    // Poll with backoff: the holder usually finishes within milliseconds (an async-commit or
    // 2PC transaction committing its secondaries), sometimes not before its TTL runs out.
    const n = this.waits.get(scope) ?? 0;
    this.waits.set(scope, n + 1);
    const step = Math.min(LOCK_POLL_MAX_MS, LOCK_POLL_FIRST_MS * 2 ** n);
    await scope.sleep(Math.min(waitMs, Math.ceil(step * (0.5 + Math.random() / 2))));
  }

  /** Lock waits so far per call (their backoff). */
  private readonly waits = new WeakMap<CallScope, number>();

  private scanStore(scope: CallScope, start: Buffer, end: Buffer, limit: number): Promise<TxnKvPair[]> {
    const resolved: bigint[] = [];
    return this.ctx.core.scanForward(scope, start, end, limit, async (region, from, to, want, budget) => {
      const r = await this.ctx.core.sender.send(scope, budget, region, KV_SCAN, (context) => ({
        context: { ...context, resolvedLocks: [...resolved] },
        startKey: from,
        endKey: to,
        limit: want,
        version: this.startTs,
        keyOnly: false,
        reverse: false,
      }));
      if (!r.ok) return undefined;
      const locks = r.value.pairs.filter((p) => p.error).map((p) => lockOf(p.error!, scope.op));
      if (locks.length > 0) {
        // Resolve, then read this slice again.
        await this.afterLocks(scope, locks, resolved);
        return undefined;
      }
      return r.value.pairs.map((p) => ({ key: p.key, value: p.value }));
    });
  }

  // ---- commit -------------------------------------------------------------------------------

  private async twoPhase(scope: CallScope, muts: Mutation[]): Promise<bigint> {
    const primary = muts[0]!.key;
    const ageMs = Date.now() - this.startedAt;
    const lockTtl = BigInt(this.ctx.lockTtlMs + ageMs + Number(this.clockSkewMs()));
    const stopHeartbeat = this.startHeartbeat(primary);
    // A 1PC prewrite, or the async-commit prewrites, decide the transaction where they land: once
    // one may have been sent, a failure that does not prove it was refused is an unknown outcome.
    const decisive = async <T>(sent: boolean, protocol: string, work: Promise<T>): Promise<T> => {
      try {
        return await work;
      } catch (err) {
        if (!sent || isDefiniteFailure(err)) throw err;
        throw new UnknownOutcomeError(
          `commit: transaction ${this.startTs} may or may not have committed (its ${protocol} prewrite was sent and then: ${err instanceof Error ? err.message : String(err)}); read its keys to learn the outcome`,
          { cause: err },
        );
      }
    };
    try {
      if (this.ctx.onePc) {
        const one = await decisive(true, "one-phase", this.tryOnePc(scope, muts, primary, lockTtl));
        if (one !== undefined) return one;
      }
      const useAsync = this.ctx.asyncCommit && muts.length <= ASYNC_COMMIT_MAX_KEYS;
      const secondaries = useAsync ? muts.slice(1).map((m) => m.key) : [];
      let maxMinCommit = 0n;
      let allAsync = useAsync;
      await decisive(
        useAsync,
        "async-commit",
        this.prewrite(scope, muts, primary, lockTtl, { useAsync, secondaries }, (r) => {
          if (r.minCommitTs === 0n) allAsync = false;
          if (r.minCommitTs > maxMinCommit) maxMinCommit = r.minCommitTs;
        }),
      );
      await this.ctx.failpoints.afterPrewrite?.();
      if (useAsync && allAsync) {
        // Committed: every key is prewritten. Record it in the background.
        const commitTs = maxMinCommit;
        this.ctx.background("async commit", () => this.commitKeys(muts.map((m) => m.key), commitTs));
        return commitTs;
      }
      return await this.commitPrimaryThen(scope, muts, primary);
    } finally {
      stopHeartbeat();
    }
  }

  /** How far the start timestamp's physical time is behind this machine's clock, ms (≥ 0). */
  private clockSkewMs(): bigint {
    const skew = BigInt(this.startedAt) - physicalMs(this.startTs);
    return skew > 0n ? skew : 0n;
  }

  /** 1PC when every key is in one region and one request; undefined when it does not apply. */
  private async tryOnePc(scope: CallScope, muts: Mutation[], primary: Buffer, lockTtl: bigint): Promise<bigint | undefined> {
    const budget = new RetryBudget();
    for (;;) {
      const groups = await this.ctx.core.locator.groupByRegion(muts, (m) => m.key, scope, budget);
      if (groups.length !== 1 || muts.length > BATCH_MAX_KEYS) return undefined;
      this.prewriteStarted = true;
      const r = await this.ctx.core.sender.send(scope, budget, groups[0]!.region, KV_PREWRITE, (context) =>
        kvrpcpb.PrewriteRequest.fromPartial({
          context,
          mutations: muts.map((m) => ({ op: m.op, key: m.key, value: m.value })),
          primaryLock: primary,
          startVersion: this.startTs,
          lockTtl,
          txnSize: BigInt(muts.length),
          tryOnePc: true,
        }),
      );
      if (!r.ok) continue; // region changed: group again
      if (r.value.errors.length > 0) {
        await this.onPrewriteErrors(scope, r.value.errors);
        continue;
      }
      if (r.value.onePcCommitTs > 0n) return r.value.onePcCommitTs;
      // Declined: the keys are prewritten (locks); commit as 2PC.
      return this.commitPrimaryThen(scope, muts, primary);
    }
  }

  private async commitPrimaryThen(scope: CallScope, muts: Mutation[], primary: Buffer): Promise<bigint> {
    const commitTs = await this.commitPrimary(scope, primary);
    await this.ctx.failpoints.afterCommitPrimary?.();
    const rest = muts.slice(1).map((m) => m.key);
    if (rest.length > 0) this.ctx.background("commit secondaries", () => this.commitKeys(rest, commitTs));
    return commitTs;
  }

  /** Prewrite every mutation, per region in parallel; key errors handled (see the file comment). */
  private async prewrite(
    scope: CallScope,
    muts: Mutation[],
    primary: Buffer,
    lockTtl: bigint,
    mode: { useAsync: boolean; secondaries: Buffer[] },
    onOk: (r: kvrpcpb.PrewriteResponse) => void,
  ): Promise<void> {
    this.prewriteStarted = true;
    await this.ctx.core.forEachKeyGroup(scope, new RetryBudget(), muts, (m) => m.key, (m) => m.key.byteLength + m.value.byteLength, async (region, group, budget) => {
      for (;;) {
        const hasPrimary = group.some((m) => m.key.equals(primary));
        const r = await this.ctx.core.sender.send(scope, budget, region, KV_PREWRITE, (context) =>
          kvrpcpb.PrewriteRequest.fromPartial({
            context,
            mutations: group.map((m) => ({ op: m.op, key: m.key, value: m.value })),
            primaryLock: primary,
            startVersion: this.startTs,
            lockTtl,
            txnSize: BigInt(muts.length),
            minCommitTs: this.startTs + 1n,
            useAsyncCommit: mode.useAsync,
            secondaries: mode.useAsync && hasPrimary ? mode.secondaries : [],
          }),
        );
        if (!r.ok) return false;
        if (r.value.errors.length === 0) {
          onOk(r.value);
          return true;
        }
        await this.onPrewriteErrors(scope, r.value.errors);
      }
    });
  }

  /** A prewrite's key errors: a conflict ends the transaction; locks are resolved (then retry). */
  private async onPrewriteErrors(scope: CallScope, errors: kvrpcpb.KeyError[]): Promise<void> {
    const locks: kvrpcpb.LockInfo[] = [];
    for (const e of errors) {
      const k = e.kind;
      if (!k) continue;
      switch (k.$case) {
        case "conflict":
          throw new WriteConflictError(
            `commit: key ${hex(k.value.key)} was written by transaction ${k.value.conflictTs} (committed at ${k.value.conflictCommitTs}) after this one started at ${this.startTs}; run the transaction again`,
            { key: k.value.key, conflictStartTs: k.value.conflictTs, conflictCommitTs: k.value.conflictCommitTs },
          );
        case "locked":
          locks.push(k.value);
          break;
        case "abort":
          throw new TxnAbortedError(`commit: the store refused the prewrite: ${k.value}`);
        case "alreadyExist":
          throw new TxnAbortedError(`commit: key ${hex(k.value.key)} already exists`);
        default:
          throw new ServerError(`commit: prewrite failed: ${JSON.stringify(k)}`);
      }
    }
    if (locks.length === 0) return;
    // A writer never reads past a lock: it waits for the holder to finish or expire.
    const r = await this.ctx.resolver.resolve(scope, locks, 0n);
    if (r.waitMs > 0) await this.waitForLock(scope, r.waitMs, r.blocking!);
  }

  /** Commit the primary: the transaction's decision. */
  private async commitPrimary(scope: CallScope, primary: Buffer): Promise<bigint> {
    let commitTs = await scope.race(this.ctx.tso());
    for (;;) {
      let r: kvrpcpb.CommitResponse;
      try {
        r = await this.ctx.core.onKey(scope, primary, KV_COMMIT, (context) => ({ context, startVersion: this.startTs, keys: [primary], commitVersion: commitTs }));
      } catch (err) {
        if (err instanceof InvalidArgumentError) throw err;
        throw new UnknownOutcomeError(
          `commit: committing the primary key ${hex(primary)} of transaction ${this.startTs} failed and it may or may not have been committed: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      const k = r.error?.kind;
      if (!k) return commitTs;
      if (k.$case === "commitTsExpired") {
        commitTs = await scope.race(this.ctx.tso());
        continue;
      }
      const age = Date.now() - this.startedAt;
      if (k.$case === "abort" && age > this.ctx.lockTtlMs) {
        throw new TxnTimeoutError(`commit: transaction ${this.startTs} was rolled back by another client after its locks expired (it lived ${age} ms); run it again`);
      }
      throw new TxnAbortedError(`commit: transaction ${this.startTs} cannot commit: ${k.$case === "abort" || k.$case === "retryable" ? k.value : JSON.stringify(k)}`);
    }
  }

  /** Commit `keys` at `commitTs` (background; retried until done or the client closes). */
  private async commitKeys(keys: Buffer[], commitTs: bigint): Promise<void> {
    await this.ctx.core.run("commit secondaries", { timeoutMs: 60_000 }, (scope) =>
      this.ctx.core.forEachKeyGroup(scope, new RetryBudget(), keys, (k) => k, (k) => k.byteLength, async (region, group, budget) => {
        const r = await this.ctx.core.sender.send(scope, budget, region, KV_COMMIT, (context) => ({ context, startVersion: this.startTs, keys: group, commitVersion: commitTs }));
        if (r.ok && r.value.error) throw new ServerError(`committing secondary keys of transaction ${this.startTs} failed: ${JSON.stringify(r.value.error.kind)}`);
        return r.ok;
      }),
    );
  }

  /** Roll back the locks this transaction may have left (background, best effort: others resolve what remains). */
  private cleanup(keys: Buffer[]): void {
    const sorted = [...new Map(keys.map((k) => [hex(k), k])).values()].sort(Buffer.compare);
    this.ctx.background("rollback", () =>
      this.ctx.core.run("rollback", { timeoutMs: 30_000 }, (scope) =>
        this.ctx.core.forEachKeyGroup(scope, new RetryBudget(), sorted, (k) => k, (k) => k.byteLength, async (region, group, budget) => {
          const r = await this.ctx.core.sender.send(scope, budget, region, KV_BATCH_ROLLBACK, (context) => ({ context, startVersion: this.startTs, keys: group }));
          return r.ok;
        }),
      ),
    );
  }

  /** Keep the primary lock alive while the commit runs; returns the stop. */
  private startHeartbeat(primary: Buffer): () => void {
    const timer = setInterval(() => {
      const advise = BigInt(this.ctx.lockTtlMs + (Date.now() - this.startedAt)) + this.clockSkewMs();
      void this.ctx.core
        .run("heartbeat", { timeoutMs: this.ctx.heartbeatIntervalMs }, (scope) =>
          this.ctx.core.onKey(scope, primary, KV_TXN_HEART_BEAT, (context) => ({ context, primaryLock: primary, startVersion: this.startTs, adviseLockTtl: advise })),
        )
        .catch(() => undefined);
    }, this.ctx.heartbeatIntervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private checkActive(op: string): void {
    if (this.state === "active" && Date.now() - this.startedAt > this.ctx.maxTxnDurationMs) {
      throw new TxnTimeoutError(`${op}: the transaction started ${Date.now() - this.startedAt} ms ago, over maxTxnDurationMs (${this.ctx.maxTxnDurationMs}); its snapshot may be garbage-collected, start a new one`);
    }
    if (this.state !== "active") throw new InvalidArgumentError(`${op}: the transaction is ${this.state === "committing" ? "committing" : this.state === "committed" ? "committed" : "rolled back"}; begin a new one`);
  }
}

/**
 * Whether a failure of a prewrite proves the transaction did not commit: a key was refused (write
 * conflict, abort, a lock that never went away) or the input was invalid. Deadlines, lost
 * connections and closed clients prove nothing.
 */
function isDefiniteFailure(err: unknown): boolean {
  return err instanceof WriteConflictError || err instanceof TxnAbortedError || err instanceof KeyLockedError || err instanceof InvalidArgumentError || err instanceof UnknownOutcomeError;
}

/** The lock in a read's key error; an abort (snapshot too old) ends the transaction; anything else is a server failure. */
function lockOf(e: kvrpcpb.KeyError, op: string): kvrpcpb.LockInfo {
  if (e.kind?.$case === "locked") return e.kind.value;
  if (e.kind?.$case === "abort") throw new TxnTimeoutError(`${op}: ${e.kind.value}`);
  throw new ServerError(`${op}: the store answered a read with ${JSON.stringify(e.kind)}`);
}

