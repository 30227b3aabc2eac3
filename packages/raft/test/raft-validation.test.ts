/**
 * Input validation at the raft core's edges: the config (resolveConfig) and messages stepped in
 * from the network (RawNode.step). Bad input comes back as a RaftError with a stable code and a
 * message that names what is wrong; it never reaches, or crashes, the state machine.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  MemoryStorage,
  MessageType,
  RAFT_DEFAULTS,
  Raft,
  RaftError,
  RawNode,
  ReadOnlyOption,
  StateRole,
  resolveConfig,
  seededRandom,
  type Message,
  type RaftConfig,
  type RaftErrorCode,
  type RaftResult,
  type Storage,
} from "../src/index.js";
import { entry, msg, snapshotAt } from "./harness.js";

function validConfig(overrides: Partial<RaftConfig> = {}): RaftConfig {
  return { id: 1, electionTick: 10, heartbeatTick: 1, storage: MemoryStorage.withPeers([1, 2, 3]), random: seededRandom(1), ...overrides };
}

/** Assert that `fn` throws RaftError("InvalidConfig") whose message names `field`. */
function mustRejectConfig(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RaftError, `expected a RaftError, got ${String(e)}`);
    assert.equal(e.code, "InvalidConfig");
    assert.match(e.message, new RegExp(`\\b${field}\\b`), `message should name ${field}: ${e.message}`);
    return true;
  });
}

describe("config validation", () => {
  const positiveIntFields = ["id", "heartbeatTick", "electionTick", "maxSizePerMsg", "maxCommittedSizePerReady", "maxInflightMsgs", "maxEntryBytes"] as const;
  for (const field of positiveIntFields) {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      test(`${field} must be a positive safe integer (${bad} is refused as InvalidConfig naming ${field})`, () => {
        // Keep electionTick > heartbeatTick valid so only `field` is wrong.
        const overrides: Partial<RaftConfig> = { [field]: bad };
        mustRejectConfig(() => resolveConfig(validConfig(overrides)), field);
      });
    }
  }

  test("electionTick must be greater than heartbeatTick (equal or smaller is refused, naming both)", () => {
    for (const [electionTick, heartbeatTick] of [
      [5, 5],
      [3, 5],
    ] as const) {
      mustRejectConfig(() => resolveConfig(validConfig({ electionTick, heartbeatTick })), "electionTick");
      mustRejectConfig(() => resolveConfig(validConfig({ electionTick, heartbeatTick })), "heartbeatTick");
    }
    assert.equal(resolveConfig(validConfig({ electionTick: 2, heartbeatTick: 1 })).electionTick, 2);
  });

  test("storage is required", () => {
    mustRejectConfig(() => resolveConfig(validConfig({ storage: undefined as unknown as Storage })), "storage");
  });

  test("applied must be a non-negative integer", () => {
    for (const applied of [-1, 2.5, Number.NaN]) mustRejectConfig(() => resolveConfig(validConfig({ applied })), "applied");
    assert.equal(resolveConfig(validConfig({ applied: 0 })).applied, 0);
  });

  test("maxUncommittedEntriesSize must be positive", () => {
    for (const v of [0, -5, Number.NaN]) mustRejectConfig(() => resolveConfig(validConfig({ maxUncommittedEntriesSize: v })), "maxUncommittedEntriesSize");
    assert.equal(resolveConfig(validConfig({ maxUncommittedEntriesSize: 1 })).maxUncommittedEntriesSize, 1);
  });

  test("readOnlyOption LeaseBased requires checkQuorum", () => {
    mustRejectConfig(() => resolveConfig(validConfig({ readOnlyOption: ReadOnlyOption.LeaseBased, checkQuorum: false })), "checkQuorum");
    mustRejectConfig(() => resolveConfig(validConfig({ readOnlyOption: ReadOnlyOption.LeaseBased, checkQuorum: false })), "readOnlyOption");
    assert.equal(resolveConfig(validConfig({ readOnlyOption: ReadOnlyOption.LeaseBased })).readOnlyOption, ReadOnlyOption.LeaseBased);
  });

  test("the Raft and RawNode constructors validate their config too", () => {
    mustRejectConfig(() => new Raft(validConfig({ id: 0 })), "id");
    mustRejectConfig(() => new RawNode(validConfig({ heartbeatTick: 10 })), "electionTick");
  });

  test("defaults: pre-vote and check-quorum on, Safe reads, 256 inflight appends, unlimited uncommitted bytes", () => {
    const c = resolveConfig(validConfig());
    assert.equal(c.preVote, true);
    assert.equal(c.checkQuorum, true);
    assert.equal(c.readOnlyOption, ReadOnlyOption.Safe);
    assert.equal(c.maxInflightMsgs, 256);
    assert.equal(c.maxSizePerMsg, RAFT_DEFAULTS.maxSizePerMsg);
    assert.equal(c.maxCommittedSizePerReady, RAFT_DEFAULTS.maxCommittedSizePerReady);
    assert.equal(c.maxEntryBytes, RAFT_DEFAULTS.maxEntryBytes);
    assert.equal(c.maxUncommittedEntriesSize, Number.POSITIVE_INFINITY);
    assert.equal(c.disableProposalForwarding, false);
    assert.equal(c.applied, 0);
  });
});

