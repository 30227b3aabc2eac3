/**
 * A checker for transaction histories under snapshot isolation (and serializability), in the style
 * of Jepsen's Elle list-append checker (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies
 * from Experimental Observations", VLDB 2020), with Adya's anomaly classes and the SI cycle rule of
 * Cerone & Gotsman ("Analysing Snapshot Isolation", PODC 2016).
 *
 * Model. Every key holds a list of numbers, initially empty. A transaction is a list of ops:
 * `append(k, v)` adds `v` to the end of k's list; `read(k)` returns the whole list as the
 * transaction saw it (its own earlier appends included; `undefined` means the key was absent, the
 * same as `[]`). Appended values are unique per key across the whole history, so every element a
 * read returns names the one transaction that appended it. Status: `committed`; `aborted` (did not
 * commit); `unknown` (the client does not know, e.g. the commit timed out).
 *
 * Flow:
 *   index appends (value → its writer; duplicates reported)
 *   → trusted transactions: the committed ones, plus every `unknown` one whose append a trusted
 *     read observed (it must have committed); reads of other transactions are not evidence
 *   → per trusted transaction, replay its ops: a read must equal the txn's previous read of the key
 *     plus its own appends since, or (first read) end with its own appends so far → `internal`.
 *     The first read of each key minus the txn's own appends is its *external read*: what it saw of
 *     other transactions' writes
 *   → per external read: every element was appended by someone (`garbage-read`), by no aborted txn
 *     (`G1a`), at most once (`duplicate-elements`); its last element is its writer's final append to
 *     the key (`G1b`)
 *   → per key, the version order is the longest external read; every other read must be a prefix
 *     of it (`incompatible-order`)
 *   → dependency graph over trusted txns (version order positions give the edges):
 *       ww  T1 → T2   T2 appended the element right after T1's element
 *       wr  T1 → T2   T2's external read ends with an element T1 appended
 *       rw  T1 → T2   T1's external read ends just before an element T2 appended
 *   → strongly connected components (iterative Tarjan, linear), each classified by its worst cycle:
 *       G0             a cycle of ww edges only
 *       G1c            a cycle of ww and wr edges
 *       G-single       a cycle with exactly one rw edge (read skew, lost update)
 *       G-nonadjacent  a cycle with rw edges of which no two are adjacent
 *       G2             only cycles with two adjacent rw edges (write skew)
 *     Snapshot isolation forbids every class but G2: a history is SI iff no cycle lacks two
 *     consecutive rw edges (Cerone & Gotsman), decided in linear time as acyclicity of a product
 *     graph whose state remembers whether the last edge was rw. Serializability forbids all five.
 *     Each SCC reports one illustrative cycle, found by breadth-first search inside it
 *   → when transactions carry TSO timestamps, the SI rules directly: a trusted read of k equals the
 *     appends of trusted txns with commitTs <= startTs in commitTs order (`stale-read` when it
 *     misses or misorders some, `future-read` when it sees a later one), and two trusted txns that
 *     append to one key never overlap, i.e. first committer wins (`concurrent-write`).
 *
 * `process`, `invokedAt` and `completedAt` are carried for the caller's own reports; no session or
 * real-time order is checked (the TSO timestamps are the stronger check).
 */
import { Bfs, stronglyConnected, type Digraph } from "./digraph.js";

export { appendWorkload, type AppendWorkloadOptions, type PlannedOp, type PlannedTxn } from "./list-append-workload.js";

// ---------------------------------------------------------------------------------------------
// History

export type AppendOp = { f: "append"; key: string; value: number };
/** `value` is the whole list the transaction saw; `undefined` = the key was absent (= `[]`). */
export type ReadOp = { f: "read"; key: string; value: readonly number[] | undefined };
export type Op = AppendOp | ReadOp;
export type TxnStatus = "committed" | "aborted" | "unknown";

/**
 * One transaction. Invariants: `id`s are unique within a history; `ops` are in the order the
 * transaction ran them; `startTs`/`commitTs` come from the TSO (`commitTs` only when it committed
 * or may have).
 */
export interface Txn {
  id: number;
  status: TxnStatus;
  ops: readonly Op[];
  startTs?: bigint;
  commitTs?: bigint;
  process?: number;
  invokedAt?: number;
  completedAt?: number;
}

// ---------------------------------------------------------------------------------------------
// Result

export type Isolation = "snapshot-isolation" | "serializable";

export interface CheckOptions {
  /** The model the history must satisfy. Default `"snapshot-isolation"` (G2 is then allowed). */
  isolation?: Isolation;
  /** Check reads and writes against startTs/commitTs where the history has them. Default true. */
  checkTimestamps?: boolean;
  /** Anomalies kept per type; the rest are only counted in `stats.anomalyCounts`. Default 10. */
  maxAnomaliesPerType?: number;
  /**
   * Edge visits spent looking for a single-rw cycle in a component already known to break SI
   * (otherwise it is reported as G-nonadjacent with the cycle found). Default 2,000,000.
   */
  gSingleSearchBudget?: number;
}

