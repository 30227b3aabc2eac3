/**
 * The environment the scenario files drive: RawNodes on MemoryStorage, each handled exactly as a
 * real caller handles one (see raw-node.ts):
 *
 *   process-ready: ready() → persist snapshot, entries, hard state → queue the messages in the
 *   recipients' inboxes → apply committed entries (conf changes through applyConfChange) → advance.
 *   deliver-msgs:  step every message waiting in a node's inbox (a copy, as if it came over a wire).
 *
 * Every command returns the text it produced: descriptions of Readies and messages (the describe*
 * helpers of the raft core), the core's own log lines at or above the current `log-level`, and
 * "ok" when nothing else was printed. Node ids are 1..n in the order nodes were added.
 *
 * Determinism: the election timeout of every node is exactly `election` ticks (the injected random
 * source returns 0), so `tick-election` makes a follower campaign and a leader run its
 * check-quorum; nothing else is random.
 */
import {
  ConfChangeType,
  EntryType,
  MemoryStorage,
  RawNode,
  ReadOnlyOption,
  SnapshotStatus,
  decodeConfChange,
  describeBytes,
  describeConfChange,
  describeConfState,
  describeEntry,
  describeMessage,
  describeReady,
  describeRole,
  type ConfChange,
  type ConfState,
  type Message,
  type RaftLogger,
  type Snapshot,
} from "../../src/index.js";
import type { Directive } from "./datadriven.js";

const LEVELS = ["debug", "info", "warn", "none"] as const;
type LogLevel = (typeof LEVELS)[number];

/** Collects a command's output, with the indentation of the section being written. */
class Output {
  private lines: string[] = [];
  private indent = "";

  write(text: string): void {
    for (const l of text.split("\n")) this.lines.push(this.indent + l);
  }

  /** Write what `fn` writes indented by two more spaces. */
  indented(fn: () => void): void {
    const saved = this.indent;
    this.indent += "  ";
    try {
      fn();
    } finally {
      this.indent = saved;
    }
  }

  take(): string {
    const s = this.lines.join("\n");
    this.lines = [];
    return s;
  }
}

/** The state a node's state machine had after applying an index: what a snapshot at it holds. */
interface AppliedState {
  confState: ConfState;
  /** The applied normal entries' payloads (the "state machine"), joined by commas. */
  data: string;
}

/**
 * MemoryStorage whose snapshot() is made on demand at the applied index, as a real store builds
 * one from its state machine (MemoryStorage alone would only offer the last compaction snapshot,
 * whose membership may be stale).
 */
class ScenarioStorage extends MemoryStorage {
  /** Set by the node once it exists. */
  latest: (() => Snapshot | undefined) | undefined;

  override snapshot(): Snapshot {
    const base = super.snapshot();
    const s = this.latest?.();
    return s && s.metadata.index > base.metadata.index ? s : base;
  }
}

interface EnvNode {
  id: number;
  rn: RawNode;
  storage: ScenarioStorage;
  /** Applied state by index, from the last snapshot on (for snapshots and compaction). */
  history: Map<number, AppliedState>;
  /** The state machine: payloads of applied normal entries, in order. */
  applied: string[];
  confState: ConfState;
  heartbeatTick: number;
  electionTick: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function describeFieldValue(v: unknown): string {
  if (Array.isArray(v)) return `(${v.map(describeFieldValue).join(" ")})`;
  if (v instanceof Uint8Array) return describeBytes(v);
  if (typeof v === "string") return /\s/.test(v) ? JSON.stringify(v) : v;
  return String(v);
}

export class InteractionEnv {
  private readonly nodes: EnvNode[] = [];
  /** Messages waiting to be delivered, by recipient, in send order. */
  private readonly inbox = new Map<number, Message[]>();
  /** Partition groups: node id → group number. Empty when healed. */
  private readonly partition = new Map<number, number>();
  private level: LogLevel = "info";
  private readonly out = new Output();

  /** Run one directive and return its output. */
  handle(d: Directive): string {
    this.run(d);
    const s = this.out.take();
    return s === "" ? "ok" : s;
  }

