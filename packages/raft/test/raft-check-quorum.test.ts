/**
 * Check-quorum and the leader lease (raft thesis §6.2 and §9.6, as etcd's raft implements them):
 * a leader that has not heard from a quorum within an election timeout steps down, and a node
 * that heard from a leader within the last election timeout ignores vote requests of higher
 * terms, unless the vote comes from a leader transfer.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CAMPAIGN_TRANSFER, MemoryStorage, MessageType, NONE, StateRole, type Raft } from "../src/index.js";
import { Network, entry, logOf, msg, newTestRaft, persistUnstable, readMessages } from "./harness.js";

const ELECTION = 10;
const CQ = { checkQuorum: true, election: ELECTION };

function hup(nt: Network, id: number): void {
  nt.send(msg({ type: MessageType.Hup, from: id, to: id }));
}

/** Tick every node of `ids` once per round for `rounds` rounds, delivering what each tick sends. */
function tickAll(nt: Network, ids: number[], rounds: number): void {
  for (let i = 0; i < rounds; i++) {
    for (const id of ids) {
      const r = nt.raft(id);
      r.tick();
      persistUnstable(r);
      nt.send(...nt.filter(readMessages(r)));
    }
  }
}

/** A leader at term 1 of `peers`, elected by hand (no messages left over). */
function newLeader(peers: number[], opts = CQ, storage?: MemoryStorage): Raft {
  const r = newTestRaft(1, peers, opts, storage);
  r.becomeCandidate();
  r.becomeLeader();
  readMessages(r);
  return r;
}

function heartbeatResponse(from: number, term: number) {
  return msg({ type: MessageType.HeartbeatResponse, from, to: 1, term });
}

describe("check-quorum: the leader", () => {
  test("a leader that hears from no follower steps down at the end of one election timeout, keeping its term", () => {
    const r = newLeader([1, 2, 3]);
    for (let i = 0; i < ELECTION - 1; i++) r.tick();
    assert.equal(r.state, StateRole.Leader, "still leader one tick before the timeout");
    r.tick();
    assert.equal(r.state, StateRole.Follower);
    assert.equal(r.term, 1);
    assert.equal(r.lead, NONE);
  });

  test("a leader that hears from a quorum in every election timeout stays leader", () => {
    const r = newLeader([1, 2, 3]);
    for (let i = 0; i < 5 * ELECTION; i++) {
      r.step(heartbeatResponse(2, r.term));
      r.tick();
    }
    assert.equal(r.state, StateRole.Leader);
    assert.equal(r.term, 1);
  });

  test("activity counts per election timeout: a quorum heard in one timeout does not carry over to the next", () => {
    const r = newLeader([1, 2, 3]);
    r.step(heartbeatResponse(2, r.term));
    for (let i = 0; i < ELECTION; i++) r.tick();
    assert.equal(r.state, StateRole.Leader, "node 2 answered in the first timeout");
    for (let i = 0; i < ELECTION; i++) r.tick();
    assert.equal(r.state, StateRole.Follower, "nobody answered in the second timeout");
  });

  test("in a group of five, the leader needs two followers (plus itself) to stay leader", () => {
    const withOne = newLeader([1, 2, 3, 4, 5]);
    withOne.step(heartbeatResponse(2, 1));
    for (let i = 0; i < ELECTION; i++) withOne.tick();
    assert.equal(withOne.state, StateRole.Follower);

    const withTwo = newLeader([1, 2, 3, 4, 5]);
    withTwo.step(heartbeatResponse(2, 1));
    withTwo.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 1, index: 1 }));
    for (let i = 0; i < ELECTION; i++) withTwo.tick();
    assert.equal(withTwo.state, StateRole.Leader);
  });

  test("a learner's activity does not count toward the leader's quorum", () => {
    const r = newLeader([1, 2, 3], CQ, MemoryStorage.withPeers([1, 2, 3], [4]));
    r.step(heartbeatResponse(4, 1));
    for (let i = 0; i < ELECTION; i++) r.tick();
    assert.equal(r.state, StateRole.Follower);
  });

  test("without check-quorum a leader that hears from nobody stays leader", () => {
    const r = newLeader([1, 2, 3], { checkQuorum: false, election: ELECTION });
    for (let i = 0; i < 5 * ELECTION; i++) r.tick();
    assert.equal(r.state, StateRole.Leader);
  });

  test("a leader partitioned from the majority steps down while the majority elects a new leader; healed, it follows", () => {
    const nt = new Network([undefined, undefined, undefined], CQ);
    hup(nt, 1);
    assert.equal(nt.raft(1).state, StateRole.Leader);
    tickAll(nt, [1, 2, 3], 3 * ELECTION);
    assert.equal(nt.raft(1).state, StateRole.Leader, "with a live quorum the leader keeps its lease");

    nt.isolate(1);
    tickAll(nt, [1, 2, 3], 3 * ELECTION);
    assert.equal(nt.raft(1).state, StateRole.Follower);
    const leaders = [2, 3].filter((id) => nt.raft(id).state === StateRole.Leader);
    assert.equal(leaders.length, 1, "exactly one of 2 and 3 leads");
    const newLead = leaders[0]!;
    assert.ok(nt.raft(newLead).term >= 2);

    nt.recover();
    tickAll(nt, [1, 2, 3], 3 * ELECTION);
    assert.equal(nt.raft(newLead).state, StateRole.Leader);
    assert.equal(nt.raft(1).lead, newLead);
    assert.equal(nt.raft(1).term, nt.raft(newLead).term);
  });
});

