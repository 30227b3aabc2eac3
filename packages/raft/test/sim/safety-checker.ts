/**
 * The safety properties of raft (Figure 3 of the paper), checked by the cluster simulation on
 * every node after every action and every step, across the whole history of a run:
 *
 * - election safety: at most one leader per term;
 * - log matching: two logs holding an entry with the same index and term hold the same entry
 *   there and agree on the term of the entry before it (so, by induction, on the whole prefix);
 *   checked on each node's stable and unstable log;
 * - leader completeness: an entry committed at index i with term t is in the log of every leader
 *   of a later term;
 * - state machine safety: no two nodes apply different entries at the same index (checked through
 *   a hash chain over the applied sequence, which snapshots carry);
 * - the commit index of a running node never decreases, and applied ≤ committed.
 *
 * The checker knows nothing of the simulation: it is fed observations and calls `fail`, which
 * throws (with the seed and replay command) and ends the run.
 */
import { StateRole, describeEntry, type Entry, type Raft } from "../../src/index.js";

export type ViolationKind =
  | "election safety"
  | "log matching"
  | "leader completeness"
  | "state machine safety"
  | "commit regressed"
  | "applied beyond committed"
  | "applied cursor"
  | "liveness"
  | "raft core threw"
  | "protocol";

/** One (index, term) seen in some log: what every log holding it must agree on. */
interface LogRecord {
  term: number;
  entry: Entry;
  /** The term of the entry at index - 1 in the log it was first seen in. */
  prevTerm: number;
  /** The node it was first seen on (for the error message). */
  node: number;
}

/** What an entry's commitment is known by: its term, and the lowest term a node observed it at. */
interface CommitRecord {
  term: number;
  /**
   * The smallest term of a node that applied it. The entry was committed in some term U ≤ this
   * (a node only learns a commit index from a leader of its own term or from its own counting),
   * so every leader of a term above it must hold the entry.
   */
  minObservedTerm: number;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, number>();
  /** Nodes that are leaders right now (as last observed). */
  private readonly leaders = new Map<number, Raft>();
  /** Per node: the term in which it was last verified as a leader against the committed entries. */
  private readonly verifiedLeaderTerm = new Map<number, number>();
  private readonly registry: (LogRecord[] | undefined)[] = [];
  private readonly committed: (CommitRecord | undefined)[] = [];
  /** The state machine's hash chain after applying index i, as first applied (or bootstrapped). */
  private readonly chainAt: (number | undefined)[] = [];
  private readonly firstApplied: ({ node: number; entry: Entry | undefined } | undefined)[] = [];
  private readonly lastCommit = new Map<number, number>();
  /** The highest index observed committed (through a Ready's committed entries). */
  maxCommitted = 0;
  leadersElected = 0;

  constructor(private readonly fail: (kind: ViolationKind, detail: string) => never) {}

  /** Index `index` is the state every node starts from (the bootstrap snapshot), with hash `chain`. */
  bootstrap(index: number, chain: number): void {
    this.chainAt[index] = chain;
    this.firstApplied[index] = { node: 0, entry: undefined };
    this.maxCommitted = Math.max(this.maxCommitted, index);
  }

  /** A node crashed or was destroyed: its volatile state is gone; a restart starts a new history. */
  forget(id: number): void {
    this.leaders.delete(id);
    this.lastCommit.delete(id);
    this.verifiedLeaderTerm.delete(id);
  }

  /**
   * After every action of a running node: election safety, commit monotonicity, applied ≤
   * committed, and, when it has just become leader of a term, leader completeness.
   */
  observe(id: number, r: Raft, appliedIndex: number): void {
    const log = r.raftLog;
    const prev = this.lastCommit.get(id);
    if (prev !== undefined && log.committed < prev) {
      this.fail("commit regressed", `node ${id}: committed index went from ${prev} to ${log.committed} while running`);
    }
    this.lastCommit.set(id, log.committed);
    if (log.applied > log.committed || appliedIndex > log.committed) {
      this.fail("applied beyond committed", `node ${id}: raft applied ${log.applied}, state machine applied ${appliedIndex}, committed ${log.committed}`);
    }
    if (r.state !== StateRole.Leader) {
      this.leaders.delete(id);
      return;
    }
    this.leaders.set(id, r);
    const other = this.leaderOfTerm.get(r.term);
    if (other === undefined) {
      this.leaderOfTerm.set(r.term, id);
      this.leadersElected++;
    } else if (other !== id) {
      this.fail("election safety", `nodes ${other} and ${id} were both leader of term ${r.term}`);
    }
    if (this.verifiedLeaderTerm.get(id) !== r.term) {
      this.verifiedLeaderTerm.set(id, r.term);
      for (let i = Math.max(log.firstIndex(), 1); i <= this.maxCommitted; i++) {
        const c = this.committed[i];
        if (c && c.minObservedTerm < r.term) this.mustHoldCommitted(id, r, i, c);
      }
    }
  }