export type DependencyKind = "ww" | "wr" | "rw";

/** A dependency between two transactions (by id), with the key and values that imply it. */
export type DependencyEdge =
  /** `to` appended `after` to `key` right after `from`'s `before`. */
  | { kind: "ww"; from: number; to: number; key: string; before: number; after: number }
  /** `to` read `key` ending with `value`, which `from` appended. */
  | { kind: "wr"; from: number; to: number; key: string; value: number }
  /** `from` read `key` ending with `lastRead` (`undefined`: empty) and `to` appended `next` right after. */
  | { kind: "rw"; from: number; to: number; key: string; lastRead: number | undefined; next: number };

export type CycleAnomalyType = "G0" | "G1c" | "G-single" | "G-nonadjacent" | "G2";
export type ReadAnomalyType = "internal" | "G1a" | "G1b" | "garbage-read" | "duplicate-elements" | "incompatible-order";
export type TimestampAnomalyType = "stale-read" | "future-read" | "concurrent-write";

export interface TxnTimestamps {
  txn: number;
  startTs: bigint | undefined;
  commitTs: bigint | undefined;
}

/**
 * One violation. `txns` are transaction ids; `allowed` is true only for what the chosen isolation
 * level permits (G2 under snapshot isolation): it is reported but leaves the history valid.
 */
export type Anomaly =
  | { type: "duplicate-append"; txns: number[]; key: string; value: number; allowed: false; explanation: string }
  | { type: ReadAnomalyType; txns: number[]; key: string; allowed: false; explanation: string }
  | { type: CycleAnomalyType; txns: number[]; cycle: DependencyEdge[]; sccSize: number; allowed: boolean; explanation: string }
  | { type: TimestampAnomalyType; txns: number[]; key: string; timestamps: TxnTimestamps[]; allowed: false; explanation: string };

export type AnomalyType = Anomaly["type"];

export interface CheckStats {
  txns: number;
  committed: number;
  aborted: number;
  unknown: number;
  /** `unknown` transactions treated as committed because a trusted read observed their appends. */
  promotedUnknown: number;
  /** Keys appended to. */
  keys: number;
  /** External reads (first read of a key per trusted txn, own appends removed). */
  externalReads: number;
  edges: Record<DependencyKind, number>;
  /** Strongly connected components with more than one transaction, and the largest one's size. */
  cyclicComponents: number;
  largestComponent: number;
  timestampReadsChecked: number;
  /** Keys with a trusted writer lacking `commitTs`, so not checked against timestamps. */
  timestampKeysSkipped: number;
  /** Every anomaly found per type, including those beyond `maxAnomaliesPerType`. */
  anomalyCounts: Partial<Record<AnomalyType, number>>;
}

export interface CheckResult {
  /** No anomaly that the isolation level forbids. */
  valid: boolean;
  anomalies: Anomaly[];
  stats: CheckStats;
}

// ---------------------------------------------------------------------------------------------
// The checker

/** Checks a list-append history; throws only on malformed input (duplicate transaction ids). */
export function checkListAppend(history: readonly Txn[], options: CheckOptions = {}): CheckResult {
  const isolation = options.isolation ?? "snapshot-isolation";
  const log = new AnomalyLog(options.maxAnomaliesPerType ?? 10);
  const h = indexAppends(history, log);
  const promotedUnknown = trustObservedTxns(h);
  const reads = replayTrustedTxns(h, log);
  checkObservedValues(h, reads, log);
  const orders = inferVersionOrders(h, reads, log);
  const graph = buildDependencyGraph(h, reads, orders);
  const cycles = checkCycles(h, graph, isolation, options.gSingleSearchBudget ?? 2_000_000, log);
  const ts = options.checkTimestamps === false ? { readsChecked: 0, keysSkipped: 0 } : checkTimestamps(h, reads, log);

  const count = (s: TxnStatus): number => history.reduce((n, t) => n + (t.status === s ? 1 : 0), 0);
  const edges: Record<DependencyKind, number> = { ww: 0, wr: 0, rw: 0 };
  for (const e of graph.deps) edges[e.kind]++;
  return {
    valid: log.forbidden === 0,
    anomalies: log.anomalies,
    stats: {
      txns: history.length,
      committed: count("committed"),
      aborted: count("aborted"),
      unknown: count("unknown"),
      promotedUnknown,
      keys: h.writers.size,
      externalReads: reads.length,
      edges,
      cyclicComponents: cycles.components,
      largestComponent: cycles.largest,
      timestampReadsChecked: ts.readsChecked,
      timestampKeysSkipped: ts.keysSkipped,
      anomalyCounts: log.counts,
    },
  };
}

