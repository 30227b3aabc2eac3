import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom } from "@regionkv/raft";
import {
  appendWorkload,
  checkListAppend,
  describeCheckResult,
  type Anomaly,
  type AnomalyType,
  type CheckOptions,
  type CheckResult,
  type Op,
  type Txn,
  type TxnStatus,
} from "./txn-history.js";

// Builders: `ap("x", 1)` appends 1 to x; `rd("x", 1, 2)` reads x = [1, 2].
const ap = (key: string, value: number): Op => ({ f: "append", key, value });
const rd = (key: string, ...value: number[]): Op => ({ f: "read", key, value });
function txn(id: number, ops: Op[], status: TxnStatus = "committed", ts?: { start: number; commit?: number }): Txn {
  const t: Txn = { id, status, ops };
  if (ts !== undefined) {
    t.startTs = BigInt(ts.start);
    if (ts.commit !== undefined) t.commitTs = BigInt(ts.commit);
  }
  return t;
}

function mustBeValid(history: Txn[], options?: CheckOptions): CheckResult {
  const r = checkListAppend(history, options);
  assert.equal(r.valid, true, describeCheckResult(r));
  return r;
}

/** Asserts the history is invalid and holds an anomaly of `type`; returns the first one. */
function mustFind<T extends AnomalyType>(history: Txn[], type: T, options?: CheckOptions): Anomaly & { type: T } {
  const r = checkListAppend(history, options);
  assert.equal(r.valid, false, describeCheckResult(r));
  const a = r.anomalies.find((x): x is Anomaly & { type: T } => x.type === type);
  assert.ok(a !== undefined, `expected a ${type} anomaly:\n${describeCheckResult(r)}`);
  assert.equal(a.allowed, false);
  return a;
}

function types(r: CheckResult): AnomalyType[] {
  return Object.keys(r.stats.anomalyCounts).sort() as AnomalyType[];
}

// ---------------------------------------------------------------------------------------------
// A simulated store that runs an appendWorkload with several clients interleaved at random.
//   serial          each transaction runs alone, start to commit
//   si              snapshot reads at startTs, first committer wins (a correct Percolator)
//   lost-update     snapshot reads, but no write-conflict check
//   read-committed  each read sees the latest commit, not the snapshot
//   stale-snapshot  each read sees a random past commit point (not one snapshot per txn)

type Mode = "serial" | "si" | "lost-update" | "read-committed" | "stale-snapshot";

interface SimOptions {
  mode: Mode;
  clients: number;
  txnsPerClient: number;
  keys: number;
  seed: number;
  opsPerTxn?: number | { min: number; max: number };
  /** Chance a finished txn is recorded as "unknown" (its ack lost). */
  unknownRate?: number;
  /** End with one committed txn reading every key, which fixes every key's full version order. */
  finalRead?: boolean;
}

