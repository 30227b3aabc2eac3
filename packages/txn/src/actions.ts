/**
 * The Percolator rules, key by key, over one command's MvccTxn (tinykv.md §4 and its pitfalls;
 * TiKV for async commit and 1PC). Synchronous and free of I/O beyond the engine view: the
 * commands (commands.ts) take latches and views, call these, and propose the writes.
 *
 * - prewrite: another transaction's lock → Locked; a write committed at or after our start ts
 *   (of any kind, rollbacks included) → WriteConflict; Insert/CheckNotExists on a visible value →
 *   AlreadyExist; our own lock or our own commit record already there → nothing to do (a re-sent
 *   prewrite; its response reports that lock's min commit ts or that commit ts again).
 * - commit: our lock → commit record at commit ts (CommitTsExpired below the lock's min commit ts);
 *   no lock but our commit record → done (re-sent); our rollback record → abort; another
 *   transaction's lock → retryable; neither lock nor record → nothing to do (tinykv.md pitfall).
 * - rollback: committed → abort; otherwise remove our lock and value if any and ALWAYS leave a
 *   rollback record at our start ts (so a late prewrite fails); if another transaction's commit
 *   record sits at that key and ts, it is marked instead of overwritten.
 */
import { kvrpcpb } from "@regionkv/proto";
import { TS_MAX, physicalTime } from "./codec.js";
import type { CommittedWrite, MvccReader, MvccTxn } from "./mvcc.js";
import { LockKind, WriteKind, isLockedFor, type Lock, type Write } from "./records.js";

export type KeyError = kvrpcpb.KeyError;

export function opOfLock(kind: LockKind): kvrpcpb.Op {
  switch (kind) {
    case LockKind.Put:
      return kvrpcpb.Op.Put;
    case LockKind.Delete:
      return kvrpcpb.Op.Del;
    default:
      return kvrpcpb.Op.Lock;
  }
}

export function lockInfo(key: Buffer, lock: Lock): kvrpcpb.LockInfo {
  return {
    primaryLock: lock.primary,
    lockVersion: lock.startTs,
    key,
    lockTtl: lock.ttlMs,
    txnSize: 0n,
    lockType: opOfLock(lock.kind),
    useAsyncCommit: lock.secondaries !== undefined,
    minCommitTs: lock.minCommitTs,
    secondaries: lock.secondaries ?? [],
  };
}

export function lockedError(key: Buffer, lock: Lock): KeyError {
  return { kind: { $case: "locked", value: lockInfo(key, lock) } };
}

function abort(message: string): KeyError {
  return { kind: { $case: "abort", value: message } };
}

function retryable(message: string): KeyError {
  return { kind: { $case: "retryable", value: message } };
}

const hex = (k: Buffer) => k.toString("hex");

/** Whether a lock's TTL has run out at `currentTs` (both on the physical clock, tinykv.md §4.1). */
export function lockExpired(lock: Lock, currentTs: bigint): boolean {
  return physicalTime(lock.startTs) + lock.ttlMs <= physicalTime(currentTs);
}

export interface PrewriteMutation {
  op: kvrpcpb.Op;
  key: Buffer;
  value: Buffer;
}

export interface PrewriteParams {
  primary: Buffer;
  startTs: bigint;
  ttlMs: bigint;
  /** Lower bound for the locks' min commit ts (0: none). */
  minCommitTs: bigint;
  /** Async commit: the primary's lock lists these; undefined: not async. */
  secondaries: Buffer[] | undefined;
}

/**
 * Check one mutation against the view: an error, "skip" (nothing to write), the lock to write (its
 * value written by `writePrewrite`), or — for a re-sent prewrite — our lock already there
 * (`existing`) or our commit record already there (`committed`: a 1PC that applied, or an async
 * commit resolved meanwhile), which the response must report again rather than as a conflict.
 */
export function checkPrewrite(txn: MvccTxn, m: PrewriteMutation, p: PrewriteParams): { error: KeyError } | "skip" | { lock: Lock } | { existing: Lock } | { committed: bigint } {
  const existing = txn.reader.getLock(m.key);
  if (existing) {
    if (existing.startTs !== p.startTs) return { error: lockedError(m.key, existing) };
    return { existing };
  }
  const latest = txn.mostRecentWrite(m.key);
  if (latest && conflicts(latest, p.startTs)) {
    const own = txn.currentWrite(m.key);
    if (own && !isRollbackOf(own.write, own.commitTs, p.startTs)) return { committed: own.commitTs };
    return {
      error: {
        kind: {
          $case: "conflict",
          value: { startTs: p.startTs, conflictTs: latest.write.startTs, key: m.key, primary: p.primary, conflictCommitTs: latest.commitTs },
        },
      },
    };
  }
  if (m.op === kvrpcpb.Op.Insert || m.op === kvrpcpb.Op.CheckNotExists) {
    if (txn.reader.getValue(m.key, TS_MAX) !== undefined) return { error: { kind: { $case: "alreadyExist", value: { key: m.key } } } };
    if (m.op === kvrpcpb.Op.CheckNotExists) return "skip";
  }
  const kind = m.op === kvrpcpb.Op.Put || m.op === kvrpcpb.Op.Insert ? LockKind.Put : m.op === kvrpcpb.Op.Del ? LockKind.Delete : LockKind.Lock;
  const isPrimary = m.key.equals(p.primary);
  return {
    lock: {
      kind,
      primary: p.primary,
      startTs: p.startTs,
      ttlMs: p.ttlMs,
      minCommitTs: p.minCommitTs,
      secondaries: p.secondaries === undefined ? undefined : isPrimary ? p.secondaries : [],
    },
  };
}

