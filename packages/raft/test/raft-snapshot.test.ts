/**
 * Snapshots: restoring one on a follower, a leader providing one to a follower whose entries were
 * compacted, the Snapshot progress state and its exits (reportSnapshot Finish / Failure), storage
 * that cannot produce a snapshot yet, and restarting from a snapshot.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  MemoryStorage,
  MessageType,
  NONE,
  ProgressState,
  RaftError,
  StateRole,
  type ConfState,
  type Message,
  type Raft,
  type Snapshot,
} from "../src/index.js";
import { Network, applyCommitted, bytes, entry, logOf, msg, newTestRaft, persistUnstable, readMessages, snapshotAt } from "./harness.js";

/** A MemoryStorage whose `snapshot()` reports "SnapshotTemporarilyUnavailable" the first `failures` times. */
class SnapshotNotReadyStorage extends MemoryStorage {
  snapshotCalls = 0;
  constructor(
    private failures: number,
    cs: ConfState,
  ) {
    super(cs);
  }

  override snapshot(): Snapshot {
    this.snapshotCalls++;
    if (this.failures > 0) {
      this.failures--;
      throw new RaftError("SnapshotTemporarilyUnavailable", "snapshot is being generated");
    }
    return super.snapshot();
  }
}

function propose(data: string): Message {
  return msg({ type: MessageType.Propose, entries: [entry(0, 0, data)] });
}

/**
 * A leader (term 12) of {1, 2} whose log was compacted up to index 11 (term 11); index 12 holds its
 * empty entry. Follower 2 has answered nothing yet.
 */
function compactedLeader(storage: MemoryStorage = MemoryStorage.withPeers([1, 2])): Raft {
  storage.applySnapshot(snapshotAt(11, 11, [1, 2]));
  storage.setHardState({ term: 11, vote: NONE, commit: 11 });
  const r = newTestRaft(1, [1, 2], {}, storage);
  r.becomeCandidate();
  r.becomeLeader();
  persistUnstable(r);
  readMessages(r);
  return r;
}

/** Follower 2 (with an empty log) rejects the leader's first probe: the leader must go back to index 0. */
function rejectProbe(r: Raft): void {
  const probed = r.prs.progress.get(2)!.next - 1;
  r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: r.term, index: probed, reject: true, rejectHint: 0 }));
}

function typesTo(msgs: Message[], to: number): MessageType[] {
  return msgs.filter((m) => m.to === to).map((m) => m.type);
}