function simulate(o: SimOptions): Txn[] {
  const random = seededRandom(o.seed * 7919 + 1);
  const queues: Op[][][] = Array.from({ length: o.clients }, () => []);
  for (const p of appendWorkload({ keys: o.keys, clients: o.clients, txnsPerClient: o.txnsPerClient, opsPerTxn: o.opsPerTxn ?? { min: 1, max: 4 }, seed: o.seed })) {
    queues[p.client]!.push(p.ops.map((op) => (op.f === "append" ? op : { f: "read", key: op.key, value: undefined })));
  }
  const store = new Map<string, { values: number[]; commits: bigint[] }>();
  let ts = 0n;
  let nextId = 1;
  const history: Txn[] = [];
  const readAt = (key: string, at: bigint): number[] => {
    const s = store.get(key);
    if (s === undefined) return [];
    let n = 0;
    while (n < s.commits.length && s.commits[n]! <= at) n++;
    return s.values.slice(0, n);
  };
  interface Running {
    id: number;
    plan: Op[];
    step: number;
    startTs: bigint;
    ops: Op[];
    buffer: Map<string, number[]>;
  }
  const running: (Running | undefined)[] = new Array(o.clients).fill(undefined);
  const taken = new Array<number>(o.clients).fill(0);

  /** One step of client c: begin, run one op, or commit. Returns whether its txn finished. */
  const step = (c: number): boolean => {
    const r = running[c];
    if (r === undefined) {
      running[c] = { id: nextId++, plan: queues[c]![taken[c]!++]!, step: 0, startTs: ++ts, ops: [], buffer: new Map() };
      return false;
    }
    const op = r.plan[r.step++];
    if (op !== undefined) {
      if (op.f === "append") {
        const b = r.buffer.get(op.key) ?? [];
        b.push(op.value);
        r.buffer.set(op.key, b);
        r.ops.push(op);
      } else {
        const at = o.mode === "read-committed" ? ts : o.mode === "stale-snapshot" ? BigInt(Math.floor(random() * Number(ts + 1n))) : r.startTs;
        r.ops.push({ f: "read", key: op.key, value: [...readAt(op.key, at), ...(r.buffer.get(op.key) ?? [])] });
      }
      return false;
    }
    running[c] = undefined;
    const conflict =
      o.mode !== "lost-update" &&
      [...r.buffer.keys()].some((k) => {
        const last = store.get(k)?.commits.at(-1);
        return last !== undefined && last > r.startTs;
      });
    const t: Txn = { id: r.id, status: conflict ? "aborted" : "committed", ops: r.ops, startTs: r.startTs, process: c };
    if (!conflict && r.buffer.size > 0) {
      const commitTs = ++ts;
      t.commitTs = commitTs;
      for (const [k, vs] of r.buffer) {
        const s = store.get(k) ?? { values: [], commits: [] };
        for (const v of vs) {
          s.values.push(v);
          s.commits.push(commitTs);
        }
        store.set(k, s);
      }
    }
    if (random() < (o.unknownRate ?? 0)) t.status = "unknown";
    history.push(t);
    return true;
  };

  for (;;) {
    const live = running.flatMap((r, c) => (r !== undefined || taken[c]! < queues[c]!.length ? [c] : []));
    if (live.length === 0) break;
    const c = live[Math.floor(random() * live.length)]!;
    if (o.mode === "serial") while (!step(c));
    else step(c);
  }
  if (o.finalRead === true) {
    const at = ++ts;
    history.push({ id: nextId++, status: "committed", startTs: at, ops: [...store.keys()].sort().map((k) => ({ f: "read", key: k, value: readAt(k, at) })) });
  }
  return history;
}

// Brute force, for small histories: the definitions themselves, by enumeration.

/** Whether every read of `t`, run from `state` (key → list), sees what it recorded. */
function readsMatch(t: Txn, state: ReadonlyMap<string, number[]>): boolean {
  const local = new Map<string, number[]>();
  for (const op of t.ops) {
    const cur = local.get(op.key) ?? [...(state.get(op.key) ?? [])];
    local.set(op.key, cur);
    if (op.f === "append") cur.push(op.value);
    else if (JSON.stringify(cur) !== JSON.stringify(op.value ?? [])) return false;
  }
  return true;
}

/** `state` with `t`'s appends applied. */
function applied(t: Txn, state: ReadonlyMap<string, number[]>): Map<string, number[]> {
  const next = new Map(state);
  for (const op of t.ops) if (op.f === "append") next.set(op.key, [...(next.get(op.key) ?? []), op.value]);
  return next;
}

/** Some order of the committed txns, each run alone, gives every read. */
function serializableByBruteForce(history: Txn[]): boolean {
  const txns = history.filter((t) => t.status === "committed");
  const used = txns.map(() => false);
  const search = (state: Map<string, number[]>, placed: number): boolean => {
    if (placed === txns.length) return true;
    return txns.some((t, i) => {
      if (used[i]) return false;
      if (!readsMatch(t, state)) return false;
      used[i] = true;
      const ok = search(applied(t, state), placed + 1);
      used[i] = false;
      return ok;
    });
  };
  return search(new Map(), 0);
}

/**
 * Some interleaving of the committed txns' start and commit events in which each txn reads the
 * state committed before its start plus its own appends, and no two txns appending to one key
 * overlap (first committer wins).
 */
