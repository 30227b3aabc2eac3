/**
 * Test harness for the raft core, shared by the paper, behaviour, scenario and simulation tests:
 * raft nodes on MemoryStorage and a synchronous in-memory network that can cut links, isolate
 * nodes, ignore message types and drop at random (seeded). Modelled on the test network of etcd's
 * raft (a fact about how such tests are built; the code is ours).
 */
import {
  EntryType,
  MemoryStorage,
  MessageType,
  NONE,
  Raft,
  ReadOnlyOption,
  newMessage,
  encodeConfChange,
  seededRandom,
  type ConfChangeType,
  type Entry,
  type Message,
  type RaftConfig,
  type Snapshot,
  decodeConfChange,
} from "../src/index.js";

export interface TestRaftOptions extends Partial<Omit<RaftConfig, "id" | "storage">> {
  /** Defaults: 10 election ticks, 1 heartbeat tick, pre-vote and check-quorum off (as the paper). */
  election?: number;
  heartbeat?: number;
}

/** A raft node on `storage` (or a fresh MemoryStorage with `peers` as voters). */
export function newTestRaft(id: number, peers: number[], opts: TestRaftOptions = {}, storage?: MemoryStorage): Raft {
  const st = storage ?? MemoryStorage.withPeers(peers);
  return new Raft({
    id,
    electionTick: opts.election ?? 10,
    heartbeatTick: opts.heartbeat ?? 1,
    storage: st,
    maxInflightMsgs: opts.maxInflightMsgs ?? 256,
    checkQuorum: opts.checkQuorum ?? false,
    preVote: opts.preVote ?? false,
    readOnlyOption: opts.readOnlyOption ?? ReadOnlyOption.Safe,
    random: opts.random ?? seededRandom(id * 7919),
    ...(opts.maxSizePerMsg !== undefined ? { maxSizePerMsg: opts.maxSizePerMsg } : {}),
    ...(opts.maxUncommittedEntriesSize !== undefined ? { maxUncommittedEntriesSize: opts.maxUncommittedEntriesSize } : {}),
    ...(opts.applied !== undefined ? { applied: opts.applied } : {}),
    ...(opts.disableProposalForwarding !== undefined ? { disableProposalForwarding: opts.disableProposalForwarding } : {}),
  });
}

/** Build a message with zero defaults (terse helper for tests). */
export const msg = newMessage;