/** Node 2 of {1, 2, 3}, a follower of leader 1 at term 1. */
function followerNode(): RawNode {
  const rn = new RawNode({ id: 2, electionTick: 10, heartbeatTick: 1, storage: MemoryStorage.withPeers([1, 2, 3]), random: seededRandom(2) });
  const ok = rn.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
  assert.deepEqual(ok, { ok: true });
  rn.raft.msgs = [];
  return rn;
}

function mustFail(res: RaftResult, code: RaftErrorCode, pattern?: RegExp): void {
  assert.equal(res.ok, false, "expected the step to be refused");
  if (res.ok) return;
  assert.ok(res.error instanceof RaftError);
  assert.equal(res.error.code, code, res.error.message);
  if (pattern) assert.match(res.error.message, pattern);
}

/** Step `m` into a fresh follower and assert it is refused with `code` and changes nothing. */
function mustRefuse(m: Message, code: RaftErrorCode, pattern?: RegExp): void {
  const rn = followerNode();
  const before = { term: rn.raft.term, vote: rn.raft.vote, lead: rn.raft.lead, state: rn.raft.state, last: rn.raft.raftLog.lastIndex() };
  mustFail(rn.step(m), code, pattern);
  assert.deepEqual({ term: rn.raft.term, vote: rn.raft.vote, lead: rn.raft.lead, state: rn.raft.state, last: rn.raft.raftLog.lastIndex() }, before);
  assert.deepEqual(rn.raft.msgs, []);
}

