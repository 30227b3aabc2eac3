/**
 * A seeded list-append workload for the snapshot-isolation checker (txn-history.ts): planned
 * transactions of appends (unique values per key) and reads, which a test runs against the store
 * and records as a history.
 */
import { seededRandom } from "@regionkv/raft";

export interface AppendWorkloadOptions {
  /** Keys in use at a time; a key that reached `maxWritesPerKey` appends is replaced by a fresh one. */
  keys: number;
  txnsPerClient: number;
  /** Ops per transaction: exactly this many, or uniformly in [min, max]. */
  opsPerTxn: number | { min: number; max: number };
  seed: number;
  /** Default 1. */
  clients?: number;
  /** Chance that an op is a read. Default 0.5. */
  readFraction?: number;
  /** Appends per key before it is retired (keeps reads short, as Elle does). Default 32. */
  maxWritesPerKey?: number;
}

/** An op to run; reads get their value when executed. */
export type PlannedOp = { f: "append"; key: string; value: number } | { f: "read"; key: string };

export interface PlannedTxn {
  client: number;
  /** The txn's position in its client's sequence. */
  seq: number;
  ops: PlannedOp[];
}

/**
 * A seeded list-append workload: `clients * txnsPerClient` planned transactions, round-robin over
 * clients (client 0's first, client 1's first, …). Appended values count up from 1 per key, so
 * they are unique per key. The same options always give the same workload.
 */
export function* appendWorkload(opts: AppendWorkloadOptions): Generator<PlannedTxn> {
  const clients = opts.clients ?? 1;
  const readFraction = opts.readFraction ?? 0.5;
  const maxWrites = opts.maxWritesPerKey ?? 32;
  const { min, max } = typeof opts.opsPerTxn === "number" ? { min: opts.opsPerTxn, max: opts.opsPerTxn } : opts.opsPerTxn;
  for (const [name, v] of [["keys", opts.keys], ["clients", clients], ["maxWritesPerKey", maxWrites], ["opsPerTxn (min)", min]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`appendWorkload: ${name} must be a positive integer, got ${v}.`);
  }
  if (!Number.isInteger(max) || max < min) throw new RangeError(`appendWorkload: opsPerTxn.max must be an integer >= min (${min}), got ${max}.`);
  if (!(readFraction >= 0 && readFraction <= 1)) throw new RangeError(`appendWorkload: readFraction must be in [0, 1], got ${readFraction}.`);

  const random = seededRandom(opts.seed);
  let nextKey = 0;
  const slots = Array.from({ length: opts.keys }, () => ({ key: `k${nextKey++}`, writes: 0 }));
  for (let seq = 0; seq < opts.txnsPerClient; seq++) {
    for (let client = 0; client < clients; client++) {
      const length = min + Math.floor(random() * (max - min + 1));
      const ops: PlannedOp[] = [];
      for (let i = 0; i < length; i++) {
        const slot = slots[Math.floor(random() * slots.length)]!;
        if (random() < readFraction) {
          ops.push({ f: "read", key: slot.key });
          continue;
        }
        ops.push({ f: "append", key: slot.key, value: ++slot.writes });
        if (slot.writes >= maxWrites) {
          slot.key = `k${nextKey++}`;
          slot.writes = 0;
        }
      }
      yield { client, seq, ops };
    }
  }
}
