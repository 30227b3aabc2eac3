/**
 * Membership changes, one node per entry: adding and removing voters, learners, the
 * one-pending-change rule, commit after the quorum shrinks, and removing the leader itself.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Raft} from "../src/index.js";
import { ConfChangeType, EntryType, MemoryStorage, MessageType, NONE, StateRole, type Entry, type Message, decodeConfChange } from "../src/index.js";
import { Network, applyCommitted, bytes, confChangeEntry, entry, msg, newTestRaft, persistUnstable, readMessages } from "./harness.js";

function proposal(...ents: Entry[]): Message {
  return msg({ type: MessageType.Propose, entries: ents });
}

/** A leader of `peers` at term 1 (made directly, without a network), with its log persisted. */
function leaderOf(peers: number[], learners: number[] = []): Raft {
  const r = newTestRaft(1, peers, {}, MemoryStorage.withPeers(peers, learners));
  r.becomeCandidate();
  r.becomeLeader();
  persistUnstable(r);
  readMessages(r);
  return r;
}

function hup(id: number): Message {
  return msg({ type: MessageType.Hup, from: id, to: id });
}

function propose(id: number, data: string): Message {
  return msg({ type: MessageType.Propose, from: id, to: id, entries: [entry(0, 0, data)] });
}

function proposeCC(id: number, type: ConfChangeType, nodeId: number): Message {
  return msg({ type: MessageType.Propose, from: id, to: id, entries: [confChangeEntry(type, nodeId)] });
}

describe("adding and removing nodes", () => {
  test("AddNode makes the node a voter with a progress entry (TestAddNode)", () => {
    const r = newTestRaft(1, [1]);
    const cs = r.applyConfChange({ type: ConfChangeType.AddNode, nodeId: 2, context: new Uint8Array(0) });
    assert.deepEqual(cs, { voters: [1, 2], learners: [] });
    assert.deepEqual(r.prs.voters, [1, 2]);
    assert.equal(r.prs.progress.has(2), true);
    assert.equal(r.prs.progress.get(2)!.isLearner, false);
  });

  test("adding a node that is already a voter changes nothing", () => {
    const r = newTestRaft(1, [1, 2]);
    r.applyConfChange({ type: ConfChangeType.AddNode, nodeId: 2, context: new Uint8Array(0) });
    assert.deepEqual(r.prs.voters, [1, 2]);
    assert.equal(r.prs.progress.size, 2);
  });

  test("RemoveNode drops the node, and every node can be removed, the local one included (TestRemoveNode)", () => {
    const r = newTestRaft(1, [1, 2]);
    let cs = r.applyConfChange({ type: ConfChangeType.RemoveNode, nodeId: 2, context: new Uint8Array(0) });
    assert.deepEqual(cs.voters, [1]);
    assert.equal(r.prs.progress.has(2), false);
    cs = r.applyConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1, context: new Uint8Array(0) });
    assert.deepEqual(cs, { voters: [], learners: [] });
    assert.equal(r.prs.progress.size, 0);
    // A node outside the configuration never campaigns.
    for (let i = 0; i < 30; i++) r.tick();
    assert.equal(r.state, StateRole.Follower);
    assert.deepEqual(readMessages(r), []);
  });

  test("removing a node lowers the quorum, so entries the remaining node holds alone commit (TestCommitAfterRemoveNode)", () => {
    const r = leaderOf([1, 2]);
    assert.equal(r.step(proposal(confChangeEntry(ConfChangeType.RemoveNode, 2))).ok, true);
    const ccIndex = r.raftLog.lastIndex();
    assert.deepEqual(applyCommitted(r), []);

    assert.equal(r.step(proposal(entry(0, 0, "hello"))).ok, true);
    // Node 2 acknowledges up to the conf change only: "hello" is on 1 of 2 voters.
    r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: r.term, index: ccIndex }));
    assert.equal(r.raftLog.committed, ccIndex);
    persistUnstable(r);
    const first = r.raftLog.nextEntries();
    assert.deepEqual(
      first.map((e) => [e.index, e.type]),
      [
        [1, EntryType.Normal],
        [2, EntryType.ConfChange],
      ],
    );
    r.raftLog.appliedTo(ccIndex);

    // Applying the removal leaves {1}: "hello" is on a majority and commits.
    r.applyConfChange(decodeConfChange(first[1]!.data));
    assert.deepEqual(r.prs.voters, [1]);
    assert.equal(r.raftLog.committed, 3);
    const second = r.raftLog.nextEntries();
    assert.equal(second.length, 1);
    assert.deepEqual(second[0]!.data, bytes("hello"));
  });

  test("a leader that applies an AddNode starts replicating to the new node", () => {
    const r = leaderOf([1]);
    r.step(proposal(entry(0, 0, "a")));
    applyCommitted(r);
    readMessages(r);
    r.applyConfChange({ type: ConfChangeType.AddNode, nodeId: 2, context: new Uint8Array(0) });
    // The new node is probed at once with the leader's last entry.
    const out = readMessages(r);
    assert.deepEqual(
      out.map((m) => [m.type, m.to, m.index, m.entries.map((e) => e.index)]),
      [[MessageType.Append, 2, 1, [2]]],
    );
    // With two voters, a new entry no longer commits on the leader alone.
    r.step(proposal(entry(0, 0, "b")));
    assert.equal(r.raftLog.committed, 2);
    assert.equal(r.raftLog.lastIndex(), 3);
  });
});

