import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkHistory, describeOp, HistoryRecorder, type CasOp, type CheckResult, type GetOp, type Op, type PutOp } from "./linearizability.js";
import { seededRandom } from "@regionkv/raft";

// Builders: `ret` undefined = indeterminate (failed or timed out on the client).
function get(clientId: number, value: string | undefined, call: number, ret: number | undefined, key = "k"): GetOp {
  return ret === undefined
    ? { clientId, key, kind: "get", input: undefined, call, ret }
    : { clientId, key, kind: "get", input: undefined, output: { value }, call, ret };
}
function put(clientId: number, value: string, call: number, ret: number | undefined, key = "k"): PutOp {
  return ret === undefined
    ? { clientId, key, kind: "put", input: { value }, call, ret }
    : { clientId, key, kind: "put", input: { value }, output: { ok: true }, call, ret };
}
function cas(
  clientId: number,
  expected: string | undefined,
  next: string,
  result: { swapped: boolean; previous: string | undefined } | undefined,
  call: number,
  ret: number | undefined,
  key = "k",
): CasOp {
  return result === undefined
    ? { clientId, key, kind: "cas", input: { expected, next }, call, ret: undefined }
    : { clientId, key, kind: "cas", input: { expected, next }, output: result, call, ret };
}

function mustBeLinearizable(ops: Op[]): void {
  const r = checkHistory(ops, { timeoutMs: 10_000 });
  assert.deepEqual(r, { ok: true }, r.ok === false ? r.explanation : "");
}
function mustNotBeLinearizable(ops: Op[], key = "k"): Extract<CheckResult, { ok: false }> {
  const r = checkHistory(ops, { timeoutMs: 10_000 });
  assert.equal(r.ok, false, `expected a violation, got ${JSON.stringify(r)}`);
  if (r.ok !== false) throw new Error("unreachable");
  assert.equal(r.key, key);
  return r;
}

/**
 * A history produced by real sequential registers with random concurrency: each client invokes an
 * op (call time), the op later takes effect atomically on the register (its linearization point),
 * and later returns (return time). Some ops never return (indeterminate), having taken effect or
 * not. Every written value is unique, so the history is linearizable by construction.
 */
function generateHistory(rand: () => number, opts: { ops: number; keys: number; clients: number; indeterminate: number }): Op[] {
  const registers = new Map<string, string | undefined>();
  const history: Op[] = [];
  type Pending = { op: Op; applied: boolean; lost: boolean };
  const pending = new Map<number, Pending>();
  let time = 0;
  let invoked = 0;
  let written = 0;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  while (invoked < opts.ops || pending.size > 0) {
    const client = Math.floor(rand() * opts.clients);
    const p = pending.get(client);
    time += 1;
    if (p === undefined) {
      if (invoked >= opts.ops) continue;
      invoked++;
      const key = `key-${Math.floor(rand() * opts.keys)}`;
      const roll = rand();
      let op: Op;
      if (roll < 0.4) op = { clientId: client, key, kind: "get", input: undefined, call: time, ret: undefined };
      else if (roll < 0.7) op = { clientId: client, key, kind: "put", input: { value: `v${written++}` }, call: time, ret: undefined };
      else {
        const current = registers.get(key);
        const expected = rand() < 0.6 ? current : pick([undefined, `v${Math.floor(rand() * (written + 1))}`]);
        op = { clientId: client, key, kind: "cas", input: { expected, next: `v${written++}` }, call: time, ret: undefined };
      }
      history.push(op);
      pending.set(client, { op, applied: false, lost: rand() < opts.indeterminate });
      continue;
    }
    if (!p.applied) {
      p.applied = true;
      // A lost op that never takes effect: the client gives up without a return.
      if (p.lost && rand() < 0.5) {
        pending.delete(client);
        continue;
      }
      const op = p.op;
      const state = registers.get(op.key);
      switch (op.kind) {
        case "get":
          op.output = { value: state };
          break;
        case "put":
          registers.set(op.key, op.input.value);
          op.output = { ok: true };
          break;
        case "cas": {
          const swapped = state === op.input.expected;
          if (swapped) registers.set(op.key, op.input.next);
          op.output = { swapped, previous: state };
          break;
        }
      }
      continue;
    }
    pending.delete(client);
    if (p.lost) {
      delete p.op.output; // took effect, but the client never heard back
    } else {
      p.op.ret = time;
    }
  }
  return history;
}