/** Stable multi-line text for a result, for test failure messages and logs. */
export function describeCheckResult(r: CheckResult): string {
  const counts = Object.entries(r.stats.anomalyCounts)
    .map(([t, n]) => `${t}×${n}`)
    .join(", ");
  const head = `${r.valid ? "valid" : "INVALID"}: ${r.stats.txns} txns, ${r.stats.keys} keys, anomalies: ${counts === "" ? "none" : counts}`;
  return [head, ...r.anomalies.map((a) => `  [${a.type}${a.allowed ? ", allowed" : ""}] ${a.explanation}`)].join("\n");
}

/** Collects anomalies; builds the text only for those it keeps. */
class AnomalyLog {
  readonly anomalies: Anomaly[] = [];
  readonly counts: Partial<Record<AnomalyType, number>> = {};
  forbidden = 0;
  constructor(private readonly maxPerType: number) {}
  add(type: AnomalyType, allowed: boolean, build: () => Anomaly): void {
    const n = (this.counts[type] ?? 0) + 1;
    this.counts[type] = n;
    if (!allowed) this.forbidden++;
    if (n <= this.maxPerType) this.anomalies.push(build());
  }
}

/** The transaction that appended one value, by index into the history. */
interface Writer {
  txn: number;
  /** This is the txn's last append to the key (a read ending elsewhere in its appends is G1b). */
  final: boolean;
}

interface IndexedHistory {
  txns: readonly Txn[];
  /** key → appended value → its writer (the first, if the value was appended twice). */
  writers: Map<string, Map<number, Writer>>;
  /** Per txn index: committed, or unknown and observed. Only trusted txns' reads are evidence. */
  trusted: Uint8Array;
}

function indexAppends(txns: readonly Txn[], log: AnomalyLog): IndexedHistory {
  const seenIds = new Map<number, number>();
  const writers = new Map<string, Map<number, Writer>>();
  txns.forEach((t, i) => {
    const other = seenIds.get(t.id);
    if (other !== undefined) {
      throw new Error(`txn-history: transaction id ${t.id} is used by history[${other}] and history[${i}]; give every transaction its own id.`);
    }
    seenIds.set(t.id, i);
    const lastPerKey = new Map<string, Writer>();
    for (const op of t.ops) {
      if (op.f !== "append") continue;
      let byValue = writers.get(op.key);
      if (byValue === undefined) {
        byValue = new Map();
        writers.set(op.key, byValue);
      }
      const first = byValue.get(op.value);
      if (first !== undefined) {
        const firstId = txns[first.txn]!.id;
        log.add("duplicate-append", false, () => ({
          type: "duplicate-append",
          txns: firstId === t.id ? [t.id] : [firstId, t.id],
          key: op.key,
          value: op.value,
          allowed: false,
          explanation: `${op.value} was appended to ${q(op.key)} by ${txnName(txns[first.txn]!)} and again by ${txnName(t)}; values must be unique per key (use appendWorkload or a per-key counter), so reads of it are attributed to the first.`,
        }));
        continue;
      }
      const w: Writer = { txn: i, final: false };
      byValue.set(op.value, w);
      lastPerKey.set(op.key, w);
    }
    for (const w of lastPerKey.values()) w.final = true;
  });
  return { txns, writers, trusted: new Uint8Array(txns.length) };
}

/** Marks committed txns trusted, then every unknown txn a trusted read observed; returns how many were promoted. */
function trustObservedTxns(h: IndexedHistory): number {
  const work: number[] = [];
  h.txns.forEach((t, i) => {
    if (t.status === "committed") {
      h.trusted[i] = 1;
      work.push(i);
    }
  });
  let promoted = 0;
  while (work.length > 0) {
    const t = h.txns[work.pop()!]!;
    for (const op of t.ops) {
      if (op.f !== "read") continue;
      const byValue = h.writers.get(op.key);
      for (const v of op.value ?? []) {
        const w = byValue?.get(v);
        if (w === undefined || h.trusted[w.txn] === 1 || h.txns[w.txn]!.status !== "unknown") continue;
        h.trusted[w.txn] = 1;
        promoted++;
        work.push(w.txn);
      }
    }
  }
  return promoted;
}

/** What one trusted txn saw of other transactions' appends to one key (its first read, own appends removed). */
interface ExternalRead {
  reader: number;
  key: string;
  values: readonly number[];
  /** Usable for the version order: no duplicate elements. */
  wellFormed: boolean;
  /** A prefix of the key's version order (set by inferVersionOrders). */
  compatible: boolean;
}