/**
 * The write-conflict rule: the key's latest write has commit ts ≥ our start ts (tinykv.md). At
 * equality the record is our own rollback in a TSO-only world; with 1PC and async commit a commit
 * ts (max_ts + 1) can also equal a later TSO start ts, and then another transaction's commit
 * record at exactly our start ts is in our snapshot (visible at ts ≥ commit ts): not a conflict
 * (TiKV's rule too), unless it carries our overlapped rollback.
 */
function conflicts(latest: CommittedWrite, startTs: bigint): boolean {
  if (latest.commitTs > startTs) return true;
  if (latest.commitTs < startTs) return false;
  return isRollbackOf(latest.write, latest.commitTs, startTs) || latest.write.startTs === startTs;
}

/** Write the lock (and value) of a checked mutation. */
export function writePrewrite(txn: MvccTxn, m: PrewriteMutation, lock: Lock): void {
  if (lock.kind === LockKind.Put) txn.putValue(m.key, m.value);
  txn.putLock(m.key, lock);
}

/** 1PC: write the commit record (and value) of a checked mutation at once, no lock. */
export function writeOnePc(txn: MvccTxn, m: PrewriteMutation, lock: Lock, commitTs: bigint): void {
  if (lock.kind === LockKind.Put) txn.putValue(m.key, m.value);
  putCommitRecord(txn, m.key, commitTs, { kind: writeKindOf(lock.kind), startTs: txn.startTs });
}

function writeKindOf(kind: LockKind): WriteKind {
  return kind === LockKind.Put ? WriteKind.Put : kind === LockKind.Delete ? WriteKind.Delete : WriteKind.Lock;
}

/**
 * A commit record at (key, commitTs). If a rollback of the transaction that started at commitTs
 * is already there (possible when commitTs came from max_ts rather than the TSO), the flag keeps
 * that rollback's meaning.
 */
function putCommitRecord(txn: MvccTxn, key: Buffer, commitTs: bigint, w: Write): void {
  const there = txn.reader.writeAt(key, commitTs);
  if (there && there.kind === WriteKind.Rollback) w = { ...w, overlappedRollback: true };
  txn.putWrite(key, commitTs, w);
}

/** Commit our lock on `key` at `commitTs`. */
export function commitKey(txn: MvccTxn, key: Buffer, commitTs: bigint): KeyError | undefined {
  const lock = txn.reader.getLock(key);
  if (lock && lock.startTs === txn.startTs) {
    if (commitTs < lock.minCommitTs) {
      return { kind: { $case: "commitTsExpired", value: { startTs: txn.startTs, attemptedCommitTs: commitTs, key, minCommitTs: lock.minCommitTs } } };
    }
    putCommitRecord(txn, key, commitTs, { kind: writeKindOf(lock.kind), startTs: txn.startTs });
    txn.deleteLock(key);
    return undefined;
  }
  const w = txn.currentWrite(key);
  if (w) {
    if (isRollbackOf(w.write, w.commitTs, txn.startTs)) return abort(`transaction ${txn.startTs} was rolled back on key ${hex(key)}; it cannot commit`);
    return undefined; // committed already: a re-sent commit
  }
  if (lock) return retryable(`key ${hex(key)} is locked by transaction ${lock.startTs}, not by ${txn.startTs}; retry after it is resolved`);
  return undefined; // no lock and no record: nothing to commit (tinykv.md)
}

/** Whether `w` at `commitTs` records the rollback of transaction `startTs`. */
export function isRollbackOf(w: Write, commitTs: bigint, startTs: bigint): boolean {
  if (w.startTs === startTs) return w.kind === WriteKind.Rollback;
  return commitTs === startTs && w.overlappedRollback === true;
}

/** Roll back transaction txn.startTs on `key`. */
export function rollbackKey(txn: MvccTxn, key: Buffer): KeyError | undefined {
  const w = txn.currentWrite(key);
  if (w) {
    if (isRollbackOf(w.write, w.commitTs, txn.startTs)) return undefined; // already rolled back
    return abort(`transaction ${txn.startTs} is already committed on key ${hex(key)} (at ${w.commitTs}); it cannot be rolled back`);
  }
  const lock = txn.reader.getLock(key);
  rollbackLock(txn, key, lock && lock.startTs === txn.startTs ? lock : undefined);
  return undefined;
}

