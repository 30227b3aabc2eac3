/**
 * ReadIndex (raft thesis §6.4, as etcd's raft implements it): a linearizable read is served at
 * the leader's commit index once the leader has confirmed it is still leader. Safe confirms with
 * a quorum round of heartbeats carrying the request's context; LeaseBased trusts check-quorum's
 * lease and answers at once.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  MemoryStorage,
  MessageType,
  NONE,
  RaftError,
  RawNode,
  ReadOnlyOption,
  StateRole,
  seededRandom,
  type Message,
  type Raft,
} from "../src/index.js";
import { Network, bytes, entry, msg, newTestRaft, persistUnstable, readMessages, storageWithTerms, type TestRaftOptions } from "./harness.js";

const decoder = new TextDecoder();

function hup(nt: Network, id: number): void {
  nt.send(msg({ type: MessageType.Hup, from: id, to: id }));
}

function propose(nt: Network, id: number, data: string): void {
  nt.send(msg({ type: MessageType.Propose, from: id, to: id, entries: [entry(0, 0, data)] }));
}

/** A read-index request as RawNode.readIndex makes it (local: from = NONE). */
function readIndexReq(ctx: string, to = 0): Message {
  return msg({ type: MessageType.ReadIndex, from: NONE, to, context: bytes(ctx) });
}

function readStatesOf(r: Raft): { index: number; ctx: string }[] {
  return r.readStates.map((rs) => ({ index: rs.index, ctx: decoder.decode(rs.requestCtx) }));
}

function ack(from: number, term: number, ctx: string): Message {
  return msg({ type: MessageType.HeartbeatResponse, from, to: 1, term, context: bytes(ctx) });
}

/**
 * Node 1 as leader at term 1 of `peers`, with its empty entry committed by acks from the next
 * `quorum - 1` peers; no messages left over.
 */
function leaderWithCommittedEntry(peers: number[], opts: TestRaftOptions = {}): Raft {
  const r = newTestRaft(1, peers, opts);
  r.becomeCandidate();
  r.becomeLeader();
  const acks = Math.floor(peers.length / 2);
  for (const id of peers.slice(1, 1 + acks)) {
    r.step(msg({ type: MessageType.AppendResponse, from: id, to: 1, term: r.term, index: r.raftLog.lastIndex() }));
  }
  assert.equal(r.raftLog.committed, 1);
  readMessages(r);
  return r;
}