describe("restoring a snapshot", () => {
  test("restore replaces the log and the membership with the snapshot's (TestRestoreSnapshot)", () => {
    const r = newTestRaft(1, [1, 2]);
    const s = snapshotAt(11, 11, [1, 2, 3], [4]);
    assert.equal(r.restore(s), true);
    assert.equal(r.raftLog.lastIndex(), 11);
    assert.equal(r.raftLog.term(11), 11);
    assert.equal(r.raftLog.committed, 11);
    assert.deepEqual(r.prs.voters, [1, 2, 3]);
    assert.deepEqual(r.prs.learners, [4]);
    assert.deepEqual([...r.prs.progress.keys()].sort(), [1, 2, 3, 4]);
    // The snapshot waits in the unstable part until the caller persists it.
    assert.equal(r.raftLog.hasPendingSnapshot(), true);
    // The same snapshot again is at the commit index: ignored.
    assert.equal(r.restore(s), false);
  });

  test("a snapshot at or below the commit index is ignored; one ending at an entry we have only advances commit (TestRestoreIgnoreSnapshot)", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    st.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    const r = newTestRaft(1, [1, 2], {}, st);
    r.raftLog.commitTo(1);

    assert.equal(r.restore(snapshotAt(1, 1, [1, 2])), false);
    assert.equal(r.raftLog.committed, 1);
    assert.deepEqual(logOf(r), ["1/1", "1/2", "1/3"]);

    // Index 2 with term 1 matches our log: the snapshot is not installed, but commit moves to 2.
    assert.equal(r.restore(snapshotAt(2, 1, [1, 2])), false);
    assert.equal(r.raftLog.committed, 2);
    assert.deepEqual(logOf(r), ["1/1", "1/2", "1/3"]);
    assert.equal(r.raftLog.hasPendingSnapshot(), false);
  });

  test("a follower restoring a snapshot from MsgSnap takes the sender as leader and answers with the snapshot index (TestRestoreFromSnapMsg)", () => {
    const r = newTestRaft(2, [1, 2]);
    r.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: snapshotAt(11, 11, [1, 2]) }));
    assert.equal(r.lead, 1);
    assert.equal(r.term, 2);
    assert.equal(r.raftLog.lastIndex(), 11);
    assert.equal(r.raftLog.committed, 11);
    const out = readMessages(r);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.type, MessageType.AppendResponse);
    assert.equal(out[0]!.to, 1);
    assert.equal(out[0]!.index, 11);
    assert.equal(out[0]!.reject, false);
  });

  test("restoring a snapshot replaces the progress set with the snapshot's membership (TestRestoreFromSnapWithOverlapingPeersMsg)", () => {
    const r = newTestRaft(2, [1, 2, 3]);
    r.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: snapshotAt(11, 11, [2, 3, 4]) }));
    assert.equal(r.lead, 1);
    assert.deepEqual(r.prs.voters, [2, 3, 4]);
    assert.deepEqual([...r.prs.progress.keys()].sort(), [2, 3, 4]);
    assert.equal(r.prs.progress.has(1), false);
  });

  test("a follower that restored a snapshot but has not applied it yet can still campaign", () => {
    const r = newTestRaft(2, [1, 2]);
    r.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: snapshotAt(11, 2, [1, 2]) }));
    persistUnstable(r);
    readMessages(r);
    assert.equal(r.raftLog.applied, 0);
    // The compacted entries cannot hold an unapplied conf change: the snapshot's membership is in force.
    for (let i = 0; i < 2 * r.cfg.electionTick && r.state === StateRole.Follower; i++) r.tick();
    assert.equal(r.state, StateRole.Candidate);
    assert.equal(r.term, 3);
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.to, m.index, m.logTerm]),
      [[MessageType.RequestVote, 1, 11, 2]],
    );
  });

  test("a snapshot whose membership does not include the receiver is ignored (documented in Raft.restore)", () => {
    const r = newTestRaft(2, [1, 2]);
    r.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: snapshotAt(11, 11, [1, 3]) }));
    assert.equal(r.raftLog.lastIndex(), 0);
    assert.equal(r.raftLog.committed, 0);
    assert.deepEqual(r.prs.voters, [1, 2]);
    const out = readMessages(r);
    assert.deepEqual(
      out.map((m) => [m.type, m.index]),
      [[MessageType.AppendResponse, 0]],
    );
  });
});

