/**
 * Log replication: proposals, commit rules, how a follower handles appends, how the leader finds
 * where a follower's log matches (with reject hints), and flow control (inflight window, message
 * size, uncommitted size). Groups run on the synchronous test network; single rules are checked by
 * stepping one node by hand.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  MemoryStorage,
  MessageType,
  ProgressState,
  RawNode,
  StateRole,
  describeMessage,
  describeRole,
  entrySize,
  seededRandom,
  type Message,
  type Raft,
} from "../src/index.js";
import {
  Network,
  bytes,
  commitEmptyEntry,
  entry,
  logOf,
  msg,
  newTestRaft,
  newTestRaftWithLog,
  proposalTo,
  readMessages,
  type Stepper,
  type TestRaftOptions,
  ids,
} from "./harness.js";


function hup(id: number): Message {
  return msg({ from: id, to: id, type: MessageType.Hup });
}

function beat(id: number): Message {
  return msg({ from: id, to: id, type: MessageType.Beat });
}

/** A group where "new" is a fresh node and "down" a black hole. */
function group(layout: ("new" | "down")[], opts: TestRaftOptions = {}): Network {
  return new Network(
    layout.map((l): Stepper | undefined => (l === "down" ? "blackhole" : undefined)),
    opts,
  );
}

/** The data of committed normal entries not yet applied (empty entries left out), as strings. */
function committedData(r: Raft): string[] {
  const dec = new TextDecoder();
  return r.raftLog
    .nextEntries()
    .filter((e) => e.data.length > 0)
    .map((e) => dec.decode(e.data));
}

