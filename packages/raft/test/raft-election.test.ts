/**
 * Elections in small groups: who wins, who steps down, and what terms and votes are left behind.
 * Most tests run on the synchronous test network (`Network`), with nodes cut off or replaced by
 * black holes; a few step a single node by hand to pin one rule (the vote matrix, step-down on a
 * higher term). Pre-vote and check-quorum are off unless a test turns them on.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MessageType, NONE, StateRole, describeMessage, describeRole, type Raft } from "../src/index.js";
import {
  Network,
  bytes,
  entry,
  logOf,
  msg,
  newTestRaft,
  newTestRaftWithLog,
  readMessages,
  type Stepper,
  type TestRaftOptions,
  ids,
} from "./harness.js";


function hup(id: number) {
  return msg({ from: id, to: id, type: MessageType.Hup });
}

function roleOf(r: Raft): string {
  return describeRole(r.state);
}

/** Messages in a stable order (by recipient, then type) as one-line descriptions. */
function sent(r: Raft): string[] {
  return readMessages(r)
    .sort((a, b) => a.to - b.to || a.type - b.type)
    .map(describeMessage);
}

/**
 * A group of `layout.length` nodes: "new" is a fresh node, "down" a black hole, and a term list a
 * node whose log holds entries of those terms (and whose term is the last of them).
 */
function group(layout: ("new" | "down" | number[])[], opts: TestRaftOptions = {}): Network {
  const peers = ids(layout.length);
  const nodes: (Stepper | undefined)[] = layout.map((l, i) => {
    if (l === "new") return undefined;
    if (l === "down") return "blackhole";
    return newTestRaftWithLog(i + 1, peers, l, {}, opts);
  });
  return new Network(nodes, opts);
}

