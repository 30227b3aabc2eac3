/**
 * Lock resolution (Percolator's "roll forward or roll back", TiKV client's LockResolver).
 *
 * A reader or writer blocked by another transaction's lock asks that transaction's primary key
 * for its status (KvCheckTxnStatus, with "now" from the TSO):
 *   committed   → commit the transaction's locks in the lock's region at its commit ts;
 *   rolled back → roll them back;
 *   alive       → a reader whose timestamp is below the lock's (pushed) min commit ts may read
 *                 past it (`bypass`); otherwise wait until its TTL runs out (`waitMs`);
 *   no primary lock and no record → the primary may not be prewritten yet: wait until the lock
 *                 we met expires, then ask again with rollback_if_not_exist (the primary then
 *                 gets a rollback record, so its prewrite can never land).
 * Async-commit transactions are decided by their keys, not the primary alone: once the primary
 * lock expired, KvCheckSecondaryLocks on every key says committed (at the largest min commit ts
 * when all are locked, or the commit ts found) or rolled back.
 *
 * Statuses that are final are remembered (bounded), so the many locks of one dead transaction
 * cost one status check.
 */
import { TS_MAX, physicalMs, type kvrpcpb } from "@regionkv/proto";
import { RetryBudget, type CallScope } from "./call-scope.js";
import { ServerError } from "./errors.js";
import type { RegionClient } from "./region-client.js";
import { KV_CHECK_SECONDARY_LOCKS, KV_CHECK_TXN_STATUS, KV_RESOLVE_LOCK } from "./txn-rpcs.js";

/** Final statuses remembered. */
const STATUS_CACHE = 4096;

export type TxnFate = { kind: "committed"; commitTs: bigint } | { kind: "rolledBack" };

export interface ResolveResult {
  /** Start timestamps of transactions the caller may read past (their commit is above its read ts, or they rolled back). */
  bypass: bigint[];
  /** If some lock is still alive and cannot be read past: how long until its TTL runs out (≥ 1), else 0. */
  waitMs: number;
  /** The live lock that caused the wait, if any. */
  blocking: kvrpcpb.LockInfo | undefined;
}

export class LockResolver {
  private readonly fates = new Map<bigint, TxnFate>();

  constructor(
    private readonly core: RegionClient,
    private readonly tso: () => Promise<bigint>,
  ) {}

  /**
   * Resolve what can be of `locks`, met by a transaction at `callerStartTs` (0 for a writer: never
   * bypass). `force` (GC: the locks are below the safe point, their transactions have outlived the
   * GC life time) judges every lock expired, so each is committed or rolled back now.
   */
  async resolve(scope: CallScope, locks: readonly kvrpcpb.LockInfo[], callerStartTs: bigint, force = false): Promise<ResolveResult> {
    const out: ResolveResult = { bypass: [], waitMs: 0, blocking: undefined };
    const byTxn = new Map<bigint, kvrpcpb.LockInfo[]>();
    for (const l of locks) byTxn.set(l.lockVersion, [...(byTxn.get(l.lockVersion) ?? []), l]);
    for (const [startTs, txnLocks] of byTxn) {
      const first = txnLocks[0]!;
      const status = await this.status(scope, first, callerStartTs, force);
      if (status.kind === "alive") {
        if (status.bypass) {
          out.bypass.push(startTs);
        } else if (out.waitMs === 0 || status.waitMs < out.waitMs) {
          out.waitMs = status.waitMs;
          out.blocking = first;
        }
        continue;
      }
      if (status.kind === "rolledBack") out.bypass.push(startTs);
      for (const l of txnLocks) await this.resolveInRegion(scope, l.key, startTs, status.kind === "committed" ? status.commitTs : 0n);
    }
    return out;
  }