/** A leader of `peers` at term 1 (elected by hand, nothing sent yet). */
function newLeader(peers: number[], opts: TestRaftOptions = {}): Raft {
  const r = newTestRaft(1, peers, opts);
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

describe("proposals and commit", () => {
  test("a leader's own progress follows its last index: match = last index, next = match + 1, always Replicate", () => {
    const r = newLeader([1, 2]);
    r.prs.progress.get(2)!.becomeReplicate();
    const self = r.prs.progress.get(1)!;
    for (let i = 0; i < 5; i++) {
      assert.equal(self.state, ProgressState.Replicate);
      assert.equal(self.match, i + 1);
      assert.equal(self.next, i + 2);
      assert.equal(r.step(proposalTo(1, "foo")).ok, true);
    }
    assert.equal(self.match, 6);
  });

  test("proposals commit on every node once a majority stores them, also across a leader change (§5.3)", () => {
    const cases: { steps: Message[]; committed: number; data: string[] }[] = [
      { steps: [hup(1), proposalTo(1, "somedata")], committed: 2, data: ["somedata"] },
      {
        steps: [hup(1), proposalTo(1, "somedata"), hup(2), msg({ from: 1, to: 2, type: MessageType.Propose, entries: [entry(0, 0, "more")] })],
        committed: 4,
        data: ["somedata", "more"],
      },
    ];
    for (const [i, c] of cases.entries()) {
      const nt = group(["new", "new", "new"]);
      for (const m of c.steps) nt.send(m);
      for (const id of [1, 2, 3]) {
        const r = nt.raft(id);
        assert.equal(r.raftLog.committed, c.committed, `case ${i}, node ${id}`);
        assert.deepEqual(committedData(r), c.data, `case ${i}, node ${id}`);
      }
    }
  });

  test("a single-node group commits its own proposals at once", () => {
    const nt = group(["new"]);
    nt.send(hup(1));
    nt.send(proposalTo(1, "some data"));
    nt.send(proposalTo(1, "some data"));
    assert.equal(nt.raft(1).raftLog.committed, 3);
  });

  test("a new leader commits the entries of earlier terms when its empty entry commits (§5.4.2)", () => {
    const nt = group(["new", "new", "new", "new", "new"]);
    nt.send(hup(1));
    // Node 1 reaches only node 2: its two proposals cannot commit.
    for (const id of [3, 4, 5]) nt.cut(1, id);
    nt.send(proposalTo(1, "some data"));
    nt.send(proposalTo(1, "some data"));
    assert.equal(nt.raft(1).raftLog.committed, 1);
    nt.recover();
    // Node 2 has them too and wins term 2; its empty entry (index 4) commits them.
    nt.send(hup(2));
    assert.equal(nt.raft(2).state, StateRole.Leader);
    for (const id of ids(5)) {
      assert.equal(nt.raft(id).raftLog.committed, 4, `node ${id}`);
      assert.deepEqual(logOf(nt.raft(id)), ["1/1", "1/2", "1/3", "2/4"], `node ${id}`);
    }
  });

  test("a new leader cannot commit entries of earlier terms until an entry of its own term is on a majority (§5.4.2)", () => {
    const nt = group(["new", "new", "new", "new", "new"]);
    nt.send(hup(1));
    for (const id of [3, 4, 5]) nt.cut(1, id);
    nt.send(proposalTo(1, "some data"));
    nt.send(proposalTo(1, "some data"));
    assert.equal(nt.raft(1).raftLog.committed, 1);
    nt.recover();
    // Appends are lost: node 2's empty entry of term 2 reaches nobody.
    nt.ignore(MessageType.Append);
    nt.send(hup(2));
    const n2 = nt.raft(2);
    assert.equal(n2.state, StateRole.Leader);
    assert.deepEqual(logOf(n2), ["1/1", "1/2", "1/3", "2/4"]);
    assert.equal(n2.raftLog.committed, 1, "entries 2 and 3 of term 1 are not committed by the election alone");
    nt.recover();
    // The heartbeat responses make node 2 send the missing entries: the empty entry commits.
    nt.send(beat(2));
    assert.equal(n2.raftLog.committed, 4);
    nt.send(proposalTo(2, "some data"));
    assert.equal(n2.raftLog.committed, 5);
  });

  test("a heartbeat response from a lagging follower makes the leader send it the entries it misses", () => {
    const nt = group(["new", "new", "new", "new", "new"]);
    nt.send(hup(1));
    nt.isolate(5);
    nt.send(proposalTo(1, "some data"));
    nt.send(proposalTo(1, "some data"));
    const n5 = nt.raft(5);
    assert.equal(n5.raftLog.committed, 1);
    assert.equal(n5.raftLog.lastIndex(), 1);
    nt.recover();
    nt.send(beat(1));
    assert.equal(n5.raftLog.lastIndex(), 3);
    assert.equal(n5.raftLog.committed, 3);
  });

  test("an append from an older term is ignored, and the logs converge on the current leader's (§5.1)", () => {
    const nt = group(["new", "new", "new"]);
    nt.send(hup(1)); // term 1
    nt.send(hup(2)); // term 2
    nt.send(hup(1)); // term 3
    // A delayed append of node 2 from term 2.
    nt.send(msg({ from: 2, to: 1, type: MessageType.Append, term: 2, logTerm: 2, index: 2, entries: [entry(3, 2)] }));
    nt.send(proposalTo(1, "somedata"));
    for (const id of [1, 2, 3]) {
      const r = nt.raft(id);
      assert.deepEqual(logOf(r), ["1/1", "2/2", "3/3", "3/4"], `node ${id}`);
      assert.equal(r.raftLog.committed, 4, `node ${id}`);
      assert.deepEqual(committedData(r), ["somedata"], `node ${id}`);
    }
  });

  test("a proposal commits only when a quorum is alive; without a leader it is refused with ProposalDropped (§5.3)", () => {
    const cases: { layout: ("new" | "down")[]; success: boolean }[] = [
      { layout: ["new", "new", "new"], success: true },
      { layout: ["new", "new", "down"], success: true },
      { layout: ["new", "down", "down"], success: false },
      { layout: ["new", "down", "down", "new"], success: false },
      { layout: ["new", "down", "down", "new", "new"], success: true },
    ];
    for (const c of cases) {
      const what = c.layout.join(",");
      const nt = group(c.layout);
      nt.send(hup(1));
      const n1 = nt.raft(1);
      const res = n1.step(proposalTo(1, "somedata"));
      if (c.success) {
        assert.equal(res.ok, true, what);
      } else {
        assert.equal(res.ok ? "accepted" : res.error.code, "ProposalDropped", what);
      }
      nt.send(...readMessages(n1));
      const want = c.success ? { log: ["1/1", "1/2"], committed: 2 } : { log: [], committed: 0 };
      for (const [id, p] of nt.peers) {
        if (p === "blackhole") continue;
        assert.deepEqual({ log: logOf(p), committed: p.raftLog.committed }, want, `${what}: node ${id}`);
      }
      assert.equal(n1.term, 1, what);
    }
  });
});

describe("a follower handling appends", () => {
  test("it rejects on a previous-entry mismatch, truncates conflicts, and commits min(leader commit, last new index) (§5.3)", () => {
    // The follower's log is 1/1, 2/2, nothing committed.
    const cases: { m: Partial<Message>; lastIndex: number; committed: number; reject: boolean; why: string }[] = [
      { m: { term: 2, logTerm: 3, index: 2, commit: 3 }, lastIndex: 2, committed: 0, reject: true, why: "previous entry has another term" },
      { m: { term: 2, logTerm: 3, index: 3, commit: 3 }, lastIndex: 2, committed: 0, reject: true, why: "previous entry missing" },
      { m: { term: 2, logTerm: 0, index: 3, commit: 3, entries: [entry(4, 2)] }, lastIndex: 2, committed: 0, reject: true, why: "previous entry missing (term 0)" },
      { m: { term: 2, logTerm: 1, index: 1, commit: 1 }, lastIndex: 2, committed: 1, reject: false, why: "match, commit 1" },
      { m: { term: 2, logTerm: 0, index: 0, commit: 1, entries: [entry(1, 2)] }, lastIndex: 1, committed: 1, reject: false, why: "conflict at 1 truncates 2" },
      { m: { term: 2, logTerm: 2, index: 2, commit: 3, entries: [entry(3, 2), entry(4, 2)] }, lastIndex: 4, committed: 3, reject: false, why: "append 3, 4; commit 3" },
      { m: { term: 2, logTerm: 2, index: 2, commit: 4, entries: [entry(3, 2)] }, lastIndex: 3, committed: 3, reject: false, why: "commit capped at the last new entry" },
      { m: { term: 2, logTerm: 1, index: 1, commit: 4, entries: [entry(2, 2)] }, lastIndex: 2, committed: 2, reject: false, why: "entry 2 already there" },
      { m: { term: 1, logTerm: 1, index: 1, commit: 3 }, lastIndex: 2, committed: 1, reject: false, why: "verified up to 1 only" },
      { m: { term: 1, logTerm: 1, index: 1, commit: 3, entries: [entry(2, 2)] }, lastIndex: 2, committed: 2, reject: false, why: "verified up to 2" },
      { m: { term: 2, logTerm: 2, index: 2, commit: 3 }, lastIndex: 2, committed: 2, reject: false, why: "commit capped at 2" },
      { m: { term: 2, logTerm: 2, index: 2, commit: 4 }, lastIndex: 2, committed: 2, reject: false, why: "commit capped at the log's end" },
    ];
    for (const c of cases) {
      const r = newTestRaftWithLog(1, [1], [1, 2]);
      r.becomeFollower(2, 0);
      r.handleAppendEntries(msg({ ...c.m, from: 2, to: 1, type: MessageType.Append }));
      assert.equal(r.raftLog.lastIndex(), c.lastIndex, c.why);
      assert.equal(r.raftLog.committed, c.committed, c.why);
      const out = readMessages(r);
      assert.equal(out.length, 1, c.why);
      assert.equal(out[0]!.reject, c.reject, c.why);
    }
  });

  test("a follower's commit is min(leader commit, index of the last new entry), never its own uncommitted tail", () => {
    // The follower holds 1/1..1/4 from some leader of term 1, none of it known committed.
    const r = newTestRaftWithLog(1, [1, 2, 3], [1, 1, 1, 1]);
    r.becomeFollower(1, 2);
    // The leader has committed 4 but has only verified our log up to 1.
    r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 1, logTerm: 1, index: 1, commit: 4 }));
    assert.equal(r.raftLog.committed, 1);
    r.step(msg({ from: 2, to: 1, type: MessageType.Append, term: 1, logTerm: 1, index: 2, commit: 4, entries: [entry(3, 1)] }));
    assert.equal(r.raftLog.committed, 3);
    assert.deepEqual(logOf(r), ["1/1", "1/2", "1/3", "1/4"]);
  });

  test("a heartbeat never advances a follower's commit beyond what the leader knows it stores", () => {
    for (const { fail, success } of [
      { fail: 1, success: 1 },
      { fail: 5, success: 3 },
      { fail: 5, success: 10 },
    ]) {
      const what = `${fail} lost, ${success} committed`;
      const nt = group(["new", "new", "new"]);
      const [n1, n2, n3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
      nt.send(hup(1));
      nt.isolate(1);
      // Proposals to the old leader stay in its log, uncommitted.
      for (let i = 0; i < fail; i++) nt.send(proposalTo(1, ""));
      assert.equal(n1.raftLog.committed, 1, what);
      assert.equal(n1.raftLog.lastIndex(), 1 + fail, what);
      nt.send(hup(2));
      for (let i = 0; i < success; i++) nt.send(proposalTo(2, ""));
      assert.equal(n2.raftLog.committed, 2 + success, what);
      assert.equal(n3.raftLog.committed, 2 + success, what);
      // Heal, but lose every append: only heartbeats get through.
      nt.recover();
      nt.ignore(MessageType.Append);
      nt.send(beat(1)); // the old leader's heartbeat is stale and ignored
      nt.send(beat(2)); // the new leader knows nothing of node 1's log: it sends commit 0
      assert.equal(n1.state, StateRole.Follower, what);
      assert.equal(n1.term, 2, what);
      assert.equal(n1.raftLog.committed, 1, what);
    }
  });
});

