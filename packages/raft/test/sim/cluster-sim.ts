/**
 * A deterministic discrete-event simulation of one raft group of RawNodes, driven by a seeded
 * PRNG, that checks raft's safety properties after every step and its liveness once faults heal.
 *
 * Flow of one run (`runSimulation`):
 *   bootstrap 3 or 5 nodes (TinyKV style: a snapshot at index 5 holds the membership, so a node
 *   added later catches up by snapshot) → `steps` fault steps, each:
 *     inject events (partition / heal, crash / restart, proposals, membership changes, leader
 *     transfers, log compaction) → deliver due messages → tick every node → handle deferred
 *     Readies → check safety on every node
 *   → heal (stop faults, heal the partition, restart crashed nodes, destroy removed ones)
 *   → recover: within 50 × electionTick ticks a leader emerges, a probe proposal commits, and
 *     every member applied everything ever acknowledged.
 *
 * Each node is a RawNode on a MemoryStorage (its disk) and an apply state (applied index, the
 * state machine's hash chain, the membership), persisted with every applied entry. Its Ready is
 * handled as a correct caller must: persist snapshot, entries, hard state → send messages → apply
 * committed entries (applyConfChange for conf changes) → advance. A crash may strike between any
 * two of those, or between steps while a Ready is deferred; it loses the unstable log, the
 * unsent messages, every message in flight to the node and half of those in flight from it.
 *
 * Every failure throws a SimViolation naming the property, the seed and the replay command.
 */
import {
  ConfChangeType,
  EntryType,
  MemoryStorage,
  MessageType,
  NONE,
  RaftError,
  RawNode,
  SnapshotStatus,
  StateRole,
  decodeConfChange,
  describeConfChange,
  describeEntries,
  describeMessage,
  describeRole,
  seededRandom,
  silentLogger,
  type ConfChange,
  type ConfState,
  type Message,
  type RaftLogger,
  type Ready,
  type Snapshot,
  type Storage,
} from "../../src/index.js";
import { chooseProfile, type FaultProfile, type UnsafeMode } from "./fault-profile.js";
import { SafetyChecker, type ViolationKind } from "./safety-checker.js";
import { NO_NETWORK_FAULTS, SimNetwork, cloneMessage, type DropReason, type InFlight } from "./sim-network.js";
import { decodeImage, encodeImage, mixBytes, mixEntry, mixSeed } from "./state-machine.js";

export { UNSAFE_MODES, chooseProfile, type FaultProfile, type UnsafeMode } from "./fault-profile.js";

export const DEFAULT_STEPS = 2000;

export interface SimOptions {
  seed: number;
  /** Voters of the bootstrapped group. */
  nodes: 3 | 5;
  /** Fault-phase steps (one tick each). Default DEFAULT_STEPS. */
  steps?: number;
  unsafe?: UnsafeMode;
  /** Receives one line per event (deliveries, faults, role changes, applies). */
  trace?: (line: string) => void;
  /** Receives the raft core's own logs. */
  raftLogger?: RaftLogger;
}

export interface SimResult {
  seed: number;
  nodes: number;
  profile: FaultProfile;
  /** Ticks the recovery phase needed (leader, probe committed, every member caught up). */
  recoveryTicks: number;
  /** The highest index observed committed. */
  committedIndex: number;
  /** The state machine's hash chain at `committedIndex` (equal on every node that applied it). */
  finalChain: number;
  leadersElected: number;
  proposals: number;
  crashes: number;
  restarts: number;
  nodesCreated: number;
  nodesDestroyed: number;
  confChangesApplied: number;
  compactions: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  timeoutNowSent: number;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  messagesDelayed: number;
  partitions: number;
}

/** A property broke (or raft threw): carries the seed and the command that replays the run. */
export class SimViolation extends Error {
  override readonly name = "SimViolation";
  constructor(
    readonly kind: ViolationKind,
    readonly seed: number,
    readonly replay: string,
    detail: string,
  ) {
    super(`${kind} violated (seed ${seed}): ${detail}\n  replay: ${replay}`);
  }
}

