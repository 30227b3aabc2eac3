/**
 * A linearizability checker for key-value histories recorded by the end-to-end tests, in the style
 * of Wing & Gong with the optimizations of porcupine (Athalye) and Lowe:
 *
 *   record (HistoryRecorder: call time before sending, return time after the answer)
 *   → partition by key (P-compositionality: a history of independent registers is linearizable
 *     iff each key's sub-history is) → per key, an entry list of call/return events sorted by time
 *   → depth-first search: at a call entry, try to linearize that op now (model step + memo check);
 *     at a return entry whose op is not linearized yet, backtrack
 *   → on failure, binary-search the shortest failing prefix of that key for the explanation.
 *
 * Model: one register per key, initially absent (`undefined`). `get` reads it, `put` writes it,
 * `cas(expected, next)` writes `next` iff the register equals `expected` (absent when `undefined`)
 * and returns `{ swapped, previous }`.
 *
 * Indeterminate operations (failed or timed out on the client: `ret === undefined`) may or may not
 * have taken effect. As porcupine does for "info" operations, they are a call with no return
 * (return time +∞) whose output is unknown, so the search may place them anywhere after their call,
 * including after everything else (= never took effect). An indeterminate `get` tells nothing and is
 * dropped.
 *
 * Events at the same instant order calls before returns, so operations that touch at one clock
 * value count as concurrent (permissive, like porcupine); clocks with coarse resolution therefore
 * never produce false failures.
 */

/** What each kind of operation sends. */
export interface OpInputs {
  get: undefined;
  put: { value: string };
  cas: { expected: string | undefined; next: string };
}

/** What each kind of operation got back when it completed. */
export interface OpOutputs {
  get: { value: string | undefined };
  put: { ok: true };
  cas: { swapped: boolean; previous: string | undefined };
}

export type OpKind = keyof OpInputs;

/**
 * One client operation on one key.
 * Invariants: `ret === undefined` (indeterminate) exactly when `output === undefined`; otherwise
 * `call <= ret`. Times come from one clock shared by all clients of a history.
 */
export type OpOf<K extends OpKind> = {
  clientId: number;
  key: string;
  kind: K;
  input: OpInputs[K];
  output?: OpOutputs[K];
  call: number;
  ret: number | undefined;
};
export type GetOp = OpOf<"get">;
export type PutOp = OpOf<"put">;
export type CasOp = OpOf<"cas">;
export type Op = GetOp | PutOp | CasOp;

export interface CheckOptions {
  /** Give up and answer `{ ok: 'unknown' }` after this long (by `now`). Default: no limit. */
  timeoutMs?: number;
  /** The clock the time budget is measured with, in ms. Default: `performance.now`. */
  now?: () => number;
}

export type CheckResult =
  | { ok: true }
  | {
      ok: false;
      /** The first key (in sorted order) whose sub-history is not linearizable. */
      key: string;
      /** The shortest failing prefix of that key's history, its last op, and the best partial order found. */
      explanation: string;
    }
  | { ok: "unknown" };

/** The register's value; `undefined` = absent. */
type RegisterState = string | undefined;

/** An op as the search sees it: indeterminate ops have `ret === Infinity` and no output. */
interface SearchOp {
  op: Op;
  call: number;
  ret: number;
  indeterminate: boolean;
}

/** Checks that `ops` is linearizable with respect to a register per key. Throws on malformed ops. */
export function checkHistory(ops: readonly Op[], options: CheckOptions = {}): CheckResult {
  const now = options.now ?? (() => performance.now());
  const deadline = options.timeoutMs === undefined ? Infinity : now() + options.timeoutMs;
  const byKey = new Map<string, Op[]>();
  for (const op of ops) {
    mustBeWellFormed(op);
    let list = byKey.get(op.key);
    if (list === undefined) {
      list = [];
      byKey.set(op.key, list);
    }
    list.push(op);
  }
  const budget: Budget = { now, deadline };
  let timedOut = false;
  for (const key of [...byKey.keys()].sort()) {
    const keyOps = byKey.get(key)!;
    const result = searchKey(toSearchOps(keyOps, Infinity), budget);
    if (result.kind === "unknown") {
      // Keep going: another key may still prove a definite violation.
      timedOut = true;
      continue;
    }
    if (result.kind === "fail") {
      return { ok: false, key, explanation: explainKey(key, keyOps, budget) };
    }
  }
  return timedOut ? { ok: "unknown" } : { ok: true };
}

