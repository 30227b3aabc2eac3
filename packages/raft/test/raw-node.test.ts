/**
 * RawNode, the caller's API: what a Ready holds and when, acknowledging it with advance, restart
 * from storage, proposals and conf changes through the API, size limits and status.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChangeType,
  EntryType,
  MemoryStorage,
  MessageType,
  NONE,
  RawNode,
  StateRole,
  seededRandom,
  type ConfChange,
  type Entry,
  type RaftConfig,
  type Ready,
  decodeConfChange,
} from "../src/index.js";
import { bytes, entry, msg, snapshotAt } from "./harness.js";

function newRawNode(id: number, storage: MemoryStorage, extra: Partial<RaftConfig> = {}): RawNode {
  return new RawNode({ id, electionTick: 10, heartbeatTick: 1, storage, random: seededRandom(id), ...extra });
}

/** One turn of the caller's loop: persist the Ready, apply its committed entries, advance. */
function handleReady(rn: RawNode, st: MemoryStorage): Ready {
  const rd = rn.ready();
  if (rd.snapshot) st.applySnapshot(rd.snapshot);
  st.append(rd.entries);
  if (rd.hardState) st.setHardState(rd.hardState);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) rn.applyConfChange(decodeConfChange(e.data));
  }
  rn.advance(rd);
  return rd;
}

/** Run the loop until there is nothing left to do; returns every Ready handled. */
function drain(rn: RawNode, st: MemoryStorage): Ready[] {
  const out: Ready[] = [];
  while (rn.hasReady()) out.push(handleReady(rn, st));
  return out;
}

/** A single-voter node that has elected itself and drained its Readies. */
function singleNodeLeader(): { rn: RawNode; st: MemoryStorage } {
  const st = MemoryStorage.withPeers([1]);
  const rn = newRawNode(1, st);
  assert.equal(rn.campaign().ok, true);
  drain(rn, st);
  assert.equal(rn.raft.state, StateRole.Leader);
  return { rn, st };
}

function cc(type: ConfChangeType, nodeId: number): ConfChange {
  return { type, nodeId, context: new Uint8Array(0) };
}

function storedEntries(st: MemoryStorage): Entry[] {
  return st.entries(st.firstIndex(), st.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
}

describe("RawNode proposals and conf changes", () => {
  test("a data proposal and a conf change are appended in proposal order (TestRawNodeProposeAndConfChange)", () => {
    const { rn, st } = singleNodeLeader();
    const before = st.lastIndex();
    assert.equal(rn.propose(bytes("somedata")).ok, true);
    const change = cc(ConfChangeType.AddNode, 2);
    assert.equal(rn.proposeConfChange(change).ok, true);
    drain(rn, st);

    const ents = storedEntries(st);
    assert.equal(st.lastIndex(), before + 2);
    const [data, conf] = ents.slice(-2);
    assert.equal(data!.type, EntryType.Normal);
    assert.deepEqual(data!.data, bytes("somedata"));
    assert.equal(conf!.type, EntryType.ConfChange);
    assert.deepEqual(decodeConfChange(conf!.data), change);
    // The change was applied by the loop.
    assert.deepEqual(rn.status().confState, { voters: [1, 2], learners: [] });
  });

  test("adding a node that is already a member is harmless: the log holds cc1, cc1, cc2 (TestRawNodeProposeAddDuplicateNode)", () => {
    const { rn, st } = singleNodeLeader();
    const cc1 = cc(ConfChangeType.AddNode, 1);
    const cc2 = cc(ConfChangeType.AddNode, 2);
    for (const c of [cc1, cc1, cc2]) {
      assert.equal(rn.proposeConfChange(c).ok, true);
      drain(rn, st);
    }
    const last3 = storedEntries(st).slice(-3);
    assert.deepEqual(
      last3.map((e) => [e.type, decodeConfChange(e.data).nodeId]),
      [
        [EntryType.ConfChange, 1],
        [EntryType.ConfChange, 1],
        [EntryType.ConfChange, 2],
      ],
    );
    assert.deepEqual(rn.status().confState.voters, [1, 2]);
  });

  test("a second conf change through proposeConfChange is refused with ProposalDropped while the first is unapplied", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    const rn = newRawNode(1, st);
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    drain(rn, st);
    assert.equal(rn.proposeConfChange(cc(ConfChangeType.AddNode, 3)).ok, true);
    const res = rn.proposeConfChange(cc(ConfChangeType.AddNode, 4));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "ProposalDropped");
  });

  test("a proposal larger than maxEntryBytes is refused with EntryTooLarge and nothing is appended", () => {
    const st = MemoryStorage.withPeers([1]);
    const rn = newRawNode(1, st, { maxEntryBytes: 16 });
    rn.campaign();
    drain(rn, st);
    const last = rn.raft.raftLog.lastIndex();

    const res = rn.propose(new Uint8Array(17));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "EntryTooLarge");
    const batch = rn.proposeBatch([bytes("small"), new Uint8Array(17)]);
    assert.equal(batch.ok, false);
    assert.equal(!batch.ok && batch.error.code, "EntryTooLarge");
    assert.equal(rn.raft.raftLog.lastIndex(), last);
    assert.equal(rn.hasReady(), false);

    // Exactly at the limit is fine.
    assert.equal(rn.propose(new Uint8Array(16)).ok, true);
    assert.equal(rn.raft.raftLog.lastIndex(), last + 1);
  });

  test("a conf change naming node 0 is refused with InvalidMessage", () => {
    const { rn } = singleNodeLeader();
    const res = rn.proposeConfChange(cc(ConfChangeType.AddNode, 0));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "InvalidMessage");
  });
});