describe("providing snapshots", () => {
  test("a leader sends MsgSnap when the follower's next entry was compacted (TestProvideSnap)", () => {
    const r = compactedLeader();
    rejectProbe(r);
    const out = readMessages(r);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.type, MessageType.Snapshot);
    assert.equal(out[0]!.to, 2);
    assert.equal(out[0]!.snapshot?.metadata.index, 11);
    assert.equal(out[0]!.snapshot?.metadata.term, 11);
    const pr = r.prs.progress.get(2)!;
    assert.equal(pr.state, ProgressState.Snapshot);
    assert.equal(pr.pendingSnapshot, 11);
  });

  test("a follower in Snapshot state gets no appends until the snapshot is reported, only heartbeats", () => {
    const r = compactedLeader();
    rejectProbe(r);
    readMessages(r);

    assert.equal(r.step(propose("a")).ok, true);
    assert.equal(r.step(propose("b")).ok, true);
    assert.deepEqual(typesTo(readMessages(r), 2), []);

    r.step(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.deepEqual(typesTo(readMessages(r), 2), [MessageType.Heartbeat]);
    // A heartbeat response from the lagging follower does not unpause it either.
    r.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: r.term }));
    assert.deepEqual(typesTo(readMessages(r), 2), []);
    assert.equal(r.prs.progress.get(2)!.state, ProgressState.Snapshot);
  });

  test("reportSnapshot Finish moves the follower to Probe after the snapshot, and the next probe starts there", () => {
    const r = compactedLeader();
    rejectProbe(r);
    const snapMsg = readMessages(r)[0]!;
    assert.equal(r.step(propose("a")).ok, true); // index 13
    readMessages(r);

    // The follower installs the snapshot; its answer is lost, and the transport reports success.
    const f = newTestRaft(2, [1, 2]);
    f.step(snapMsg);
    persistUnstable(f);
    readMessages(f);
    r.step(msg({ type: MessageType.SnapStatus, from: 2, to: 1, reject: false }));

    const pr = r.prs.progress.get(2)!;
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.next, 12);
    assert.equal(pr.pendingSnapshot, 0);
    // Paused until the follower is heard from.
    assert.equal(pr.probeSent, true);
    assert.deepEqual(readMessages(r), []);

    r.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: r.term }));
    const probe = readMessages(r);
    assert.equal(probe.length, 1);
    assert.equal(probe[0]!.type, MessageType.Append);
    assert.equal(probe[0]!.index, 11);
    assert.equal(probe[0]!.logTerm, 11);
    assert.deepEqual(
      probe[0]!.entries.map((e) => e.index),
      [12, 13],
    );

    // The follower accepts it (it has the snapshot) and the leader streams again.
    f.step(probe[0]!);
    const resp = readMessages(f);
    assert.equal(resp[0]!.reject, false);
    assert.equal(resp[0]!.index, 13);
    r.step(resp[0]!);
    assert.equal(pr.state, ProgressState.Replicate);
    assert.equal(pr.match, 13);
    assert.equal(r.raftLog.committed, 13);
  });

  test("reportSnapshot Failure moves the follower back to Probe, and the next probe sends a snapshot again", () => {
    const r = compactedLeader();
    rejectProbe(r);
    readMessages(r);
    r.step(msg({ type: MessageType.SnapStatus, from: 2, to: 1, reject: true }));

    const pr = r.prs.progress.get(2)!;
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.pendingSnapshot, 0);
    assert.equal(pr.next, 1);
    assert.equal(pr.probeSent, true);
    assert.deepEqual(readMessages(r), []);

    r.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: r.term }));
    const out = readMessages(r);
    assert.deepEqual(typesTo(out, 2), [MessageType.Snapshot]);
    assert.equal(pr.state, ProgressState.Snapshot);
    assert.equal(pr.pendingSnapshot, 11);
  });

  test("SnapStatus for a follower that is not in Snapshot state changes nothing", () => {
    const r = compactedLeader();
    const pr = r.prs.progress.get(2)!;
    const before = { state: pr.state, next: pr.next, probeSent: pr.probeSent };
    r.step(msg({ type: MessageType.SnapStatus, from: 2, to: 1, reject: true }));
    assert.deepEqual({ state: pr.state, next: pr.next, probeSent: pr.probeSent }, before);
  });

  test("a snapshot that storage reports temporarily unavailable is retried on a later heartbeat response", () => {
    const st = new SnapshotNotReadyStorage(2, { voters: [1, 2], learners: [] });
    const r = compactedLeader(st);
    const callsBefore = st.snapshotCalls;
    rejectProbe(r);
    const pr = r.prs.progress.get(2)!;
    assert.equal(st.snapshotCalls, callsBefore + 1);
    assert.deepEqual(readMessages(r), []);
    assert.equal(pr.state, ProgressState.Probe);

    r.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: r.term }));
    assert.equal(st.snapshotCalls, callsBefore + 2);
    assert.deepEqual(readMessages(r), []);
    assert.equal(pr.state, ProgressState.Probe);

    r.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: r.term }));
    assert.equal(st.snapshotCalls, callsBefore + 3);
    const out = readMessages(r);
    assert.deepEqual(typesTo(out, 2), [MessageType.Snapshot]);
    assert.equal(out[0]!.snapshot?.metadata.index, 11);
    assert.equal(pr.state, ProgressState.Snapshot);
    assert.equal(r.state, StateRole.Leader);
  });

  test("a leader does not send a snapshot to a follower it has not heard from recently", () => {
    const r = compactedLeader();
    const pr = r.prs.progress.get(2)!;
    pr.recentActive = false;
    pr.next = 1;
    r.sendAppend(2);
    assert.deepEqual(readMessages(r), []);
    assert.equal(pr.state, ProgressState.Probe);
  });

  test("a follower cut off while the leader compacted catches up through a snapshot and then commits new entries (TestSlowNodeRestore)", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(msg({ type: MessageType.Hup, from: 1, to: 1 }));
    nt.isolate(3);
    for (let i = 0; i < 50; i++) nt.send(msg({ type: MessageType.Propose, from: 1, to: 1, entries: [entry(0, 0, `v${i}`)] }));
    const lead = nt.raft(1);
    assert.equal(lead.raftLog.committed, 51);
    applyCommitted(lead);
    const st = nt.storage.get(1)!;
    st.createSnapshot(lead.raftLog.applied, lead.prs.confState(), bytes("image"));
    st.compact(lead.raftLog.applied);
    assert.equal(lead.raftLog.firstIndex(), 52);

    nt.recover();
    // Heartbeats tell the leader that 3 is alive again; it then needs the snapshot.
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    const slow = nt.raft(3);
    assert.equal(slow.raftLog.committed, 51);
    assert.equal(slow.raftLog.firstIndex(), 52);
    assert.equal(nt.storage.get(3)!.snapshot().metadata.index, 51);

    nt.send(msg({ type: MessageType.Propose, from: 1, to: 1, entries: [entry(0, 0, "after")] }));
    assert.equal(lead.raftLog.committed, 52);
    assert.equal(slow.raftLog.committed, 52);
    assert.equal(lead.prs.progress.get(3)!.state, ProgressState.Replicate);
    assert.equal(lead.prs.progress.get(3)!.match, 52);
  });
});