/** The command (run from the repository root) that replays one seed verbosely. */
export function replayCommand(o: Pick<SimOptions, "seed" | "nodes" | "steps" | "unsafe">): string {
  let env = `SEED=${o.seed} NODES=${o.nodes}`;
  if (o.steps !== undefined && o.steps !== DEFAULT_STEPS) env += ` STEPS=${o.steps}`;
  if (o.unsafe) env += ` UNSAFE=${o.unsafe}`;
  return `${env} node --import tsx packages/raft/test/sim/replay.ts`;
}

/** The group size the test suite and the soak use for `seed`: a mix of 3- and 5-node groups. */
export function nodesForSeed(seed: number): 3 | 5 {
  return seed % 2 === 0 ? 3 : 5;
}

export function runSimulation(o: SimOptions): SimResult {
  return new ClusterSim(o).run();
}

/** The index and term every node of the bootstrapped group starts at (TinyKV's initial index). */
const INIT_INDEX = 5;
const INIT_TERM = 5;

/** A node's apply state: persisted atomically with each applied entry, as a raftstore's. */
interface ApplyState {
  index: number;
  /** Hash chain over every entry applied up to `index`: the state machine's identity. */
  chain: number;
  /** The membership as of `index` (what the node restarts with). */
  confState: ConfState;
}

type CrashPoint = "before-persist" | "before-send" | "before-apply" | "mid-apply";
const CRASH_POINTS: readonly CrashPoint[] = ["before-persist", "before-send", "before-apply", "mid-apply"];

class SimNode {
  /** Undefined while crashed. */
  rn: RawNode | undefined;
  incarnation = 0;
  /** A Ready was left for later (handled by the end of the step, or lost in a crash). */
  pendingReady = false;
  /** The node applied its own removal: it is destroyed once its Ready is done. */
  removedSelf = false;
  lastRole = "";

  constructor(
    readonly id: number,
    readonly storage: MemoryStorage,
    public applyState: ApplyState,
  ) {}
}

interface Report {
  sender: number;
  incarnation: number;
  about: number;
  kind: "snapshot-finished" | "snapshot-failed" | "unreachable";
}

class ClusterSim {
  private readonly rand: () => number;
  private readonly profile: FaultProfile;
  private readonly network: SimNetwork;
  private readonly checker: SafetyChecker;
  private readonly nodes = new Map<number, SimNode>();
  /** Ids whose removal some node applied: never (re)created. */
  private readonly tombstones = new Set<number>();
  private readonly replay: string;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly minVoters: number;
  private readonly maxVoters: number;
  private readonly maxCrashed: number;
  private readonly steps: number;
  private reports: Report[] = [];
  private faulty = true;
  private now = 0;
  private nextId: number;
  private payloadSeq = 0;
  private probeIndex = 0;
  private readonly confChangeIndexes = new Set<number>();
  private readonly stats = {
    proposals: 0,
    crashes: 0,
    restarts: 0,
    nodesCreated: 0,
    nodesDestroyed: 0,
    compactions: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    timeoutNowSent: 0,
  };

  constructor(private readonly o: SimOptions) {
    this.rand = seededRandom(mixSeed(o.seed, 0x51a7));
    this.profile = chooseProfile(this.rand, o.unsafe);
    this.network = new SimNetwork(this.rand);
    this.network.faults = this.profile.network;
    this.replay = replayCommand(o);
    this.trace = o.trace;
    this.steps = o.steps ?? DEFAULT_STEPS;
    this.checker = new SafetyChecker((kind, detail) => this.fail(kind, detail));
    this.minVoters = o.nodes === 3 ? 2 : 3;
    this.maxVoters = o.nodes + 1;
    this.maxCrashed = o.nodes === 3 ? 1 : 2;
    this.nextId = o.nodes + 1;
  }