/** Replays every trusted txn's ops to check it against itself; returns the external reads. */
function replayTrustedTxns(h: IndexedHistory, log: AnomalyLog): ExternalRead[] {
  const out: ExternalRead[] = [];
  h.txns.forEach((t, i) => {
    if (h.trusted[i] !== 1) return;
    // key → the list the txn must read next (known after its first read of the key)
    const expected = new Map<string, number[]>();
    // key → the txn's own appends so far
    const own = new Map<string, number[]>();
    const internal = (key: string, text: string): void =>
      log.add("internal", false, () => ({ type: "internal", txns: [t.id], key, allowed: false, explanation: `${txnName(t)} ${text}` }));
    for (const op of t.ops) {
      if (op.f === "append") {
        getOrInit(own, op.key, () => []).push(op.value);
        expected.get(op.key)?.push(op.value);
        continue;
      }
      const seen = op.value ?? [];
      const before = expected.get(op.key);
      expected.set(op.key, [...seen]);
      if (before !== undefined) {
        if (!sameList(seen, before)) internal(op.key, `read ${q(op.key)} = ${describeList(seen)}, but its earlier read of the key plus its own appends since give ${describeList(before)}.`);
        continue;
      }
      const mine = own.get(op.key) ?? [];
      if (!endsWith(seen, mine)) {
        internal(op.key, `read ${q(op.key)} = ${describeList(seen)}, which does not end with its own earlier appends ${describeList(mine)}.`);
        continue;
      }
      const values = seen.slice(0, seen.length - mine.length);
      const byValue = h.writers.get(op.key);
      const ownEarly = values.find((v) => byValue?.get(v)?.txn === i);
      if (ownEarly !== undefined) {
        internal(op.key, `read ${q(op.key)} = ${describeList(seen)}, which holds its own append ${ownEarly} ${mine.includes(ownEarly) ? "out of order" : "before it made it"}.`);
        continue;
      }
      out.push({ reader: i, key: op.key, values, wellFormed: true, compatible: false });
    }
  });
  return out;
}

/** G1a, G1b, garbage reads and duplicate elements: what each external read's elements say on their own. */
function checkObservedValues(h: IndexedHistory, reads: ExternalRead[], log: AnomalyLog): void {
  for (const r of reads) {
    const reader = h.txns[r.reader]!;
    const byValue = h.writers.get(r.key);
    const seen = new Set<number>();
    const garbage: number[] = [];
    const aborted = new Map<number, number[]>(); // aborted writer → its values read
    for (const v of r.values) {
      if (seen.has(v)) {
        r.wellFormed = false;
        log.add("duplicate-elements", false, () => ({
          type: "duplicate-elements",
          txns: [reader.id],
          key: r.key,
          allowed: false,
          explanation: `${txnName(reader)} read ${q(r.key)} = ${describeList(r.values)}, holding ${v} twice; an append took effect twice (retried without idempotence?).`,
        }));
        break;
      }
      seen.add(v);
      const w = byValue?.get(v);
      if (w === undefined) garbage.push(v);
      else if (h.txns[w.txn]!.status === "aborted") getOrInit(aborted, w.txn, () => []).push(v);
    }
    if (garbage.length > 0) {
      log.add("garbage-read", false, () => ({
        type: "garbage-read",
        txns: [reader.id],
        key: r.key,
        allowed: false,
        explanation: `${txnName(reader)} read ${q(r.key)} = ${describeList(r.values)}, but no transaction appended ${garbage.slice(0, 8).join(", ")}${garbage.length > 8 ? ", …" : ""} to it.`,
      }));
    }
    for (const [wi, vs] of aborted) {
      const writer = h.txns[wi]!;
      log.add("G1a", false, () => ({
        type: "G1a",
        txns: [writer.id, reader.id],
        key: r.key,
        allowed: false,
        explanation: `aborted read: ${txnName(reader)} read ${q(r.key)} = ${describeList(r.values)}, which holds ${vs.join(", ")} appended by ${txnName(writer)}, which aborted.`,
      }));
    }
    const last = r.values[r.values.length - 1];
    const lw = last === undefined ? undefined : byValue?.get(last);
    if (lw !== undefined && !lw.final && lw.txn !== r.reader && h.txns[lw.txn]!.status !== "aborted") {
      const writer = h.txns[lw.txn]!;
      const appended = writer.ops.flatMap((op) => (op.f === "append" && op.key === r.key ? [op.value] : []));
      log.add("G1b", false, () => ({
        type: "G1b",
        txns: [writer.id, reader.id],
        key: r.key,
        allowed: false,
        explanation: `intermediate read: ${txnName(reader)} read ${q(r.key)} = ${describeList(r.values)}, ending in ${last}, but ${txnName(writer)} appended ${describeList(appended)} to it, so ${last} is not its final value.`,
      }));
    }
  }
}

