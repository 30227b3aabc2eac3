/**
 * One test per rule of the raft paper (Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm", §5), in the order the paper states them: terms (§5.1), leader election
 * (§5.2), log replication (§5.3) and safety (§5.4). Each test drives a node (or a small group) by
 * hand with `step` and `tick` and checks the exact messages and state the rule implies.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MessageType, NONE, StateRole, describeMessage, describeRole, type Entry, type Raft } from "../src/index.js";
import {
  Network,
  acceptAppend,
  commitEmptyEntry,
  entry,
  logOf,
  msg,
  newTestRaft,
  newTestRaftWithLog,
  proposalTo,
  readMessages,
  ids,
} from "./harness.js";

/** Messages in a stable order (by recipient, then type) as one-line descriptions. */
function sent(r: Raft): string[] {
  return readMessages(r)
    .sort((a, b) => a.to - b.to || a.type - b.type)
    .map(describeMessage);
}


/** Put `r` in `role` at term 1 (a leader and a candidate reach it by their own election). */
function enterRole(r: Raft, role: StateRole): void {
  switch (role) {
    case StateRole.Follower:
      r.becomeFollower(1, 2);
      break;
    case StateRole.Candidate:
      r.becomeCandidate();
      break;
    case StateRole.PreCandidate:
      r.becomeFollower(1, NONE);
      r.becomePreCandidate();
      break;
    case StateRole.Leader:
      r.becomeCandidate();
      r.becomeLeader();
      break;
  }
}

/** Ticks until `r` sends something (it campaigns), starting from a fresh timeout. */
function ticksUntilCampaign(r: Raft): number {
  let n = 0;
  while (r.msgs.length === 0) {
    r.tick();
    n++;
    assert.ok(n <= 4 * r.cfg.electionTick, `raft ${r.id} did not campaign within ${n} ticks`);
  }
  readMessages(r);
  return n;
}

describe("§5.1 terms", () => {
  for (const role of [StateRole.Follower, StateRole.Candidate, StateRole.Leader]) {
    test(`a ${describeRole(role).toLowerCase()} that sees a higher term adopts it and becomes a follower (§5.1)`, () => {
      const r = newTestRaft(1, [1, 2, 3]);
      enterRole(r, role);
      assert.equal(r.term, 1);
      r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 2 }));
      assert.equal(r.term, 2);
      assert.equal(r.state, StateRole.Follower);
      assert.equal(r.lead, 2, "an append names its sender as leader");
      assert.equal(r.vote, NONE, "a new term starts without a vote");
    });
  }

  test("a message from an older term is ignored: no state change and no answer (§5.1)", () => {
    const r = newTestRaft(1, [1, 2, 3]);
    r.becomeFollower(2, 3);
    const before = { term: r.term, lead: r.lead, state: r.state, log: logOf(r) };
    const res = r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 1, entries: [entry(1, 1, "stale")] }));
    assert.equal(res.ok, true);
    r.step(msg({ from: 2, to: 1, type: MessageType.RequestVote, term: 1 }));
    assert.deepEqual({ term: r.term, lead: r.lead, state: r.state, log: logOf(r) }, before);
    assert.deepEqual(sent(r), []);
  });

  test("a node starts as a follower at term 0 with no vote and no leader (§5.2)", () => {
    const r = newTestRaft(1, [1, 2, 3]);
    assert.equal(r.state, StateRole.Follower);
    assert.equal(r.term, 0);
    assert.equal(r.vote, NONE);
    assert.equal(r.lead, NONE);
  });
});

