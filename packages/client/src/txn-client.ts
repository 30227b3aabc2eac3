/**
 * `TxnClient`: snapshot-isolated multi-key transactions (Percolator over the stores).
 *
 *   const db = await TxnClient.connect({ scheduler: "127.0.0.1:2379" });
 *   const txn = await db.begin();
 *   const v = await txn.get("k");                 // Buffer | undefined, as of the start timestamp
 *   txn.put("k", "v"); txn.delete("old");         // buffered until commit
 *   const commitTs = await txn.commit();          // bigint
 *   await db.run(async (txn) => { ... }, { maxRetries: 10 });   // retried on WriteConflictError
 *   await db.close();
 *
 * Timestamps come from the scheduler's TSO over one stream, concurrent callers batched into one
 * request (SchedulerRpcClient's TsoBatcher). The region machinery is the raw client's
 * (region-client.ts); the transaction is transaction.ts, lock resolution lock-resolver.ts.
 * Work that outlives a commit (committing secondaries, cleaning up after a failed commit) runs in
 * the background; `close()` waits for it (up to `closeTimeoutMs`).
 */
import { regionPages, type SchedulerRpcClient } from "@regionkv/scheduler/client";
import type { CallScope } from "./call-scope.js";
import { InvalidArgumentError, ServerError, WriteConflictError } from "./errors.js";
import { LockResolver } from "./lock-resolver.js";
import { RegionClient, resolveOptions, type ConnectOptions, type RegionClientOptions } from "./region-client.js";
import type { RegionSource } from "./region-source.js";
import { Transaction, type TxnContext, type TxnFailpoints } from "./transaction.js";
import { KV_GC, KV_SCAN_LOCK } from "./txn-rpcs.js";

/** Default lock TTL beyond a transaction's age, ms (heartbeats extend it while a commit runs). */
export const DEFAULT_LOCK_TTL_MS = 3_000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
/** Longest a transaction may live from begin to commit. */
export const DEFAULT_MAX_TXN_DURATION_MS = 10 * 60 * 1000;

/** Where timestamps come from (the scheduler client; a fake in tests). */
export interface TimestampSource {
  getTimestamp(): Promise<bigint>;
}

/** How transactions commit; the defaults are the fastest safe choice. */
export interface CommitOptions {
  /** Commit with one prewrite when every key is in one region (default true). */
  onePc?: boolean;
  /** Async commit: decided once every key is prewritten (default true; ≤ 256 keys). */
  asyncCommit?: boolean;
}

export interface TxnClientOptions extends ConnectOptions, CommitOptions {
  /** Lock TTL beyond the transaction's age, ms (default 3,000). */
  lockTtlMs?: number;
  /** How often a committing transaction heartbeats its primary lock, ms (default 1,000). */
  heartbeatIntervalMs?: number;
  /** Longest a transaction may live, ms (default 10 minutes); older ones fail with TxnTimeoutError. */
  maxTxnDurationMs?: number;
  /** How long `close()` waits for background commits, ms (default 10,000). */
  closeTimeoutMs?: number;
  /** Fault-injection hooks for tests (crash a client between prewrite and commit); leave unset. */
  failpoints?: TxnFailpoints;
}

/** What one `collectGarbage` round did. */
export interface GcReport {
  /** Regions collected. */
  regions: number;
  /** Locks below the safe point committed or rolled back first. */
  locksResolved: number;
  /** Regions that failed (retried by the next round). */
  failedRegions: number;
}

export type TxnClientInternalOptions = Omit<TxnClientOptions, "scheduler" | "logger"> & RegionClientOptions;

export interface RunOptions {
  /** How many times to run the function again after a WriteConflictError (default 10). */
  maxRetries?: number;
}

export class TxnClient {
  private readonly core: RegionClient;
  private readonly resolver: LockResolver;
  private readonly ctx: TxnContext;
  private readonly pending = new Set<Promise<void>>();
  private readonly closeTimeoutMs: number;