  /** Entries a node applied (a Ready's committed entries), seen while its term was `term`. */
  onCommitted(id: number, term: number, entries: readonly Entry[]): void {
    for (const e of entries) {
      const c = this.committed[e.index];
      if (c === undefined) {
        this.committed[e.index] = { term: e.term, minObservedTerm: term };
      } else {
        if (c.term !== e.term) {
          this.fail("state machine safety", `node ${id} committed ${describeEntry(e)} but term ${c.term} was committed at index ${e.index} before`);
        }
        if (term < c.minObservedTerm) c.minObservedTerm = term;
      }
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      const rec = this.committed[e.index]!;
      // Leaders that already exist in a later term must hold it too.
      for (const [lid, lr] of this.leaders) {
        if (lr.term > rec.minObservedTerm && e.index >= lr.raftLog.firstIndex()) this.mustHoldCommitted(lid, lr, e.index, rec);
      }
    }
  }

  private mustHoldCommitted(id: number, r: Raft, i: number, c: CommitRecord): void {
    const t = i <= r.raftLog.lastIndex() ? r.raftLog.zeroTermOnCompacted(i) : -1;
    if (t === 0 && i < r.raftLog.firstIndex()) return; // compacted: its state machine holds it
    if (t !== c.term) {
      const have = t === -1 ? `its log ends at ${r.raftLog.lastIndex()}` : `it has term ${t} there`;
      this.fail("leader completeness", `node ${id}, leader of term ${r.term}, lacks committed entry ${c.term}/${i} (observed committed at term ${c.minObservedTerm}): ${have}`);
    }
  }

  /** A node applied `e`; its state machine's hash chain is now `chain`. */
  onApplied(id: number, e: Entry, chain: number): void {
    const known = this.chainAt[e.index];
    if (known === undefined) {
      this.chainAt[e.index] = chain;
      this.firstApplied[e.index] = { node: id, entry: e };
      return;
    }
    if (known !== chain) {
      const first = this.firstApplied[e.index];
      const firstDesc = first?.entry ? describeEntry(first.entry) : "the bootstrap state";
      this.fail(
        "state machine safety",
        `node ${id} applied ${describeEntry(e)} at index ${e.index}, but node ${first?.node} applied ${firstDesc} there (or the state machines diverged before it)`,
      );
    }
  }

  /** A node installed a snapshot whose state machine image is (index, chain). */
  onSnapshotInstalled(id: number, index: number, chain: number): void {
    const known = this.chainAt[index];
    if (known === undefined) {
      this.fail("state machine safety", `node ${id} installed a snapshot at ${index}, an index no node has applied`);
    }
    if (known !== chain) this.fail("state machine safety", `node ${id} installed a snapshot at ${index} whose state differs from what was applied there`);
  }

  /** The hash chain of the agreed state machine at `index`, if some node applied it. */
  chainAtIndex(index: number): number | undefined {
    return this.chainAt[index];
  }

  /** Log matching over a node's whole log: stable entries in storage plus unstable ones. */
  checkLogMatching(id: number, r: Raft): void {
    const log = r.raftLog;
    const first = log.firstIndex();
    let prevTerm = log.term(first - 1);
    const ents = log.allEntries();
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!;
      if (e.index !== first + k) this.fail("log matching", `node ${id}: log is not contiguous: entry ${e.index} at position ${first + k}`);
      if (e.term < prevTerm) this.fail("log matching", `node ${id}: term decreases at index ${e.index} (${prevTerm} → ${e.term})`);
      let recs = this.registry[e.index];
      if (recs === undefined) {
        recs = [];
        this.registry[e.index] = recs;
      }
      let rec: LogRecord | undefined;
      for (const x of recs) {
        if (x.term === e.term) {
          rec = x;
          break;
        }
      }
      if (rec === undefined) {
        recs.push({ term: e.term, entry: e, prevTerm, node: id });
      } else if (rec.prevTerm !== prevTerm || !sameEntry(rec.entry, e)) {
        this.fail(
          "log matching",
          `node ${id} holds ${describeEntry(e)} after term ${prevTerm}, but node ${rec.node} held ${describeEntry(rec.entry)} after term ${rec.prevTerm}`,
        );
      }
      prevTerm = e.term;
    }
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a === b) return true;
  if (a.type !== b.type || a.term !== b.term || a.index !== b.index) return false;
  if (a.data === b.data) return true;
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}