  private run(d: Directive): void {
    switch (d.command) {
      case "add-nodes":
        return this.addNodes(d);
      case "campaign":
        return this.report(this.node(d, this.single(d)).rn.campaign());
      case "propose": {
        const [id, data] = d.positional();
        if (id === undefined || data === undefined) throw d.error("usage: propose ID data");
        return this.report(this.node(d, this.toId(d, id)).rn.propose(encoder.encode(data)));
      }
      case "propose-conf-change":
        return this.proposeConfChange(d);
      case "tick-heartbeat": {
        const n = this.node(d, this.single(d));
        return this.tick(n, n.heartbeatTick);
      }
      case "tick-election": {
        const n = this.node(d, this.single(d));
        return this.tick(n, n.electionTick);
      }
      case "tick": {
        const [id, count] = d.positionalInts();
        if (id === undefined || count === undefined) throw d.error("usage: tick ID COUNT");
        return this.tick(this.node(d, id), count);
      }
      case "set-randomized-election-timeout": {
        d.checkKeys(["timeout"]);
        // Until the node's next role change, which draws a new timeout (= election, see above).
        this.node(d, this.single(d)).rn.raft.randomizedElectionTimeout = d.int("timeout");
        return;
      }
      case "process-ready":
        return this.processReadyOf(d, this.ids(d));
      case "deliver-msgs":
        return this.deliverMsgs(d);
      case "stabilize":
        return this.stabilize(this.ids(d));
      case "status":
        return this.status(this.node(d, this.single(d)));
      case "raft-state":
        return this.raftState();
      case "raft-log":
        return this.raftLog(this.node(d, this.single(d)));
      case "log-level": {
        const [lvl] = d.positional();
        if (!LEVELS.includes(lvl as LogLevel)) throw d.error(`level must be one of ${LEVELS.join(", ")}`);
        this.level = lvl as LogLevel;
        return;
      }
      case "compact": {
        const [id, index] = d.positionalInts();
        if (id === undefined || index === undefined) throw d.error("usage: compact ID INDEX");
        return this.compact(d, this.node(d, id), index);
      }
      case "transfer-leadership": {
        d.checkKeys(["from", "to"]);
        this.node(d, d.int("from")).rn.transferLeader(d.int("to"));
        return;
      }
      case "read-index": {
        const [id, ctx] = d.positional();
        if (id === undefined || ctx === undefined) throw d.error("usage: read-index ID CTX");
        this.node(d, this.toId(d, id)).rn.readIndex(encoder.encode(ctx));
        return;
      }
      case "report-unreachable": {
        const [id, peer] = d.positionalInts();
        if (id === undefined || peer === undefined) throw d.error("usage: report-unreachable ID PEER");
        this.node(d, id).rn.reportUnreachable(peer);
        return;
      }
      case "report-snapshot": {
        d.checkKeys(["status"]);
        const [id, peer] = d.positionalInts();
        if (id === undefined || peer === undefined) throw d.error("usage: report-snapshot ID PEER status=finish|failure");
        const st = d.string("status", "finish");
        if (st !== "finish" && st !== "failure") throw d.error("status must be finish or failure");
        this.node(d, id).rn.reportSnapshot(peer, st === "finish" ? SnapshotStatus.Finish : SnapshotStatus.Failure);
        return;
      }
      case "partition":
        return this.setPartition(d);
      case "heal":
        this.partition.clear();
        return;
      default:
        throw d.error(`unknown command (see packages/raft/test/scenario/README.md for the list)`);
    }
  }

  // ---- nodes ------------------------------------------------------------------------------

  private addNodes(d: Directive): void {
    d.checkKeys(["voters", "learners", "index", "prevote", "checkquorum", "election", "heartbeat", "max-inflight", "max-size-per-msg", "read-only"]);
    const [count] = d.positionalInts();
    if (count === undefined || count <= 0) throw d.error("usage: add-nodes N [voters=(..)] [learners=(..)] [index=I] ...");
    const confState: ConfState = { voters: d.ints("voters"), learners: d.ints("learners") };
    const index = d.int("index", 0);
    const electionTick = d.int("election", 10);
    const heartbeatTick = d.int("heartbeat", 1);
    const readOnly = d.string("read-only", "safe");
    if (readOnly !== "safe" && readOnly !== "lease") throw d.error("read-only must be safe or lease");
    for (let k = 0; k < count; k++) {
      const id = this.nodes.length + 1;
      const storage = new ScenarioStorage(confState);
      const history = new Map<number, AppliedState>();
      if (index > 0) {
        // Start from a snapshot at `index` (term 1) holding the membership, as a node restored from it.
        storage.applySnapshot({ data: new Uint8Array(0), metadata: { index, term: 1, confState } });
      }
      history.set(index, { confState, data: "" });
      const rn = new RawNode({
        id,
        storage,
        electionTick,
        heartbeatTick,
        applied: index,
        preVote: d.bool("prevote", false),
        checkQuorum: d.bool("checkquorum", false),
        readOnlyOption: readOnly === "lease" ? ReadOnlyOption.LeaseBased : ReadOnlyOption.Safe,
        maxInflightMsgs: d.int("max-inflight", 256),
        maxSizePerMsg: d.int("max-size-per-msg", 1024 * 1024),
        random: () => 0,
        logger: this.logger(),
      });
      const node: EnvNode = { id, rn, storage, history, applied: [], confState, heartbeatTick, electionTick };
      storage.latest = () => this.snapshotAt(node, node.rn.raft.raftLog.applied);
      this.nodes.push(node);
    }
  }