describe("electing a leader", () => {
  const cases: { layout: ("new" | "down" | number[])[]; role: StateRole; term: number; what: string }[] = [
    { layout: ["new", "new", "new"], role: StateRole.Leader, term: 1, what: "3 of 3 up" },
    { layout: ["new", "new", "down"], role: StateRole.Leader, term: 1, what: "2 of 3 up" },
    { layout: ["new", "down", "down"], role: StateRole.Candidate, term: 1, what: "1 of 3 up" },
    { layout: ["new", "down", "down", "new"], role: StateRole.Candidate, term: 1, what: "2 of 4 up" },
    { layout: ["new", "down", "down", "new", "new"], role: StateRole.Leader, term: 1, what: "3 of 5 up" },
    // Three voters of the same term have longer logs: they refuse, and the candidate loses.
    { layout: ["new", [1], [1], [1, 1], "new"], role: StateRole.Follower, term: 1, what: "3 of 5 have longer logs" },
  ];

  test("a node becomes leader only with votes from a majority of the whole group (§5.2)", () => {
    for (const c of cases) {
      const nt = group(c.layout);
      nt.send(hup(1));
      assert.equal(roleOf(nt.raft(1)), describeRole(c.role), c.what);
      assert.equal(nt.raft(1).term, c.term, c.what);
    }
  });

  test("with pre-vote, a node that cannot win does not raise its term (thesis §9.6)", () => {
    // Same layouts; a pre-candidate that cannot gather a majority does not campaign, so it never
    // moves to term 1 by itself.
    const want: { role: StateRole; term: number }[] = [
      { role: StateRole.Leader, term: 1 },
      { role: StateRole.Leader, term: 1 },
      { role: StateRole.PreCandidate, term: 0 },
      { role: StateRole.PreCandidate, term: 0 },
      { role: StateRole.Leader, term: 1 },
      // Refused by voters already at term 1: the refusals carry their term, which it adopts.
      { role: StateRole.Follower, term: 1 },
    ];
    for (const [i, c] of cases.entries()) {
      const nt = group(c.layout, { preVote: true });
      nt.send(hup(1));
      assert.equal(roleOf(nt.raft(1)), describeRole(want[i]!.role), c.what);
      assert.equal(nt.raft(1).term, want[i]!.term, c.what);
    }
  });

  for (const preVote of [false, true]) {
    test(`each node of a group can be elected in turn, and the others follow it${preVote ? " (pre-vote on)" : ""} (§5.2)`, () => {
      const nt = group(["new", "new", "new"], { preVote });
      for (const campaigner of [1, 2, 3]) {
        nt.send(hup(campaigner));
        for (const id of [1, 2, 3]) {
          const r = nt.raft(id);
          assert.equal(roleOf(r), describeRole(id === campaigner ? StateRole.Leader : StateRole.Follower), `campaigner ${campaigner}, node ${id}`);
          assert.equal(r.lead, campaigner, `campaigner ${campaigner}, node ${id}`);
          assert.equal(r.term, campaigner, `campaigner ${campaigner}, node ${id}`);
        }
      }
    });
  }

  test("a single-node group elects itself at once (§5.2)", () => {
    const nt = group(["new"]);
    nt.send(hup(1));
    assert.equal(roleOf(nt.raft(1)), "Leader");
    assert.equal(nt.raft(1).term, 1);
  });

  for (const preVote of [false, true]) {
    test(`campaigning while already leader changes neither role nor term${preVote ? " (pre-vote on)" : ""}`, () => {
      const r = newTestRaft(1, [1], { preVote });
      r.step(hup(1));
      assert.equal(roleOf(r), "Leader");
      const term = r.term;
      r.step(hup(1));
      assert.equal(roleOf(r), "Leader");
      assert.equal(r.term, term);
      assert.deepEqual(logOf(r), ["1/1"], "no second empty entry");
    });
  }

  test("after a split vote, neither candidate wins, and the next round elects a leader (§5.2)", () => {
    const nt = group(["new", "new", "new"]);
    nt.send(hup(1));
    // The leader goes down; both followers time out together and vote for themselves.
    nt.isolate(1);
    nt.send(hup(2), hup(3));
    for (const id of [2, 3]) {
      assert.equal(nt.raft(id).term, 2, `node ${id}`);
      assert.equal(roleOf(nt.raft(id)), "Candidate", `node ${id}`);
      assert.equal(nt.raft(id).vote, id, `node ${id}`);
    }
    // Node 2 times out first in the next round.
    nt.send(hup(2));
    assert.equal(roleOf(nt.raft(2)), "Leader");
    assert.equal(nt.raft(2).term, 3);
    assert.equal(roleOf(nt.raft(3)), "Follower");
    assert.equal(nt.raft(3).term, 3);
    assert.equal(nt.raft(3).lead, 2);
  });
});