describe("RawNode.step validation", () => {
  for (const [name, type] of [
    ["Hup", MessageType.Hup],
    ["Beat", MessageType.Beat],
    ["Unreachable", MessageType.Unreachable],
    ["SnapStatus", MessageType.SnapStatus],
    ["CheckQuorum", MessageType.CheckQuorum],
  ] as const) {
    test(`a local message type (${name}) from the network is refused with StepLocalMessage`, () => {
      mustRefuse(msg({ type, from: 1, to: 2, term: 1 }), "StepLocalMessage");
    });
  }

  test("a Hup from the network does not start an election", () => {
    const rn = followerNode();
    mustFail(rn.step(msg({ type: MessageType.Hup, from: 2, to: 2 })), "StepLocalMessage");
    assert.equal(rn.raft.state, StateRole.Follower);
    assert.equal(rn.raft.term, 1);
  });

  for (const [name, type] of [
    ["AppendResponse", MessageType.AppendResponse],
    ["RequestVoteResponse", MessageType.RequestVoteResponse],
    ["HeartbeatResponse", MessageType.HeartbeatResponse],
    ["RequestPreVoteResponse", MessageType.RequestPreVoteResponse],
  ] as const) {
    test(`a response (${name}) from a node outside the group is refused with StepPeerNotFound`, () => {
      mustRefuse(msg({ type, from: 9, to: 2, term: 1 }), "StepPeerNotFound", /\b9\b/);
    });
  }

  test("a response from a member is accepted", () => {
    const rn = followerNode();
    assert.deepEqual(rn.step(msg({ type: MessageType.HeartbeatResponse, from: 3, to: 2, term: 1 })), { ok: true });
  });

  test("a message addressed to another node is refused as InvalidMessage naming the address", () => {
    mustRefuse(msg({ type: MessageType.Heartbeat, from: 1, to: 3, term: 1 }), "InvalidMessage", /addressed to 3/);
  });

  test("a message without a sender (from 0) is refused as InvalidMessage", () => {
    mustRefuse(msg({ type: MessageType.Heartbeat, from: 0, to: 2, term: 1 }), "InvalidMessage", /\bfrom\b/);
  });

  test("an unknown message type is refused as InvalidMessage", () => {
    for (const type of [99, -1, 2.5]) mustRefuse(msg({ type: type as MessageType, from: 1, to: 2, term: 1 }), "InvalidMessage", /unknown message type/);
  });

  for (const field of ["from", "to", "term", "logTerm", "index", "commit", "rejectHint"] as const) {
    test(`a negative, fractional or unsafe ${field} is refused as InvalidMessage naming ${field}`, () => {
      for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
        const m = msg({ type: MessageType.Append, from: 1, to: 2, term: 1 });
        m[field] = bad;
        mustRefuse(m, "InvalidMessage", new RegExp(`${field} must be a non-negative safe integer`));
      }
    });
  }

  test("a message between nodes with term 0 is refused, except forwarded Propose, ReadIndex and TransferLeader", () => {
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 0 }), "InvalidMessage", /term 0/);
    mustRefuse(msg({ type: MessageType.RequestVote, from: 3, to: 2, term: 0 }), "InvalidMessage", /term 0/);
    const rn = followerNode();
    assert.deepEqual(rn.step(msg({ type: MessageType.ReadIndex, from: 3, to: 2, term: 0 })), { ok: true });
    assert.deepEqual(rn.step(msg({ type: MessageType.TransferLeader, from: 3, to: 2, term: 0 })), { ok: true });
    assert.deepEqual(rn.step(msg({ type: MessageType.Propose, from: 3, to: 2, term: 0, entries: [entry(0, 0, "p")] })), { ok: true });
    // All three were forwarded to the leader.
    assert.deepEqual(rn.raft.msgs.map((m) => [m.type, m.to]), [
      [MessageType.ReadIndex, 1],
      [MessageType.TransferLeader, 1],
      [MessageType.Propose, 1],
    ]);
  });

  test("a Propose or ReadIndex from the network that carries a term is refused (they travel without one) instead of crashing the node", () => {
    mustRefuse(msg({ type: MessageType.Propose, from: 3, to: 2, term: 1, entries: [entry(0, 0, "p")] }), "InvalidMessage", /term/);
    mustRefuse(msg({ type: MessageType.ReadIndex, from: 3, to: 2, term: 1 }), "InvalidMessage", /term/);
    // A higher term must not depose anybody either.
    mustRefuse(msg({ type: MessageType.ReadIndex, from: 3, to: 2, term: 7 }), "InvalidMessage", /term/);
  });

  test("an append whose entries are not contiguous is refused as InvalidMessage", () => {
    mustRefuse(
      msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [entry(1, 1), entry(3, 1)] }),
      "InvalidMessage",
      /not contiguous: 3 after 1/,
    );
  });

  test("an append whose first entry does not follow the message index is refused as InvalidMessage", () => {
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [entry(2, 1)] }), "InvalidMessage", /not contiguous/);
  });

  test("an append whose entry terms decrease, or exceed the message term, is refused as InvalidMessage", () => {
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 3, index: 0, logTerm: 0, entries: [entry(1, 2), entry(2, 1)] }), "InvalidMessage", /below the previous/);
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 3, index: 1, logTerm: 2, entries: [entry(2, 1)] }), "InvalidMessage", /below the previous/);
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [entry(1, 2)] }), "InvalidMessage", /above the message term/);
  });

  test("entries on a message type that carries none are refused as InvalidMessage", () => {
    mustRefuse(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1, entries: [entry(1, 1)] }), "InvalidMessage", /entries/);
  });

  test("an entry of unknown type, or whose data is not bytes, is refused as InvalidMessage", () => {
    const badType = { ...entry(1, 1), type: 7 } as unknown as ReturnType<typeof entry>;
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, entries: [badType] }), "InvalidMessage", /unknown type 7/);
    const badData = { ...entry(1, 1), data: "text" } as unknown as ReturnType<typeof entry>;
    mustRefuse(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, entries: [badData] }), "InvalidMessage", /not bytes/);
  });

  test("a snapshot message without a snapshot (or with an empty one) is refused as InvalidMessage", () => {
    mustRefuse(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 1 }), "InvalidMessage", /without a snapshot/);
    mustRefuse(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 1, snapshot: snapshotAt(0, 0, [1, 2, 3]) }), "InvalidMessage", /without a snapshot/);
  });

  test("a snapshot of a term above the message term is refused as InvalidMessage", () => {
    mustRefuse(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 1, snapshot: snapshotAt(5, 2, [1, 2, 3]) }), "InvalidMessage", /snapshot term 2 above the message term 1/);
  });

  test("a well-formed append is accepted and appended", () => {
    const rn = followerNode();
    const res = rn.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, commit: 2, entries: [entry(1, 1), entry(2, 1, "x")] }));
    assert.deepEqual(res, { ok: true });
    assert.equal(rn.raft.raftLog.lastIndex(), 2);
    assert.equal(rn.raft.raftLog.committed, 2);
  });
});