  private fail(kind: ViolationKind, detail: string): never {
    throw new SimViolation(kind, this.o.seed, this.replay, `${detail} [at tick ${this.now}]`);
  }

  private log(line: string): void {
    this.trace?.(`t=${this.now} ${line}`);
  }

  run(): SimResult {
    try {
      return this.runUnchecked();
    } catch (e) {
      if (e instanceof SimViolation) throw e;
      const err = e as Error;
      const where = (err.stack ?? "").split("\n").slice(1, 6).join("\n");
      this.fail("raft core threw", `${err.name}: ${err.message}\n${where}`);
    }
  }

  private runUnchecked(): SimResult {
    if (this.trace) this.log(`seed ${this.o.seed}, ${this.o.nodes} nodes, profile ${JSON.stringify(this.profile)}`);
    this.bootstrap();
    for (let i = 0; i < this.steps; i++) this.step();
    this.healAll();
    const recoveryTicks = this.recover();
    const ns = this.network.stats;
    return {
      seed: this.o.seed,
      nodes: this.o.nodes,
      profile: this.profile,
      recoveryTicks,
      committedIndex: this.checker.maxCommitted,
      finalChain: this.checker.chainAtIndex(this.checker.maxCommitted) ?? 0,
      leadersElected: this.checker.leadersElected,
      confChangesApplied: this.confChangeIndexes.size,
      messagesSent: ns.sent,
      messagesDropped: ns.dropped,
      messagesDuplicated: ns.duplicated,
      messagesDelayed: ns.delayed,
      partitions: ns.partitions,
      ...this.stats,
    };
  }

  // ---- nodes ------------------------------------------------------------------------------