  private logger(): RaftLogger {
    const emit = (lvl: LogLevel, fields: Record<string, unknown>, msg: string) => {
      if (LEVELS.indexOf(lvl) < LEVELS.indexOf(this.level)) return;
      const { raftId, ...rest } = fields;
      const kv = Object.entries(rest).map(([k, v]) => `${k}=${describeFieldValue(v)}`);
      this.out.write(`${lvl.toUpperCase()} ${String(raftId)}: ${msg}${kv.length > 0 ? ` ${kv.join(" ")}` : ""}`);
    };
    return {
      debug: (f, m) => emit("debug", f, m),
      info: (f, m) => emit("info", f, m),
      warn: (f, m) => emit("warn", f, m),
    };
  }

  private node(d: Directive, id: number): EnvNode {
    const n = this.nodes[id - 1];
    if (!n) throw d.error(`no node ${id} (there are ${this.nodes.length}; add-nodes creates them)`);
    return n;
  }

  private toId(d: Directive, s: string): number {
    const id = Number(s);
    if (!Number.isSafeInteger(id)) throw d.error(`${JSON.stringify(s)} is not a node id`);
    return id;
  }

  private single(d: Directive): number {
    const ids = d.positionalInts();
    if (ids.length !== 1) throw d.error("takes exactly one node id");
    return ids[0]!;
  }

  /** The node ids named by the directive, or every node. */
  private ids(d: Directive): number[] {
    const ids = d.positionalInts();
    for (const id of ids) this.node(d, id);
    return ids.length > 0 ? ids : this.nodes.map((n) => n.id);
  }

  private processReadyOf(d: Directive, ids: number[]): void {
    for (const id of ids) {
      this.out.write(`> ${id} handling Ready`);
      this.out.indented(() => this.processReady(this.node(d, id)));
    }
  }

  private report(res: { ok: true } | { ok: false; error: { code: string; message: string } }): void {
    if (!res.ok) this.out.write(`error: ${res.error.code}: ${res.error.message}`);
  }

  private tick(n: EnvNode, count: number): void {
    for (let i = 0; i < count; i++) n.rn.tick();
  }

  private proposeConfChange(d: Directive): void {
    d.checkKeys(["add", "remove", "add-learner"]);
    const [id] = d.positionalInts();
    if (id === undefined) throw d.error("usage: propose-conf-change ID add=N|remove=N|add-learner=N");
    const kinds: [string, ConfChangeType][] = [
      ["add", ConfChangeType.AddNode],
      ["remove", ConfChangeType.RemoveNode],
      ["add-learner", ConfChangeType.AddLearnerNode],
    ];
    const given = kinds.filter(([k]) => d.has(k));
    if (given.length !== 1) throw d.error("give exactly one of add=, remove=, add-learner=");
    const [key, type] = given[0]!;
    const cc: ConfChange = { type, nodeId: d.int(key), context: new Uint8Array(0) };
    this.report(this.node(d, id).rn.proposeConfChange(cc));
  }

  // ---- the Ready loop ---------------------------------------------------------------------

