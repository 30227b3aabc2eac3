/**
 * Pre-vote (raft thesis §9.6, as etcd's raft implements it): before campaigning, a node asks
 * whether it could win an election at term+1 without changing any term. A node that was
 * partitioned away therefore cannot inflate its term and depose a healthy leader when it returns.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MessageType, NONE, StateRole, type Message, type Raft } from "../src/index.js";
import { Network, entry, logOf, msg, newTestRaft, persistUnstable, readMessages, storageWithTerms, type TestRaftOptions } from "./harness.js";

const PRE: TestRaftOptions = { preVote: true };

function hup(nt: Network, id: number): void {
  nt.send(msg({ type: MessageType.Hup, from: id, to: id }));
}

function propose(nt: Network, id: number, data: string): void {
  nt.send(msg({ type: MessageType.Propose, from: id, to: id, entries: [entry(0, 0, data)] }));
}

/** Tick node `id` `n` times, delivering whatever each tick makes it send. */
function tickAndDeliver(nt: Network, id: number, n: number): void {
  const r = nt.raft(id);
  for (let i = 0; i < n; i++) {
    r.tick();
    persistUnstable(r);
    nt.send(...nt.filter(readMessages(r)));
  }
}

/** A 3-node network whose node 1 is leader at term 1; the nodes' options are `opts`. */
function networkWithLeader1(opts: TestRaftOptions = PRE): Network {
  const nt = new Network([undefined, undefined, undefined], opts);
  hup(nt, 1);
  assert.equal(nt.raft(1).state, StateRole.Leader);
  return nt;
}

function votesOf(msgs: Message[], type: MessageType): { to: number; term: number; reject: boolean }[] {
  return msgs.filter((m) => m.type === type).map((m) => ({ to: m.to, term: m.term, reject: m.reject }));
}

describe("pre-vote: starting a pre-election", () => {
  test("a pre-candidate keeps its term and vote and asks every other voter about term+1 with its last index and term", () => {
    const r = newTestRaft(1, [1, 2, 3], PRE, storageWithTerms([1, 2, 3], [1, 2]));
    r.becomeFollower(2, NONE);
    r.step(msg({ type: MessageType.Hup, from: 1 }));

    assert.equal(r.state, StateRole.PreCandidate);
    assert.equal(r.term, 2);
    assert.equal(r.vote, NONE);
    const sent = readMessages(r);
    assert.deepEqual(
      sent.map((m) => ({ type: m.type, to: m.to, term: m.term, index: m.index, logTerm: m.logTerm })),
      [
        { type: MessageType.RequestPreVote, to: 2, term: 3, index: 2, logTerm: 2 },
        { type: MessageType.RequestPreVote, to: 3, term: 3, index: 2, logTerm: 2 },
      ],
    );
  });

  test("a pre-candidate that wins the pre-election campaigns for real and leads at term+1 (not term+2)", () => {
    const nt = networkWithLeader1();
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).term, 1, `node ${id}`);
    assert.equal(nt.raft(2).lead, 1);
    assert.equal(nt.raft(3).vote, 1);
  });

  test("a single voter with pre-vote becomes leader at once at term 1", () => {
    const r = newTestRaft(1, [1], PRE);
    r.step(msg({ type: MessageType.Hup, from: 1 }));
    assert.equal(r.state, StateRole.Leader);
    assert.equal(r.term, 1);
  });

  test("a pre-candidate without a quorum of live voters stays pre-candidate at its old term", () => {
    const nt = new Network([undefined, "blackhole", "blackhole"], PRE);
    hup(nt, 1);
    assert.equal(nt.raft(1).state, StateRole.PreCandidate);
    assert.equal(nt.raft(1).term, 0);
    assert.equal(nt.raft(1).vote, NONE);

    // Five voters, two dead: three pre-votes are a quorum, so the election proceeds to term 1.
    const nt5 = new Network([undefined, undefined, undefined, "blackhole", "blackhole"], PRE);
    hup(nt5, 1);
    assert.equal(nt5.raft(1).state, StateRole.Leader);
    assert.equal(nt5.raft(1).term, 1);
  });
});