describe("check-quorum: the leader lease on voters", () => {
  test("a follower that heard from the leader within an election timeout ignores a vote request of a higher term", () => {
    const r = newTestRaft(2, [1, 2, 3], CQ);
    r.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
    readMessages(r);
    r.randomizedElectionTimeout = 2 * ELECTION - 1; // no campaign of its own during the test
    for (let i = 0; i < ELECTION - 1; i++) r.tick();

    r.step(msg({ type: MessageType.RequestVote, from: 3, to: 2, term: 2, index: 5, logTerm: 2 }));
    assert.deepEqual(readMessages(r), [], "no answer at all");
    assert.equal(r.term, 1);
    assert.equal(r.vote, NONE);
    assert.equal(r.lead, 1);

    // One tick later the lease has run out: the same request is granted.
    r.tick();
    r.step(msg({ type: MessageType.RequestVote, from: 3, to: 2, term: 2, index: 5, logTerm: 2 }));
    assert.equal(r.term, 2);
    assert.equal(r.vote, 3);
    const resp = readMessages(r);
    assert.deepEqual(resp.map((m) => [m.type, m.to, m.term, m.reject]), [[MessageType.RequestVoteResponse, 3, 2, false]]);
  });

  test("the lease also covers pre-votes: a follower in the lease ignores a higher-term pre-vote", () => {
    const r = newTestRaft(2, [1, 2, 3], { ...CQ, preVote: true });
    r.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
    readMessages(r);
    r.step(msg({ type: MessageType.RequestPreVote, from: 3, to: 2, term: 2, index: 5, logTerm: 2 }));
    assert.deepEqual(readMessages(r), []);
  });

  test("a vote forced by a leader transfer is granted even inside the lease", () => {
    const r = newTestRaft(2, [1, 2, 3], CQ);
    r.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
    readMessages(r);
    r.step(msg({ type: MessageType.RequestVote, from: 3, to: 2, term: 2, index: 5, logTerm: 2, context: CAMPAIGN_TRANSFER }));
    assert.equal(r.term, 2);
    assert.equal(r.vote, 3);
    assert.deepEqual(readMessages(r).map((m) => [m.type, m.to, m.term, m.reject]), [[MessageType.RequestVoteResponse, 3, 2, false]]);
  });

  test("leader transfer works under check-quorum: the transferee's forced campaign wins inside everyone's lease", () => {
    const nt = new Network([undefined, undefined, undefined], CQ);
    hup(nt, 1);
    nt.send(msg({ type: MessageType.TransferLeader, from: 3, to: 1 }));
    assert.equal(nt.raft(3).state, StateRole.Leader);
    assert.equal(nt.raft(3).term, 2);
    assert.equal(nt.raft(1).state, StateRole.Follower);
    assert.equal(nt.raft(1).lead, 3);
    assert.equal(nt.raft(2).lead, 3);
  });

  test("a candidate superseding a live leader is ignored until the voters' lease runs out", () => {
    const nt = new Network([undefined, undefined, undefined], CQ);
    const b = nt.raft(2);
    b.randomizedElectionTimeout = ELECTION + 1;
    hup(nt, 1);
    assert.equal(nt.raft(1).state, StateRole.Leader);

    hup(nt, 3);
    // 1 and 2 are in the lease: 3 gets no vote and stays a candidate.
    assert.equal(nt.raft(3).state, StateRole.Candidate);
    assert.equal(nt.raft(3).term, 2);
    assert.equal(nt.raft(1).state, StateRole.Leader);
    assert.equal(nt.raft(1).term, 1);

    // Node 2 hears nothing for an election timeout (but does not campaign itself).
    for (let i = 0; i < ELECTION; i++) b.tick();
    assert.equal(b.state, StateRole.Follower);

    hup(nt, 3);
    assert.equal(nt.raft(3).state, StateRole.Leader);
    assert.equal(nt.raft(3).term, 3);
    assert.equal(nt.raft(1).state, StateRole.Follower);
    assert.equal(nt.raft(1).term, 3);
  });
});