/** Per key: the longest well-formed external read, which every other one must be a prefix of. */
function inferVersionOrders(h: IndexedHistory, reads: ExternalRead[], log: AnomalyLog): Map<string, readonly number[]> {
  const byKey = new Map<string, ExternalRead[]>();
  for (const r of reads) if (r.wellFormed) getOrInit(byKey, r.key, () => []).push(r);
  const orders = new Map<string, readonly number[]>();
  for (const [key, rs] of byKey) {
    let longest = rs[0]!;
    for (const r of rs) if (r.values.length > longest.values.length) longest = r;
    orders.set(key, longest.values);
    let firstBad: ExternalRead | undefined;
    let bad = 0;
    for (const r of rs) {
      r.compatible = isPrefix(r.values, longest.values);
      if (r.compatible) continue;
      bad++;
      firstBad ??= r;
    }
    if (firstBad === undefined) continue;
    const a = h.txns[firstBad.reader]!;
    const b = h.txns[longest.reader]!;
    const at = firstDifference(firstBad.values, longest.values);
    log.add("incompatible-order", false, () => ({
      type: "incompatible-order",
      txns: [a.id, b.id],
      key,
      allowed: false,
      explanation: `${q(key)} has no single version order: ${txnName(a)} read ${describeList(firstBad.values)} and ${txnName(b)} read ${describeList(longest.values)}, which differ at position ${at} (${firstBad.values[at]} vs ${longest.values[at]})${bad > 1 ? `; ${bad} reads of the key disagree with the longest one` : ""}.`,
    }));
  }
  return orders;
}

// ---------------------------------------------------------------------------------------------
// The dependency graph

const KIND_BIT: Record<DependencyKind, number> = { ww: 1, wr: 2, rw: 4 };

/** An edge between history indexes; `a`/`b` are the values as in DependencyEdge. */
interface Dep {
  from: number;
  to: number;
  kind: DependencyKind;
  key: string;
  a: number | undefined;
  b: number;
}

/** Adjacency in CSR form: node v's edges are deps[start[v] .. start[v + 1]). */
interface DependencyGraph {
  size: number;
  start: Int32Array;
  deps: Dep[];
}

function buildDependencyGraph(h: IndexedHistory, reads: readonly ExternalRead[], orders: Map<string, readonly number[]>): DependencyGraph {
  const n = h.txns.length;
  const found: Dep[] = [];
  const seen = new Set<number>(); // one edge per (from, to, kind): the first one explains it
  const add = (d: Dep): void => {
    if (d.from === d.to) return;
    const id = (d.from * n + d.to) * 3 + (d.kind === "ww" ? 0 : d.kind === "wr" ? 1 : 2);
    if (seen.has(id)) return;
    seen.add(id);
    found.push(d);
  };
  /** The trusted writer of `value` on `key`, if any. */
  const writerOf = (key: string, value: number): number | undefined => {
    const w = h.writers.get(key)?.get(value);
    return w !== undefined && h.trusted[w.txn] === 1 ? w.txn : undefined;
  };

  for (const [key, order] of orders) {
    let prev: { txn: number; value: number } | undefined;
    for (const value of order) {
      const txn = writerOf(key, value);
      if (txn === undefined) continue; // garbage or aborted: reported already
      if (prev !== undefined) add({ from: prev.txn, to: txn, kind: "ww", key, a: prev.value, b: value });
      prev = { txn, value };
    }
  }
  for (const r of reads) {
    if (!r.wellFormed) continue;
    const last = r.values[r.values.length - 1];
    if (last !== undefined) {
      const w = writerOf(r.key, last);
      if (w !== undefined) add({ from: w, to: r.reader, kind: "wr", key: r.key, a: last, b: last });
    }
    if (!r.compatible) continue;
    const order = orders.get(r.key)!;
    for (let j = r.values.length; j < order.length; j++) {
      const w = writerOf(r.key, order[j]!);
      if (w === undefined) continue;
      add({ from: r.reader, to: w, kind: "rw", key: r.key, a: last, b: order[j]! });
      break;
    }
  }

  const start = new Int32Array(n + 1);
  for (const d of found) start[d.from + 1]!++;
  for (let v = 0; v < n; v++) start[v + 1]! += start[v]!;
  const fill = start.slice(0, n);
  const deps = new Array<Dep>(found.length);
  for (const d of found) deps[fill[d.from]!++] = d;
  return { size: n, start, deps };
}

/** The dependency graph restricted to edge kinds in `mask`, and (optionally) to nodes `keep` accepts. */
function kindsOf(g: DependencyGraph, mask: number, keep: (v: number) => boolean = () => true): Digraph<Dep> {
  return {
    size: g.size,
    degree: (v) => g.start[v + 1]! - g.start[v]!,
    target: (v, i) => {
      const d = g.deps[g.start[v]! + i]!;
      return (KIND_BIT[d.kind] & mask) !== 0 && keep(d.to) ? d.to : -1;
    },
    dep: (v, i) => g.deps[g.start[v]! + i]!,
  };
}

/**
 * The SI product graph: node 2v is "at v, last edge not rw", 2v+1 is "at v, last edge rw". An rw
 * edge is taken only from an even node. Its cycles are exactly the closed walks of the dependency
 * graph with no two consecutive rw edges, which snapshot isolation forbids.
 */