/** Stable one-line text for an op, e.g. `c2 cas("a"→"b") → swapped, previous "a" [3, 7]`. */
export function describeOp(op: Op): string {
  const q = (v: string | undefined): string => (v === undefined ? "absent" : JSON.stringify(v));
  let call: string;
  let out: string;
  switch (op.kind) {
    case "get":
      call = "get()";
      out = op.output === undefined ? "?" : q(op.output.value);
      break;
    case "put":
      call = `put(${q(op.input.value)})`;
      out = op.output === undefined ? "?" : "ok";
      break;
    case "cas":
      call = `cas(${q(op.input.expected)}→${q(op.input.next)})`;
      out = op.output === undefined ? "?" : `${op.output.swapped ? "swapped" : "not swapped"}, previous ${q(op.output.previous)}`;
      break;
    default:
      return assertNever(op);
  }
  const span = op.ret === undefined ? `[${op.call}, ∞) indeterminate` : `[${op.call}, ${op.ret}]`;
  return `c${op.clientId} ${call} → ${out} ${span}`;
}

interface Budget {
  now: () => number;
  deadline: number;
}

type SearchResult = { kind: "ok" } | { kind: "fail"; bestOrder: SearchOp[] } | { kind: "unknown" };

function mustBeWellFormed(op: Op): void {
  if ((op.ret === undefined) !== (op.output === undefined)) {
    throw new Error(
      `linearizability: op ${describeOp(op)} on key ${JSON.stringify(op.key)} has ${op.ret === undefined ? "an output but no return time" : "a return time but no output"}; record both on success, neither on failure (HistoryRecorder does this).`,
    );
  }
  if (op.ret !== undefined && op.ret < op.call) {
    throw new Error(`linearizability: op ${describeOp(op)} on key ${JSON.stringify(op.key)} returns before its call; record the call time before sending and the return time after the answer, from one clock.`);
  }
}

/**
 * The key's ops as the history looked at time `cut`: ops called after `cut` are left out, ops that
 * returned after `cut` are still pending there and become indeterminate; indeterminate gets are dropped.
 */
function toSearchOps(ops: readonly Op[], cut: number): SearchOp[] {
  const out: SearchOp[] = [];
  for (const op of ops) {
    if (op.call > cut) continue;
    const indeterminate = op.ret === undefined || op.ret > cut;
    if (indeterminate && op.kind === "get") continue;
    out.push({ op, call: op.call, ret: indeterminate ? Infinity : op.ret!, indeterminate });
  }
  return out;
}

/** The register's next state if `op` can take effect in `state` with the output it reported. */
function step(state: RegisterState, s: SearchOp): { ok: true; next: RegisterState } | { ok: false } {
  const op = s.op;
  switch (op.kind) {
    case "get":
      // Indeterminate gets never reach the search (toSearchOps drops them).
      return op.output!.value === state ? { ok: true, next: state } : { ok: false };
    case "put":
      return { ok: true, next: op.input.value };
    case "cas": {
      const swaps = state === op.input.expected;
      const next = swaps ? op.input.next : state;
      if (s.indeterminate) return { ok: true, next };
      const out = op.output!;
      return out.swapped === swaps && out.previous === state ? { ok: true, next } : { ok: false };
    }
    default:
      return assertNever(op);
  }
}