describe("ReadIndex (Safe) on the leader", () => {
  test("a request sends one heartbeat round carrying its context; the read state appears only when a quorum acks", () => {
    const r = leaderWithCommittedEntry([1, 2, 3, 4, 5]);
    r.step(readIndexReq("req-1"));
    const hbs = readMessages(r);
    assert.deepEqual(
      hbs.map((m) => [m.type, m.to, decoder.decode(m.context)]),
      [2, 3, 4, 5].map((to) => [MessageType.Heartbeat, to, "req-1"]),
    );
    assert.deepEqual(readStatesOf(r), []);

    r.step(ack(2, 1, "req-1"));
    assert.deepEqual(readStatesOf(r), [], "leader + one follower is not a quorum of five");
    r.step(ack(2, 1, "req-1"));
    assert.deepEqual(readStatesOf(r), [], "a repeated ack from the same follower does not count twice");
    r.step(ack(3, 1, "req-1"));
    assert.deepEqual(readStatesOf(r), [{ index: 1, ctx: "req-1" }]);

    r.readStates = [];
    r.step(ack(4, 1, "req-1"));
    assert.deepEqual(readStatesOf(r), [], "a request is answered once");
  });

  test("the read index is the commit index when the request arrived, even if commit advances before the acks", () => {
    const r = leaderWithCommittedEntry([1, 2, 3]);
    r.step(readIndexReq("early"));
    r.step(msg({ type: MessageType.Propose, from: 1, to: 1, entries: [entry(0, 0, "w")] }));
    r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2 }));
    assert.equal(r.raftLog.committed, 2);
    r.step(ack(2, 1, "early"));
    assert.deepEqual(readStatesOf(r), [{ index: 1, ctx: "early" }]);
  });

  test("one quorum ack of a later request also confirms every earlier pending request, in order", () => {
    const r = leaderWithCommittedEntry([1, 2, 3]);
    r.step(readIndexReq("a"));
    r.step(msg({ type: MessageType.Propose, from: 1, to: 1, entries: [entry(0, 0, "w")] }));
    r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2 }));
    r.step(readIndexReq("b"));
    r.step(readIndexReq("c"));
    readMessages(r);

    r.step(ack(3, 1, "b"));
    assert.deepEqual(readStatesOf(r), [
      { index: 1, ctx: "a" },
      { index: 2, ctx: "b" },
    ]);
    r.readStates = [];
    // "a" is gone: its late ack releases nothing; "c" is still pending.
    r.step(ack(2, 1, "a"));
    assert.deepEqual(readStatesOf(r), []);
    r.step(ack(2, 1, "c"));
    assert.deepEqual(readStatesOf(r), [{ index: 2, ctx: "c" }]);
  });

  test("a heartbeat response without a context, or with an unknown one, confirms nothing", () => {
    const r = leaderWithCommittedEntry([1, 2, 3]);
    r.step(readIndexReq("x"));
    r.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: 1 }));
    r.step(ack(3, 1, "not-a-request"));
    assert.deepEqual(readStatesOf(r), []);
  });

  test("the leader's regular heartbeats carry the newest pending context, so a lost round is retried", () => {
    const r = leaderWithCommittedEntry([1, 2, 3]);
    r.step(readIndexReq("lost"));
    readMessages(r); // the heartbeat round is lost
    r.tick(); // heartbeatTick is 1
    const hbs = readMessages(r).filter((m) => m.type === MessageType.Heartbeat);
    assert.deepEqual(hbs.map((m) => [m.to, decoder.decode(m.context)]), [[2, "lost"], [3, "lost"]]);
    r.step(ack(2, 1, "lost"));
    assert.deepEqual(readStatesOf(r), [{ index: 1, ctx: "lost" }]);
  });

  test("a leader that has not committed an entry of its term holds requests, then answers at the new commit index", () => {
    // Node 1 restarts at term 1 with two entries of which only the first is known committed;
    // the second may have been committed by the old leader, so commit 1 is not a safe read index.
    const st = storageWithTerms([1, 2, 3], [1, 1]);
    st.setHardState({ term: 1, vote: NONE, commit: 1 });
    const r = newTestRaft(1, [1, 2, 3], {}, st);
    r.becomeCandidate();
    r.becomeLeader(); // term 2, empty entry at 3
    readMessages(r);

    r.step(readIndexReq("held"));
    assert.deepEqual(readMessages(r), [], "no heartbeat round yet");
    assert.deepEqual(readStatesOf(r), []);

    r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 2, index: 3 }));
    assert.equal(r.raftLog.committed, 3);
    const hbs = readMessages(r).filter((m) => m.type === MessageType.Heartbeat);
    assert.deepEqual(hbs.map((m) => [m.to, decoder.decode(m.context)]), [[2, "held"], [3, "held"]]);
    r.step(ack(3, 2, "held"));
    assert.deepEqual(readStatesOf(r), [{ index: 3, ctx: "held" }]);
  });

  test("a single-voter leader answers at once with its commit index, through the Ready", () => {
    const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: MemoryStorage.withPeers([1]), random: seededRandom(1) });
    rn.campaign();
    assert.equal(rn.raft.state, StateRole.Leader);
    const first = rn.ready();
    (rn.raft.raftLog.storage as MemoryStorage).append(first.entries);
    rn.advance(first);
    assert.equal(rn.hasReady(), false);
    rn.readIndex(bytes("solo"));
    assert.equal(rn.hasReady(), true);
    const rd = rn.ready();
    assert.deepEqual(rd.readStates.map((rs) => [rs.index, decoder.decode(rs.requestCtx)]), [[1, "solo"]]);
    assert.deepEqual(rd.messages, []);
  });

  test("a single voter answers a learner's forwarded request at once with a ReadIndexResp", () => {
    const r = newTestRaft(1, [1], {}, MemoryStorage.withPeers([1], [2]));
    r.step(msg({ type: MessageType.Hup, from: 1 }));
    assert.equal(r.state, StateRole.Leader);
    readMessages(r);
    r.step(msg({ type: MessageType.ReadIndex, from: 2, to: 1, context: bytes("learner") }));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.to, m.index, decoder.decode(m.context)]),
      [[MessageType.ReadIndexResp, 2, 1, "learner"]],
    );
  });
});

describe("ReadIndex on followers", () => {
  test("a follower forwards a request to the leader, which answers with a ReadIndexResp after its quorum round", () => {
    const nt = new Network([undefined, undefined, undefined]);
    hup(nt, 1);
    propose(nt, 1, "w");
    const seen: [MessageType, number, number, number, string][] = [];
    nt.msgHook = (m) => {
      if (m.type === MessageType.ReadIndex || m.type === MessageType.ReadIndexResp) {
        seen.push([m.type, m.from, m.to, m.index, decoder.decode(m.context)]);
      }
      return true;
    };
    nt.send(readIndexReq("from-2", 2));
    assert.deepEqual(seen, [
      [MessageType.ReadIndex, 2, 1, 0, "from-2"],
      [MessageType.ReadIndexResp, 1, 2, 2, "from-2"],
    ]);
    assert.deepEqual(readStatesOf(nt.raft(2)), [{ index: 2, ctx: "from-2" }]);
    assert.deepEqual(readStatesOf(nt.raft(1)), [], "the leader keeps no read state for a forwarded request");
  });

  test("a follower that knows no leader drops the request", () => {
    const r = newTestRaft(2, [1, 2, 3]);
    r.step(readIndexReq("nobody", 2));
    assert.deepEqual(readMessages(r), []);
    assert.deepEqual(r.readStates, []);
  });

  test("a candidate drops the request", () => {
    const r = newTestRaft(2, [1, 2, 3]);
    r.becomeCandidate();
    readMessages(r);
    r.step(readIndexReq("campaigning", 2));
    assert.deepEqual(readMessages(r), []);
    assert.deepEqual(r.readStates, []);
  });
});