describe("one membership change at a time", () => {
  test("a new leader treats every entry of its old log as a possibly pending conf change (pendingConfIndex)", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    st.append([entry(1, 1), entry(2, 1)]);
    const r = newTestRaft(1, [1, 2], {}, st);
    r.becomeCandidate();
    r.becomeLeader();
    assert.equal(r.pendingConfIndex, 2);
    const res = r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 3)));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "ProposalDropped");
  });

  test("pendingConfIndex is the index of the proposed conf change, and a second local one is refused with ProposalDropped until it applies", () => {
    const r = leaderOf([1, 2]);
    assert.equal(r.pendingConfIndex, 0);
    assert.equal(r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 3))).ok, true);
    assert.equal(r.pendingConfIndex, 2);

    const res = r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 4)));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "ProposalDropped");
    assert.equal(r.raftLog.lastIndex(), 2);

    // Commit and apply the first change; then the next one is accepted.
    r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: r.term, index: 2 }));
    applyCommitted(r);
    assert.equal(r.raftLog.applied, 2);
    assert.deepEqual(r.prs.voters, [1, 2, 3]);
    assert.equal(r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 4))).ok, true);
    assert.equal(r.pendingConfIndex, 3);
  });

  test("a forwarded conf change that arrives while one is pending becomes an empty normal entry", () => {
    const r = leaderOf([1, 2]);
    assert.equal(r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 3))).ok, true);
    const fwd = msg({ type: MessageType.Propose, from: 2, to: 1, entries: [entry(0, 0, "x"), confChangeEntry(ConfChangeType.AddNode, 4)] });
    assert.equal(r.step(fwd).ok, true);
    const ents = r.raftLog.allEntries();
    assert.deepEqual(
      ents.map((e) => [e.index, e.type, e.data.byteLength]),
      [
        [1, EntryType.Normal, 0],
        [2, EntryType.ConfChange, ents[1]!.data.byteLength],
        [3, EntryType.Normal, 1],
        [4, EntryType.Normal, 0],
      ],
    );
    assert.equal(r.pendingConfIndex, 2);
  });

  test("a local proposal carrying two conf changes is refused whole and leaves no change pending", () => {
    const r = leaderOf([1, 2]);
    const res = r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 3), confChangeEntry(ConfChangeType.AddNode, 4)));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "ProposalDropped");
    assert.equal(r.raftLog.lastIndex(), 1);
    assert.equal(r.pendingConfIndex, 0);
    // Nothing is pending, so a single change is accepted at once.
    assert.equal(r.step(proposal(confChangeEntry(ConfChangeType.AddNode, 3))).ok, true);
    assert.equal(r.pendingConfIndex, 2);
  });

  test("a forwarded proposal carrying two conf changes keeps the first and empties the second", () => {
    const r = leaderOf([1, 2]);
    const fwd = msg({ type: MessageType.Propose, from: 2, to: 1, entries: [confChangeEntry(ConfChangeType.AddNode, 3), confChangeEntry(ConfChangeType.AddNode, 4)] });
    assert.equal(r.step(fwd).ok, true);
    const ents = r.raftLog.allEntries();
    assert.deepEqual(
      ents.slice(1).map((e) => [e.index, e.type]),
      [
        [2, EntryType.ConfChange],
        [3, EntryType.Normal],
      ],
    );
    assert.deepEqual(decodeConfChange(ents[1]!.data), { type: ConfChangeType.AddNode, nodeId: 3, context: new Uint8Array(0) });
    assert.equal(r.pendingConfIndex, 2);
  });
});