describe("§5.2 leader election", () => {
  test("a leader sends an empty heartbeat to every peer each heartbeat timeout (§5.2)", () => {
    const r = newTestRaft(1, [1, 2, 3], { heartbeat: 1 });
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < 10; i++) r.step(proposalTo(1, `e${i}`));
    readMessages(r);
    r.tick();
    // No entries, and no commit beyond what the follower is known to store (nothing yet).
    assert.deepEqual(sent(r), ["1->2 MsgHeartbeat term=1", "1->3 MsgHeartbeat term=1"]);
  });

  test("a leader with heartbeat timeout 3 stays silent for 2 ticks and beats on the 3rd (§5.2)", () => {
    const r = newTestRaft(1, [1, 2, 3], { heartbeat: 3 });
    r.becomeCandidate();
    r.becomeLeader();
    r.tick();
    r.tick();
    assert.deepEqual(sent(r), []);
    r.tick();
    assert.deepEqual(sent(r), ["1->2 MsgHeartbeat term=1", "1->3 MsgHeartbeat term=1"]);
  });

  for (const role of [StateRole.Follower, StateRole.Candidate]) {
    const who = describeRole(role).toLowerCase();
    test(`a ${who} whose election timeout passes starts an election: term+1, votes for itself, asks every peer (§5.2)`, () => {
      const r = newTestRaft(1, [1, 2, 3], { election: 10 });
      enterRole(r, role);
      // The randomized timeout lies in [10, 20): 19 ticks fire it exactly once.
      for (let i = 1; i < 2 * 10; i++) r.tick();
      assert.equal(r.term, 2);
      assert.equal(r.state, StateRole.Candidate);
      assert.equal(r.vote, 1);
      assert.equal(r.prs.votes.get(1), true, "it votes for itself");
      assert.deepEqual(sent(r), ["1->2 MsgVote term=2", "1->3 MsgVote term=2"]);
    });
  }

  test("a candidate wins with votes from a majority, keeps waiting while undecided, and steps down when it lost (§5.2)", () => {
    const cases: { size: number; votes: Record<number, boolean>; want: StateRole }[] = [
      { size: 1, votes: {}, want: StateRole.Leader },
      { size: 3, votes: { 2: true, 3: true }, want: StateRole.Leader },
      { size: 3, votes: { 2: true }, want: StateRole.Leader },
      { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: StateRole.Leader },
      { size: 5, votes: { 2: true, 3: true, 4: true }, want: StateRole.Leader },
      { size: 5, votes: { 2: true, 3: true }, want: StateRole.Leader },
      // No majority yet: still a candidate.
      { size: 3, votes: {}, want: StateRole.Candidate },
      { size: 5, votes: { 2: true }, want: StateRole.Candidate },
      { size: 5, votes: { 2: false, 3: false }, want: StateRole.Candidate },
      { size: 5, votes: {}, want: StateRole.Candidate },
      // A majority refused: the election is lost, back to follower in the same term.
      { size: 3, votes: { 2: false, 3: false }, want: StateRole.Follower },
      { size: 5, votes: { 2: false, 3: false, 4: false }, want: StateRole.Follower },
      { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: StateRole.Follower },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaft(1, ids(c.size));
      r.step(msg({ from: 1, to: 1, type: MessageType.Hup }));
      for (const [from, granted] of Object.entries(c.votes)) {
        r.step(msg({ from: Number(from), to: 1, type: MessageType.RequestVoteResponse, term: r.term, reject: !granted }));
      }
      assert.equal(describeRole(r.state), describeRole(c.want), `case ${i}`);
      assert.equal(r.term, 1, `case ${i}`);
    }
  });

  test("a follower grants at most one vote per term, first come first served, and repeats a vote it gave (§5.2)", () => {
    const cases: { vote: number; from: number; reject: boolean }[] = [
      { vote: NONE, from: 2, reject: false },
      { vote: NONE, from: 3, reject: false },
      { vote: 2, from: 2, reject: false },
      { vote: 3, from: 3, reject: false },
      { vote: 2, from: 3, reject: true },
      { vote: 3, from: 2, reject: true },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaftWithLog(1, [1, 2, 3], [], { term: 1, vote: c.vote });
      r.step(msg({ from: c.from, to: 1, type: MessageType.RequestVote, term: 1 }));
      assert.deepEqual(sent(r), [`1->${c.from} MsgVoteResp term=1${c.reject ? " reject" : ""}`], `case ${i}`);
      assert.equal(r.vote, c.vote === NONE ? c.from : c.vote, `case ${i}`);
    }

    // The same rule as a sequence: 2 asks first and wins the vote, 3 is refused, 2 asking again is granted.
    const r = newTestRaft(1, [1, 2, 3]);
    r.step(msg({ from: 2, to: 1, type: MessageType.RequestVote, term: 1 }));
    r.step(msg({ from: 3, to: 1, type: MessageType.RequestVote, term: 1 }));
    r.step(msg({ from: 2, to: 1, type: MessageType.RequestVote, term: 1 }));
    assert.deepEqual(sent(r), ["1->2 MsgVoteResp term=1", "1->2 MsgVoteResp term=1", "1->3 MsgVoteResp term=1 reject"]);
  });

  test("a candidate that receives an append from a leader of its term or a newer one becomes its follower (§5.2)", () => {
    for (const term of [1, 2]) {
      const r = newTestRaft(1, [1, 2, 3]);
      r.step(msg({ from: 1, to: 1, type: MessageType.Hup }));
      assert.equal(r.state, StateRole.Candidate);
      r.step(msg({ from: 2, to: 1, type: MessageType.Append, term }));
      assert.equal(r.state, StateRole.Follower, `term ${term}`);
      assert.equal(r.term, term);
      assert.equal(r.lead, 2);
    }
  });

  for (const role of [StateRole.Follower, StateRole.Candidate]) {
    const who = describeRole(role).toLowerCase();
    test(`a ${who}'s election timeout takes every value in [et, 2·et) and no other (§5.2)`, () => {
      const et = 10;
      const r = newTestRaft(1, [1, 2, 3], { election: et });
      const seen = new Set<number>();
      for (let round = 0; round < 50 * et; round++) {
        if (role === StateRole.Follower) r.becomeFollower(r.term + 1, NONE);
        else r.becomeCandidate();
        readMessages(r);
        seen.add(ticksUntilCampaign(r));
      }
      const want = Array.from({ length: et }, (_, i) => et + i);
      assert.deepEqual([...seen].sort((a, b) => a - b), want);
    });

    test(`five ${who}s time out in the same tick in at most 30% of rounds (§5.2)`, () => {
      const et = 10;
      const rafts = ids(5).map((id) => newTestRaft(id, ids(5), { election: et }));
      const rounds = 1000;
      let conflicts = 0;
      for (let round = 0; round < rounds; round++) {
        for (const r of rafts) {
          if (role === StateRole.Follower) r.becomeFollower(r.term + 1, NONE);
          else r.becomeCandidate();
          readMessages(r);
        }
        let timedOut = 0;
        while (timedOut === 0) {
          for (const r of rafts) {
            r.tick();
            if (r.msgs.length > 0) {
              timedOut++;
              readMessages(r);
            }
          }
        }
        if (timedOut > 1) conflicts++;
      }
      assert.ok(conflicts / rounds <= 0.3, `${conflicts} of ${rounds} rounds had more than one node time out together`);
      // And not trivially: with 10 possible timeouts and 5 nodes, some collisions must happen.
      assert.ok(conflicts > 0, "no round had a collision: is the timeout randomized at all?");
    });
  }
});