function siProduct(g: DependencyGraph, keep: (u: number) => boolean = () => true): Digraph<Dep> {
  return {
    size: 2 * g.size,
    degree: (u) => g.start[(u >> 1) + 1]! - g.start[u >> 1]!,
    target: (u, i) => {
      const d = g.deps[g.start[u >> 1]! + i]!;
      const t = d.kind !== "rw" ? 2 * d.to : (u & 1) === 0 ? 2 * d.to + 1 : -1;
      return t >= 0 && keep(t) ? t : -1;
    },
    dep: (u, i) => g.deps[g.start[u >> 1]! + i]!,
  };
}

/** Finds the cyclic components and reports each one's worst cycle. */
function checkCycles(h: IndexedHistory, g: DependencyGraph, isolation: Isolation, gSingleBudget: number, log: AnomalyLog): { components: number; largest: number } {
  const all = stronglyConnected(kindsOf(g, 7));
  const ww = stronglyConnected(kindsOf(g, KIND_BIT.ww));
  const wwwr = stronglyConnected(kindsOf(g, KIND_BIT.ww | KIND_BIT.wr));
  const product = stronglyConnected(siProduct(g));
  // Per cyclic component (of `all`), the first node (by history index) of each finer cycle kind.
  type Witness = { g0?: number; g1c?: number; si?: number; first: number; members: number[] };
  const witness = new Map<number, Witness>();
  let largest = 0;
  for (let v = 0; v < g.size; v++) {
    const c = all.comp[v]!;
    const size = all.size[c]!;
    if (size < 2) continue;
    largest = Math.max(largest, size);
    const w = getOrInit(witness, c, (): Witness => ({ first: v, members: [] }));
    w.members.push(v);
    if (w.g0 === undefined && ww.size[ww.comp[v]!]! > 1) w.g0 = v;
    if (w.g1c === undefined && wwwr.size[wwwr.comp[v]!]! > 1) w.g1c = v;
    if (w.si === undefined && product.size[product.comp[2 * v]!]! > 1) w.si = 2 * v;
    if (w.si === undefined && product.size[product.comp[2 * v + 1]!]! > 1) w.si = 2 * v + 1;
  }

  const bfs = new Bfs<Dep>(2 * g.size);
  for (const [c, w] of witness) {
    const sccSize = all.size[c]!;
    let cycle: Dep[];
    let type: CycleAnomalyType;
    if (w.g0 !== undefined) {
      const sub = ww.comp[w.g0]!;
      cycle = bfs.search(kindsOf(g, KIND_BIT.ww, (x) => ww.comp[x] === sub), w.g0, (x) => x === w.g0)!;
      type = "G0";
    } else if (w.g1c !== undefined) {
      const sub = wwwr.comp[w.g1c]!;
      cycle = bfs.search(kindsOf(g, KIND_BIT.ww | KIND_BIT.wr, (x) => wwwr.comp[x] === sub), w.g1c, (x) => x === w.g1c)!;
      type = "G1c";
    } else if (w.si !== undefined) {
      const sub = product.comp[w.si]!;
      const inSub = (u: number): boolean => product.comp[u] === sub;
      cycle = findSingleRwCycle(g, bfs, w.members, inSub, gSingleBudget) ?? bfs.search(siProduct(g, inSub), w.si, (u) => u === w.si)!;
      type = cycle.filter((d) => d.kind === "rw").length === 1 ? "G-single" : "G-nonadjacent";
    } else {
      cycle = bfs.search(kindsOf(g, 7, (x) => all.comp[x] === c), w.first, (x) => x === w.first)!;
      type = "G2";
    }
    const allowed = type === "G2" && isolation === "snapshot-isolation";
    log.add(type, allowed, () => ({
      type,
      txns: cycle.map((d) => h.txns[d.from]!.id),
      cycle: cycle.map((d) => toEdge(h, d)),
      sccSize,
      allowed,
      explanation: describeCycle(h, type, cycle, sccSize, isolation),
    }));
  }
  return { components: witness.size, largest };
}

/**
 * A cycle with exactly one rw edge inside one SI product component: an rw edge a → b such that b
 * reaches a by ww/wr edges. One BFS per candidate b (a member of the dependency component entered
 * by rw inside the product component), checking each node it reaches for an rw edge back to b.
 * Gives up after `budget` edge visits in total (reachability per edge is not linear).
 */