/** Remove our `lock` (and its value) if given, and leave the rollback record at our start ts. */
function rollbackLock(txn: MvccTxn, key: Buffer, lock: Lock | undefined): void {
  if (lock) {
    if (lock.kind === LockKind.Put) txn.deleteValue(key);
    txn.deleteLock(key);
  }
  writeRollbackRecord(txn, key);
}

/** A rollback record at (key, startTs); marks another transaction's commit record found there instead. */
function writeRollbackRecord(txn: MvccTxn, key: Buffer): void {
  const there = txn.reader.writeAt(key, txn.startTs);
  if (there && there.startTs !== txn.startTs) {
    if (!there.overlappedRollback) txn.putWrite(key, txn.startTs, { ...there, overlappedRollback: true });
    return;
  }
  txn.putWrite(key, txn.startTs, { kind: WriteKind.Rollback, startTs: txn.startTs });
}

export interface TxnStatus {
  lockTtl: bigint;
  commitVersion: bigint;
  action: kvrpcpb.Action;
  lockInfo: kvrpcpb.LockInfo | undefined;
  error: KeyError | undefined;
}

/** KvCheckTxnStatus on the primary key (see the proto for the contract). */
export function checkTxnStatus(txn: MvccTxn, primary: Buffer, callerStartTs: bigint, currentTs: bigint, rollbackIfNotExist: boolean): TxnStatus {
  const none = { lockTtl: 0n, commitVersion: 0n, lockInfo: undefined, error: undefined };
  const lock = txn.reader.getLock(primary);
  if (lock && lock.startTs === txn.startTs) {
    const asyncCommit = lock.secondaries !== undefined;
    if (!asyncCommit && lockExpired(lock, currentTs)) {
      rollbackLock(txn, primary, lock);
      return { ...none, action: kvrpcpb.Action.TTLExpireRollback };
    }
    let action: kvrpcpb.Action = kvrpcpb.Action.NoAction;
    let cur = lock;
    // Push the min commit ts above the reader's timestamp, so it can read past this transaction
    // (not for async commit: its commit ts is fixed by its prewrites).
    if (!asyncCommit && callerStartTs !== 0n && callerStartTs !== TS_MAX && lock.minCommitTs <= callerStartTs) {
      cur = { ...lock, minCommitTs: callerStartTs + 1n };
      txn.putLock(primary, cur);
      action = kvrpcpb.Action.MinCommitTSPushed;
    }
    return { lockTtl: cur.ttlMs, commitVersion: 0n, action, lockInfo: lockInfo(primary, cur), error: undefined };
  }
  const w = txn.currentWrite(primary);
  if (w) {
    if (isRollbackOf(w.write, w.commitTs, txn.startTs)) return { ...none, action: kvrpcpb.Action.NoAction };
    return { ...none, commitVersion: w.commitTs, action: kvrpcpb.Action.NoAction };
  }
  if (rollbackIfNotExist) {
    writeRollbackRecord(txn, primary);
    return { ...none, action: kvrpcpb.Action.LockNotExistRollback };
  }
  return { ...none, action: kvrpcpb.Action.NoAction, error: { kind: { $case: "txnNotFound", value: { startTs: txn.startTs, primaryKey: primary } } } };
}

/**
 * Async-commit recovery on some keys of a transaction: its locks if all are locked; the commit ts
 * if any is committed; rolled back (and a rollback record written where nothing was) otherwise.
 */
export function checkSecondaryLocks(txn: MvccTxn, keys: readonly Buffer[]): { locks: kvrpcpb.LockInfo[]; commitTs: bigint } {
  const locks: kvrpcpb.LockInfo[] = [];
  let rolledBack = false;
  for (const key of keys) {
    const lock = txn.reader.getLock(key);
    if (lock && lock.startTs === txn.startTs) {
      locks.push(lockInfo(key, lock));
      continue;
    }
    const w = txn.currentWrite(key);
    if (w) {
      if (isRollbackOf(w.write, w.commitTs, txn.startTs)) {
        rolledBack = true;
        continue;
      }
      return { locks: [], commitTs: w.commitTs };
    }
    // Never prewritten here: make sure it never will be.
    writeRollbackRecord(txn, key);
    rolledBack = true;
  }
  return rolledBack ? { locks: [], commitTs: 0n } : { locks, commitTs: 0n };
}

/** Read `key` at `readTs`: a blocking lock (unless resolved), or the value. */
export function readKey(reader: MvccReader, key: Buffer, readTs: bigint, resolved: ReadonlySet<bigint>): { error: KeyError } | { value: Buffer | undefined } {
  const lock = reader.getLock(key);
  if (lock && !resolved.has(lock.startTs) && isLockedFor(lock, key, readTs)) return { error: lockedError(key, lock) };
  return { value: reader.getValue(key, readTs) };
}
