/**
 * The list-append workload (test/support/txn-history.ts) over TxnClient: each list is one KV key
 * `la/<key>` holding its elements comma-separated. An append reads the key in the transaction and
 * puts the longer list; a read records the list it saw. Used by txn-anomaly.test.ts in process and
 * by support/txn-anomaly-child.ts in a process the test kills -9.
 *
 * Status of a recorded transaction:
 *   committed  commit() resolved (with its commit ts);
 *   aborted    it failed before commit() (nothing was sent: writes are buffered), or commit()
 *              rejected with a definite error (write conflict, aborted, lock wait, txn timeout);
 *   unknown    commit() rejected with anything else (UnknownOutcomeError, a deadline, an
 *              unavailable cluster), or its process died during commit().
 */
import { KeyLockedError, TxnAbortedError, TxnTimeoutError, WriteConflictError, type CommitOptions, type Transaction, type TxnClient } from "@regionkv/client";
import { appendWorkload, type Op, type PlannedTxn, type Txn, type TxnStatus } from "../../support/txn-history.js";

export const LA_PREFIX = "la/";
export const laKey = (key: string): string => LA_PREFIX + key;

export interface ListAppendPlan {
  seed: number;
  clients: number;
  txnsPerClient: number;
  keys: number;
}

/** A planned transaction with its history id (its position in the generated workload). */
export interface NumberedTxn extends PlannedTxn {
  id: number;
}

/** The workload split per client; the same plan always gives the same transactions and ids. */
export function planListAppend(plan: ListAppendPlan): NumberedTxn[][] {
  const out: NumberedTxn[][] = Array.from({ length: plan.clients }, () => []);
  let id = 0;
  for (const p of appendWorkload({ keys: plan.keys, txnsPerClient: plan.txnsPerClient, clients: plan.clients, opsPerTxn: { min: 1, max: 4 }, seed: plan.seed })) {
    out[p.client]!.push({ ...p, id: id++ });
  }
  return out;
}

/** Commit modes in turn: the client's default (1PC where it applies, else async commit), 2PC, async commit without 1PC. */
export function commitModeOf(id: number): CommitOptions {
  switch (id % 3) {
    case 0:
      return {};
    case 1:
      return { onePc: false, asyncCommit: false };
    default:
      return { onePc: false, asyncCommit: true };
  }
}

/** The list stored at a key (absent = empty). An element that is not an integer becomes -1, which no one appends (a garbage read). */
export function parseList(v: Buffer | undefined): number[] {
  if (v === undefined || v.length === 0) return [];
  return v.toString().split(",").map((s) => (/^\d+$/.test(s) ? Number(s) : -1));
}

/** `code` of a client error (RegionkvError), else the error's name. */
export function errorCode(err: unknown): string {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.name : typeof err;
}

/** Whether a rejection of commit() says for certain that nothing of the transaction was committed. */
export function isDefiniteAbort(err: unknown): boolean {
  return err instanceof WriteConflictError || err instanceof TxnAbortedError || err instanceof TxnTimeoutError || err instanceof KeyLockedError;
}

export interface RunHooks {
  /** Called once every op ran, just before commit() (the child logs the txn then). */
  beforeCommit?: (txn: Txn) => void;
  /** Every error, with where it happened (tests tally them). */
  onError?: (err: unknown, phase: "ops" | "commit") => void;
}

/** Run one planned transaction once (no retry: a retry would append the same value again) and record it. */
export async function runListAppendTxn(db: TxnClient, planned: NumberedTxn, hooks: RunHooks = {}): Promise<Txn> {
  const ops: Op[] = [];
  const invokedAt = Date.now();
  let txn: Transaction | undefined;
  let committing = false;
  const record = (status: TxnStatus, commitTs?: bigint): Txn => {
    // What it did not get to: its appends still count (they must never be seen unless it committed).
    const rest = planned.ops.slice(ops.length).filter((op) => op.f === "append");
    return { id: planned.id, status, ops: [...ops, ...rest], startTs: txn?.startTs, commitTs, process: planned.client, invokedAt, completedAt: Date.now() };
  };
  try {
    txn = await db.begin(commitModeOf(planned.id));
    for (const op of planned.ops) {
      const list = parseList(await txn.get(laKey(op.key)));
      if (op.f === "read") {
        ops.push({ f: "read", key: op.key, value: list });
      } else {
        txn.put(laKey(op.key), [...list, op.value].join(","));
        ops.push(op);
      }
    }
    committing = true;
    hooks.beforeCommit?.(record("unknown"));
    const commitTs = await txn.commit();
    return record("committed", commitTs);
  } catch (err) {
    hooks.onError?.(err, committing ? "commit" : "ops");
    if (txn?.isActive) await txn.rollback().catch(() => undefined);
    if (!committing) return record("aborted");
    return record(isDefiniteAbort(err) ? "aborted" : "unknown");
  }
}

/** A txn as JSON (bigints as "<digits>n" strings); `decodeJson` reads such JSON back. */
export function encodeTxn(t: Txn): string {
  return JSON.stringify(t, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => (typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v)) as T;
}