describe("ReadIndex and partitions", () => {
  test("a deposed leader that cannot reach a quorum never produces a read state for a request made after the partition", () => {
    const nt = new Network([undefined, undefined, undefined, undefined, undefined]);
    hup(nt, 1);
    // {1, 2} | {3, 4, 5}
    for (const a of [1, 2]) for (const b of [3, 4, 5]) nt.cut(a, b);
    hup(nt, 3);
    assert.equal(nt.raft(3).state, StateRole.Leader);
    assert.equal(nt.raft(3).term, 2);
    propose(nt, 3, "new value");
    assert.equal(nt.raft(3).raftLog.committed, 3);

    const old = nt.raft(1);
    assert.equal(old.state, StateRole.Leader, "the old leader does not know it was deposed");
    nt.send(readIndexReq("stale?", 1));
    assert.deepEqual(readStatesOf(old), [], "only node 2 acked: no quorum");
    for (let i = 0; i < 5; i++) nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.deepEqual(readStatesOf(old), []);

    // Healed: the old leader's heartbeats are stale for 3, 4 and 5, so still no quorum...
    nt.recover();
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.deepEqual(readStatesOf(old), []);
    // ...and the new leader's heartbeat makes it a follower, dropping the pending read.
    nt.send(msg({ type: MessageType.Beat, from: 3, to: 3 }));
    assert.equal(old.state, StateRole.Follower);
    assert.equal(old.lead, 3);
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.deepEqual(readStatesOf(old), []);

    // A read made now goes through the new leader and covers the new write.
    nt.send(readIndexReq("fresh", 1));
    assert.deepEqual(readStatesOf(old), [{ index: 3, ctx: "fresh" }]);
  });

  test("with check-quorum, a leader cut off from a quorum steps down by the end of the next full election timeout and never answers its pending read", () => {
    const nt = new Network([undefined, undefined, undefined, undefined, undefined], { checkQuorum: true });
    hup(nt, 1);
    for (const a of [1, 2]) for (const b of [3, 4, 5]) nt.cut(a, b);
    const old = nt.raft(1);
    nt.send(readIndexReq("pending", 1));
    const tickOld = (n: number) => {
      for (let i = 0; i < n; i++) {
        old.tick();
        persistUnstable(old);
        nt.send(...nt.filter(readMessages(old)));
      }
    };
    // Nodes 3-5 answered during the first election timeout (before the cut), so the first
    // check passes; the second one, a whole timeout without them, deposes the leader.
    tickOld(10);
    assert.equal(old.state, StateRole.Leader);
    assert.deepEqual(readStatesOf(old), []);
    tickOld(10);
    assert.equal(old.state, StateRole.Follower);
    assert.deepEqual(readStatesOf(old), []);
    assert.equal(old.readOnly.pendingCount, 0);
  });
});

describe("ReadIndex (LeaseBased)", () => {
  const LEASE: TestRaftOptions = { checkQuorum: true, readOnlyOption: ReadOnlyOption.LeaseBased };

  test("a LeaseBased leader answers a local request at once, without a heartbeat round", () => {
    const r = leaderWithCommittedEntry([1, 2, 3], LEASE);
    r.step(readIndexReq("lease"));
    assert.deepEqual(readStatesOf(r), [{ index: 1, ctx: "lease" }]);
    assert.deepEqual(readMessages(r), []);
  });

  test("a LeaseBased leader answers a forwarded request at once with a ReadIndexResp", () => {
    const r = leaderWithCommittedEntry([1, 2, 3], LEASE);
    r.step(msg({ type: MessageType.ReadIndex, from: 3, to: 1, context: bytes("fwd") }));
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.to, m.index, decoder.decode(m.context)]),
      [[MessageType.ReadIndexResp, 3, 1, "fwd"]],
    );
  });

  test("a LeaseBased leader also holds requests until an entry of its term commits", () => {
    const r = newTestRaft(1, [1, 2, 3], LEASE);
    r.becomeCandidate();
    r.becomeLeader();
    r.step(readIndexReq("held"));
    assert.deepEqual(readStatesOf(r), []);
    r.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 1 }));
    assert.deepEqual(readStatesOf(r), [{ index: 1, ctx: "held" }]);
  });

  test("LeaseBased reads need check-quorum: the config is refused without it", () => {
    assert.throws(
      () => newTestRaft(1, [1, 2, 3], { checkQuorum: false, readOnlyOption: ReadOnlyOption.LeaseBased }),
      (e: unknown) => e instanceof RaftError && e.code === "InvalidConfig" && /readOnlyOption/.test(e.message) && /checkQuorum/.test(e.message),
    );
  });
});