describe("restarting from a snapshot", () => {
  test("a node restarted from a snapshot plus later entries resumes with applied at the snapshot and commit from the hard state", () => {
    const st = MemoryStorage.withPeers([1, 2, 3]);
    st.applySnapshot(snapshotAt(10, 3, [1, 2, 3]));
    st.append([entry(11, 3, "x"), entry(12, 4, "y")]);
    st.setHardState({ term: 4, vote: 2, commit: 11 });

    const r = newTestRaft(1, [1, 2, 3], {}, st);
    assert.equal(r.state, StateRole.Follower);
    assert.equal(r.term, 4);
    assert.equal(r.vote, 2);
    assert.equal(r.raftLog.firstIndex(), 11);
    assert.equal(r.raftLog.lastIndex(), 12);
    assert.equal(r.raftLog.committed, 11);
    assert.equal(r.raftLog.applied, 10);
    assert.equal(r.raftLog.term(10), 3);
    assert.deepEqual(r.prs.voters, [1, 2, 3]);
    assert.deepEqual(
      r.raftLog.nextEntries().map((e) => e.index),
      [11],
    );

    // It can lead from there: the new leader's empty entry follows its restored log.
    r.becomeCandidate();
    r.becomeLeader();
    assert.deepEqual(logOf(r), ["3/11", "4/12", "5/13"]);
  });
});