  /** Handle one Ready of `n` as a caller would, printing it. */
  private processReady(n: EnvNode): void {
    const rn = n.rn;
    if (!rn.hasReady()) {
      this.out.write("<empty Ready>");
      return;
    }
    const rd = rn.ready();
    this.out.write(describeReady(rd));
    // Persist: snapshot, then entries, then the hard state; only then may messages leave.
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      const data = decoder.decode(rd.snapshot.data);
      n.applied = data === "" ? [] : data.split(",");
      n.confState = rd.snapshot.metadata.confState;
      n.history.clear();
      n.history.set(rd.snapshot.metadata.index, { confState: n.confState, data });
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      const q = this.inbox.get(m.to) ?? [];
      // A copy, as if serialized: nodes never share message objects.
      q.push(structuredClone(m));
      this.inbox.set(m.to, q);
    }
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        n.confState = rn.applyConfChange(cc);
        this.out.write(`applied ${describeConfChange(cc)} at ${e.index}: ${describeConfState(n.confState)}`);
      } else if (e.data.length > 0) {
        n.applied.push(decoder.decode(e.data));
      }
      n.history.set(e.index, { confState: n.confState, data: n.applied.join(",") });
    }
    rn.advance(rd);
  }

  private snapshotAt(n: EnvNode, index: number): Snapshot | undefined {
    const st = n.history.get(index);
    if (!st) return undefined;
    return { data: encoder.encode(st.data), metadata: { index, term: n.storage.term(index), confState: st.confState } };
  }

  private deliverMsgs(d: Directive): void {
    d.checkKeys(["drop"]);
    const drop = d.ints("drop");
    for (const id of drop) {
      for (const m of this.take(id)) this.out.write(`dropped: ${describeMessage(m)}`);
    }
    const ids = d.positionalInts();
    if (ids.length === 0 && drop.length > 0) return;
    for (const id of ids.length > 0 ? ids : this.nodes.map((n) => n.id)) this.deliver(this.node(d, id));
  }

  private take(id: number): Message[] {
    const q = this.inbox.get(id) ?? [];
    this.inbox.delete(id);
    return q;
  }

  /** Step every message waiting for `n`, except those crossing the partition. */
  private deliver(n: EnvNode): void {
    for (const m of this.take(n.id)) {
      const gf = this.partition.get(m.from) ?? -m.from;
      const gt = this.partition.get(m.to) ?? -m.to;
      if (this.partition.size > 0 && gf !== gt) {
        this.out.write(`dropped (partition): ${describeMessage(m)}`);
        continue;
      }
      this.out.write(describeMessage(m));
      this.report(n.rn.step(m));
    }
  }

  private stabilize(ids: number[]): void {
    for (let round = 0; ; round++) {
      // A livelock (messages bouncing forever) is a bug worth a clear failure, not a hung test.
      if (round === 1000) throw new Error(`stabilize ${ids.join(" ")}: still busy after ${round} rounds`);
      let done = true;
      for (const id of ids) {
        const n = this.nodes[id - 1]!;
        if (!n.rn.hasReady()) continue;
        done = false;
        this.out.write(`> ${id} handling Ready`);
        this.out.indented(() => this.processReady(n));
      }
      for (const id of ids) {
        if ((this.inbox.get(id) ?? []).length === 0) continue;
        done = false;
        this.out.write(`> ${id} receiving messages`);
        this.out.indented(() => this.deliver(this.nodes[id - 1]!));
      }
      if (done) return;
    }
  }

  private setPartition(d: Directive): void {
    const groups = d.groups();
    if (groups.length < 2) throw d.error("usage: partition (1,2) (3): at least two groups");
    this.partition.clear();
    groups.forEach((g, k) => {
      for (const s of g) this.partition.set(this.toId(d, s), k);
    });
  }

  // ---- inspection -------------------------------------------------------------------------

  private status(n: EnvNode): void {
    const st = n.rn.status();
    if (!st.progress) {
      this.out.write(`${n.id} is not the leader (${describeRole(st.softState.raftState)}, lead=${st.softState.lead})`);
      return;
    }
    const ids = [...st.progress.keys()].sort((a, b) => a - b);
    for (const id of ids) this.out.write(`${id}: ${st.progress.get(id)!.describe()}`);
    if (st.leadTransferee !== 0) this.out.write(`transferring leadership to ${st.leadTransferee}`);
  }

  private raftState(): void {
    for (const n of this.nodes) {
      const r = n.rn.raft;
      const member = r.prs.isVoter(r.id) ? "voter" : r.prs.isLearner(r.id) ? "learner" : "not a member";
      this.out.write(
        `${n.id}: ${describeRole(r.state)} (${member}) term=${r.term} lead=${r.lead} commit=${r.raftLog.committed} applied=${r.raftLog.applied}`,
      );
    }
  }

  private raftLog(n: EnvNode): void {
    const log = n.rn.raft.raftLog;
    const ents = log.allEntries();
    if (ents.length === 0) {
      this.out.write(`log is empty: first index=${log.firstIndex()}, last index=${log.lastIndex()}`);
      return;
    }
    for (const e of ents) this.out.write(describeEntry(e));
  }

  private compact(d: Directive, n: EnvNode, index: number): void {
    const st = n.history.get(index);
    if (!st || index > n.rn.raft.raftLog.applied) {
      throw d.error(`node ${n.id} can only compact up to its applied index ${n.rn.raft.raftLog.applied}`);
    }
    n.storage.createSnapshot(index, st.confState, encoder.encode(st.data));
    n.storage.compact(index);
    for (const k of n.history.keys()) if (k < index) n.history.delete(k);
    this.raftLog(n);
  }
}