/** Node ids 1..n. */
export function ids(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

export function entry(index: number, term: number, data = ""): Entry {
  return { type: 0, index, term, data: new TextEncoder().encode(data) };
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Take the messages a node has queued (as a Ready would). */
export function readMessages(r: Raft): Message[] {
  const msgs = r.msgs;
  r.msgs = [];
  return msgs;
}

/** Something that can be a member of a Network: a real Raft, or a black hole. */
export type Stepper = Raft | "blackhole";

/** Persist what a node would persist through a Ready (entries become stable). */
export function persistUnstable(r: Raft): void {
  const st = r.raftLog.storage as MemoryStorage;
  const snap = r.raftLog.unstable.snapshot;
  if (snap) {
    st.applySnapshot(snap);
    r.raftLog.stableSnapTo(snap.metadata.index);
  }
  const ents = r.raftLog.unstableEntries();
  if (ents.length > 0) {
    st.append(ents);
    const last = ents[ents.length - 1]!;
    r.raftLog.stableTo(last.index, last.term);
  }
  st.setHardState(r.hardState());
}

/**
 * A synchronous network of raft nodes: `send` delivers messages (and every message they cause)
 * until quiet, subject to the link filters. Node ids are 1..n.
 */
export class Network {
  readonly peers = new Map<number, Stepper>();
  readonly storage = new Map<number, MemoryStorage>();
  /** Drop probability per directed link ("from-to"). */
  private readonly dropm = new Map<string, number>();
  private readonly ignorem = new Set<MessageType>();
  /** Called for every message delivered; return false to drop it. */
  msgHook: ((m: Message) => boolean) | undefined;
  private readonly rand: () => number;

  /**
   * `nodes[i]` is node i+1: undefined makes a fresh Raft with every node as voter, "blackhole"
   * swallows everything, a Raft is used as is.
   */
  constructor(nodes: (Stepper | undefined)[], opts: TestRaftOptions = {}, seed = 1) {
    this.rand = seededRandom(seed);
    const ids = nodes.map((_, i) => i + 1);
    nodes.forEach((n, i) => {
      const id = i + 1;
      if (n === undefined) {
        const st = MemoryStorage.withPeers(ids);
        this.storage.set(id, st);
        this.peers.set(id, newTestRaft(id, ids, opts, st));
      } else {
        if (n !== "blackhole") this.storage.set(id, n.raftLog.storage as MemoryStorage);
        this.peers.set(id, n);
      }
    });
  }

  raft(id: number): Raft {
    const p = this.peers.get(id);
    if (!p || p === "blackhole") throw new Error(`node ${id} is not a raft node`);
    return p;
  }

  /** Deliver `msgs` and everything they cause, breadth first, until no message is left. */
  send(...msgs: Message[]): void {
    const queue = [...msgs];
    while (queue.length > 0) {
      const m = queue.shift()!;
      const p = this.peers.get(m.to);
      if (!p || p === "blackhole") continue;
      p.step(m);
      persistUnstable(p);
      queue.push(...this.filter(readMessages(p)));
    }
  }

  /** Drop messages from→to with probability `perc` (1 = always). */
  drop(from: number, to: number, perc: number): void {
    this.dropm.set(`${from}-${to}`, perc);
  }

  cut(a: number, b: number): void {
    this.drop(a, b, 2);
    this.drop(b, a, 2);
  }

  isolate(id: number): void {
    for (const other of this.peers.keys()) {
      if (other !== id) this.cut(id, other);
    }
  }

  ignore(t: MessageType): void {
    this.ignorem.add(t);
  }

  recover(): void {
    this.dropm.clear();
    this.ignorem.clear();
  }

  filter(msgs: Message[]): Message[] {
    return msgs.filter((m) => {
      if (this.ignorem.has(m.type)) return false;
      // Hup is local and never crosses the network.
      if (m.type === MessageType.Hup) throw new Error("unexpected MsgHup on the network");
      const perc = this.dropm.get(`${m.from}-${m.to}`) ?? 0;
      if (perc > 0 && this.rand() < perc) return false;
      if (this.msgHook && !this.msgHook(m)) return false;
      return true;
    });
  }
}

/** A storage already holding `snapshot`-less entries with the given terms at indexes 1..n. */
export function storageWithTerms(peers: number[], terms: number[]): MemoryStorage {
  const st = MemoryStorage.withPeers(peers);
  st.append(terms.map((t, i) => entry(i + 1, t)));
  return st;
}

export function snapshotAt(index: number, term: number, voters: number[], learners: number[] = []): Snapshot {
  return { data: new Uint8Array(0), metadata: { index, term, confState: { voters, learners } } };
}

/** Every entry of a node's log (stable and unstable), as "term/index" pairs for compact asserts. */
export function logOf(r: Raft): string[] {
  return r.raftLog.allEntries().map((e) => `${e.term}/${e.index}`);
}

// ---- helpers for snapshot, membership and leader-transfer tests (appended) ----------------

/** A conf-change entry (index and term are set by the leader when it is proposed). */
export function confChangeEntry(type: ConfChangeType, nodeId: number): Entry {
  return { type: EntryType.ConfChange, index: 0, term: 0, data: encodeConfChange({ type, nodeId, context: new Uint8Array(0) }) };
}

/**
 * Act as the caller's apply loop for `r`: persist what is unstable, then hand out every committed
 * entry not yet applied, apply conf changes to `r` (in log order) and mark them applied. Returns
 * the entries applied. Messages that applying causes stay in `r.msgs`.
 */
export function applyCommitted(r: Raft): Entry[] {
  persistUnstable(r);
  const applied: Entry[] = [];
  for (let ents = r.raftLog.nextEntries(); ents.length > 0; ents = r.raftLog.nextEntries()) {
    for (const e of ents) {
      if (e.type === EntryType.ConfChange) r.applyConfChange(decodeConfChange(e.data));
      applied.push(e);
    }
    r.raftLog.appliedTo(ents[ents.length - 1]!.index);
  }
  return applied;
}

// ---- helpers for the paper, election and replication tests (appended) ----------------------

/** A proposal of one normal entry per string, as the caller of node `to` steps it. */
export function proposalTo(to: number, ...datas: string[]): Message {
  return msg({ from: to, to, type: MessageType.Propose, entries: datas.map((d) => entry(0, 0, d)) });
}

/**
 * A node that restarts with entries of `terms` at indexes 1..n and the hard state `hs` (term
 * defaults to the last entry's term, as a node that took part in those terms).
 */
export function newTestRaftWithLog(
  id: number,
  peers: number[],
  terms: number[],
  hs: { term?: number; vote?: number; commit?: number } = {},
  opts: TestRaftOptions = {},
): Raft {
  const st = storageWithTerms(peers, terms);
  st.setHardState({ term: hs.term ?? terms[terms.length - 1] ?? 0, vote: hs.vote ?? NONE, commit: hs.commit ?? 0 });
  return newTestRaft(id, peers, opts, st);
}

/** The AppendResponse of a follower that accepts append `m`. */
export function acceptAppend(m: Message): Message {
  return msg({ from: m.to, to: m.from, type: MessageType.AppendResponse, term: m.term, index: m.index + m.entries.length });
}

/**
 * Make every follower of the newly elected leader `r` acknowledge its empty entry, then drop the
 * messages that causes, persist the log and mark the commit applied: `r` is left a leader with a
 * committed log and every follower in Replicate state. Throws if `r` is not a fresh leader.
 */
export function commitEmptyEntry(r: Raft): void {
  if (r.lead !== r.id) throw new Error(`commitEmptyEntry: raft ${r.id} is not leader`);
  r.bcastAppend();
  for (const m of readMessages(r)) {
    if (m.type !== MessageType.Append || m.entries.length !== 1 || m.entries[0]!.data.length !== 0) {
      throw new Error(`commitEmptyEntry: expected an append of the empty entry, got type ${m.type} with ${m.entries.length} entries`);
    }
    r.step(acceptAppend(m));
  }
  readMessages(r);
  persistUnstable(r);
  r.raftLog.appliedTo(r.raftLog.committed);
}