/** A node of the doubly linked event list; a call entry points at its return entry (`match`). */
interface Entry {
  isCall: boolean;
  id: number;
  time: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Sorted by time; at equal times calls come first (touching ops are concurrent), then by op id. */
function makeEntries(ops: readonly SearchOp[]): Entry {
  const events: Entry[] = [];
  ops.forEach((op, id) => {
    const ret: Entry = { isCall: false, id, time: op.ret, match: undefined, prev: undefined, next: undefined };
    events.push({ isCall: true, id, time: op.call, match: ret, prev: undefined, next: undefined }, ret);
  });
  events.sort((a, b) => (a.time !== b.time ? (a.time < b.time ? -1 : 1) : a.isCall !== b.isCall ? (a.isCall ? -1 : 1) : a.id - b.id));
  const head: Entry = { isCall: false, id: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Unlinks a call entry and its return entry. */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next !== undefined) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

/** Relinks what `lift` unlinked, in reverse order. */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== undefined) call.next.prev = call;
}

/** How many search steps run between two looks at the clock. */
const CLOCK_EVERY = 512;

/** The Wing–Gong search with memoization over (linearized set, register state). */
function searchKey(ops: readonly SearchOp[], budget: Budget): SearchResult {
  if (budget.now() > budget.deadline) return { kind: "unknown" };
  const head = makeEntries(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) || 1);
  // Memo of visited (linearized set, state) pairs, keyed by a Zobrist-style hash of the set (an
  // xor of per-op random words, kept incrementally) plus the interned state; each bucket holds the
  // exact sets so a hash collision never prunes a configuration that was not visited.
  const zobrist = new Uint32Array(ops.length * 2);
  for (let i = 0; i < zobrist.length; i++) zobrist[i] = mix32(i + 1);
  const stateIds = new Map<RegisterState, number>();
  const seen = new Map<string, Uint32Array[]>();
  let hashHi = 0;
  let hashLo = 0;
  const stack: { entry: Entry; state: RegisterState }[] = [];
  let best: number[] = [];
  let state: RegisterState = undefined;
  let entry = head.next;
  let steps = 0;
  while (head.next !== undefined) {
    if (++steps % CLOCK_EVERY === 0 && budget.now() > budget.deadline) return { kind: "unknown" };
    // The list is non-empty, so the cursor never runs off its end before a return entry stops it.
    const e = entry!;
    if (e.isCall) {
      const r = step(state, ops[e.id]!);
      if (r.ok) {
        const word = e.id >>> 5;
        const bit = 1 << (e.id & 31);
        linearized[word]! |= bit;
        const hi = hashHi ^ zobrist[2 * e.id]!;
        const lo = hashLo ^ zobrist[2 * e.id + 1]!;
        let stateId = stateIds.get(r.next);
        if (stateId === undefined) {
          stateId = stateIds.size;
          stateIds.set(r.next, stateId);
        }
        const memo = `${hi},${lo},${stateId}`;
        let bucket = seen.get(memo);
        if (bucket === undefined) {
          bucket = [];
          seen.set(memo, bucket);
        }
        if (!bucket.some((set) => sameSet(set, linearized))) {
          bucket.push(linearized.slice());
          stack.push({ entry: e, state });
          state = r.next;
          hashHi = hi;
          hashLo = lo;
          lift(e);
          if (stack.length > best.length) best = stack.map((s) => s.entry.id);
          entry = head.next;
          continue;
        }
        linearized[word]! &= ~bit;
      }
      entry = e.next;
    } else {
      // An op returned before being linearized: undo the most recent choice and try the next one.
      const top = stack.pop();
      if (top === undefined) return { kind: "fail", bestOrder: best.map((id) => ops[id]!) };
      const id = top.entry.id;
      state = top.state;
      linearized[id >>> 5]! &= ~(1 << (id & 31));
      hashHi ^= zobrist[2 * id]!;
      hashLo ^= zobrist[2 * id + 1]!;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { kind: "ok" };
}

function sameSet(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A fixed 32-bit mix of `x` (splitmix-style finalizer): deterministic per-op hash words. */
function mix32(x: number): number {
  let z = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Text for a failing key: its shortest failing prefix, the op that ends it, the best partial order. */
function explainKey(key: string, ops: readonly Op[], budget: Budget): string {
  const cuts = [...new Set(ops.flatMap((op) => (op.ret === undefined ? [] : [op.ret])))].sort((a, b) => a - b);
  // Linearizability is prefix-closed, so "the prefix up to cut fails" is monotone in cut.
  let lo = 0;
  let hi = cuts.length - 1;
  let failing: { cut: number; bestOrder: SearchOp[] } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const cut = cuts[mid]!;
    const r = searchKey(toSearchOps(ops, cut), budget);
    if (r.kind === "unknown") break;
    if (r.kind === "fail") {
      failing = { cut, bestOrder: r.bestOrder };
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  const lines = [`key ${JSON.stringify(key)} is not linearizable.`];
  if (failing === undefined) {
    lines.push(`(ran out of time looking for the shortest failing prefix) all ${ops.length} ops of the key:`);
    for (const op of [...ops].sort((a, b) => a.call - b.call)) lines.push(`  ${describeOp(op)}`);
    return lines.join("\n");
  }
  const cut = failing.cut;
  const enders = ops.filter((op) => op.ret === cut);
  const prefix = ops.filter((op) => op.call <= cut).sort((a, b) => a.call - b.call);
  lines.push(`No order fits once ${enders.map(describeOp).join(" and ")} has returned.`);
  lines.push(`Shortest failing prefix (${prefix.length} ops called by t=${cut}; those returning later count as pending):`);
  for (const op of prefix) lines.push(`  ${describeOp(op)}${enders.includes(op) ? "   <- last to return" : ""}`);
  lines.push(`Longest order the search could build in that prefix (${failing.bestOrder.length} ops):`);
  if (failing.bestOrder.length === 0) lines.push("  (none: not even the first op fits)");
  for (const s of failing.bestOrder) lines.push(`  ${describeOp(s.op)}`);
  return lines.join("\n");
}

function assertNever(x: never): never {
  throw new Error(`linearizability: unexpected op ${JSON.stringify(x)}`);
}

/**
 * Records a history for `checkHistory` from concurrent clients. Each method takes the call time
 * just before running `send` and the return time just after it resolves; if `send` rejects, the op
 * stays indeterminate (it may or may not have taken effect) and the rejection is passed on. Ops
 * whose promise never settles (the process was killed) are indeterminate too.
 */
export class HistoryRecorder {
  private readonly ops: Op[] = [];

  /** @param clock the time source for call and return times (ms); one clock for all clients. */
  constructor(private readonly clock: () => number) {}

  /** Records a `get` of `key` by `clientId`; `send` resolves to the value read (`undefined` = absent). */
  get(clientId: number, key: string, send: () => Promise<string | undefined>): Promise<string | undefined> {
    const op: GetOp = { clientId, key, kind: "get", input: undefined, call: 0, ret: undefined };
    return this.run(op, send, (value) => {
      op.output = { value };
    });
  }

  /** Records a `put(key, value)` by `clientId`. */
  put(clientId: number, key: string, value: string, send: () => Promise<void>): Promise<void> {
    const op: PutOp = { clientId, key, kind: "put", input: { value }, call: 0, ret: undefined };
    return this.run(op, send, () => {
      op.output = { ok: true };
    });
  }

  /** Records a compare-and-swap of `key` from `expected` (`undefined` = absent) to `next`. */
  cas(
    clientId: number,
    key: string,
    expected: string | undefined,
    next: string,
    send: () => Promise<{ swapped: boolean; previous: string | undefined }>,
  ): Promise<{ swapped: boolean; previous: string | undefined }> {
    const op: CasOp = { clientId, key, kind: "cas", input: { expected, next }, call: 0, ret: undefined };
    return this.run(op, send, (out) => {
      op.output = { swapped: out.swapped, previous: out.previous };
    });
  }

  /** A copy of everything recorded so far; ops still in flight appear as indeterminate. */
  history(): Op[] {
    return this.ops.map((op) => ({ ...op }) as Op);
  }

  private async run<T>(op: Op, send: () => Promise<T>, onResult: (value: T) => void): Promise<T> {
    op.call = this.clock();
    this.ops.push(op);
    const value = await send();
    const ret = this.clock();
    onResult(value);
    op.ret = ret;
    return value;
  }
}