describe("learners", () => {
  test("a learner receives the log but its acknowledgement does not count for commit", () => {
    const nt = new Network([
      newTestRaft(1, [1, 2], {}, MemoryStorage.withPeers([1, 2], [3])),
      newTestRaft(2, [1, 2], {}, MemoryStorage.withPeers([1, 2], [3])),
      newTestRaft(3, [1, 2], {}, MemoryStorage.withPeers([1, 2], [3])),
    ]);
    nt.send(hup(1));
    assert.equal(nt.raft(1).state, StateRole.Leader);
    assert.equal(nt.raft(3).raftLog.committed, 1);

    nt.cut(1, 2);
    nt.send(propose(1, "a"));
    const lead = nt.raft(1);
    // The learner has the entry; the only other voter does not: not committed.
    assert.equal(nt.raft(3).raftLog.lastIndex(), 2);
    assert.equal(lead.prs.progress.get(3)!.match, 2);
    assert.equal(lead.raftLog.committed, 1);

    nt.recover();
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.equal(lead.raftLog.committed, 2);
    assert.equal(nt.raft(3).raftLog.committed, 2);
  });

  test("a learner never campaigns and is not asked for its vote", () => {
    const nt = new Network([
      newTestRaft(1, [1, 2], {}, MemoryStorage.withPeers([1, 2], [3])),
      newTestRaft(2, [1, 2], {}, MemoryStorage.withPeers([1, 2], [3])),
      newTestRaft(3, [1, 2], {}, MemoryStorage.withPeers([1, 2], [3])),
    ]);
    const learner = nt.raft(3);
    for (let i = 0; i < 40; i++) learner.tick();
    assert.equal(learner.state, StateRole.Follower);
    assert.equal(learner.term, 0);
    nt.send(hup(3));
    assert.equal(learner.state, StateRole.Follower);
    assert.equal(learner.term, 0);

    const voteTargets: number[] = [];
    nt.msgHook = (m) => {
      if (m.type === MessageType.RequestVote) voteTargets.push(m.to);
      return true;
    };
    nt.send(hup(1));
    assert.deepEqual(voteTargets, [2]);
    assert.equal(nt.raft(1).state, StateRole.Leader);
  });

  test("AddNode promotes a learner to a voter, which then counts for commit", () => {
    const r = leaderOf([1, 2], [3]);
    assert.deepEqual(r.prs.learners, [3]);
    r.applyConfChange({ type: ConfChangeType.AddNode, nodeId: 3, context: new Uint8Array(0) });
    assert.deepEqual(r.prs.voters, [1, 2, 3]);
    assert.deepEqual(r.prs.learners, []);
    assert.equal(r.prs.progress.get(3)!.isLearner, false);
    readMessages(r);
    // 1 and 3 are now a majority of {1, 2, 3}.
    r.step(proposal(entry(0, 0, "a")));
    r.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: r.term, index: 2 }));
    assert.equal(r.raftLog.committed, 2);
  });

  test("AddLearnerNode on a voter is ignored: demotion is not a single-step change", () => {
    const r = leaderOf([1, 2, 3]);
    const cs = r.applyConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 3, context: new Uint8Array(0) });
    assert.deepEqual(cs, { voters: [1, 2, 3], learners: [] });
  });

  test("AddLearnerNode adds a learner that the leader starts replicating to", () => {
    const r = leaderOf([1, 2]);
    const cs = r.applyConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4, context: new Uint8Array(0) });
    assert.deepEqual(cs, { voters: [1, 2], learners: [4] });
    assert.equal(r.prs.progress.get(4)!.isLearner, true);
    const toLearner = readMessages(r).filter((m) => m.to === 4);
    assert.deepEqual(
      toLearner.map((m) => [m.type, m.index, m.entries.length]),
      [[MessageType.Append, 0, 1]],
    );
  });
});