  private bootstrap(): void {
    const ids = Array.from({ length: this.o.nodes }, (_, i) => i + 1);
    const chain = mixBytes(0, new TextEncoder().encode("bootstrap"));
    this.checker.bootstrap(INIT_INDEX, chain);
    for (const id of ids) {
      const st = MemoryStorage.withPeers(ids);
      const cs: ConfState = { voters: [...ids], learners: [] };
      st.applySnapshot({ data: encodeImage(INIT_INDEX, chain), metadata: { index: INIT_INDEX, term: INIT_TERM, confState: cs } });
      st.setHardState({ term: INIT_TERM, vote: NONE, commit: INIT_INDEX });
      const node = new SimNode(id, st, { index: INIT_INDEX, chain, confState: cs });
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  /** Build the node's RawNode from what is on its disk (first start or restart). */
  private start(node: SimNode): void {
    node.incarnation++;
    node.pendingReady = false;
    const p = this.profile;
    node.rn = new RawNode({
      id: node.id,
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      storage: this.diskView(node),
      applied: node.applyState.index,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      random: seededRandom(mixSeed(this.o.seed, node.id * 1000 + node.incarnation)),
      logger: this.o.raftLogger ?? silentLogger,
    });
  }

  /**
   * The Storage raft reads: the node's MemoryStorage, with the membership of its apply state
   * (the membership as of the applied index, as a raftstore keeps it with the region).
   */
  private diskView(node: SimNode): Storage {
    const st = node.storage;
    const forgetVote = this.o.unsafe === "forget-vote";
    return {
      initialState: () => {
        const hs = st.initialState().hardState;
        const cs = node.applyState.confState;
        return { hardState: forgetVote ? { ...hs, vote: NONE } : hs, confState: { voters: [...cs.voters], learners: [...cs.learners] } };
      },
      entries: (lo, hi, maxSize) => st.entries(lo, hi, maxSize),
      term: (i) => st.term(i),
      lastIndex: () => st.lastIndex(),
      firstIndex: () => st.firstIndex(),
      snapshot: () => this.snapshotFor(node),
    };
  }

  /**
   * What the leader sends a follower that needs compacted entries: as TinyKV's region worker, a
   * fresh image of the state machine at the applied index (so it holds every membership change
   * applied so far, including the one that added the follower). Generation takes a while: under
   * faults it is sometimes not ready yet, and raft must retry.
   */
  private snapshotFor(node: SimNode): Snapshot {
    const st = node.storage;
    if (this.faulty && this.rand() < 0.2) {
      this.log(`node ${node.id}: snapshot temporarily unavailable`);
      throw new RaftError("SnapshotTemporarilyUnavailable", "snapshot is being generated");
    }
    const a = node.applyState;
    if (a.index > st.snapshot().metadata.index && a.index <= st.lastIndex()) {
      st.createSnapshot(a.index, a.confState, encodeImage(a.index, a.chain));
    }
    return st.snapshot();
  }

  /** A node the leader contacts for the first time: an empty disk, no membership (it learns by snapshot). */
  private createNode(id: number): SimNode {
    const node = new SimNode(id, new MemoryStorage(), { index: 0, chain: 0, confState: { voters: [], learners: [] } });
    this.nodes.set(id, node);
    this.network.placeNode(id, this.rand() < 0.5 ? 0 : 1);
    this.start(node);
    this.stats.nodesCreated++;
    this.log(`create ${id}`);
    return node;
  }

  private crash(node: SimNode, why: string): void {
    node.rn = undefined;
    node.pendingReady = false;
    for (const f of this.network.dropFor(node.id, 0.5)) this.lost(f, "unreachable");
    this.checker.forget(node.id);
    this.stats.crashes++;
    this.log(`crash ${node.id} (${why})`);
  }

  private restart(node: SimNode): void {
    this.start(node);
    this.stats.restarts++;
    const hs = node.storage.initialState().hardState;
    const forgotten = this.o.unsafe === "forget-vote" ? " (vote forgotten)" : "";
    this.log(`restart ${node.id} term=${hs.term} vote=${hs.vote}${forgotten} commit=${hs.commit} applied=${node.applyState.index}`);
    this.afterAction(node);
  }

  /** A removed node deletes itself (as a raftstore destroys a removed peer). */
  private destroy(node: SimNode): void {
    node.rn = undefined;
    this.nodes.delete(node.id);
    this.tombstones.add(node.id);
    for (const f of this.network.dropFor(node.id, 0.5)) this.lost(f, "unreachable");
    this.checker.forget(node.id);
    this.stats.nodesDestroyed++;
    this.log(`destroy ${node.id}`);
  }

  private liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.rn) out.push(n);
    return out;
  }

  private crashedCount(): number {
    let c = 0;
    for (const n of this.nodes.values()) if (!n.rn) c++;
    return c;
  }