function snapshotIsolatedByBruteForce(history: Txn[]): boolean {
  const txns = history.filter((t) => t.status === "committed");
  const writes = txns.map((t) => new Set(t.ops.flatMap((op) => (op.f === "append" ? [op.key] : []))));
  const shareKey = (i: number, j: number): boolean => [...writes[i]!].some((k) => writes[j]!.has(k));
  // How many commits had happened when txn i started / when it committed.
  const startedAt: (number | undefined)[] = txns.map(() => undefined);
  const committedAt: (number | undefined)[] = txns.map(() => undefined);
  const search = (state: Map<string, number[]>, commits: number): boolean => {
    if (commits === txns.length) return true;
    for (let i = 0; i < txns.length; i++) {
      if (committedAt[i] !== undefined) continue;
      const start = startedAt[i];
      if (start === undefined) {
        if (!readsMatch(txns[i]!, state)) continue; // its reads see this snapshot
        startedAt[i] = commits;
        if (search(state, commits)) return true;
        startedAt[i] = undefined;
        continue;
      }
      if (txns.some((_, j) => committedAt[j] !== undefined && committedAt[j]! >= start && shareKey(i, j))) continue;
      committedAt[i] = commits;
      if (search(applied(txns[i]!, state), commits + 1)) return true;
      committedAt[i] = undefined;
    }
    return false;
  };
  return search(new Map(), 0);
}

// ---------------------------------------------------------------------------------------------

describe("checkListAppend: valid histories", () => {
  it("accepts the empty history and a serial one under both models", () => {
    mustBeValid([]);
    const serial = [
      txn(1, [rd("x"), ap("x", 1), rd("x", 1)]),
      txn(2, [rd("x", 1), ap("x", 2), ap("y", 1)]),
      txn(3, [rd("x", 1, 2), rd("y", 1), ap("y", 2), rd("y", 1, 2)]),
      txn(4, [{ f: "read", key: "x", value: undefined }], "committed"),
    ];
    // T4 read x absent (= []): it ran before T1, an order serializability and SI both allow.
    for (const isolation of ["snapshot-isolation", "serializable"] as const) {
      const r = mustBeValid(serial, { isolation });
      assert.equal(r.anomalies.length, 0);
      assert.equal(r.stats.cyclicComponents, 0);
      // ww T1→T2 on x; wr T1→T2, T2→T3 (x and y: one edge); rw T4→T1 on x. Self edges are dropped.
      assert.deepEqual(r.stats.edges, { ww: 1, wr: 2, rw: 1 });
    }
  });

  it("accepts concurrent snapshot reads of older versions", () => {
    // T2 and T3 both start after T1 commits; T3 reads y before T2's append becomes visible.
    mustBeValid([
      txn(1, [ap("x", 1), ap("y", 1)], "committed", { start: 1, commit: 2 }),
      txn(2, [rd("x", 1), ap("y", 2)], "committed", { start: 3, commit: 5 }),
      txn(3, [rd("y", 1), rd("x", 1)], "committed", { start: 4 }),
      txn(4, [rd("y", 1, 2)], "committed", { start: 6 }),
    ]);
  });

  it("accepts write skew (G2) under snapshot isolation, reports it as allowed, and rejects it under serializability", () => {
    const skew = [
      txn(1, [rd("x"), rd("y"), ap("x", 1)], "committed", { start: 1, commit: 3 }),
      txn(2, [rd("x"), rd("y"), ap("y", 1)], "committed", { start: 2, commit: 4 }),
      txn(3, [rd("x", 1), rd("y", 1)], "committed", { start: 5 }),
    ];
    const si = mustBeValid(skew);
    assert.deepEqual(types(si), ["G2"]);
    const g2 = si.anomalies[0]!;
    assert.equal(g2.type, "G2");
    assert.equal(g2.allowed, true);
    const ser = mustFind(skew, "G2", { isolation: "serializable" });
    assert.deepEqual(
      ser.cycle.map((e) => `${e.from}-${e.kind}:${e.key}->${e.to}`),
      ["1-rw:y->2", "2-rw:x->1"],
    );
    assert.equal(ser.sccSize, 2);
    assert.match(ser.explanation, /T1 read it empty and T2 appended the next value, 1/);
  });

  it("treats an unknown txn as committed only once someone observed its appends", () => {
    const history = [
      txn(1, [ap("x", 1)], "aborted"),
      txn(2, [rd("x", 1), ap("y", 1)], "unknown"), // would be G1a if it committed
    ];
    const r = mustBeValid(history);
    assert.equal(r.stats.promotedUnknown, 0);
    const observed = mustFind([...history, txn(3, [rd("y", 1)])], "G1a");
    assert.deepEqual(observed.txns, [1, 2]);
  });

  it("ignores the reads of aborted transactions", () => {
    mustBeValid([txn(1, [rd("x", 42), ap("x", 1)], "aborted"), txn(2, [rd("x")])]);
  });
});