describe("votes", () => {
  test("a vote is granted only if the voter has not voted for another node this term and the candidate's log is at least as up to date (§5.2, §5.4.1)", () => {
    // The voter's log is 2/1, 2/2; the request comes from node 2 in the voter's term.
    const cases: { role: StateRole; index: number; logTerm: number; vote: number; reject: boolean }[] = [];
    for (const [index, logTerm, reject] of [
      [0, 0, true], [0, 1, true], [0, 2, true], [0, 3, false],
      [1, 0, true], [1, 1, true], [1, 2, true], [1, 3, false],
      [2, 0, true], [2, 1, true], [2, 2, false], [2, 3, false],
      [3, 0, true], [3, 1, true], [3, 2, false], [3, 3, false],
    ] as const) {
      cases.push({ role: StateRole.Follower, index, logTerm, vote: NONE, reject });
    }
    cases.push(
      // Already voted: for the same candidate (granted again) or another one (refused).
      { role: StateRole.Follower, index: 3, logTerm: 2, vote: 2, reject: false },
      { role: StateRole.Follower, index: 3, logTerm: 2, vote: 1, reject: true },
      // A leader, candidate or pre-candidate of this term has voted for itself.
      { role: StateRole.Leader, index: 3, logTerm: 3, vote: 1, reject: true },
      { role: StateRole.PreCandidate, index: 3, logTerm: 3, vote: 1, reject: true },
      { role: StateRole.Candidate, index: 3, logTerm: 3, vote: 1, reject: true },
    );
    for (const [i, c] of cases.entries()) {
      // Both at the same term, at least the voter's last log term.
      const term = Math.max(2, c.logTerm);
      let r: Raft;
      switch (c.role) {
        case StateRole.Follower:
        case StateRole.PreCandidate:
          r = newTestRaftWithLog(1, [1, 2], [2, 2], { term, vote: c.vote });
          if (c.role === StateRole.PreCandidate) r.becomePreCandidate();
          break;
        case StateRole.Candidate:
        case StateRole.Leader:
          r = newTestRaftWithLog(1, [1, 2], [2, 2], { term: term - 1 });
          r.becomeCandidate();
          if (c.role === StateRole.Leader) r.becomeLeader();
          break;
      }
      assert.equal(r.term, term, `case ${i}`);
      assert.equal(r.vote, c.vote, `case ${i}`);
      readMessages(r);
      r.step(msg({ from: 2, to: 1, type: MessageType.RequestVote, term, index: c.index, logTerm: c.logTerm }));
      assert.deepEqual(sent(r), [`1->2 MsgVoteResp term=${term}${c.reject ? " reject" : ""}`], `case ${i}: ${JSON.stringify(c)}`);
    }
  });

  for (const role of [StateRole.Follower, StateRole.PreCandidate, StateRole.Candidate, StateRole.Leader]) {
    test(`a ${describeRole(role).toLowerCase()} grants a vote for a higher term and becomes a follower that voted for the candidate (§5.1, §5.2)`, () => {
      const r = newTestRaft(1, [1, 2, 3]);
      putAtTerm1(r, role);
      r.step(msg({ from: 2, to: 1, type: MessageType.RequestVote, term: 2, logTerm: 2, index: 42 }));
      assert.deepEqual(sent(r), ["1->2 MsgVoteResp term=2"]);
      assert.equal(roleOf(r), "Follower");
      assert.equal(r.term, 2);
      assert.equal(r.vote, 2);
      assert.equal(r.lead, NONE);
    });

    test(`a ${describeRole(role).toLowerCase()} grants a pre-vote for a higher term without changing role, term or vote (thesis §9.6)`, () => {
      const r = newTestRaft(1, [1, 2, 3]);
      putAtTerm1(r, role);
      const before = { role: roleOf(r), term: r.term, vote: r.vote };
      r.step(msg({ from: 2, to: 1, type: MessageType.RequestPreVote, term: 2, logTerm: 2, index: 42 }));
      // The answer carries the term the pre-candidate would campaign in.
      assert.deepEqual(sent(r), ["1->2 MsgPreVoteResp term=2"]);
      assert.deepEqual({ role: roleOf(r), term: r.term, vote: r.vote }, before);
    });
  }

  test("a candidate with an older log loses, pushing its term up, and wins the next election; its entry then overwrites the newer conflicting one (§5.4.1)", () => {
    const peers = ids(5);
    const nt = new Network([
      newTestRaftWithLog(1, peers, [1]), // won the election of term 1
      newTestRaftWithLog(2, peers, [1]), // got node 1's entry
      newTestRaftWithLog(3, peers, [2]), // won the election of term 2
      newTestRaftWithLog(4, peers, [], { term: 2, vote: 3 }), // voted for 3, got no entry
      newTestRaftWithLog(5, peers, [], { term: 2, vote: 3 }),
    ]);
    const n1 = nt.raft(1);
    // Term 2 is already taken on a majority (3, 4, 5): node 1 loses, but learns term 2.
    nt.send(hup(1));
    assert.equal(roleOf(n1), "Follower");
    assert.equal(n1.term, 2);
    // At term 3 nobody has voted, and only node 3 has a newer log: node 1 wins.
    nt.send(hup(1));
    assert.equal(roleOf(n1), "Leader");
    assert.equal(n1.term, 3);
    for (const id of peers) assert.deepEqual(logOf(nt.raft(id)), ["1/1", "3/2"], `node ${id}`);
  });

  test("of two dueling candidates, the one with the shorter log loses and returns to follower at the higher term (§5.4.1)", () => {
    const nt = group(["new", "new", "new"]);
    nt.cut(1, 3);
    nt.send(hup(1));
    nt.send(hup(3));
    // Node 1 won term 1 with node 2's vote; node 3 is stuck as a candidate of term 1.
    assert.equal(roleOf(nt.raft(1)), "Leader");
    assert.equal(roleOf(nt.raft(3)), "Candidate");
    nt.recover();
    // Node 3 campaigns at term 2: both others have the entry 1/1 it lacks, so it loses.
    nt.send(hup(3));
    for (const id of [1, 2, 3]) {
      assert.equal(roleOf(nt.raft(id)), "Follower", `node ${id}`);
      assert.equal(nt.raft(id).term, 2, `node ${id}`);
    }
    for (const id of [1, 2]) {
      assert.deepEqual(logOf(nt.raft(id)), ["1/1"], `node ${id}`);
      assert.equal(nt.raft(id).raftLog.committed, 1, `node ${id}`);
    }
    assert.deepEqual(logOf(nt.raft(3)), []);
    assert.equal(nt.raft(3).raftLog.committed, 0);
  });

  test("an isolated candidate becomes a follower of the leader of its term when the leader reaches it (§5.2)", () => {
    const nt = group(["new", "new", "new"]);
    nt.isolate(1);
    nt.send(hup(1));
    nt.send(hup(3));
    nt.recover();
    // The heartbeat reaches candidate 1 (same term): it follows node 3 and catches up.
    nt.send(msg({ from: 3, to: 3, type: MessageType.Beat }));
    nt.send(msg({ from: 3, to: 3, type: MessageType.Propose, entries: [entry(0, 0, "force follower")] }));
    nt.send(msg({ from: 3, to: 3, type: MessageType.Beat }));
    const n1 = nt.raft(1);
    assert.equal(roleOf(n1), "Follower");
    assert.equal(n1.term, 1);
    assert.equal(n1.lead, 3);
    for (const id of [1, 2, 3]) {
      const r = nt.raft(id);
      assert.deepEqual(logOf(r), ["1/1", "1/2"], `node ${id}`);
      assert.equal(r.raftLog.committed, 2, `node ${id}`);
      assert.deepEqual(r.raftLog.allEntries()[1]!.data, bytes("force follower"), `node ${id}`);
    }
  });
});