describe("§5.3 log replication", () => {
  /** A leader of [1, 2, 3] at term 1 whose empty entry (index 1) is committed and applied. */
  function leaderWithCommittedLog(): Raft {
    const r = newTestRaft(1, [1, 2, 3]);
    r.becomeCandidate();
    r.becomeLeader();
    commitEmptyEntry(r);
    return r;
  }

  test("a leader appends a proposal to its log and sends it with the previous entry's index and term and its commit (§5.3)", () => {
    const r = leaderWithCommittedLog();
    const li = r.raftLog.lastIndex();
    assert.equal(li, 1);
    r.step(proposalTo(1, "some data"));
    assert.equal(r.raftLog.lastIndex(), li + 1);
    assert.equal(r.raftLog.committed, li, "not committed before a majority stores it");
    assert.deepEqual(sent(r), [
      `1->2 MsgApp term=1 log=1/${li} commit=${li} entries=[1/${li + 1} "some data"]`,
      `1->3 MsgApp term=1 log=1/${li} commit=${li} entries=[1/${li + 1} "some data"]`,
    ]);
    assert.deepEqual(r.raftLog.unstableEntries(), [entry(li + 1, 1, "some data")], "the new entry is not yet persisted");
  });

  test("a leader commits an entry once a majority stores it and sends the new commit to the followers (§5.3)", () => {
    const r = leaderWithCommittedLog();
    const li = r.raftLog.lastIndex();
    r.step(proposalTo(1, "some data"));
    for (const m of readMessages(r)) r.step(acceptAppend(m));
    assert.equal(r.raftLog.committed, li + 1);
    assert.deepEqual(r.raftLog.nextEntries(), [entry(li + 1, 1, "some data")], "the entry is ready to apply");
    assert.deepEqual(sent(r), [`1->2 MsgApp term=1 log=1/${li + 1} commit=${li + 1}`, `1->3 MsgApp term=1 log=1/${li + 1} commit=${li + 1}`]);
  });

  test("whether an entry commits depends only on acknowledgements from a majority (clusters of 1, 3 and 5) (§5.3)", () => {
    const cases: { size: number; acceptors: number[]; committed: boolean }[] = [
      { size: 1, acceptors: [], committed: true },
      { size: 3, acceptors: [], committed: false },
      { size: 3, acceptors: [2], committed: true },
      { size: 3, acceptors: [2, 3], committed: true },
      { size: 5, acceptors: [], committed: false },
      { size: 5, acceptors: [2], committed: false },
      { size: 5, acceptors: [2, 3], committed: true },
      { size: 5, acceptors: [2, 3, 4], committed: true },
      { size: 5, acceptors: [2, 3, 4, 5], committed: true },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaft(1, ids(c.size));
      r.becomeCandidate();
      r.becomeLeader();
      commitEmptyEntry(r);
      const li = r.raftLog.lastIndex();
      r.step(proposalTo(1, "some data"));
      for (const m of readMessages(r)) if (c.acceptors.includes(m.to)) r.step(acceptAppend(m));
      assert.equal(r.raftLog.committed > li, c.committed, `case ${i}: size ${c.size}, acks from [${c.acceptors.join(", ")}]`);
    }
  });

  test("committing an entry also commits every entry before it, including entries of older terms (§5.3)", () => {
    for (const terms of [[], [2], [1, 2], [1]]) {
      const r = newTestRaftWithLog(1, [1, 2, 3], terms, { term: 2 });
      r.becomeCandidate();
      r.becomeLeader();
      r.step(proposalTo(1, "some data"));
      for (const m of readMessages(r)) r.step(acceptAppend(m));
      const li = terms.length;
      const want: Entry[] = [...terms.map((t, i) => entry(i + 1, t)), entry(li + 1, 3), entry(li + 2, 3, "some data")];
      assert.equal(r.raftLog.committed, li + 2, `log [${terms.join(",")}]`);
      assert.deepEqual(r.raftLog.nextEntries(), want, `log [${terms.join(",")}]`);
    }
  });

  test("a follower commits (and hands out to apply) the entries up to the leader's commit index (§5.3)", () => {
    const cases: { ents: Entry[]; commit: number }[] = [
      { ents: [entry(1, 1, "some data")], commit: 1 },
      { ents: [entry(1, 1, "some data"), entry(2, 1, "some data2")], commit: 2 },
      { ents: [entry(1, 1, "some data2"), entry(2, 1, "some data")], commit: 2 },
      { ents: [entry(1, 1, "some data"), entry(2, 1, "some data2")], commit: 1 },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaft(1, [1, 2, 3]);
      r.becomeFollower(1, 2);
      r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 1, entries: c.ents, commit: c.commit }));
      assert.equal(r.raftLog.committed, c.commit, `case ${i}`);
      assert.deepEqual(r.raftLog.nextEntries(), c.ents.slice(0, c.commit), `case ${i}`);
    }
  });

  test("a follower rejects an append when it has no entry with the append's previous index and term, with a hint (§5.3)", () => {
    // Log 1/1 (committed), 2/2.
    const cases: { logTerm: number; index: number; want: string }[] = [
      // At or below the commit: matches by definition; the answer is the commit index.
      { logTerm: 0, index: 0, want: "1->2 MsgAppResp term=2 index=1" },
      { logTerm: 1, index: 1, want: "1->2 MsgAppResp term=2 index=1" },
      // Matches an uncommitted entry.
      { logTerm: 2, index: 2, want: "1->2 MsgAppResp term=2 index=2" },
      // Entry 2 exists with another term: reject, hint at the last entry with a term ≤ 1.
      { logTerm: 1, index: 2, want: "1->2 MsgAppResp term=2 index=2 reject hint=1/1" },
      // Entry 3 does not exist: reject, hint at the last entry.
      { logTerm: 3, index: 3, want: "1->2 MsgAppResp term=2 index=3 reject hint=2/2" },
      // Nor does entry 5: term 0 must not match the missing entry (that would ack entries not
      // held). No entry has a term ≤ 0, so the hint sends the leader back to the start.
      { logTerm: 0, index: 5, want: "1->2 MsgAppResp term=2 index=5 reject hint=0/0" },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaftWithLog(1, [1, 2, 3], [1, 2], { term: 2, commit: 1 });
      r.becomeFollower(2, 2);
      r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 2, logTerm: c.logTerm, index: c.index }));
      assert.deepEqual(sent(r), [c.want], `case ${i}`);
      if (c.want.includes("reject")) assert.deepEqual(logOf(r), ["1/1", "2/2"], `case ${i}: a rejected append changes nothing`);
    }
  });

  test("a follower deletes conflicting entries and what follows them, then appends the leader's new entries (§5.3)", () => {
    const cases: { index: number; logTerm: number; ents: Entry[]; log: string[]; unstable: string[] }[] = [
      { index: 2, logTerm: 2, ents: [entry(3, 3)], log: ["1/1", "2/2", "3/3"], unstable: ["3/3"] },
      { index: 1, logTerm: 1, ents: [entry(2, 3), entry(3, 4)], log: ["1/1", "3/2", "4/3"], unstable: ["3/2", "4/3"] },
      { index: 0, logTerm: 0, ents: [entry(1, 1)], log: ["1/1", "2/2"], unstable: [] },
      { index: 0, logTerm: 0, ents: [entry(1, 3)], log: ["3/1"], unstable: ["3/1"] },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaftWithLog(1, [1, 2, 3], [1, 2]);
      r.becomeFollower(2, 2);
      r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 2, logTerm: c.logTerm, index: c.index, entries: c.ents }));
      assert.deepEqual(logOf(r), c.log, `case ${i}`);
      assert.deepEqual(
        r.raftLog.unstableEntries().map((e) => `${e.term}/${e.index}`),
        c.unstable,
        `case ${i}`,
      );
    }
  });

  test("a follower truncates a conflict inside entries it has not persisted yet (§5.3)", () => {
    const r = newTestRaftWithLog(1, [1, 2, 3], [1, 2]);
    r.becomeFollower(3, 2);
    r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 3, logTerm: 2, index: 2, entries: [entry(3, 3), entry(4, 3), entry(5, 3)] }));
    assert.deepEqual(logOf(r), ["1/1", "2/2", "3/3", "3/4", "3/5"]);
    // A leader of term 4 agrees up to 3/3 only.
    r.step(msg({ from: 3, to: 1, type: MessageType.Append, term: 4, logTerm: 3, index: 3, entries: [entry(4, 4)] }));
    assert.deepEqual(logOf(r), ["1/1", "2/2", "3/3", "4/4"]);
    assert.deepEqual(
      r.raftLog.unstableEntries().map((e) => `${e.term}/${e.index}`),
      ["3/3", "4/4"],
    );
  });

  test("a new leader brings each follower log of Figure 7 to match its own (§5.3)", () => {
    // Figure 7: the leader's log (term 8) and followers (a)–(f), as the term of each index.
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Record<string, number[]> = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    for (const [name, terms] of Object.entries(followers)) {
      const lead = newTestRaftWithLog(1, [1, 2, 3], leaderTerms, { term: 8, commit: leaderTerms.length });
      const follower = newTestRaftWithLog(2, [1, 2, 3], terms, { term: 7 });
      // Node 3 is silent except for its vote: a follower with a longer log may refuse the leader.
      const nt = new Network([lead, follower, "blackhole"]);
      nt.send(msg({ from: 1, to: 1, type: MessageType.Hup }));
      nt.send(msg({ from: 3, to: 1, type: MessageType.RequestVoteResponse, term: 9 }));
      assert.equal(lead.state, StateRole.Leader, `(${name})`);
      nt.send(proposalTo(1, ""));
      const want = [...leaderTerms.map((t, i) => `${t}/${i + 1}`), "9/11", "9/12"];
      assert.deepEqual(logOf(lead), want, `(${name}) leader`);
      assert.deepEqual(logOf(follower), want, `(${name}) follower`);
      assert.equal(follower.raftLog.committed, 12, `(${name}) follower commit`);
    }
  });
});