describe("checkListAppend: one known-bad history per anomaly", () => {
  it("internal: a read that misses the txn's own earlier append", () => {
    const a = mustFind([txn(1, [rd("x"), ap("x", 1), rd("x")])], "internal");
    assert.deepEqual(a.txns, [1]);
    assert.equal(a.key, "x");
    assert.match(a.explanation, /plus its own appends since give \[1\]/);
    mustFind([txn(1, [ap("x", 1), { f: "read", key: "x", value: undefined }])], "internal");
  });

  it("internal: a read showing the txn's own append before it was made", () => {
    const a = mustFind([txn(1, [rd("x", 5), ap("x", 5)])], "internal");
    assert.match(a.explanation, /own append 5 before it made it/);
  });

  it("G1a: a committed read of an aborted append", () => {
    const a = mustFind([txn(1, [ap("x", 1)], "aborted"), txn(2, [rd("x", 1)])], "G1a");
    assert.deepEqual(a.txns, [1, 2]);
    assert.match(a.explanation, /T1 \(aborted\)/);
  });

  it("G1b: a read ending in a value its writer appended over", () => {
    const a = mustFind([txn(1, [ap("x", 1), ap("x", 2)]), txn(2, [rd("x", 1)])], "G1b");
    assert.deepEqual(a.txns, [1, 2]);
    assert.match(a.explanation, /ending in 1, but T1 appended \[1, 2\]/);
  });

  it("garbage-read: a value nobody appended", () => {
    const a = mustFind([txn(1, [ap("x", 1)]), txn(2, [rd("x", 1, 7)])], "garbage-read");
    assert.match(a.explanation, /no transaction appended 7/);
  });

  it("incompatible-order: two reads of a key that are not prefixes of one order", () => {
    const a = mustFind([txn(1, [ap("x", 1)]), txn(2, [ap("x", 2)]), txn(3, [rd("x", 1, 2)]), txn(4, [rd("x", 2)])], "incompatible-order");
    assert.deepEqual(a.txns.sort(), [3, 4]);
    assert.match(a.explanation, /differ at position 0 \(2 vs 1\)/);
  });

  it("duplicate-append and duplicate-elements", () => {
    const d = mustFind([txn(1, [ap("x", 1)]), txn(2, [ap("x", 1)])], "duplicate-append");
    assert.deepEqual([d.txns, d.value], [[1, 2], 1]);
    mustFind([txn(1, [ap("x", 1)]), txn(2, [rd("x", 1, 1)])], "duplicate-elements");
  });

  it("G0: appends of two txns interleave on two keys", () => {
    const a = mustFind([txn(1, [ap("x", 1), ap("y", 2)]), txn(2, [ap("x", 2), ap("y", 1)]), txn(3, [rd("x", 1, 2), rd("y", 1, 2)])], "G0");
    assert.deepEqual(
      a.cycle.map((e) => e.kind),
      ["ww", "ww"],
    );
    assert.deepEqual(new Set(a.txns), new Set([1, 2]));
  });

  it("G1c: each txn read the other's append", () => {
    const a = mustFind([txn(1, [ap("x", 1), rd("y", 1)]), txn(2, [ap("y", 1), rd("x", 1)])], "G1c");
    assert.deepEqual(
      a.cycle.map((e) => `${e.from}-${e.kind}:${e.key}->${e.to}`),
      ["1-wr:x->2", "2-wr:y->1"],
    );
  });

  it("G-single: read skew, with the edges and keys in the explanation", () => {
    const history = [
      txn(1, [ap("x", 1), ap("y", 1)], "committed", { start: 1, commit: 2 }),
      txn(2, [rd("x", 1), rd("y", 1, 2)], "committed", { start: 3 }),
      txn(3, [ap("x", 2), ap("y", 2)], "committed", { start: 4, commit: 5 }),
      txn(4, [rd("x", 1, 2)], "committed", { start: 6 }), // without a read of x = [1, 2], T2 -rw-> T3 is invisible
    ];
    const a = mustFind(history, "G-single", { checkTimestamps: false });
    assert.deepEqual(
      a.cycle.map((e) => `${e.from}-${e.kind}:${e.key}->${e.to}`),
      ["2-rw:x->3", "3-wr:y->2"],
    );
    assert.match(a.explanation, /T2 -rw "x"-> T3: T2 read it ending in 1 and T3 appended the next value, 2/);
    assert.match(a.explanation, /T3 -wr "y"-> T2: T2 read it ending in 2, which T3 appended/);
    // The timestamps say the same thing directly: T3 committed after T2's snapshot.
    const f = mustFind(history, "future-read");
    assert.deepEqual(f.timestamps, [
      { txn: 3, startTs: 4n, commitTs: 5n },
      { txn: 2, startTs: 3n, commitTs: undefined },
    ]);
  });

  it("G-single: lost update", () => {
    const history = [txn(0, [ap("x", 1)]), txn(1, [rd("x", 1), ap("x", 2)]), txn(2, [rd("x", 1), ap("x", 3)]), txn(3, [rd("x", 1, 2, 3)])];
    const a = mustFind(history, "G-single");
    assert.deepEqual(
      a.cycle.map((e) => `${e.from}-${e.kind}:${e.key}->${e.to}`),
      ["2-rw:x->1", "1-ww:x->2"],
    );
    // With no budget for the single-rw search, the product-graph cycle is classified by its rw count.
    mustFind(history, "G-single", { gSingleSearchBudget: 0 });
  });

  it("G-nonadjacent: two rw edges that are never consecutive break SI but look like G2", () => {
    const history = [
      txn(1, [rd("a"), rd("d", 1)]),
      txn(2, [ap("a", 1), ap("b", 1)]),
      txn(3, [rd("b", 1), rd("c")]),
      txn(4, [ap("c", 1), ap("d", 1)]),
      txn(5, [rd("a", 1), rd("c", 1)]),
    ];
    const a = mustFind(history, "G-nonadjacent");
    assert.deepEqual(
      a.cycle.map((e) => e.kind),
      ["rw", "wr", "rw", "wr"],
    );
    mustFind(history, "G-nonadjacent", { isolation: "serializable" });
  });

  it("an observed unknown txn joins the graph (G1c through it)", () => {
    const r = checkListAppend([txn(1, [ap("x", 1), rd("y", 1)], "unknown"), txn(2, [ap("y", 1), rd("x", 1)])]);
    assert.equal(r.stats.promotedUnknown, 1);
    assert.deepEqual(types(r), ["G1c"]);
  });

  it("stale-read: only the timestamps show a read that missed a committed append", () => {
    const history = [txn(1, [ap("x", 1)], "committed", { start: 1, commit: 2 }), txn(2, [rd("x")], "committed", { start: 3 })];
    const a = mustFind(history, "stale-read");
    assert.match(a.explanation, /T2 \(start 3\) read "x" = \[\], but its snapshot holds \[1\]: it misses 1, appended by T1 committed at 2 <= 3/);
    mustBeValid(history, { checkTimestamps: false }); // as a graph it is just T2 -rw-> T1
  });

  it("future-read: a read of an append committed after the reader's snapshot", () => {
    const a = mustFind([txn(1, [ap("x", 1)], "committed", { start: 1, commit: 5 }), txn(2, [rd("x", 1)], "committed", { start: 3, commit: 4 })], "future-read");
    assert.deepEqual(a.txns, [1, 2]);
  });

  it("concurrent-write: two overlapping txns both committed appends to one key", () => {
    const a = mustFind(
      [txn(1, [ap("x", 1)], "committed", { start: 1, commit: 3 }), txn(2, [ap("x", 2)], "committed", { start: 2, commit: 4 }), txn(3, [rd("x", 1, 2)], "committed", { start: 5 })],
      "concurrent-write",
    );
    assert.deepEqual(a.txns, [1, 2]);
    assert.match(a.explanation, /first committer wins is broken on "x"/);
  });

  it("counts every anomaly but keeps maxAnomaliesPerType of each", () => {
    const history = [1, 2, 3, 4, 5].map((i) => txn(i, [rd(`k${i}`, 100 + i)]));
    const r = checkListAppend(history, { maxAnomaliesPerType: 2 });
    assert.equal(r.valid, false);
    assert.equal(r.anomalies.length, 2);
    assert.deepEqual(r.stats.anomalyCounts, { "garbage-read": 5 });
  });

  it("throws on duplicate transaction ids, saying what to fix", () => {
    assert.throws(() => checkListAppend([txn(1, []), txn(1, [])]), /transaction id 1 is used by history\[0\] and history\[1\]/);
  });
});

