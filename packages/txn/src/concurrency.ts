/**
 * The store's concurrency manager for async commit and one-phase commit (TiKV's design):
 *
 * - `maxTs`: the largest read timestamp any read on this store has used. An async-commit or 1PC
 *   transaction's commit timestamp is chosen above it, so no read that already happened can miss
 *   a write committed "in its past".
 * - memory locks: between choosing that timestamp and the write being applied, the keys are
 *   locked in memory; a read that arrives meanwhile (and so raised maxTs too late to count) sees
 *   the memory lock and is answered "locked", as for a lock in the lock column family.
 * - per region, `maxTs` is trusted only after it was raised to a fresh TSO timestamp in the
 *   current leader term: reads served by a previous leader on another store used timestamps below
 *   any TSO timestamp taken after this store's peer became leader.
 *
 * Reads must call `onRead` (raise maxTs, check memory locks) before taking their snapshot.
 */
import { keyInRange } from "@regionkv/raftstore";
import { TS_MAX } from "./codec.js";
import { isLockedFor, type Lock } from "./records.js";

export interface MemoryLock {
  key: Buffer;
  lock: Lock;
}

export class ConcurrencyManager {
  private maxTs_ = 0n;
  private readonly memLocks = new Map<string, MemoryLock>();
  /** Region id → the leader term in which maxTs was synced with the TSO. */
  private readonly synced = new Map<bigint, bigint>();
  private readonly syncing = new Map<string, Promise<void>>();

  get maxTs(): bigint {
    return this.maxTs_;
  }

  updateMaxTs(ts: bigint): void {
    if (ts !== TS_MAX && ts > this.maxTs_) this.maxTs_ = ts;
  }

  /**
   * A read at `readTs` of `keys` (or of [start, end) when `range` is given): raises maxTs and
   * returns EVERY memory lock that blocks it (empty if none). All of them, not the first: a
   * multi-key read that reported one and read the others from its view would miss writes that
   * may commit at or below readTs.
   */
  onRead(readTs: bigint, keys: readonly Buffer[], resolved: ReadonlySet<bigint>, range?: { start: Buffer; end: Buffer }): MemoryLock[] {
    this.updateMaxTs(readTs);
    if (this.memLocks.size === 0) return [];
    const blocks = (m: MemoryLock) => !resolved.has(m.lock.startTs) && isLockedFor(m.lock, m.key, readTs);
    if (range) {
      return [...this.memLocks.values()].filter((m) => keyInRange(m.key, range.start, range.end) && blocks(m));
    }
    const out: MemoryLock[] = [];
    for (const k of keys) {
      const m = this.memLocks.get(k.toString("hex"));
      if (m && blocks(m)) out.push(m);
    }
    return out;
  }

  /** Lock `locks` in memory (the caller holds the keys' latches); returns the release. */
  lockInMemory(locks: readonly MemoryLock[]): () => void {
    for (const m of locks) this.memLocks.set(m.key.toString("hex"), m);
    return () => {
      for (const m of locks) {
        const id = m.key.toString("hex");
        if (this.memLocks.get(id) === m) this.memLocks.delete(id);
      }
    };
  }

  isSynced(regionId: bigint, term: bigint): boolean {
    return this.synced.get(regionId) === term;
  }

  /** Raise maxTs to a TSO timestamp taken now, and trust it for `regionId` in leader term `term`. */
  async sync(regionId: bigint, term: bigint, tso: () => Promise<bigint>): Promise<void> {
    if (this.isSynced(regionId, term)) return;
    const id = `${regionId}/${term}`;
    let p = this.syncing.get(id);
    if (!p) {
      p = tso()
        .then((ts) => {
          this.updateMaxTs(ts);
          const cur = this.synced.get(regionId);
          if (cur === undefined || cur < term) this.synced.set(regionId, term);
        })
        .finally(() => this.syncing.delete(id));
      this.syncing.set(id, p);
    }
    await p;
  }
}