/**
 * The definition, by brute force: some order of the ops respects real time (an op that returned
 * before another was called comes first), fits the register, and includes every completed op;
 * indeterminate ops may be placed anywhere after their call or left out.
 */
function existsLinearization(ops: readonly Op[]): boolean {
  const used = ops.map(() => false);
  const search = (state: string | undefined): boolean => {
    if (ops.every((op, i) => used[i] || op.ret === undefined)) return true;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (used[i] || (op.kind === "get" && op.ret === undefined)) continue;
      if (ops.some((other, j) => !used[j] && other.ret !== undefined && other.ret < op.call)) continue;
      let next = state;
      if (op.kind === "get") {
        if (op.output!.value !== state) continue;
      } else if (op.kind === "put") {
        next = op.input.value;
      } else {
        const swaps = state === op.input.expected;
        next = swaps ? op.input.next : state;
        if (op.output !== undefined && (op.output.swapped !== swaps || op.output.previous !== state)) continue;
      }
      used[i] = true;
      const found = search(next);
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(undefined);
}

describe("checkHistory: histories known to be linearizable", () => {
  it("accepts an empty history and a sequential put/get/cas history", () => {
    mustBeLinearizable([]);
    mustBeLinearizable([
      get(1, undefined, 0, 1),
      put(1, "a", 2, 3),
      get(2, "a", 4, 5),
      cas(1, "a", "b", { swapped: true, previous: "a" }, 6, 7),
      cas(2, "a", "c", { swapped: false, previous: "b" }, 8, 9),
      get(1, "b", 10, 11),
    ]);
  });

  it("accepts a get overlapping a put that sees the old value, and one that sees the new value", () => {
    const before = put(1, "old", 0, 1);
    mustBeLinearizable([before, put(1, "new", 2, 10), get(2, "old", 3, 5)]);
    mustBeLinearizable([before, put(1, "new", 2, 10), get(2, "new", 3, 5)]);
    // Both in one history, in an order that fits: old read first, then the new one.
    mustBeLinearizable([before, put(1, "new", 2, 10), get(2, "old", 3, 5), get(3, "new", 6, 8)]);
  });

  it("treats ops that touch at one instant as concurrent", () => {
    mustBeLinearizable([put(1, "a", 0, 5), get(2, undefined, 5, 6)]);
  });

  it("accepts a chain of cas ops from concurrent clients in which exactly one swaps from each value", () => {
    mustBeLinearizable([
      cas(1, undefined, "a", { swapped: true, previous: undefined }, 0, 4),
      cas(2, undefined, "x", { swapped: false, previous: "a" }, 1, 5),
      cas(3, "a", "b", { swapped: true, previous: "a" }, 2, 8),
      cas(1, "a", "y", { swapped: false, previous: "b" }, 6, 9),
      cas(2, "b", "c", { swapped: true, previous: "b" }, 7, 12),
      get(3, "c", 13, 14),
    ]);
  });

  it("accepts an indeterminate put that took effect (a later read sees it)", () => {
    mustBeLinearizable([put(1, "a", 0, 1), put(2, "b", 2, undefined), get(3, "b", 10, 11), get(3, "b", 12, 13)]);
  });

  it("accepts an indeterminate put that did not take effect (later reads never see it)", () => {
    mustBeLinearizable([put(1, "a", 0, 1), put(2, "b", 2, undefined), get(3, "a", 10, 11), get(3, "a", 12, 13)]);
  });

  it("accepts an indeterminate cas that took effect, and one that did not", () => {
    mustBeLinearizable([put(1, "a", 0, 1), cas(2, "a", "b", undefined, 2, undefined), get(1, "b", 5, 6)]);
    mustBeLinearizable([put(1, "a", 0, 1), cas(2, "a", "b", undefined, 2, undefined), get(1, "a", 5, 6)]);
  });

  it("ignores indeterminate gets", () => {
    mustBeLinearizable([put(1, "a", 0, 1), get(2, undefined, 2, undefined), get(1, "a", 3, 4)]);
  });

  it("checks keys independently: each register starts absent", () => {
    mustBeLinearizable([put(1, "a", 0, 1, "x"), get(2, undefined, 2, 3, "y"), get(2, "a", 4, 5, "x")]);
  });
});

describe("checkHistory: histories known not to be linearizable", () => {
  it("rejects a stale read after a completed write", () => {
    const r = mustNotBeLinearizable([put(1, "a", 0, 1), put(1, "b", 2, 3), get(2, "a", 4, 5)]);
    assert.match(r.explanation, /c2 get\(\) → "a" \[4, 5\]/);
  });

  it("rejects a read of a value never written", () => {
    const r = mustNotBeLinearizable([put(1, "a", 0, 1), get(2, "zzz", 0, 3)]);
    assert.match(r.explanation, /"zzz"/);
  });

  it("rejects two cas ops that both swapped from the same expected value", () => {
    mustNotBeLinearizable([
      put(1, "a", 0, 1),
      cas(1, "a", "b", { swapped: true, previous: "a" }, 2, 5),
      cas(2, "a", "c", { swapped: true, previous: "a" }, 3, 6),
    ]);
  });

  it("rejects a cas whose reported previous value was not current", () => {
    mustNotBeLinearizable([put(1, "a", 0, 1), cas(2, "x", "y", { swapped: false, previous: "b" }, 2, 3)]);
  });

  it("rejects a read going back in time: v2, then v1 after v2's write completed", () => {
    mustNotBeLinearizable([put(1, "v1", 0, 1), put(1, "v2", 2, 4), get(2, "v2", 3, 5), get(3, "v1", 6, 7)]);
  });

  it("rejects a read going back in time while the write is still in flight", () => {
    mustNotBeLinearizable([put(1, "v1", 0, 1), put(1, "v2", 2, 20), get(2, "v2", 3, 4), get(3, "v1", 5, 6)]);
  });

  it("rejects a lost acknowledged write", () => {
    mustNotBeLinearizable([put(1, "a", 0, 1), get(2, undefined, 2, 3)]);
    mustNotBeLinearizable([put(1, "a", 0, 1), put(2, "b", 2, 3), cas(3, "b", "c", { swapped: false, previous: "a" }, 4, 5)]);
  });

  it("rejects an indeterminate put seen and then unseen", () => {
    mustNotBeLinearizable([put(1, "a", 0, 1), put(2, "b", 2, undefined), get(3, "b", 10, 11), get(3, "a", 12, 13)]);
  });

  it("names the failing key and explains the shortest failing prefix", () => {
    const r = mustNotBeLinearizable(
      [
        put(1, "a", 0, 1, "good"),
        put(1, "a", 0, 1, "bad"),
        get(2, "zzz", 2, 3, "bad"),
        put(1, "later", 10, 11, "bad"),
        get(2, "a", 4, 5, "good"),
      ],
      "bad",
    );
    assert.match(r.explanation, /key "bad"/);
    assert.match(r.explanation, /<- last to return/);
    assert.match(r.explanation, /Shortest failing prefix \(2 ops/);
    assert.doesNotMatch(r.explanation, /"later"/);
  });

  it("throws on a malformed op (return before call, or output without return time)", () => {
    assert.throws(() => checkHistory([put(1, "a", 5, 4)]), /returns before its call/);
    assert.throws(() => checkHistory([{ ...put(1, "a", 0, 1), ret: undefined }]), /an output but no return time/);
  });
});

describe("checkHistory: randomized and budgeted", () => {
  it("accepts seeded random histories of real registers and rejects each with one read mutated to an unseeable value", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rand = seededRandom(seed);
      const history = generateHistory(rand, { ops: 60, keys: 2, clients: 5, indeterminate: 0.1 });
      mustBeLinearizable(history);

      const reads = history.filter((op): op is GetOp => op.kind === "get" && op.ret !== undefined);
      if (reads.length === 0) continue;
      const victim = reads[Math.floor(rand() * reads.length)]!;
      // A value written only by an op called after the read returned, or else one never written.
      const future = history.find(
        (op): op is PutOp | CasOp => op.key === victim.key && op.kind !== "get" && op.call > victim.ret!,
      );
      const unseeable = future === undefined ? "never-written" : future.kind === "put" ? future.input.value : future.input.next;
      const mutated = history.map((op) => (op === victim ? { ...victim, output: { value: unseeable } } : op));
      const r = checkHistory(mutated, { timeoutMs: 10_000 });
      assert.equal(r.ok, false, `seed ${seed}: mutating ${describeOp(victim)} to ${unseeable} should fail`);
    }
  });

  it("checks a 2,000-op history over 50 keys from 8 clients without running out of time", () => {
    const history = generateHistory(seededRandom(42), { ops: 2_000, keys: 50, clients: 8, indeterminate: 0.05 });
    assert.equal(history.length, 2_000);
    const r = checkHistory(history, { timeoutMs: 20_000 });
    assert.deepEqual(r, { ok: true });
  });

  it("agrees with an exhaustive search on small seeded random histories, linearizable or not", () => {
    const rand = seededRandom(99);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const values = [undefined, "a", "b"] as const;
    let rejected = 0;
    for (let i = 0; i < 3_000; i++) {
      const ops: Op[] = [];
      for (let clientId = 0, n = 1 + Math.floor(rand() * 6); clientId < n; clientId++) {
        const call = Math.floor(rand() * 10);
        const ret = rand() < 0.2 ? undefined : call + Math.floor(rand() * 5);
        const kind = pick(["get", "put", "cas"] as const);
        if (kind === "get") ops.push(get(clientId, pick(values), call, ret));
        else if (kind === "put") ops.push(put(clientId, pick(["a", "b"]), call, ret));
        else ops.push(cas(clientId, pick(values), pick(["a", "b"]), ret === undefined ? undefined : { swapped: rand() < 0.5, previous: pick(values) }, call, ret));
      }
      const expected = existsLinearization(ops);
      if (!expected) rejected++;
      assert.equal(checkHistory(ops).ok, expected, JSON.stringify(ops));
    }
    assert.ok(rejected > 500 && rejected < 2_500, `a mix of both outcomes (${rejected} rejected)`);
  });

  it("answers unknown when the time budget is spent (injected clock)", () => {
    let t = 0;
    const clock = (): number => (t += 1_000);
    const history = generateHistory(seededRandom(7), { ops: 200, keys: 1, clients: 4, indeterminate: 0.2 });
    assert.deepEqual(checkHistory(history, { timeoutMs: 1, now: clock }), { ok: "unknown" });
  });
});