describe("the leader's view of a follower", () => {
  test("after sending entries, next = last sent + 1 in Replicate state; in Probe state next does not move", () => {
    for (const c of [
      { state: ProgressState.Replicate, next: 2, wantNext: 3 + 1 + 1 + 1 },
      { state: ProgressState.Probe, next: 2, wantNext: 2 },
    ]) {
      // Log 1/1..1/3; the leader of term 2 adds its empty entry (4) and a proposal (5).
      const r = newTestRaftWithLog(1, [1, 2], [1, 1, 1], { term: 1 });
      r.becomeCandidate();
      r.becomeLeader();
      const pr = r.prs.progress.get(2)!;
      pr.state = c.state;
      pr.next = c.next;
      r.step(proposalTo(1, "somedata"));
      assert.equal(pr.next, c.wantNext, `state ${c.state}`);
    }
  });

  test("once a follower has caught up, next = last index + 1 (§5.3)", () => {
    const n1 = newTestRaftWithLog(1, [1, 2], [1, 1, 1]);
    const nt = new Network([n1, undefined]);
    nt.send(hup(1));
    nt.send(proposalTo(1, "somedata"));
    // 3 old entries + the empty entry of term 2 + the proposal.
    assert.equal(n1.prs.progress.get(2)!.next, 3 + 1 + 1 + 1);
    assert.equal(n1.prs.progress.get(2)!.match, 5);
  });

  const backtracking: { what: string; leader: number[]; follower: number[]; reject: string; probe: string }[] = [
    {
      what: "the follower has a long run of an old term the leader never had",
      leader: [1, 1, 1, 5, 5, 5, 5, 5],
      follower: [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2],
      reject: "2->1 MsgAppResp term=8 index=8 reject hint=2/8",
      probe: "log=1/3",
    },
    {
      what: "the leader has a long run of a term the follower never saw",
      leader: [1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
      follower: [1, 1, 1, 2, 2, 2, 2, 2],
      reject: "2->1 MsgAppResp term=8 index=13 reject hint=2/8",
      probe: "log=1/3",
    },
    {
      what: "the follower's log is a short prefix of the leader's",
      leader: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      follower: [1, 1],
      reject: "2->1 MsgAppResp term=8 index=10 reject hint=1/2",
      probe: "log=1/2",
    },
  ];
  for (const c of backtracking) {
    test(`a rejected append's hint lets the leader skip a whole conflicting term in one probe: ${c.what}`, () => {
      const lead = newTestRaftWithLog(1, [1, 2], c.leader, { term: 7 });
      const follower = newTestRaftWithLog(2, [1, 2], c.follower, { term: 7 });
      const nt = new Network([lead, follower]);
      const trace: Message[] = [];
      nt.msgHook = (m) => {
        if (m.type === MessageType.Append || m.type === MessageType.AppendResponse) trace.push(m);
        return true;
      };
      nt.send(hup(1));
      assert.equal(lead.state, StateRole.Leader);
      assert.equal(lead.term, 8);
      // Stepping back one index per rejection would take many round trips; the hint takes one.
      const accepted = trace.findIndex((m) => m.type === MessageType.AppendResponse && !m.reject);
      const upToAccept = trace.slice(0, accepted + 1);
      const probes = upToAccept.filter((m) => m.type === MessageType.Append);
      const rejects = upToAccept.filter((m) => m.reject);
      assert.equal(probes.length, 2, upToAccept.map(describeMessage).join("\n"));
      assert.deepEqual(rejects.map(describeMessage), [c.reject]);
      assert.match(describeMessage(probes[1]!), new RegExp(`^1->2 MsgApp term=8 ${c.probe} `));
      assert.deepEqual(logOf(follower), logOf(lead));
      assert.equal(follower.raftLog.committed, lead.raftLog.lastIndex());
    });
  }
});

describe("flow control", () => {
  /** A leader of [1, 2] with a window of 3 whose follower has acked the empty entry (Replicate). */
  function leaderWithWindow3(): Raft {
    const r = newLeader([1, 2], { maxInflightMsgs: 3 });
    commitEmptyEntry(r);
    assert.equal(r.prs.progress.get(2)!.state, ProgressState.Replicate);
    return r;
  }

  test("a full inflight window stops replication, and acknowledging a message frees its slot", () => {
    const r = leaderWithWindow3();
    const pr = r.prs.progress.get(2)!;
    for (const d of ["a", "b", "c"]) {
      r.step(proposalTo(1, d));
      assert.equal(readMessages(r).length, 1, `proposal ${d} is sent at once`);
    }
    assert.equal(pr.inflights.length, 3);
    assert.equal(pr.isPaused(), true);
    for (const d of ["d", "e"]) {
      assert.equal(r.step(proposalTo(1, d)).ok, true);
      assert.deepEqual(readMessages(r), [], `proposal ${d} waits for the window`);
    }
    // The ack of the first message (entry 2) frees one slot: the pending entries go in one message.
    r.step(msg({ from: 2, to: 1, type: MessageType.AppendResponse, term: 1, index: 2 }));
    assert.deepEqual(readMessages(r).map(describeMessage), ['1->2 MsgApp term=1 log=1/4 commit=2 entries=[1/5 "d", 1/6 "e"]']);
    assert.equal(pr.inflights.length, 3);
    assert.equal(pr.isPaused(), true);
    // Acking everything sent frees the whole window.
    r.step(msg({ from: 2, to: 1, type: MessageType.AppendResponse, term: 1, index: 6 }));
    assert.equal(pr.inflights.length, 0);
    assert.equal(pr.isPaused(), false);
  });

  test("a heartbeat response frees exactly one slot of a full window, and the leader uses it for what is pending", () => {
    const r = leaderWithWindow3();
    const pr = r.prs.progress.get(2)!;
    for (const d of ["a", "b", "c"]) r.step(proposalTo(1, d));
    readMessages(r);
    r.step(proposalTo(1, "d"));
    r.step(proposalTo(1, "e"));
    assert.deepEqual(readMessages(r), []);
    r.step(msg({ from: 2, to: 1, type: MessageType.HeartbeatResponse, term: 1 }));
    assert.deepEqual(readMessages(r).map(describeMessage), ['1->2 MsgApp term=1 log=1/4 commit=1 entries=[1/5 "d", 1/6 "e"]']);
    assert.equal(pr.inflights.length, 3, "the window is full again");
    // Without another heartbeat response (or an ack), nothing more is sent.
    for (let i = 0; i < 5; i++) {
      r.step(proposalTo(1, `f${i}`));
      assert.deepEqual(readMessages(r), []);
    }
    r.step(msg({ from: 2, to: 1, type: MessageType.HeartbeatResponse, term: 1 }));
    const out = readMessages(r);
    assert.equal(out.length, 1);
    assert.deepEqual(
      out[0]!.entries.map((e) => e.index),
      [7, 8, 9, 10, 11],
    );
    assert.equal(pr.inflights.length, 3);
  });

  test("appends respect maxSizePerMsg, and always carry at least one entry", () => {
    const maxSizePerMsg = 300;
    const nt = group(["new", "new"], { maxSizePerMsg });
    const appends: Message[] = [];
    nt.msgHook = (m) => {
      if (m.type === MessageType.Append && m.entries.length > 0) appends.push(m);
      return true;
    };
    nt.send(hup(1));
    appends.length = 0;
    // Seven 100-byte entries: two fit in 300 bytes (each counts its payload plus a fixed header).
    const hundred = "x".repeat(100);
    assert.equal(entrySize(entry(0, 0, hundred)) * 2 <= maxSizePerMsg, true);
    assert.equal(entrySize(entry(0, 0, hundred)) * 3 > maxSizePerMsg, true);
    nt.send(proposalTo(1, ...Array.from({ length: 7 }, () => hundred)));
    assert.deepEqual(
      appends.map((m) => m.entries.length),
      [2, 2, 2, 1],
    );
    for (const m of appends) {
      assert.ok(m.entries.reduce((s, e) => s + entrySize(e), 0) <= maxSizePerMsg, describeMessage(m));
    }
    // An entry larger than the limit still travels, alone.
    appends.length = 0;
    nt.send(proposalTo(1, "y".repeat(1000), "z".repeat(1000)));
    assert.deepEqual(
      appends.map((m) => m.entries.map((e) => e.data.length)),
      [[1000], [1000]],
    );
    assert.deepEqual(logOf(nt.raft(2)), logOf(nt.raft(1)));
    assert.equal(nt.raft(2).raftLog.committed, 10);
  });

  test("proposals beyond maxUncommittedEntriesSize are dropped; a proposal under the limit may cross it; empty entries are never dropped", () => {
    const maxEntries = 16;
    const data = "testdata";
    const limit = maxEntries * data.length;
    const r = newLeader([1, 2, 3], { maxUncommittedEntriesSize: limit, maxInflightMsgs: 4 * maxEntries });
    assert.equal(r.uncommittedSize, 0, "the leader's empty entry does not count");
    r.prs.progress.get(2)!.becomeReplicate();
    r.prs.progress.get(3)!.becomeReplicate();
    for (let i = 0; i < maxEntries; i++) assert.equal(r.step(proposalTo(1, data)).ok, true, `proposal ${i}`);
    assert.equal(r.uncommittedSize, limit);
    const over = r.step(proposalTo(1, data));
    assert.equal(over.ok ? "accepted" : over.error.code, "ProposalDropped");
    assert.equal(readMessages(r).length, maxEntries * 2, "one append per accepted proposal per follower");
    // As if they committed (the Ready hands them out to apply).
    r.reduceUncommittedSize(Array.from({ length: maxEntries }, () => entry(0, 0, data)));
    assert.equal(r.uncommittedSize, 0);
    // Twice the limit in one proposal: accepted, since nothing was uncommitted before it.
    const large = Array.from({ length: 2 * maxEntries }, () => data);
    assert.equal(r.step(proposalTo(1, ...large)).ok, true);
    const again = r.step(proposalTo(1, data));
    assert.equal(again.ok ? "accepted" : again.error.code, "ProposalDropped");
    assert.equal(r.step(proposalTo(1, "")).ok, true, "an empty entry is accepted over the limit");
    assert.equal(readMessages(r).length, 2 * 2);
    r.reduceUncommittedSize(large.map((d) => entry(0, 0, d)));
    assert.equal(r.uncommittedSize, 0);
  });

  test("a leader over its uncommitted limit still appends its empty entry when re-elected", () => {
    const r = newLeader([1, 2, 3], { maxUncommittedEntriesSize: 1 });
    assert.equal(r.step(proposalTo(1, "ab")).ok, true);
    assert.equal(r.step(proposalTo(1, "c")).ok, false);
    r.becomeFollower(2, 0);
    r.becomeCandidate();
    r.becomeLeader();
    assert.deepEqual(logOf(r), ["1/1", "1/2", "3/3"]);
    assert.deepEqual(r.raftLog.allEntries()[2]!.data, bytes(""));
  });

  test("committed entries handed out by a Ready free the uncommitted budget for new proposals", () => {
    const storage = MemoryStorage.withPeers([1]);
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, maxUncommittedEntriesSize: 16, random: seededRandom(1) });
    const drain = (): string[] => {
      const applied: string[] = [];
      while (rn.hasReady()) {
        const rd = rn.ready();
        storage.append(rd.entries);
        if (rd.hardState) storage.setHardState(rd.hardState);
        for (const e of rd.committedEntries) applied.push(new TextDecoder().decode(e.data));
        rn.advance(rd);
      }
      return applied;
    };
    assert.equal(rn.campaign().ok, true);
    drain();
    assert.equal(rn.raft.state, StateRole.Leader);
    assert.equal(rn.propose(bytes("12345678")).ok, true);
    assert.equal(rn.propose(bytes("abcdefgh")).ok, true);
    const dropped = rn.propose(bytes("x"));
    assert.equal(dropped.ok ? "accepted" : dropped.error.code, "ProposalDropped");
    assert.deepEqual(drain(), ["12345678", "abcdefgh"]);
    assert.equal(rn.propose(bytes("x")).ok, true);
  });
});