describe("RawNode Ready", () => {
  test("a started single node hands out its entry as both to-persist and committed, and nothing after advance (TestRawNodeStart)", () => {
    const st = MemoryStorage.withPeers([1]);
    const rn = newRawNode(1, st);
    assert.equal(rn.hasReady(), false);
    rn.campaign();

    const rd1 = rn.ready();
    assert.deepEqual(rd1.softState, { lead: 1, raftState: StateRole.Leader });
    assert.deepEqual(rd1.hardState, { term: 1, vote: 1, commit: 1 });
    assert.deepEqual(
      rd1.entries.map((e) => [e.index, e.term, e.data.byteLength]),
      [[1, 1, 0]],
    );
    assert.deepEqual(rd1.committedEntries, rd1.entries);
    assert.equal(rd1.mustSync, true);
    st.append(rd1.entries);
    st.setHardState(rd1.hardState!);
    rn.advance(rd1);
    assert.equal(rn.hasReady(), false);

    assert.equal(rn.propose(bytes("foo")).ok, true);
    const rd2 = rn.ready();
    assert.equal(rd2.entries.length, 1);
    assert.equal(rd2.committedEntries.length, 1);
    assert.deepEqual(rd2.entries[0]!.data, bytes("foo"));
    assert.deepEqual(rd2.committedEntries[0], rd2.entries[0]);
    assert.equal(rd2.softState, undefined);
    assert.deepEqual(rd2.hardState, { term: 1, vote: 1, commit: 2 });
    st.append(rd2.entries);
    rn.advance(rd2);
    assert.equal(rn.hasReady(), false);
  });

  test("a restarted node's first Ready holds only the committed entries to apply: no entries, HardState or SoftState (TestRawNodeRestart)", () => {
    const st = MemoryStorage.withPeers([1]);
    st.append([entry(1, 1, "a"), entry(2, 1, "b")]);
    st.setHardState({ term: 1, vote: NONE, commit: 1 });
    const rn = newRawNode(1, st);

    assert.equal(rn.hasReady(), true);
    const rd = rn.ready();
    assert.deepEqual(rd.entries, []);
    assert.deepEqual(
      rd.committedEntries.map((e) => [e.index, e.term]),
      [[1, 1]],
    );
    assert.deepEqual(rd.committedEntries[0]!.data, bytes("a"));
    assert.equal(rd.hardState, undefined);
    assert.equal(rd.softState, undefined);
    assert.equal(rd.mustSync, false);
    rn.advance(rd);
    assert.equal(rn.hasReady(), false);
    assert.equal(rn.status().applied, 1);
  });

  test("a node restarted from a snapshot applies only the committed entries after it (TestRawNodeRestartFromSnapshot)", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    st.applySnapshot(snapshotAt(2, 1, [1, 2]));
    st.append([entry(3, 1, "foo")]);
    st.setHardState({ term: 1, vote: NONE, commit: 3 });
    const rn = newRawNode(1, st);
    assert.equal(rn.status().applied, 2);

    const rd = rn.ready();
    assert.deepEqual(rd.entries, []);
    assert.equal(rd.snapshot, undefined);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [3],
    );
    assert.equal(rd.hardState, undefined);
    assert.equal(rd.softState, undefined);
    rn.advance(rd);
    assert.equal(rn.hasReady(), false);
    assert.equal(rn.status().applied, 3);
  });

  test("HardState and SoftState appear only when changed, and mustSync is false when only commit moved", () => {
    const st = MemoryStorage.withPeers([1, 2, 3]);
    // Without check-quorum, so the vote below is not ignored as inside the leader's lease.
    const rn = newRawNode(1, st, { checkQuorum: false, preVote: false });

    // A leader of term 1 appears and sends an entry: term and leader change, an entry to persist.
    rn.step(msg({ type: MessageType.Append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: [entry(1, 1)], commit: 0 }));
    const rd1 = handleReady(rn, st);
    assert.deepEqual(rd1.softState, { lead: 2, raftState: StateRole.Follower });
    assert.deepEqual(rd1.hardState, { term: 1, vote: NONE, commit: 0 });
    assert.equal(rd1.entries.length, 1);
    assert.equal(rd1.mustSync, true);
    assert.deepEqual(
      rd1.messages.map((m) => [m.type, m.to, m.index]),
      [[MessageType.AppendResponse, 2, 1]],
    );

    // The leader's heartbeat moves commit only: a HardState, but no sync needed.
    rn.step(msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 1, commit: 1 }));
    const rd2 = handleReady(rn, st);
    assert.equal(rd2.softState, undefined);
    assert.deepEqual(rd2.hardState, { term: 1, vote: NONE, commit: 1 });
    assert.deepEqual(rd2.entries, []);
    assert.deepEqual(
      rd2.committedEntries.map((e) => e.index),
      [1],
    );
    assert.equal(rd2.mustSync, false);

    // Nothing changed but a message to send: neither state appears.
    rn.step(msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 1, commit: 1 }));
    const rd3 = handleReady(rn, st);
    assert.equal(rd3.softState, undefined);
    assert.equal(rd3.hardState, undefined);
    assert.equal(rd3.mustSync, false);
    assert.deepEqual(
      rd3.messages.map((m) => m.type),
      [MessageType.HeartbeatResponse],
    );

    // A vote for a higher-term candidate: term and vote change (sync), and the leader is forgotten.
    rn.step(msg({ type: MessageType.RequestVote, from: 3, to: 1, term: 2, index: 1, logTerm: 1 }));
    const rd4 = handleReady(rn, st);
    assert.deepEqual(rd4.softState, { lead: NONE, raftState: StateRole.Follower });
    assert.deepEqual(rd4.hardState, { term: 2, vote: 3, commit: 1 });
    assert.equal(rd4.mustSync, true);
    assert.equal(rn.hasReady(), false);
  });

  test("read states are handed out by exactly one Ready", () => {
    const { rn, st } = singleNodeLeader();
    rn.readIndex(bytes("req-1"));
    const rd = rn.ready();
    assert.deepEqual(rd.readStates, [{ index: rn.raft.raftLog.committed, requestCtx: bytes("req-1") }]);
    rn.advance(rd);
    assert.equal(rn.hasReady(), false);
    rn.propose(bytes("x"));
    const next = handleReady(rn, st);
    assert.deepEqual(next.readStates, []);
  });

  test("messages are handed out by exactly one Ready", () => {
    const st = MemoryStorage.withPeers([1, 2, 3]);
    const rn = newRawNode(1, st, { preVote: false });
    rn.campaign();
    const rd1 = rn.ready();
    assert.deepEqual(
      rd1.messages.map((m) => [m.type, m.to]),
      [
        [MessageType.RequestVote, 2],
        [MessageType.RequestVote, 3],
      ],
    );
    assert.deepEqual(rn.raft.msgs, []);
    rn.advance(rd1);
    assert.equal(rn.hasReady(), false);

    // One vote wins; the next Ready carries only the new appends.
    rn.step(msg({ type: MessageType.RequestVoteResponse, from: 2, to: 1, term: 1 }));
    const rd2 = rn.ready();
    assert.deepEqual(
      rd2.messages.map((m) => [m.type, m.to]),
      [
        [MessageType.Append, 2],
        [MessageType.Append, 3],
      ],
    );
    st.append(rd2.entries);
    rn.advance(rd2);
    assert.equal(rn.hasReady(), false);
  });

  test("advance moves the applied index to the last committed entry of the Ready", () => {
    const { rn, st } = singleNodeLeader();
    const applied = rn.status().applied;
    rn.propose(bytes("a"));
    rn.propose(bytes("b"));
    const rd = rn.ready();
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [applied + 1, applied + 2],
    );
    // Nothing is applied until the Ready is acknowledged.
    assert.equal(rn.status().applied, applied);
    st.append(rd.entries);
    rn.advance(rd);
    assert.equal(rn.status().applied, applied + 2);
    assert.equal(rn.hasReady(), false);
  });

  test("a Ready that installs a snapshot moves applied to the snapshot index on advance, and the node can campaign afterwards", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    const rn = newRawNode(2, st);
    assert.equal(rn.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: snapshotAt(11, 2, [1, 2]) })).ok, true);
    const rd = rn.ready();
    assert.equal(rd.snapshot?.metadata.index, 11);
    assert.deepEqual(rd.committedEntries, []);
    assert.deepEqual(rd.hardState, { term: 2, vote: NONE, commit: 11 });
    assert.equal(rd.mustSync, true);
    st.applySnapshot(rd.snapshot!);
    st.setHardState(rd.hardState!);
    rn.advance(rd);
    assert.equal(rn.status().applied, 11);
    assert.equal(rn.hasReady(), false);

    // The leader goes quiet: the node times out and starts a (pre-)election without error.
    for (let i = 0; i < 2 * 10; i++) rn.tick();
    assert.equal(rn.raft.state, StateRole.PreCandidate);
    const out = rn.ready();
    assert.deepEqual(
      out.messages.map((m) => [m.type, m.to, m.index, m.logTerm]),
      [[MessageType.RequestPreVote, 1, 11, 2]],
    );
  });
});