describe("stepping down", () => {
  for (const role of [StateRole.Follower, StateRole.PreCandidate, StateRole.Candidate, StateRole.Leader]) {
    test(`a ${describeRole(role).toLowerCase()} steps down on a higher-term vote request (leader unknown) or append (leader = sender) (§5.1)`, () => {
      const r = newTestRaft(1, [1, 2, 3]);
      putAtTerm1(r, role);
      const lastIndex = role === StateRole.Leader ? 1 : 0;
      for (const type of [MessageType.RequestVote, MessageType.Append]) {
        r.step(msg({ from: 2, to: 1, type, term: 3, logTerm: 3 }));
        assert.equal(roleOf(r), "Follower", `type ${type}`);
        assert.equal(r.term, 3, `type ${type}`);
        assert.equal(r.lead, type === MessageType.Append ? 2 : NONE, `type ${type}`);
        // Nothing is appended or lost: the append's previous entry (3/0) matches nothing.
        assert.equal(r.raftLog.lastIndex(), lastIndex, `type ${type}`);
        assert.equal(r.raftLog.allEntries().length, lastIndex, `type ${type}`);
      }
    });
  }

  for (const type of [MessageType.Heartbeat, MessageType.Append]) {
    const what = type === MessageType.Heartbeat ? "heartbeat" : "append";
    test(`a candidate that receives a ${what} from the leader of a newer term takes its term and follows it (§5.1)`, () => {
      const nt = group(["new", "new", "new"]);
      const [a, b, c] = [nt.raft(1), nt.raft(2), nt.raft(3)];
      nt.send(hup(1));
      assert.equal(roleOf(a), "Leader");
      // Node 3 is cut off while the others move on to term 3 with node 1 as leader again.
      nt.isolate(3);
      nt.send(hup(2));
      nt.send(hup(1));
      assert.equal(roleOf(a), "Leader");
      assert.equal(a.term, 3);
      assert.equal(roleOf(b), "Follower");
      // Node 3 times out and campaigns alone at term 2.
      for (let i = 0; i < c.randomizedElectionTimeout; i++) c.tick();
      readMessages(c);
      assert.equal(roleOf(c), "Candidate");
      assert.equal(c.term, 2);
      nt.recover();
      nt.send(msg({ from: 1, to: 3, type, term: a.term }));
      assert.equal(roleOf(c), "Follower");
      assert.equal(c.term, a.term);
      assert.equal(c.lead, 1);
    });
  }

  test("a leader steps down when a follower that campaigned answers its stale heartbeat with a higher term (check-quorum on)", () => {
    const nt = group(["new", "new", "new"], { checkQuorum: true });
    const [n1, n2, n3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    for (const r of [n1, n2, n3]) r.becomeFollower(1, NONE);
    nt.send(hup(1));
    assert.deepEqual([n1, n2, n3].map(roleOf), ["Leader", "Follower", "Follower"]);
    // Node 3 hears nothing from the leader for its whole election timeout and campaigns.
    n3.randomizedElectionTimeout = n3.cfg.electionTick + 2;
    for (let i = 0; i < n3.randomizedElectionTimeout; i++) n3.tick();
    assert.deepEqual([n1, n2, n3].map(roleOf), ["Leader", "Follower", "Candidate"]);
    assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 3]);
    // The leader's delayed heartbeat (term 2) reaches candidate 3, which answers with term 3; its
    // queued vote requests are ignored inside the leader lease of nodes 1 and 2.
    nt.send(msg({ from: 1, to: 3, type: MessageType.Heartbeat, term: n1.term }));
    assert.deepEqual([n1, n2, n3].map(roleOf), ["Follower", "Follower", "Candidate"]);
    assert.deepEqual([n1.term, n2.term, n3.term], [3, 2, 3]);
  });

  test("only a leader sends heartbeats on MsgBeat", () => {
    for (const role of [StateRole.Leader, StateRole.Candidate, StateRole.Follower]) {
      const r = newTestRaft(1, [1, 2, 3]);
      putAtTerm1(r, role);
      readMessages(r);
      r.step(msg({ from: 1, to: 1, type: MessageType.Beat }));
      const want = role === StateRole.Leader ? ["1->2 MsgHeartbeat term=1", "1->3 MsgHeartbeat term=1"] : [];
      assert.deepEqual(sent(r), want, describeRole(role));
    }
  });
});

/** Put `r` in `role` at term 1: leaders and candidates by their own election, voting for themselves. */
function putAtTerm1(r: Raft, role: StateRole): void {
  switch (role) {
    case StateRole.Follower:
      r.becomeFollower(1, 3);
      break;
    case StateRole.PreCandidate:
      r.becomeFollower(1, NONE);
      r.becomePreCandidate();
      break;
    case StateRole.Candidate:
      r.becomeCandidate();
      break;
    case StateRole.Leader:
      r.becomeCandidate();
      r.becomeLeader();
      break;
  }
  assert.equal(r.term, 1);
}