  private constructor(
    source: RegionSource & TimestampSource,
    options: TxnClientInternalOptions,
  ) {
    this.core = new RegionClient(source, resolveOptions(options, "TxnClient"));
    const tso = () => source.getTimestamp();
    this.resolver = new LockResolver(this.core, tso);
    const positive = (v: number | undefined, fallback: number, what: string) => {
      if (v === undefined) return fallback;
      if (!Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive number of ms, got ${String(v)}`);
      return v;
    };
    this.closeTimeoutMs = positive(options.closeTimeoutMs, 10_000, "closeTimeoutMs");
    this.ctx = {
      core: this.core,
      resolver: this.resolver,
      tso,
      lockTtlMs: positive(options.lockTtlMs, DEFAULT_LOCK_TTL_MS, "lockTtlMs"),
      heartbeatIntervalMs: positive(options.heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS, "heartbeatIntervalMs"),
      maxTxnDurationMs: positive(options.maxTxnDurationMs, DEFAULT_MAX_TXN_DURATION_MS, "maxTxnDurationMs"),
      asyncCommit: options.asyncCommit ?? true,
      onePc: options.onePc ?? true,
      background: (what, work) => this.background(what, work),
      failpoints: options.failpoints ?? {},
    };
  }

  /** Connect through the scheduler (rejects with UnavailableError if none answers within `timeoutMs`). */
  static async connect(options: TxnClientOptions): Promise<TxnClient> {
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("TxnClient options must be an object");
    const { scheduler, logger, ...rest } = options;
    const resolved = resolveOptions(rest, "TxnClient");
    const source: SchedulerRpcClient = await RegionClient.connectScheduler("TxnClient", scheduler, resolved.timeoutMs, logger);
    return new TxnClient(source, rest);
  }

  /** A client over any region + timestamp source (tests, embedding). It owns `source` and closes it. */
  static withSource(source: RegionSource & TimestampSource, options: TxnClientInternalOptions = {}): TxnClient {
    return new TxnClient(source, options);
  }

  /** Start a transaction at a fresh timestamp. `options` override the client's commit choices. */
  async begin(options: CommitOptions = {}): Promise<Transaction> {
    const startTs = await this.core.run("begin", undefined, (scope) => scope.race(this.ctx.tso()));
    const ctx = options.onePc === undefined && options.asyncCommit === undefined ? this.ctx : { ...this.ctx, ...definedOnly(options) };
    return new Transaction(ctx, startTs);
  }

  /**
   * Run `fn` in a transaction and commit it; on WriteConflictError run it again in a new one (up
   * to `maxRetries` times, with backoff). Any other error rolls the transaction back and rejects.
   */
  async run<T>(fn: (txn: Transaction) => Promise<T>, options: RunOptions = {}): Promise<T> {
    const maxRetries = options.maxRetries ?? 10;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new InvalidArgumentError(`maxRetries must be an integer >= 0, got ${String(options.maxRetries)}`);
    for (let attempt = 0; ; attempt++) {
      const txn = await this.begin();
      try {
        const result = await fn(txn);
        if (txn.isActive) await txn.commit();
        return result;
      } catch (err) {
        if (txn.isActive) await txn.rollback();
        if (!(err instanceof WriteConflictError) || attempt >= maxRetries) throw err;
        const delay = Math.min(1000, 5 * 2 ** attempt) * (0.5 + Math.random() / 2);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * Collect MVCC garbage below `safePoint` (a TSO timestamp already past; normally the scheduler's
   * GC safe point): in every region (or only those led by store `leaderStoreId`), resolve the
   * locks at or below it — their transactions have outlived the GC life time: committed ones are
   * rolled forward, the others back — then let the region delete the versions no reader at or
   * after the safe point can see (KvGC). Regions are done one at a time.
   */
  async collectGarbage(safePoint: bigint, options: { leaderStoreId?: bigint; timeoutMs?: number } = {}): Promise<GcReport> {
    const report: GcReport = { regions: 0, locksResolved: 0, failedRegions: 0 };
    const source = this.core.source;
    for await (const page of regionPages((s, e, n) => source.scanRegions(s, e, n), 128)) {
      for (const { region, leader } of page) {
        if (options.leaderStoreId !== undefined && leader?.storeId !== options.leaderStoreId) continue;
        try {
          report.locksResolved += await this.core.run("gc", { timeoutMs: options.timeoutMs ?? 60_000 }, (scope) => this.collectRegion(scope, region.startKey, safePoint));
          report.regions += 1;
        } catch (err) {
          report.failedRegions += 1;
          this.core.opts.logger.warn({ err, regionId: String(region.id) }, "GC of a region failed; the next round tries again");
        }
      }
    }
    return report;
  }

  /** Resolve the locks at or below `safePoint` in the region of `key`, then GC it; returns the locks resolved. */
  private async collectRegion(scope: CallScope, key: Buffer, safePoint: bigint): Promise<number> {
    let resolved = 0;
    for (let round = 0; round < 1000; round++) {
      const r = await this.core.onKey(scope, key, KV_SCAN_LOCK, (context) => ({ context, maxVersion: safePoint, startKey: key, endKey: Buffer.alloc(0), limit: 1024 }));
      if (r.error) throw new ServerError(`gc: scanning locks failed: ${JSON.stringify(r.error.kind)}`);
      if (r.locks.length === 0) break;
      await this.resolver.resolve(scope, r.locks, 0n, true);
      resolved += r.locks.length;
    }
    const g = await this.core.onKey(scope, key, KV_GC, (context) => ({ context, safePoint }));
    if (g.error) throw new ServerError(`gc: KvGC failed: ${JSON.stringify(g.error.kind)}`);
    return resolved;
  }

  /** Wait for background commits (up to `closeTimeoutMs`), then close connections. */
  async close(): Promise<void> {
    if (this.core.closed) return;
    if (this.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => (timer = setTimeout(r, this.closeTimeoutMs)))]);
      clearTimeout(timer);
    }
    this.core.close();
  }

  /** Background work in flight (tests). */
  get backgroundCount(): number {
    return this.pending.size;
  }

  private background(what: string, work: () => Promise<void>): void {
    const p: Promise<void> = work()
      .catch((err: unknown) => this.core.opts.logger.debug({ err, what }, "background transaction work failed; other clients resolve what it left"))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}

function definedOnly(o: CommitOptions): CommitOptions {
  const out: CommitOptions = {};
  if (o.onePc !== undefined) out.onePc = o.onePc;
  if (o.asyncCommit !== undefined) out.asyncCommit = o.asyncCommit;
  return out;
}