describe("check-quorum: stale leaders and stuck candidates", () => {
  test("with check-quorum, a node answers an append or heartbeat of a lower term with an AppendResponse of its own term", () => {
    for (const type of [MessageType.Append, MessageType.Heartbeat]) {
      const r = newTestRaft(2, [1, 2, 3], CQ);
      r.becomeFollower(5, NONE);
      r.step(msg({ type, from: 1, to: 2, term: 3 }));
      assert.deepEqual(readMessages(r).map((m) => [m.type, m.to, m.term]), [[MessageType.AppendResponse, 1, 5]], `type ${type}`);
      assert.equal(r.term, 5);
    }
  });

  test("with neither check-quorum nor pre-vote, an append or heartbeat of a lower term is ignored without an answer", () => {
    for (const type of [MessageType.Append, MessageType.Heartbeat]) {
      const r = newTestRaft(2, [1, 2, 3], { checkQuorum: false, preVote: false });
      r.becomeFollower(5, NONE);
      r.step(msg({ type, from: 1, to: 2, term: 3 }));
      assert.deepEqual(readMessages(r), [], `type ${type}`);
    }
  });

  test("a leader with a lower term steps down when it gets an AppendResponse of a higher term", () => {
    const r = newLeader([1, 2, 3]);
    r.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 4 }));
    assert.equal(r.state, StateRole.Follower);
    assert.equal(r.term, 4);
    assert.equal(r.lead, NONE);
  });

  test("a candidate stuck at a higher term (its votes ignored inside the lease) is freed: the leader steps down on its answer, and the candidate wins the next round", () => {
    const nt = new Network([undefined, undefined, undefined], CQ);
    const a = nt.raft(1);
    const b = nt.raft(2);
    const c = nt.raft(3);
    b.randomizedElectionTimeout = ELECTION + 1;
    hup(nt, 1);
    assert.equal(a.state, StateRole.Leader);

    nt.isolate(1);
    hup(nt, 3);
    hup(nt, 3);
    // Node 2 is inside the lease of leader 1 and ignores node 3.
    assert.equal(b.state, StateRole.Follower);
    assert.equal(b.term, 1);
    assert.equal(c.state, StateRole.Candidate);
    assert.equal(c.term, 3);

    // 1 rejoins; its heartbeat at term 1 is answered by 3 at term 3, and 1 steps down.
    nt.recover();
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.equal(a.state, StateRole.Follower);
    assert.equal(a.term, c.term);

    // Now node 1 has no leader and grants 3's vote; 3 leads at term 4.
    hup(nt, 3);
    assert.equal(c.state, StateRole.Leader);
    assert.equal(c.term, 4);
    assert.equal(a.lead, 3);
    assert.equal(b.lead, 3);
    assert.deepEqual(logOf(a), logOf(c));
    assert.deepEqual(logOf(b), logOf(c));
  });

  test("a node that is not a voter of its own configuration never campaigns, but votes for and follows the leader", () => {
    const a = newTestRaft(1, [1, 2], CQ);
    const b = newTestRaft(2, [1], CQ, MemoryStorage.withPeers([1]));
    const nt = new Network([a, b]);
    b.randomizedElectionTimeout = ELECTION + 1;
    assert.equal(b.promotable(), false);
    for (let i = 0; i < 10 * ELECTION; i++) b.tick();
    assert.equal(b.state, StateRole.Follower);
    assert.equal(b.term, 0);
    assert.deepEqual(readMessages(b), []);

    hup(nt, 1);
    assert.equal(a.state, StateRole.Leader);
    assert.equal(b.state, StateRole.Follower);
    assert.equal(b.lead, 1);
    nt.send(msg({ type: MessageType.Propose, from: 1, to: 1, entries: [entry(0, 0, "v")] }));
    assert.equal(b.raftLog.committed, 2);
  });
});