describe("RawNode step and status", () => {
  test("step refuses local message types and responses from nodes outside the group", () => {
    const rn = newRawNode(1, MemoryStorage.withPeers([1, 2, 3]));
    const local = rn.step(msg({ type: MessageType.Hup, from: 2, to: 1, term: 1 }));
    assert.equal(!local.ok && local.error.code, "StepLocalMessage");
    const stranger = rn.step(msg({ type: MessageType.AppendResponse, from: 9, to: 1, term: 1 }));
    assert.equal(!stranger.ok && stranger.error.code, "StepPeerNotFound");
    const misaddressed = rn.step(msg({ type: MessageType.Append, from: 2, to: 3, term: 1 }));
    assert.equal(!misaddressed.ok && misaddressed.error.code, "InvalidMessage");
    assert.equal(rn.raft.term, 0);
    assert.equal(rn.hasReady(), false);
  });

  test("status reports the node's states, applied index and membership, and progress only on the leader", () => {
    const st = MemoryStorage.withPeers([1, 2, 3]);
    const rn = newRawNode(1, st, { preVote: false });
    const s0 = rn.status();
    assert.equal(s0.id, 1);
    assert.deepEqual(s0.hardState, { term: 0, vote: NONE, commit: 0 });
    assert.deepEqual(s0.softState, { lead: NONE, raftState: StateRole.Follower });
    assert.equal(s0.progress, undefined);
    assert.equal(s0.leadTransferee, NONE);
    assert.deepEqual(s0.confState, { voters: [1, 2, 3], learners: [] });

    rn.campaign();
    rn.step(msg({ type: MessageType.RequestVoteResponse, from: 2, to: 1, term: 1 }));
    drain(rn, st);
    rn.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 1 }));
    drain(rn, st);
    const s1 = rn.status();
    assert.deepEqual(s1.softState, { lead: 1, raftState: StateRole.Leader });
    assert.deepEqual(s1.hardState, { term: 1, vote: 1, commit: 1 });
    assert.equal(s1.applied, 1);
    assert.deepEqual([...s1.progress!.keys()].sort(), [1, 2, 3]);
    assert.equal(s1.progress!.get(2)!.match, 1);
    assert.equal(s1.progress!.get(3)!.match, 0);

    // A transfer to node 3, which still lacks entries, stays pending and is reported.
    rn.transferLeader(3);
    assert.equal(rn.status().leadTransferee, 3);
  });
});