describe("Figure 8: committing entries from previous terms (§5.4.2)", () => {
  /**
   * Figure 8 (c): S1 was leader of term 2 and stored entry 2/2 on S2; S5 was leader of term 3
   * and stored 3/2 only on itself; S3, S4 voted for S5. S1 now wins term 4 (S5 is down) and
   * replicates. `lose4` loses every append that would store S1's term-4 entry anywhere else (S1
   * crashes before it spreads). One entry per message, so entries travel one at a time.
   */
  function figure8(lose4: boolean): Network {
    const peers = ids(5);
    const opts: TestRaftOptions = { maxSizePerMsg: 1 };
    const nt = new Network(
      [
        newTestRaftWithLog(1, peers, [1, 2], { term: 3, commit: 1 }, opts),
        newTestRaftWithLog(2, peers, [1, 2], { term: 3, commit: 1 }, opts),
        newTestRaftWithLog(3, peers, [1], { term: 3, vote: 5, commit: 1 }, opts),
        newTestRaftWithLog(4, peers, [1], { term: 3, vote: 5, commit: 1 }, opts),
        newTestRaftWithLog(5, peers, [1, 3], { term: 3, vote: 5, commit: 1 }, opts),
      ],
      opts,
    );
    nt.cut(1, 5);
    if (lose4) {
      nt.msgHook = (m) =>
        !(m.type === MessageType.Append && m.entries.some((e) => e.index === 3) && nt.raft(m.to).raftLog.matchTerm(m.index, m.logTerm));
    }
    nt.send(hup(1));
    const s1 = nt.raft(1);
    assert.equal(describeRole(s1.state), "Leader");
    assert.equal(s1.term, 4);
    return nt;
  }

  test("an entry of an older term stored on a majority is not committed by counting, and a later leader may overwrite it (§5.4.2)", () => {
    const nt = figure8(true);
    const s1 = nt.raft(1);
    for (const id of [1, 2, 3, 4]) assert.deepEqual(logOf(nt.raft(id)).slice(0, 2), ["1/1", "2/2"], `S${id}`);
    assert.equal(s1.prs.committed(), 2, "S1 knows 2/2 is on a majority (S1, S3, S4)");
    assert.equal(s1.raftLog.committed, 1, "but it is not from term 4, so it is not committed");
    // S1 crashes; S5 (last entry 3/2) can win: first its term 4 is taken, then term 5 wins.
    nt.msgHook = undefined;
    nt.recover();
    nt.isolate(1);
    nt.send(hup(5));
    nt.send(hup(5));
    const s5 = nt.raft(5);
    assert.equal(describeRole(s5.state), "Leader");
    assert.equal(s5.term, 5);
    // The term-2 entry that was on a majority is gone: committing it would have lost it.
    for (const id of [2, 3, 4, 5]) {
      assert.deepEqual(logOf(nt.raft(id)), ["1/1", "3/2", "5/3"], `S${id}`);
      assert.equal(nt.raft(id).raftLog.committed, 3, `S${id}`);
    }
  });

  test("once an entry of the leader's term is on a majority, it and the older entries before it are committed and survive (§5.4.2)", () => {
    const nt = figure8(false);
    const s1 = nt.raft(1);
    assert.equal(s1.raftLog.committed, 3);
    for (const id of [1, 2, 3, 4]) {
      assert.deepEqual(logOf(nt.raft(id)), ["1/1", "2/2", "4/3"], `S${id}`);
      assert.equal(nt.raft(id).raftLog.committed, 3, `S${id}`);
    }
    // S1 crashes; S5 cannot win any more: every other node has a more up-to-date log.
    nt.recover();
    nt.isolate(1);
    nt.send(hup(5));
    nt.send(hup(5));
    assert.notEqual(describeRole(nt.raft(5).state), "Leader");
    for (const id of [2, 3, 4]) assert.deepEqual(logOf(nt.raft(id)), ["1/1", "2/2", "4/3"], `S${id}`);
  });
});