describe("removing the leader", () => {
  /** A two-node group {1, 2} led by 1 that has committed (on both nodes) the removal of node 1. */
  function twoNodesRemovingLeader(): Network {
    const nt = new Network([undefined, undefined]);
    nt.send(hup(1));
    nt.send(proposeCC(1, ConfChangeType.RemoveNode, 1));
    assert.equal(nt.raft(1).raftLog.committed, 2);
    assert.equal(nt.raft(2).raftLog.committed, 2);
    return nt;
  }

  test("a removed leader hands over with TimeoutNow: {1,2} removing leader 1 ends with 2 leading {2} and accepting proposals", () => {
    const nt = twoNodesRemovingLeader();
    // Node 2 applies first, then the leader.
    applyCommitted(nt.raft(2));
    assert.deepEqual(nt.raft(2).prs.voters, [2]);
    const old = nt.raft(1);
    applyCommitted(old);
    assert.equal(old.state, StateRole.Follower);
    assert.equal(old.lead, NONE);
    const out = readMessages(old);
    assert.deepEqual(
      out.map((m) => m.type),
      [MessageType.Append, MessageType.TimeoutNow],
    );
    assert.equal(out[1]!.to, 2);
    nt.send(...out);

    const next = nt.raft(2);
    assert.equal(next.state, StateRole.Leader);
    assert.equal(next.term, 2);
    nt.send(propose(2, "after"));
    assert.equal(next.raftLog.lastIndex(), 4);
    assert.equal(next.raftLog.committed, 4);

    // The removed node is no longer a voter and never campaigns again.
    assert.deepEqual(old.prs.voters, [2]);
    for (let i = 0; i < 40; i++) old.tick();
    assert.equal(old.state, StateRole.Follower);
  });

  test("a removed leader does not wedge the group when the successor applies the change after the TimeoutNow arrived", () => {
    const nt = twoNodesRemovingLeader();
    const old = nt.raft(1);
    applyCommitted(old);
    // Node 2 still has the committed change unapplied: it may not campaign yet.
    nt.send(...readMessages(old));
    const next = nt.raft(2);
    assert.equal(next.softState().raftState, StateRole.Follower);

    applyCommitted(next);
    for (let i = 0; i < 2 * next.cfg.electionTick && next.state !== StateRole.Leader; i++) next.tick();
    assert.equal(next.state, StateRole.Leader);
    persistUnstable(next);
    assert.equal(next.step(proposal(entry(0, 0, "after"))).ok, true);
    assert.equal(next.raftLog.committed, next.raftLog.lastIndex());
  });

  test("a removed leader sends TimeoutNow to the voter whose log is up to date, not to a lagging one", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(hup(1));
    nt.isolate(3);
    nt.send(proposeCC(1, ConfChangeType.RemoveNode, 1));
    assert.equal(nt.raft(2).raftLog.committed, 2);
    nt.recover();
    applyCommitted(nt.raft(2));
    applyCommitted(nt.raft(3));

    const old = nt.raft(1);
    applyCommitted(old);
    const out = readMessages(old);
    const timeoutNow = out.filter((m) => m.type === MessageType.TimeoutNow);
    assert.deepEqual(
      timeoutNow.map((m) => m.to),
      [2],
    );
    nt.send(...out);
    assert.equal(nt.raft(2).state, StateRole.Leader);
    assert.equal(nt.raft(3).lead, 2);
    assert.equal(old.state, StateRole.Follower);
  });
});