  /** The running leader of the highest term, if any. */
  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const r = n.rn?.raft;
      if (r && r.state === StateRole.Leader && (!best || r.term > best.rn!.raft.term)) best = n;
    }
    return best;
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.rand() * xs.length)];
  }

  // ---- one step ---------------------------------------------------------------------------

  private step(): void {
    if (this.faulty) this.injectEvents();
    this.deliverDue();
    for (const node of this.liveNodes()) {
      node.rn!.tick();
      this.afterAction(node);
    }
    this.deliverReports();
    for (const node of this.liveNodes()) {
      if (node.pendingReady && (!this.faulty || this.rand() < 0.5)) this.handleReady(node);
    }
    this.checkAll();
    this.now++;
  }

  private injectEvents(): void {
    const p = this.profile;
    if (this.network.partitioned) {
      if (this.rand() < p.heal) {
        this.network.heal();
        this.log("heal partition");
      }
    } else if (p.partition > 0 && this.rand() < p.partition) {
      const ids = [...this.nodes.keys()];
      let side = ids.filter(() => this.rand() < 0.5);
      if (side.length === 0 || side.length === ids.length) side = [this.pick(ids)!];
      this.network.partition(side);
      this.log(`partition ${this.network.describePartition()}`);
    }
    for (const node of [...this.nodes.values()]) {
      if (!node.rn && this.rand() < p.restart) this.restart(node);
    }
    if (p.crash > 0 && this.rand() < p.crash && this.crashedCount() < this.maxCrashed) {
      const victim = this.pick(this.liveNodes());
      if (victim) this.crash(victim, "between steps");
    }
    if (this.rand() < p.propose) {
      const node = this.pick(this.liveNodes());
      if (node) this.propose(node, `p${++this.payloadSeq}`);
    }
    if (p.confChange > 0 && this.rand() < p.confChange) this.proposeConfChange();
    if (p.transfer > 0 && this.rand() < p.transfer) {
      const node = this.pick(this.liveNodes());
      const target = node && this.pick(node.rn!.raft.prs.voters);
      if (node && target !== undefined) {
        this.log(`transfer leadership to ${target} (asked on ${node.id})`);
        node.rn!.transferLeader(target);
        this.afterAction(node);
      }
    }
    for (const node of this.liveNodes()) {
      if (p.compact > 0 && this.rand() < p.compact) this.compact(node);
    }
  }

  private propose(node: SimNode, payload: string): boolean {
    const res = node.rn!.propose(new TextEncoder().encode(payload));
    this.log(`propose ${JSON.stringify(payload)} on ${node.id}: ${res.ok ? "ok" : res.error.code}`);
    if (res.ok) this.stats.proposals++;
    this.afterAction(node);
    return res.ok;
  }

  /** On the leader: add a new node, promote a learner or remove a member, within the size limits. */
  private proposeConfChange(): void {
    const leader = this.currentLeader();
    if (!leader) return;
    const r = leader.rn!.raft;
    const voters = r.prs.voters;
    const learners = r.prs.learners;
    // Without pre-vote, removing voters can wedge the group for good (a liveness limitation of
    // raft as etcd implements it, not a safety bug): a voter that missed the changes campaigns only
    // towards its old configuration's members, which are removed and gone, and raises its term
    // with each try; the new members never see that term, and it ignores their vote requests,
    // which carry a lower one. So only seeds with pre-vote remove voters.
    const mayRemoveVoter = this.profile.preVote && voters.length > this.minVoters;
    const roll = this.rand();
    const ctx = new Uint8Array(0);
    let cc: ConfChange | undefined;
    if (learners.length > 0 && roll < 0.3) {
      cc = { type: ConfChangeType.AddNode, nodeId: this.pick(learners)!, context: ctx };
    } else if (learners.length > 0 && roll < 0.4) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.pick(learners)!, context: ctx };
    } else if (mayRemoveVoter && roll < 0.7) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.pick(voters)!, context: ctx };
    } else if (voters.length < this.maxVoters && learners.length === 0) {
      const type = this.rand() < 0.3 ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
      cc = { type, nodeId: this.nextId, context: ctx };
    } else if (mayRemoveVoter) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.pick(voters)!, context: ctx };
    }
    if (!cc) return;
    const res = leader.rn!.proposeConfChange(cc);
    this.log(`propose conf change ${describeConfChange(cc)} on ${leader.id}: ${res.ok ? "ok" : res.error.code}`);
    if (res.ok && cc.nodeId === this.nextId) this.nextId++;
    this.afterAction(leader);
  }

  /** Snapshot the state machine at the applied index and drop the log up to it. */
  private compact(node: SimNode): void {
    const st = node.storage;
    const a = node.applyState;
    if (a.index <= st.firstIndex() - 1 || a.index > st.lastIndex()) return;
    // A snapshot sent to a follower may already have been taken at this index.
    if (a.index > st.snapshot().metadata.index) st.createSnapshot(a.index, a.confState, encodeImage(a.index, a.chain));
    st.compact(a.index);
    this.stats.compactions++;
    this.log(`compact ${node.id} at ${a.index}`);
  }

  // ---- the network ------------------------------------------------------------------------

  private deliverDue(): void {
    for (let round = 0; ; round++) {
      this.deliverReports();
      const due = this.network.takeDue(this.now);
      if (due.length === 0) return;
      if (round >= 50) {
        this.network.postpone(due, this.now);
        return;
      }
      for (const f of due) this.deliver(f);
    }
  }

  private deliver(f: InFlight): void {
    const m = f.m;
    if (!this.network.linkUp(m.from, m.to)) {
      this.lost(f, "unreachable");
      return;
    }
    let node = this.nodes.get(m.to);
    if (!node) {
      if (this.tombstones.has(m.to) || m.to >= this.nextId) {
        this.lost(f, "unreachable");
        return;
      }
      node = this.createNode(m.to);
    }
    if (!node.rn) {
      this.lost(f, "unreachable");
      return;
    }
    if (this.trace) this.log(`deliver ${describeMessage(m)}`);
    const res = node.rn.step(cloneMessage(m));
    if (!res.ok) {
      const code = res.error.code;
      if (code === "InvalidMessage" || code === "StepLocalMessage") this.fail("protocol", `node ${node.id} refused ${describeMessage(m)}: ${res.error.message}`);
    }
    if (m.type === MessageType.Snapshot) {
      this.reports.push({ sender: m.from, incarnation: f.senderIncarnation, about: m.to, kind: "snapshot-finished" });
    }
    this.afterAction(node);
  }

  /** A message did not arrive: the transport tells the sender about snapshots and, sometimes, unreachable peers. */
  private lost(f: InFlight, reason: DropReason): void {
    const m = f.m;
    if (this.trace) this.log(`lost (${reason}) ${describeMessage(m)}`);
    if (m.type === MessageType.Snapshot) {
      this.reports.push({ sender: m.from, incarnation: f.senderIncarnation, about: m.to, kind: "snapshot-failed" });
    } else if (reason === "unreachable" && this.rand() < 0.5) {
      this.reports.push({ sender: m.from, incarnation: f.senderIncarnation, about: m.to, kind: "unreachable" });
    }
  }

  private deliverReports(): void {
    if (this.o.unsafe === "no-snapshot-reports") this.reports = this.reports.filter((r) => r.kind === "unreachable");
    while (this.reports.length > 0) {
      const batch = this.reports;
      this.reports = [];
      for (const rep of batch) {
        const node = this.nodes.get(rep.sender);
        if (!node?.rn || node.incarnation !== rep.incarnation) continue;
        this.log(`report ${rep.kind} ${rep.sender}->${rep.about}`);
        if (rep.kind === "unreachable") node.rn.reportUnreachable(rep.about);
        else node.rn.reportSnapshot(rep.about, rep.kind === "snapshot-failed" ? SnapshotStatus.Failure : SnapshotStatus.Finish);
        this.afterAction(node);
      }
    }
  }

  private sendAll(node: SimNode, msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.type === MessageType.Snapshot) this.stats.snapshotsSent++;
      if (m.type === MessageType.TimeoutNow) this.stats.timeoutNowSent++;
      const copies = this.network.send(m, this.now, node.incarnation);
      if (copies === 0) this.lost({ m, deliverAt: this.now, order: 0, senderIncarnation: node.incarnation }, "lost");
    }
  }

  // ---- the Ready loop ---------------------------------------------------------------------

  /** After anything that may change a node: handle its Ready now (or defer it) and observe it. */
  private afterAction(node: SimNode): void {
    if (!node.rn) return;
    this.observe(node);
    if (this.faulty && this.profile.deferReady > 0 && this.rand() < this.profile.deferReady) {
      node.pendingReady = true;
    } else {
      this.handleReady(node);
    }
  }

  private observe(node: SimNode): void {
    const r = node.rn!.raft;
    this.checker.observe(node.id, r, node.applyState.index);
    if (this.trace) {
      const role = `${describeRole(r.state)} term=${r.term}`;
      if (role !== node.lastRole) {
        node.lastRole = role;
        this.log(`node ${node.id} is ${role} lead=${r.lead} voters=(${r.prs.voters.join(" ")}) learners=(${r.prs.learners.join(" ")})`);
      }
    }
  }

  private pickCrashPoint(): CrashPoint | undefined {
    const p = this.profile.crashMidReady;
    if (!this.faulty || p === 0 || this.rand() >= p || this.crashedCount() >= this.maxCrashed) return undefined;
    return this.pick(CRASH_POINTS);
  }

  /** Persist → send → apply → advance, for every Ready the node has; a crash may cut it short. */
  private handleReady(node: SimNode): void {
    node.pendingReady = false;
    for (let readies = 0; node.rn?.hasReady(); readies++) {
      if (readies >= 10_000) this.fail("protocol", `node ${node.id}: hasReady() stays true after 10000 Readies`);
      const rn = node.rn;
      const rd = rn.ready();
      const crashAt = this.pickCrashPoint();
      if (this.o.unsafe === "ack-before-persist") {
        this.sendAll(node, rd.messages);
        if (crashAt === "before-persist" || crashAt === "before-send") return this.crash(node, "after sending, before persisting");
        this.persist(node, rd);
      } else {
        if (crashAt === "before-persist") return this.crash(node, "before persisting a Ready");
        this.persist(node, rd);
        if (crashAt === "before-send") return this.crash(node, "after persisting, before sending");
        this.sendAll(node, rd.messages);
        if (this.o.unsafe === "forget-vote" && this.faulty && grantsVote(rd.messages) && this.rand() < 0.5) {
          // Open the window of the bug: a crash and a quick restart right after voting.
          this.crash(node, "right after voting");
          return this.restart(node);
        }
      }
      if (crashAt === "before-apply") return this.crash(node, "before applying");
      if (!this.apply(node, rd, crashAt === "mid-apply")) return;
      rn.advance(rd);
      if (rn.raft.raftLog.applied !== node.applyState.index) {
        // After advance, raft's applied cursor is what the caller applied (a snapshot counts as applied).
        this.fail("applied cursor", `node ${node.id}: raft's applied index is ${rn.raft.raftLog.applied} after advance, but the state machine applied ${node.applyState.index}`);
      }
      this.observe(node);
    }
    if (node.removedSelf && node.rn) this.destroy(node);
  }

  private persist(node: SimNode, rd: Ready): void {
    const st = node.storage;
    if (rd.snapshot) {
      const meta = rd.snapshot.metadata;
      st.applySnapshot(rd.snapshot);
      const img = decodeImage(rd.snapshot.data);
      if (img.index !== meta.index) this.fail("protocol", `node ${node.id}: snapshot at ${meta.index} carries a state machine at ${img.index}`);
      node.applyState = { index: meta.index, chain: img.chain, confState: { voters: [...meta.confState.voters], learners: [...meta.confState.learners] } };
      this.checker.onSnapshotInstalled(node.id, meta.index, img.chain);
      this.stats.snapshotsInstalled++;
      this.log(`node ${node.id} installs snapshot at ${meta.index} term ${meta.term}`);
    }
    if (rd.entries.length > 0) st.append(rd.entries);
    if (rd.hardState) st.setHardState(rd.hardState);
  }

  /** Apply the committed entries in order; returns false if the node crashed part way. */
  private apply(node: SimNode, rd: Ready, crashPartWay: boolean): boolean {
    const ents = rd.committedEntries;
    if (ents.length === 0) return true;
    const rn = node.rn!;
    this.checker.onCommitted(node.id, rn.raft.term, ents);
    if (this.trace) this.log(`node ${node.id} applies ${describeEntries(ents)}`);
    const stopAt = crashPartWay ? Math.floor(this.rand() * ents.length) : -1;
    for (let k = 0; k < ents.length; k++) {
      if (k === stopAt) {
        this.crash(node, `while applying, after ${k} of ${ents.length} entries`);
        return false;
      }
      const e = ents[k]!;
      const a = node.applyState;
      if (e.index !== a.index + 1) this.fail("protocol", `node ${node.id} was handed entry ${e.index} to apply after applying ${a.index}`);
      let confState = a.confState;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        confState = rn.applyConfChange(cc);
        this.confChangeIndexes.add(e.index);
        if (cc.type === ConfChangeType.RemoveNode) {
          this.tombstones.add(cc.nodeId);
          if (cc.nodeId === node.id) node.removedSelf = true;
        }
      } else if (e.data.length > 0 && e.data[0] === 0x71 /* "q": a recovery probe */) {
        if (this.probeIndex === 0) this.probeIndex = e.index;
      }
      const chain = mixEntry(a.chain, e);
      node.applyState = { index: e.index, chain, confState };
      this.checker.onApplied(node.id, e, chain);
    }
    return true;
  }

  private checkAll(): void {
    for (const node of this.liveNodes()) {
      this.checker.observe(node.id, node.rn!.raft, node.applyState.index);
      this.checker.checkLogMatching(node.id, node.rn!.raft);
    }
  }

  // ---- healing and liveness ---------------------------------------------------------------

  private healAll(): void {
    this.faulty = false;
    this.network.heal();
    this.network.faults = NO_NETWORK_FAULTS;
    this.log("faults stop: heal the network, restart crashed nodes, destroy removed ones");
    this.destroyRemoved();
    for (const node of [...this.nodes.values()]) if (!node.rn) this.restart(node);
    for (const node of this.liveNodes()) if (node.pendingReady) this.handleReady(node);
  }

  /** Nodes whose removal was applied somewhere are garbage-collected (a raftstore's stale peer GC). */
  private destroyRemoved(): void {
    for (const node of [...this.nodes.values()]) if (this.tombstones.has(node.id)) this.destroy(node);
  }

  /**
   * Run until a leader exists, a fresh probe proposal committed, and every member of the leader's
   * configuration applied everything ever acknowledged. Returns the ticks it took.
   */
  private recover(): number {
    const bound = 50 * this.profile.electionTick;
    let proposedAt = -Infinity;
    for (let t = 1; t <= bound; t++) {
      this.step();
      this.destroyRemoved();
      const leader = this.currentLeader();
      if (!leader) continue;
      if (this.probeIndex === 0) {
        if (this.now - proposedAt >= this.profile.electionTick) {
          proposedAt = this.now;
          this.propose(leader, `q${++this.payloadSeq}`);
        }
        continue;
      }
      if (this.caughtUp(leader)) return t;
    }
    this.fail("liveness", `no recovery within ${bound} ticks after the faults stopped: ${this.describeNodes()}`);
  }

  private caughtUp(leader: SimNode): boolean {
    const r = leader.rn!.raft;
    const target = Math.max(this.probeIndex, this.checker.maxCommitted);
    for (const id of [...r.prs.voters, ...r.prs.learners]) {
      const n = this.nodes.get(id);
      if (!n?.rn || n.applyState.index < target) return false;
      if (n.applyState.chain !== this.checker.chainAtIndex(n.applyState.index)) {
        this.fail("state machine safety", `node ${id} caught up to ${n.applyState.index} with a different state machine`);
      }
    }
    return true;
  }

  private describeNodes(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      const r = n.rn?.raft;
      if (!r) {
        parts.push(`${n.id}: down`);
        continue;
      }
      parts.push(
        `${n.id}: ${describeRole(r.state)} term=${r.term} lead=${r.lead} commit=${r.raftLog.committed} applied=${n.applyState.index} last=${r.raftLog.lastIndex()} voters=(${r.prs.voters.join(" ")})`,
      );
    }
    return `${parts.join("; ")}; acknowledged up to ${this.checker.maxCommitted}, probe at ${this.probeIndex || "none"}`;
  }
}

function grantsVote(msgs: readonly Message[]): boolean {
  return msgs.some((m) => m.type === MessageType.RequestVoteResponse && !m.reject);
}