describe("pre-vote: voting", () => {
  // Every role grants a pre-vote for a future term with an up-to-date log, and nothing about the
  // voter changes: not its term, not its vote, not its role.
  const roles: [string, (r: Raft) => void][] = [
    ["follower", (r) => r.becomeFollower(1, NONE)],
    ["pre-candidate", (r) => { r.becomeFollower(1, NONE); r.becomePreCandidate(); }],
    ["candidate", (r) => { r.becomeFollower(0, NONE); r.becomeCandidate(); }],
    ["leader", (r) => { r.becomeFollower(0, NONE); r.becomeCandidate(); r.becomeLeader(); }],
  ];
  for (const [role, setUp] of roles) {
    test(`a ${role} grants a pre-vote for a future term without changing its term, vote or role`, () => {
      const r = newTestRaft(1, [1, 2, 3], PRE);
      setUp(r);
      readMessages(r);
      const before = { term: r.term, vote: r.vote, state: r.state, lead: r.lead };
      r.step(msg({ type: MessageType.RequestPreVote, from: 2, to: 1, term: before.term + 1, index: 42, logTerm: before.term + 1 }));
      assert.deepEqual({ term: r.term, vote: r.vote, state: r.state, lead: r.lead }, before);
      // The grant carries the request's (future) term, so the pre-candidate can count it.
      assert.deepEqual(votesOf(readMessages(r), MessageType.RequestPreVoteResponse), [{ to: 2, term: before.term + 1, reject: false }]);
    });
  }

  test("a pre-vote from a candidate whose log is behind is rejected with the voter's own term", () => {
    const r = newTestRaft(1, [1, 2, 3], PRE, storageWithTerms([1, 2, 3], [1, 2, 2]));
    r.becomeFollower(2, NONE);
    // Last entry (2, term 1) is older than ours (3, term 2).
    r.step(msg({ type: MessageType.RequestPreVote, from: 2, to: 1, term: 3, index: 2, logTerm: 1 }));
    assert.deepEqual(votesOf(readMessages(r), MessageType.RequestPreVoteResponse), [{ to: 2, term: 2, reject: true }]);
    // Same last term but a shorter log: also rejected.
    r.step(msg({ type: MessageType.RequestPreVote, from: 3, to: 1, term: 3, index: 2, logTerm: 2 }));
    assert.deepEqual(votesOf(readMessages(r), MessageType.RequestPreVoteResponse), [{ to: 3, term: 2, reject: true }]);
    assert.equal(r.term, 2);
  });

  test("a pre-vote for a lower term is rejected with the voter's term so the pre-candidate learns it is behind", () => {
    const r = newTestRaft(1, [1, 2, 3], PRE);
    r.becomeFollower(5, NONE);
    r.step(msg({ type: MessageType.RequestPreVote, from: 2, to: 1, term: 3, index: 10, logTerm: 3 }));
    assert.deepEqual(votesOf(readMessages(r), MessageType.RequestPreVoteResponse), [{ to: 2, term: 5, reject: true }]);
    assert.equal(r.term, 5);
  });

  test("a follower that already voted in its term still grants a pre-vote for the next term", () => {
    const r = newTestRaft(1, [1, 2, 3], PRE);
    r.step(msg({ type: MessageType.RequestVote, from: 2, to: 1, term: 1, index: 0, logTerm: 0 }));
    assert.equal(r.vote, 2);
    readMessages(r);
    r.step(msg({ type: MessageType.RequestPreVote, from: 3, to: 1, term: 2, index: 0, logTerm: 0 }));
    assert.deepEqual(votesOf(readMessages(r), MessageType.RequestPreVoteResponse), [{ to: 3, term: 2, reject: false }]);
    assert.equal(r.vote, 2, "the real vote of term 1 is kept");
    assert.equal(r.term, 1);
  });
});