describe("checkListAppend against brute force on small simulated histories", () => {
  it("agrees with the definitions of SI and serializability", () => {
    // 4 clients with one txn each on 3 keys, then a reader of every key (so every version order is
    // known and the checker is complete); 600 seeds over the correct and the broken stores.
    const modes: Mode[] = ["si", "lost-update", "read-committed", "stale-snapshot"];
    const seen = { si: [0, 0], ser: [0, 0] };
    const siTypes = new Set<AnomalyType>();
    for (let seed = 1; seed <= 600; seed++) {
      const mode = modes[seed % modes.length]!;
      const history = simulate({ mode, clients: 4, txnsPerClient: 1, keys: 3, seed, opsPerTxn: { min: 2, max: 4 }, finalRead: true });
      const si = checkListAppend(history, { checkTimestamps: false });
      const ser = checkListAppend(history, { checkTimestamps: false, isolation: "serializable" });
      const context = `seed ${seed} (${mode}): ${JSON.stringify(history, (_, v: unknown) => (typeof v === "bigint" ? Number(v) : v))}`;
      assert.equal(si.valid, snapshotIsolatedByBruteForce(history), `SI, ${context}\n${describeCheckResult(si)}`);
      assert.equal(ser.valid, serializableByBruteForce(history), `serializable, ${context}\n${describeCheckResult(ser)}`);
      seen.si[si.valid ? 0 : 1]!++;
      seen.ser[ser.valid ? 0 : 1]!++;
      for (const t of types(si)) siTypes.add(t);
    }
    // Both answers, and every cycle class, must occur, or the comparison proves little.
    for (const [model, [valid, invalid]] of Object.entries(seen)) assert.ok(valid! > 50 && invalid! > 50, `${model}: ${valid} valid, ${invalid} invalid`);
    assert.deepEqual([...siTypes].sort(), ["G-nonadjacent", "G-single", "G2", "internal"]);
  });
});