  /** The fate of the transaction holding `lock`, or that it is alive. */
  private async status(scope: CallScope, lock: kvrpcpb.LockInfo, callerStartTs: bigint, force: boolean): Promise<TxnFate | { kind: "alive"; bypass: boolean; waitMs: number }> {
    const known = this.fates.get(lock.lockVersion);
    if (known) return known;
    const now = force ? TS_MAX : await scope.race(this.tso());
    const expired = physicalMs(lock.lockVersion) + lock.lockTtl <= physicalMs(now);
    const remaining = (l: { lockVersion: bigint; lockTtl: bigint }) => Math.max(1, Number(physicalMs(l.lockVersion) + l.lockTtl - physicalMs(now)));
    const r = await this.core.onKey(scope, lock.primaryLock, KV_CHECK_TXN_STATUS, (context) => ({
      context,
      primaryKey: lock.primaryLock,
      lockTs: lock.lockVersion,
      callerStartTs,
      currentTs: now,
      rollbackIfNotExist: expired,
    }));
    if (r.error) {
      if (r.error.kind?.$case === "txnNotFound") return { kind: "alive", bypass: false, waitMs: remaining(lock) };
      throw new ServerError(`${scope.op}: checking transaction ${lock.lockVersion} at its primary failed: ${JSON.stringify(r.error.kind)}`);
    }
    if (r.commitVersion > 0n) return this.remember(lock.lockVersion, { kind: "committed", commitTs: r.commitVersion });
    if (r.lockTtl === 0n) return this.remember(lock.lockVersion, { kind: "rolledBack" });
    const info = r.lockInfo;
    if (info?.useAsyncCommit) {
      const primaryExpired = physicalMs(info.lockVersion) + info.lockTtl <= physicalMs(now);
      if (!primaryExpired) return { kind: "alive", bypass: callerStartTs !== 0n && info.minCommitTs > callerStartTs, waitMs: remaining(info) };
      return this.remember(lock.lockVersion, await this.decideAsync(scope, info));
    }
    const bypass = callerStartTs !== 0n && info !== undefined && info.minCommitTs > callerStartTs;
    return { kind: "alive", bypass, waitMs: remaining({ lockVersion: lock.lockVersion, lockTtl: r.lockTtl }) };
  }

  /** An async-commit transaction whose primary lock expired: decided by all its keys. */
  private async decideAsync(scope: CallScope, primary: kvrpcpb.LockInfo): Promise<TxnFate> {
    const keys = [primary.key, ...primary.secondaries].sort(Buffer.compare);
    let commitTs = primary.minCommitTs;
    let fate: TxnFate | undefined;
    await this.core.forEachKeyGroup(scope, new RetryBudget(), keys, (k) => k, (k) => k.byteLength, async (region, group, budget) => {
      const r = await this.core.sender.send(scope, budget, region, KV_CHECK_SECONDARY_LOCKS, (context) => ({ context, keys: group, startVersion: primary.lockVersion }));
      if (!r.ok) return false;
      if (r.value.error) throw new ServerError(`${scope.op}: checking the keys of transaction ${primary.lockVersion} failed: ${JSON.stringify(r.value.error.kind)}`);
      if (r.value.commitTs > 0n) fate = { kind: "committed", commitTs: r.value.commitTs };
      else if (r.value.locks.length === 0) fate ??= { kind: "rolledBack" };
      for (const l of r.value.locks) if (l.minCommitTs > commitTs) commitTs = l.minCommitTs;
      return true;
    });
    const decided: TxnFate = fate ?? { kind: "committed", commitTs };
    // Finish it on every key, so no one has to decide again.
    await this.core.forEachKeyGroup(scope, new RetryBudget(), keys, (k) => k, (k) => k.byteLength, async (region, group, budget) => {
      const r = await this.core.sender.send(scope, budget, region, KV_RESOLVE_LOCK, (context) => ({
        context,
        startVersion: primary.lockVersion,
        commitVersion: decided.kind === "committed" ? decided.commitTs : 0n,
        keys: group,
      }));
      if (r.ok && r.value.error) throw new ServerError(`${scope.op}: resolving transaction ${primary.lockVersion} failed: ${JSON.stringify(r.value.error.kind)}`);
      return r.ok;
    });
    return decided;
  }

  /** Commit (commitTs > 0) or roll back every lock of transaction `startTs` in the region of `key`. */
  async resolveInRegion(scope: CallScope, key: Buffer, startTs: bigint, commitTs: bigint): Promise<void> {
    const r = await this.core.onKey(scope, key, KV_RESOLVE_LOCK, (context) => ({ context, startVersion: startTs, commitVersion: commitTs, keys: [] }));
    if (r.error) throw new ServerError(`${scope.op}: resolving the locks of transaction ${startTs} failed: ${JSON.stringify(r.error.kind)}`);
  }

  private remember(startTs: bigint, fate: TxnFate): TxnFate {
    if (this.fates.size >= STATUS_CACHE) this.fates.delete(this.fates.keys().next().value!);
    this.fates.set(startTs, fate);
    return fate;
  }
}