function findSingleRwCycle(g: DependencyGraph, bfs: Bfs<Dep>, members: readonly number[], inSub: (u: number) => boolean, budget: number): Dep[] | undefined {
  const limit = bfs.visits + budget;
  const plain = kindsOf(g, KIND_BIT.ww | KIND_BIT.wr, (x) => inSub(2 * x));
  for (const b of members) {
    if (!inSub(2 * b + 1)) continue;
    const hasRwToB = (x: number): boolean => {
      for (let e = g.start[x]!; e < g.start[x + 1]!; e++) if (g.deps[e]!.kind === "rw" && g.deps[e]!.to === b) return true;
      return false;
    };
    const path = bfs.search(plain, b, hasRwToB, limit);
    if (path !== undefined) {
      const a = path[path.length - 1]!.to;
      const back = g.deps.slice(g.start[a]!, g.start[a + 1]!).find((d) => d.kind === "rw" && d.to === b)!;
      return [back, ...path];
    }
    if (bfs.visits > limit) return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/** The SI rules on TSO timestamps, for keys whose trusted writers all carry commitTs. */
function checkTimestamps(h: IndexedHistory, reads: readonly ExternalRead[], log: AnomalyLog): { readsChecked: number; keysSkipped: number } {
  interface KeyTimeline {
    /** Trusted writers' appends in commitTs order, concatenated. */
    values: number[];
    /** commitTs per writer in order, and how many values precede writer i (prefix[i]). */
    commits: bigint[];
    prefix: number[];
  }
  const timelines = new Map<string, KeyTimeline>();
  let keysSkipped = 0;
  for (const [key, byValue] of h.writers) {
    // Map order is history order, so each txn's appends to the key are contiguous and in op order.
    const segments: { txn: number; values: number[] }[] = [];
    for (const [value, w] of byValue) {
      if (h.trusted[w.txn] !== 1) continue;
      const last = segments[segments.length - 1];
      if (last !== undefined && last.txn === w.txn) last.values.push(value);
      else segments.push({ txn: w.txn, values: [value] });
    }
    if (segments.some((s) => h.txns[s.txn]!.commitTs === undefined)) {
      keysSkipped++;
      continue;
    }
    const commitOf = (s: { txn: number }): bigint => h.txns[s.txn]!.commitTs!;
    segments.sort((x, y) => (commitOf(x) < commitOf(y) ? -1 : commitOf(x) > commitOf(y) ? 1 : x.txn - y.txn));
    const timeline: KeyTimeline = { values: [], commits: [], prefix: [] };
    segments.forEach((s, i) => {
      timeline.prefix.push(timeline.values.length);
      timeline.commits.push(commitOf(s));
      timeline.values.push(...s.values);
      const prev = segments[i - 1];
      const t = h.txns[s.txn]!;
      if (prev === undefined || t.startTs === undefined) return;
      const p = h.txns[prev.txn]!;
      if (t.startTs >= p.commitTs!) return;
      log.add("concurrent-write", false, () => ({
        type: "concurrent-write",
        txns: [p.id, t.id],
        key,
        timestamps: [stampsOf(p), stampsOf(t)],
        allowed: false,
        explanation: `first committer wins is broken on ${q(key)}: ${txnName(t)} (start ${t.startTs}, commit ${t.commitTs}) appended ${describeList(s.values)} though ${txnName(p)} appended ${describeList(prev.values)} and committed at ${p.commitTs}, after ${txnName(t)} started; one of them must abort.`,
      }));
    });
    timelines.set(key, timeline);
  }

  let readsChecked = 0;
  for (const r of reads) {
    const reader = h.txns[r.reader]!;
    const tl = timelines.get(r.key);
    if (tl === undefined || reader.startTs === undefined || !r.wellFormed) continue;
    const byValue = h.writers.get(r.key)!;
    // Elements not written by a trusted txn are garbage or G1a, reported already.
    if (r.values.some((v) => h.trusted[byValue.get(v)?.txn ?? -1] !== 1)) continue;
    readsChecked++;
    const startTs = reader.startTs;
    let visible = 0; // writers with commitTs <= startTs
    for (let lo = 0, hi = tl.commits.length; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (tl.commits[mid]! <= startTs) lo = visible = mid + 1;
      else hi = mid;
    }
    const expected = tl.values.slice(0, visible === tl.commits.length ? tl.values.length : tl.prefix[visible]!);
    if (sameList(r.values, expected)) continue;
    const future = r.values.find((v) => h.txns[byValue.get(v)!.txn]!.commitTs! > startTs);
    if (future !== undefined) {
      const w = h.txns[byValue.get(future)!.txn]!;
      log.add("future-read", false, () => ({
        type: "future-read",
        txns: [w.id, reader.id],
        key: r.key,
        timestamps: [stampsOf(w), stampsOf(reader)],
        allowed: false,
        explanation: `${txnName(reader)} (start ${startTs}) read ${q(r.key)} = ${describeList(r.values)}, which holds ${future} appended by ${txnName(w)} committed at ${w.commitTs}, after the reader's snapshot; expected ${describeList(expected)}.`,
      }));
      continue;
    }
    const at = firstDifference(r.values, expected);
    const missing = expected[at]!;
    const w = h.txns[byValue.get(missing)!.txn]!;
    log.add("stale-read", false, () => ({
      type: "stale-read",
      txns: [w.id, reader.id],
      key: r.key,
      timestamps: [stampsOf(w), stampsOf(reader)],
      allowed: false,
      explanation: `${txnName(reader)} (start ${startTs}) read ${q(r.key)} = ${describeList(r.values)}, but its snapshot holds ${describeList(expected)}: ${at < r.values.length ? `position ${at} is ${r.values[at]}, not` : "it misses"} ${missing}, appended by ${txnName(w)} committed at ${w.commitTs} <= ${startTs}.`,
    }));
  }
  return { readsChecked, keysSkipped };
}

function stampsOf(t: Txn): TxnTimestamps {
  return { txn: t.id, startTs: t.startTs, commitTs: t.commitTs };
}

// ---------------------------------------------------------------------------------------------
// Text

const CYCLE_STEPS_SHOWN = 12;
const LIST_ENDS_SHOWN = 4;

function q(key: string): string {
  return JSON.stringify(key);
}

function txnName(t: Txn): string {
  return `T${t.id}${t.status === "committed" ? "" : ` (${t.status})`}`;
}

/** `[1, 2, 3]`, or `[1, 2, 3, 4, …92 more…, 97, 98, 99, 100]` for long lists. */
export function describeList(values: readonly number[]): string {
  if (values.length <= 2 * LIST_ENDS_SHOWN + 1) return `[${values.join(", ")}]`;
  const more = values.length - 2 * LIST_ENDS_SHOWN;
  return `[${values.slice(0, LIST_ENDS_SHOWN).join(", ")}, …${more} more…, ${values.slice(-LIST_ENDS_SHOWN).join(", ")}]`;
}

function toEdge(h: IndexedHistory, d: Dep): DependencyEdge {
  const from = h.txns[d.from]!.id;
  const to = h.txns[d.to]!.id;
  switch (d.kind) {
    case "ww":
      return { kind: "ww", from, to, key: d.key, before: d.a!, after: d.b };
    case "wr":
      return { kind: "wr", from, to, key: d.key, value: d.b };
    case "rw":
      return { kind: "rw", from, to, key: d.key, lastRead: d.a, next: d.b };
    default:
      return assertNever(d.kind);
  }
}

/** One step of a cycle, e.g. `T1 -rw "x"-> T2: T1 read "x" ending in 3 and T2 appended the next value, 4`. */
export function describeEdge(e: DependencyEdge): string {
  const arrow = `T${e.from} -${e.kind} ${q(e.key)}-> T${e.to}`;
  switch (e.kind) {
    case "ww":
      return `${arrow}: T${e.to} appended ${e.after} right after T${e.from}'s ${e.before}`;
    case "wr":
      return `${arrow}: T${e.to} read it ending in ${e.value}, which T${e.from} appended`;
    case "rw":
      return `${arrow}: T${e.from} read it ${e.lastRead === undefined ? "empty" : `ending in ${e.lastRead}`} and T${e.to} appended the next value, ${e.next}`;
    default:
      return assertNever(e);
  }
}

function describeCycle(h: IndexedHistory, type: CycleAnomalyType, cycle: readonly Dep[], sccSize: number, isolation: Isolation): string {
  const rw = cycle.filter((d) => d.kind === "rw").length;
  let what: string;
  switch (type) {
    case "G0":
      what = "write cycle (ww edges only): the transactions' appends interleave, so no order of whole transactions gives these version orders";
      break;
    case "G1c":
      what = "circular information flow (ww/wr edges, no rw): each transaction saw or overwrote the other's effects";
      break;
    case "G-single":
      what = "a cycle with exactly one anti-dependency (rw) edge: read skew or lost update, forbidden under snapshot isolation";
      break;
    case "G-nonadjacent":
      what = `a cycle with ${rw} anti-dependency (rw) edges, no two adjacent: impossible under snapshot isolation, where every cycle has two consecutive rw edges`;
      break;
    case "G2":
      what = `a cycle with ${rw} anti-dependency (rw) edges, two of them adjacent: write skew, ${isolation === "snapshot-isolation" ? "allowed under snapshot isolation (forbidden under serializability)" : "forbidden under serializability"}`;
      break;
    default:
      return assertNever(type);
  }
  const steps = cycle.slice(0, CYCLE_STEPS_SHOWN).map((d) => describeEdge(toEdge(h, d)));
  if (cycle.length > CYCLE_STEPS_SHOWN) steps.push(`… ${cycle.length - CYCLE_STEPS_SHOWN} more edges back to T${h.txns[cycle[0]!.from]!.id}`);
  return `${type}: ${what}; a ${cycle.length}-transaction cycle in a component of ${sccSize}: ${steps.join("; ")}.`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function getOrInit<K, V>(m: Map<K, V>, k: K, init: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = init();
    m.set(k, v);
  }
  return v;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && isPrefix(a, b);
}

function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function endsWith(a: readonly number[], suffix: readonly number[]): boolean {
  if (suffix.length > a.length) return false;
  const off = a.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (a[off + i] !== suffix[i]) return false;
  return true;
}

/** The first index where the lists differ (the shorter one's length if one is a prefix of the other). */
function firstDifference(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function assertNever(x: never): never {
  throw new Error(`txn-history: unexpected ${JSON.stringify(x)}`);
}