describe("checkListAppend on large simulated histories", () => {
  const big = simulate({ mode: "si", clients: 8, txnsPerClient: 2500, keys: 12, seed: 42, unknownRate: 0.05 });

  it("finds a 20,000-txn SI execution valid in a few seconds, with G2 allowed and timestamps checked", () => {
    assert.equal(big.length, 20_000);
    const t0 = performance.now();
    const r = mustBeValid(big);
    const ms = performance.now() - t0;
    assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
    assert.ok(r.stats.aborted > 100 && r.stats.promotedUnknown > 100, JSON.stringify(r.stats));
    assert.ok(r.stats.edges.rw > 1000 && r.stats.timestampReadsChecked > 1000, JSON.stringify(r.stats));
    assert.deepEqual(types(r), ["G2"], describeCheckResult(r));
    // Under serializability the same write skews are violations, and nothing else is.
    const ser = checkListAppend(big, { isolation: "serializable" });
    assert.equal(ser.valid, false);
    assert.deepEqual(types(ser), ["G2"]);
  });

  it("finds a serial execution serializable", () => {
    const r = mustBeValid(simulate({ mode: "serial", clients: 4, txnsPerClient: 500, keys: 6, seed: 7 }), { isolation: "serializable" });
    assert.equal(r.stats.cyclicComponents, 0);
  });

  it("catches a store without write-conflict checks (lost updates)", () => {
    const r = checkListAppend(simulate({ mode: "lost-update", clients: 6, txnsPerClient: 300, keys: 4, seed: 3 }));
    assert.equal(r.valid, false);
    assert.ok((r.stats.anomalyCounts["G-single"] ?? 0) > 0 && (r.stats.anomalyCounts["concurrent-write"] ?? 0) > 0, describeCheckResult(r));
  });

  it("catches a store whose reads are read-committed, with and without timestamps", () => {
    const history = simulate({ mode: "read-committed", clients: 6, txnsPerClient: 300, keys: 4, seed: 5 });
    const r = checkListAppend(history);
    assert.ok((r.stats.anomalyCounts["future-read"] ?? 0) > 0, describeCheckResult(r));
    const graphOnly = checkListAppend(history, { checkTimestamps: false });
    assert.equal(graphOnly.valid, false);
    assert.ok((graphOnly.stats.anomalyCounts["G-single"] ?? 0) > 0, describeCheckResult(graphOnly));
  });

  it("catches one tampered read in the large history", () => {
    const reader = big.findIndex((t) => t.status === "committed" && t.ops.some((op) => op.f === "read" && (op.value?.length ?? 0) > 1));
    const tampered = big.map((t, i) =>
      i !== reader ? t : { ...t, ops: t.ops.map((op) => (op.f === "read" && (op.value?.length ?? 0) > 1 ? { ...op, value: op.value!.slice(0, -1) } : op)) },
    );
    const r = checkListAppend(tampered);
    assert.equal(r.valid, false);
    assert.ok((r.stats.anomalyCounts["stale-read"] ?? 0) > 0, describeCheckResult(r));
    const garbage = big.map((t, i) => (i !== reader ? t : { ...t, ops: [...t.ops, rd("never-written", 1)] }));
    assert.deepEqual(types(checkListAppend(garbage)), ["G2", "garbage-read"]);
  });

  it("handles a 100,000-txn dependency cycle without recursion", () => {
    // T_i appends to key i and reads key i-1; T_0 reads the last key: one wr cycle through all.
    const n = 100_000;
    const history = Array.from({ length: n }, (_, i) => txn(i, [ap(`k${i}`, 1), rd(`k${(i + n - 1) % n}`, 1)]));
    const t0 = performance.now();
    const a = mustFind(history, "G1c");
    assert.ok(performance.now() - t0 < 10_000);
    assert.equal(a.sccSize, n);
    assert.equal(a.cycle.length, n);
    assert.match(a.explanation, /… 99988 more edges back to T0/);
  });

  it("is deterministic", () => {
    const small = simulate({ mode: "lost-update", clients: 4, txnsPerClient: 100, keys: 3, seed: 9, unknownRate: 0.1 });
    assert.deepEqual(simulate({ mode: "lost-update", clients: 4, txnsPerClient: 100, keys: 3, seed: 9, unknownRate: 0.1 }), small);
    assert.deepEqual(checkListAppend(small), checkListAppend(structuredClone(small)));
  });
});