describe("HistoryRecorder", () => {
  it("records call time before sending and return time after the answer, with the injected clock", async () => {
    let now = 0;
    const recorder = new HistoryRecorder(() => now++);
    await recorder.put(1, "k", "a", async () => {});
    const value = await recorder.get(2, "k", async () => "a");
    assert.equal(value, "a");
    await recorder.cas(1, "k", "a", "b", async () => ({ swapped: true, previous: "a" }));
    assert.deepEqual(recorder.history(), [
      { clientId: 1, key: "k", kind: "put", input: { value: "a" }, output: { ok: true }, call: 0, ret: 1 },
      { clientId: 2, key: "k", kind: "get", input: undefined, output: { value: "a" }, call: 2, ret: 3 },
      { clientId: 1, key: "k", kind: "cas", input: { expected: "a", next: "b" }, output: { swapped: true, previous: "a" }, call: 4, ret: 5 },
    ]);
    assert.deepEqual(checkHistory(recorder.history()), { ok: true });
  });

  it("leaves failed and in-flight ops indeterminate and passes the rejection on", async () => {
    let now = 0;
    const recorder = new HistoryRecorder(() => now++);
    await assert.rejects(
      recorder.put(1, "k", "a", async () => {
        throw new Error("deadline exceeded");
      }),
      /deadline exceeded/,
    );
    void recorder.put(2, "k", "b", () => new Promise<void>(() => {})); // never settles: the store was killed
    const history = recorder.history();
    assert.equal(history.length, 2);
    for (const op of history) {
      assert.equal(op.ret, undefined);
      assert.equal(op.output, undefined);
    }
    await recorder.get(3, "k", async () => "b");
    assert.deepEqual(checkHistory(recorder.history()), { ok: true });
  });
});