describe("§5.4 safety", () => {
  test("a vote request carries the candidate's last log index and term (§5.4.1)", () => {
    const cases: { ents: Entry[]; term: number }[] = [
      { ents: [entry(1, 1)], term: 2 },
      { ents: [entry(1, 1), entry(2, 2)], term: 3 },
    ];
    for (const c of cases) {
      const r = newTestRaft(1, [1, 2, 3]);
      r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: c.term - 1, entries: c.ents }));
      readMessages(r);
      for (let i = 1; i < 2 * r.cfg.electionTick; i++) r.tick();
      const last = c.ents[c.ents.length - 1]!;
      assert.deepEqual(sent(r), [
        `1->2 MsgVote term=${c.term} log=${last.term}/${last.index}`,
        `1->3 MsgVote term=${c.term} log=${last.term}/${last.index}`,
      ]);
    }
  });

  test("a voter refuses a candidate whose log is less up to date: lower last term, or same term and shorter (§5.4.1)", () => {
    const cases: { terms: number[]; logTerm: number; index: number; reject: boolean }[] = [
      // Same last term: the longer (or equal) log wins.
      { terms: [1], logTerm: 1, index: 1, reject: false },
      { terms: [1], logTerm: 1, index: 2, reject: false },
      { terms: [1, 1], logTerm: 1, index: 1, reject: true },
      // The candidate's last term is higher: granted whatever the lengths.
      { terms: [1], logTerm: 2, index: 1, reject: false },
      { terms: [1], logTerm: 2, index: 2, reject: false },
      { terms: [1, 1], logTerm: 2, index: 1, reject: false },
      // The voter's last term is higher: refused whatever the lengths.
      { terms: [2], logTerm: 1, index: 1, reject: true },
      { terms: [2], logTerm: 1, index: 2, reject: true },
      { terms: [2, 1], logTerm: 1, index: 1, reject: true },
    ];
    for (const [i, c] of cases.entries()) {
      const r = newTestRaftWithLog(1, [1, 2], c.terms);
      r.step(msg({ from: 2, to: 1, type: MessageType.RequestVote, term: 3, logTerm: c.logTerm, index: c.index }));
      assert.deepEqual(sent(r), [`1->2 MsgVoteResp term=3${c.reject ? " reject" : ""}`], `case ${i}`);
    }
  });

  test("a leader does not commit an older-term entry by counting replicas, only through an entry of its own term (§5.4.2)", () => {
    const cases: { ack: number; committed: number }[] = [
      { ack: 1, committed: 0 },
      { ack: 2, committed: 0 },
      { ack: 3, committed: 3 },
    ];
    for (const c of cases) {
      // Log 1/1, 2/2; the node becomes leader of term 3 and appends 3/3 (empty) and 3/4.
      const r = newTestRaftWithLog(1, [1, 2], [1, 2], { term: 2 });
      r.becomeCandidate();
      r.becomeLeader();
      r.step(proposalTo(1, "x"));
      readMessages(r);
      r.step(msg({ from: 2, to: 1, type: MessageType.AppendResponse, term: r.term, index: c.ack }));
      assert.equal(r.raftLog.committed, c.committed, `follower stores up to ${c.ack}`);
    }
  });
});