describe("appendWorkload", () => {
  const opts = { keys: 3, clients: 2, txnsPerClient: 200, opsPerTxn: { min: 1, max: 5 }, seed: 11, maxWritesPerKey: 8 };

  it("plans unique values per key, retires full keys, and round-robins the clients", () => {
    const plans = [...appendWorkload(opts)];
    assert.equal(plans.length, 400);
    assert.deepEqual(
      plans.slice(0, 4).map((p) => [p.client, p.seq]),
      [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ],
    );
    const perKey = new Map<string, number[]>();
    for (const p of plans) {
      assert.ok(p.ops.length >= 1 && p.ops.length <= 5);
      for (const op of p.ops) if (op.f === "append") perKey.set(op.key, [...(perKey.get(op.key) ?? []), op.value]);
    }
    assert.ok(perKey.size > 10, `keys used: ${perKey.size}`);
    for (const [key, values] of perKey) {
      assert.equal(new Set(values).size, values.length, `duplicate value on ${key}`);
      assert.ok(values.length <= 8, `${key} has ${values.length} appends`);
    }
  });

  it("replays from its seed and only from its seed", () => {
    assert.deepEqual([...appendWorkload(opts)], [...appendWorkload(opts)]);
    assert.notDeepEqual([...appendWorkload(opts)], [...appendWorkload({ ...opts, seed: 12 })]);
    const appendsOnly = [...appendWorkload({ ...opts, readFraction: 0 })];
    assert.ok(appendsOnly.every((p) => p.ops.every((op) => op.f === "append")));
  });

  it("rejects bad options", () => {
    assert.throws(() => [...appendWorkload({ ...opts, keys: 0 })], /keys must be a positive integer/);
    assert.throws(() => [...appendWorkload({ ...opts, opsPerTxn: { min: 3, max: 2 } })], /opsPerTxn.max must be an integer >= min/);
  });
});