describe("pre-vote: counting responses", () => {
  test("a granted pre-vote response carrying the future term does not change the pre-candidate's term", () => {
    const r = newTestRaft(1, [1, 2, 3, 4, 5], PRE);
    r.becomeFollower(1, NONE);
    r.step(msg({ type: MessageType.Hup, from: 1 }));
    readMessages(r);
    r.step(msg({ type: MessageType.RequestPreVoteResponse, from: 2, to: 1, term: 2 }));
    // Two of five: not yet a quorum.
    assert.equal(r.state, StateRole.PreCandidate);
    assert.equal(r.term, 1);
    r.step(msg({ type: MessageType.RequestPreVoteResponse, from: 3, to: 1, term: 2 }));
    // Three of five: the real election starts, and only now the term rises, by one.
    assert.equal(r.state, StateRole.Candidate);
    assert.equal(r.term, 2);
    assert.equal(r.vote, 1);
    assert.deepEqual(
      votesOf(readMessages(r), MessageType.RequestVote).map((v) => v.to),
      [2, 3, 4, 5],
    );
  });

  test("a rejected pre-vote response with a higher term makes the pre-candidate a follower at that term", () => {
    const r = newTestRaft(1, [1, 2, 3], PRE);
    r.becomeFollower(1, NONE);
    r.becomePreCandidate();
    r.step(msg({ type: MessageType.RequestPreVoteResponse, from: 2, to: 1, term: 4, reject: true }));
    assert.equal(r.state, StateRole.Follower);
    assert.equal(r.term, 4);
    assert.equal(r.vote, NONE);
  });

  test("a pre-candidate that loses the pre-election returns to follower in its old term, with its vote intact", () => {
    const r = newTestRaft(1, [1, 2, 3], PRE);
    r.becomeFollower(3, NONE);
    r.vote = 2; // voted for 2 earlier in term 3
    r.step(msg({ type: MessageType.Hup, from: 1 }));
    r.step(msg({ type: MessageType.RequestPreVoteResponse, from: 2, to: 1, term: 3, reject: true }));
    assert.equal(r.state, StateRole.PreCandidate, "one rejection of three is not a loss yet");
    r.step(msg({ type: MessageType.RequestPreVoteResponse, from: 3, to: 1, term: 3, reject: true }));
    assert.equal(r.state, StateRole.Follower);
    assert.equal(r.term, 3);
    assert.equal(r.vote, 2);
  });

  test("a pre-candidate counts only pre-vote responses and a candidate only vote responses", () => {
    const pre = newTestRaft(1, [1, 2, 3], PRE);
    pre.step(msg({ type: MessageType.Hup, from: 1 }));
    pre.step(msg({ type: MessageType.RequestVoteResponse, from: 2, to: 1, term: 0 }));
    pre.step(msg({ type: MessageType.RequestVoteResponse, from: 3, to: 1, term: 0 }));
    assert.equal(pre.state, StateRole.PreCandidate);

    const cand = newTestRaft(1, [1, 2, 3], { preVote: false });
    cand.step(msg({ type: MessageType.Hup, from: 1 }));
    cand.step(msg({ type: MessageType.RequestPreVoteResponse, from: 2, to: 1, term: 1 }));
    cand.step(msg({ type: MessageType.RequestPreVoteResponse, from: 3, to: 1, term: 1 }));
    assert.equal(cand.state, StateRole.Candidate);
  });
});

describe("pre-vote: partitions", () => {
  test("a node partitioned away keeps its term while its pre-elections fail, and rejoins without disturbing the leader", () => {
    const nt = networkWithLeader1();
    nt.isolate(3);
    propose(nt, 1, "written while 3 was away");
    assert.equal(nt.raft(1).raftLog.committed, 2);

    tickAndDeliver(nt, 3, 100); // several election timeouts
    const n3 = nt.raft(3);
    assert.equal(n3.state, StateRole.PreCandidate);
    assert.equal(n3.term, 1, "pre-elections never raise the term");

    nt.recover();
    hup(nt, 3);
    // Its log is behind, so both pre-votes are rejected at term 1: it loses and follows again.
    assert.equal(n3.state, StateRole.Follower);
    assert.equal(n3.term, 1);
    assert.equal(nt.raft(1).state, StateRole.Leader);
    assert.equal(nt.raft(1).term, 1);

    // The leader's next heartbeat brings it back into the group.
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.equal(n3.lead, 1);
    assert.deepEqual(logOf(n3), logOf(nt.raft(1)));
    assert.equal(n3.raftLog.committed, 2);
  });

  test("without pre-vote the same rejoining node forces the leader to step down (the disruption pre-vote prevents)", () => {
    const nt = networkWithLeader1({ preVote: false });
    nt.isolate(3);
    propose(nt, 1, "written while 3 was away");
    tickAndDeliver(nt, 3, 100);
    const inflated = nt.raft(3).term;
    assert.ok(inflated > 2, `isolated node campaigned repeatedly (term ${inflated})`);

    nt.recover();
    hup(nt, 3);
    // It cannot win (its log is behind), but its term deposed the leader.
    assert.equal(nt.raft(3).state, StateRole.Follower);
    assert.equal(nt.raft(1).state, StateRole.Follower);
    assert.equal(nt.raft(1).term, inflated + 1);
  });

  test("with pre-vote and check-quorum, a rejoining node with an up-to-date log cannot depose the leader either", () => {
    const nt = networkWithLeader1({ preVote: true, checkQuorum: true });
    nt.isolate(3);
    hup(nt, 3);
    assert.equal(nt.raft(3).state, StateRole.PreCandidate);
    nt.recover();
    // Same log as everyone, but 1 and 2 heard from the leader recently: they ignore the pre-vote.
    hup(nt, 3);
    assert.equal(nt.raft(3).state, StateRole.PreCandidate);
    assert.equal(nt.raft(3).term, 1);
    assert.equal(nt.raft(1).state, StateRole.Leader);
    assert.equal(nt.raft(1).term, 1);
    assert.equal(nt.raft(2).term, 1);
  });

  test("with pre-vote and check-quorum, after the leader is cut off the others still elect a new leader", () => {
    const nt = networkWithLeader1({ preVote: true, checkQuorum: true });
    nt.isolate(1);
    // Node 2 heard from the leader recently, so it ignores 3's pre-vote...
    hup(nt, 3);
    assert.equal(nt.raft(3).state, StateRole.PreCandidate);
    // ...but node 3 is a pre-candidate and knows no leader, so it grants 2's pre-vote and vote.
    hup(nt, 2);
    assert.equal(nt.raft(2).state, StateRole.Leader);
    assert.equal(nt.raft(2).term, 2);
    assert.equal(nt.raft(3).state, StateRole.Follower);
    assert.equal(nt.raft(3).lead, 2);
  });

  test("a lagging pre-candidate with a smaller term does not block the election when the leader fails", () => {
    const nt = new Network([undefined, undefined, undefined], PRE);
    nt.cut(1, 3);
    nt.cut(2, 3);
    hup(nt, 1);
    assert.equal(nt.raft(1).state, StateRole.Leader);
    hup(nt, 3);
    assert.equal(nt.raft(3).state, StateRole.PreCandidate);
    hup(nt, 2); // 2 takes over from 1 (no check-quorum: 1 grants the pre-vote)
    assert.deepEqual([1, 2, 3].map((id) => nt.raft(id).term), [2, 2, 0]);
    assert.deepEqual([1, 2, 3].map((id) => nt.raft(id).state), [StateRole.Follower, StateRole.Leader, StateRole.PreCandidate]);

    // Node 3 comes back just as the leader 2 fails.
    nt.recover();
    nt.cut(2, 1);
    nt.cut(2, 3);
    hup(nt, 3); // rejected at term 2: node 3 learns the term
    assert.equal(nt.raft(3).state, StateRole.Follower);
    assert.equal(nt.raft(3).term, 2);
    hup(nt, 1);
    assert.equal(nt.raft(1).state, StateRole.Leader);
    assert.equal(nt.raft(1).term, 3);
    assert.equal(nt.raft(3).lead, 1);
  });

  test("a node stuck with a higher term and a stale log is brought back: its answer to a stale heartbeat deposes the leader and a new election includes it", () => {
    // Nodes 1 and 2 run pre-vote; node 3 does not yet (a rolling upgrade), so while isolated it
    // campaigns for real and raises its term.
    const n1 = newTestRaft(1, [1, 2, 3], PRE);
    const n2 = newTestRaft(2, [1, 2, 3], PRE);
    const n3 = newTestRaft(3, [1, 2, 3], { preVote: false });
    const nt = new Network([n1, n2, n3]);
    hup(nt, 1);
    assert.equal(n1.state, StateRole.Leader);
    nt.isolate(3);
    propose(nt, 1, "x");
    hup(nt, 3);
    hup(nt, 3);
    assert.equal(n3.state, StateRole.Candidate);
    assert.equal(n3.term, 3);

    // Node 3 restarts with pre-vote on, from what it persisted (term 3, a log of one entry).
    const n3b = newTestRaft(3, [1, 2, 3], PRE, nt.storage.get(3));
    assert.equal(n3b.term, 3);
    nt.peers.set(3, n3b);
    nt.recover();

    hup(nt, 3);
    // Its pre-votes are rejected at term 1, which it ignores as stale: it is stuck as a
    // pre-candidate at term 3, and the leader (term 1) does not notice.
    assert.equal(n3b.state, StateRole.PreCandidate);
    assert.equal(n3b.term, 3);
    assert.equal(n1.state, StateRole.Leader);
    assert.equal(n1.term, 1);

    // The leader's heartbeat reaches 3, which answers at term 3: the leader steps down.
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.equal(n1.state, StateRole.Follower);
    assert.equal(n1.term, 3);

    // The next election (term 4) is won by an up-to-date node, and node 3 follows it.
    hup(nt, 1);
    assert.equal(n1.state, StateRole.Leader);
    assert.equal(n1.term, 4);
    for (const r of [n2, n3b]) {
      assert.equal(r.state, StateRole.Follower);
      assert.equal(r.term, 4);
      assert.equal(r.lead, 1);
    }
    assert.deepEqual(logOf(n3b), ["1/1", "1/2", "4/3"]);
    assert.deepEqual(logOf(n2), logOf(n1));
    propose(nt, 1, "after");
    assert.equal(n3b.raftLog.committed, 4);
  });
});
