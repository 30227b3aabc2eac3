// Operators: the status table, steps judged against heartbeats, and the controller delivering
// steps until the region shows them done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eraftpb, metapb, schedulerpb } from "@regionkv/proto";
import { canTransition, checkProgress, Operator, OperatorController, PRIORITY, resolveSchedulerConfig, summarizeOperator, type OpStatus, type OpStep } from "../src/index.js";
import { NOW, region, withPeers } from "./schedule-helpers.js";

const ALL: OpStatus[] = ["CREATED", "STARTED", "SUCCESS", "CANCELED", "TIMEOUT", "REPLACED", "EXPIRED"];

test("status table: exactly the documented transitions are allowed", () => {
  const allowed = new Set(["CREATED→STARTED", "CREATED→CANCELED", "CREATED→REPLACED", "CREATED→EXPIRED", "STARTED→SUCCESS", "STARTED→CANCELED", "STARTED→TIMEOUT", "STARTED→REPLACED"]);
  for (const from of ALL) for (const to of ALL) assert.equal(canTransition(from, to), allowed.has(`${from}→${to}`), `${from}→${to}`);
  const op = new Operator(1n, { version: 1n, confVer: 1n }, "admin", "t", [{ kind: "removePeer", storeId: 1n }], PRIORITY.admin, NOW);
  assert.throws(() => op.setStatus("SUCCESS", NOW), /illegal status change CREATED → SUCCESS/);
  op.setStatus("STARTED", NOW);
  op.setStatus("SUCCESS", NOW + 1);
  assert.equal(op.finishedAtMs, NOW + 1);
  assert.throws(() => op.setStatus("CANCELED", NOW), /illegal/);
});

function op(steps: OpStep[], r = region(1, [1, 2, 3]), kind: "admin" | "replica" | "balance-region" = "admin", priority: 0 | 1 | 2 | 3 = PRIORITY.admin): Operator {
  return new Operator(r.region.id, { version: r.region.regionEpoch!.version, confVer: r.region.regionEpoch!.confVer }, kind, "test", steps, priority, NOW);
}

const cfg = resolveSchedulerConfig();

test("add learner → promote → transfer leader → remove: each step re-sent until the heartbeat shows it", () => {
  const r0 = region(1, [1, 2, 3], { leader: 1 });
  const c = new OperatorController({ config: cfg });
  const o = op([
    { kind: "addLearner", storeId: 4n, peerId: 77n },
    { kind: "promoteLearner", storeId: 4n, peerId: 77n },
    { kind: "transferLeader", fromStore: 1n, toStore: 4n },
    { kind: "removePeer", storeId: 1n },
  ], r0);
  assert.deepEqual(c.add(o, NOW), { ok: true });
  let resp = c.onHeartbeat(r0, NOW)!;
  assert.equal(o.status, "STARTED");
  assert.deepEqual(resp.changePeer, { peer: { id: 77n, storeId: 4n, role: metapb.PeerRole.Learner }, changeType: eraftpb.ConfChangeType.AddLearnerNode });
  assert.equal(resp.regionId, 1n);
  assert.deepEqual(resp.targetPeer, r0.leader);
  assert.deepEqual(resp.regionEpoch, r0.region.regionEpoch);
  // the same heartbeat again: the same step again
  assert.deepEqual(c.onHeartbeat(r0, NOW + 10)?.changePeer, resp.changePeer);
  // the learner appears, still pending: nothing to send (it is being caught up)
  const learner = { id: 77n, storeId: 4n, role: metapb.PeerRole.Learner };
  const r1 = withPeers(r0, [...r0.region.peers, learner], { confVer: 6n, pending: [77n] });
  assert.equal(c.onHeartbeat(r1, NOW + 20), undefined);
  assert.equal(o.currentStep, 0);
  // caught up: promote
  const r2 = withPeers(r0, [...r0.region.peers, learner], { confVer: 6n });
  resp = c.onHeartbeat(r2, NOW + 30)!;
  assert.equal(o.currentStep, 1);
  assert.deepEqual(resp.changePeer, { peer: { id: 77n, storeId: 4n, role: metapb.PeerRole.Voter }, changeType: eraftpb.ConfChangeType.AddNode });
  // promoted: transfer the leader to it
  const voter = { ...learner, role: metapb.PeerRole.Voter };
  const r3 = withPeers(r0, [...r0.region.peers, voter], { confVer: 7n });
  resp = c.onHeartbeat(r3, NOW + 40)!;
  assert.deepEqual(resp.transferLeader, { peer: voter });
  // leader moved: remove the old one (sent to the new leader)
  const r4 = withPeers(r3, r3.region.peers, { leaderStore: 4 });
  resp = c.onHeartbeat(r4, NOW + 50)!;
  assert.deepEqual(resp.changePeer, { peer: r0.region.peers[0], changeType: eraftpb.ConfChangeType.RemoveNode });
  assert.deepEqual(resp.targetPeer, voter);
  // removed: done
  const r5 = withPeers(r4, r4.region.peers.filter((p) => p.storeId !== 1n), { confVer: 8n });
  assert.equal(c.onHeartbeat(r5, NOW + 60), undefined);
  assert.equal(o.status, "SUCCESS");
  assert.equal(c.has(1n), false);
  assert.equal(c.latest(1n), o);
  assert.deepEqual(c.finishedOperators(), [o]);
  const sum = summarizeOperator(o);
  assert.deepEqual({ ...sum, createdAtMs: 0, finishedAtMs: 0 }, {
    regionId: "1",
    kind: "admin",
    desc: "test",
    status: "SUCCESS",
    step: 4,
    steps: ["add learner 77 on store 4", "promote learner 77 on store 4", "transfer leader 1→4", "remove peer on store 1"],
    createdAtMs: 0,
    finishedAtMs: 0,
    reason: "",
  });
  assert.doesNotThrow(() => JSON.stringify(sum));
});

test("a step done before it was ever sent still counts; a whole operator already done finishes on the first heartbeat", () => {
  const r = region(1, [1, 2, 3]);
  const c = new OperatorController({ config: cfg });
  const o = op([{ kind: "removePeer", storeId: 9n }], r);
  c.add(o, NOW);
  assert.equal(c.onHeartbeat(r, NOW), undefined);
  assert.equal(o.status, "SUCCESS");
});

test("stale: a split under a peer operator, or a conf change it did not make, cancels it", () => {
  const r = region(1, [1, 2, 3]);
  const c = new OperatorController({ config: cfg });
  const o1 = op([{ kind: "addVoter", storeId: 4n, peerId: 50n }], r);
  c.add(o1, NOW);
  const split = { ...r, region: { ...r.region, regionEpoch: { version: 6n, confVer: 5n } } };
  assert.equal(c.onHeartbeat(split, NOW), undefined);
  assert.equal(o1.status, "CANCELED");
  assert.match(o1.reason, /version changed/);

  const o2 = op([{ kind: "transferLeader", fromStore: 1n, toStore: 2n }], r);
  c.add(o2, NOW);
  const confChanged = withPeers(r, r.region.peers, { confVer: 6n });
  c.onHeartbeat(confChanged, NOW);
  assert.equal(o2.status, "CANCELED");
  assert.match(o2.reason, /conf_ver/);

  // one conf change in flight is explained by the current step
  const o3 = op([{ kind: "removePeer", storeId: 3n }], r);
  assert.deepEqual(checkProgress(o3, withPeers(r, r.region.peers.slice(0, 2), { confVer: 6n })), { kind: "done" });
});

test("split: sent with its policy and keys, done when the version grows", () => {
  const r = region(1, [1, 2, 3]);
  const c = new OperatorController({ config: cfg });
  const o = op([{ kind: "split", policy: schedulerpb.CheckPolicy.USEKEY, keys: [Buffer.from("m")] }], r);
  c.add(o, NOW);
  assert.deepEqual(c.onHeartbeat(r, NOW)?.splitRegion, { policy: schedulerpb.CheckPolicy.USEKEY, keys: [Buffer.from("m")] });
  c.onHeartbeat({ ...r, region: { ...r.region, regionEpoch: { version: 6n, confVer: 5n } } }, NOW + 1);
  assert.equal(o.status, "SUCCESS");
});

test("timeouts per step kind, expiry of operators never started", () => {
  const r = region(1, [1, 2, 3]);
  const c = new OperatorController({ config: cfg });
  const leader = op([{ kind: "transferLeader", fromStore: 1n, toStore: 2n }], r);
  c.add(leader, NOW);
  assert.ok(c.onHeartbeat(r, NOW));
  assert.deepEqual(c.checkTimeouts(NOW + cfg.transferLeaderTimeoutMs), []);
  assert.deepEqual(c.checkTimeouts(NOW + cfg.transferLeaderTimeoutMs + 1), [leader]);
  assert.equal(leader.status, "TIMEOUT");

  const add = op([{ kind: "addVoter", storeId: 4n, peerId: 9n }], r);
  c.add(add, NOW);
  c.onHeartbeat(r, NOW);
  assert.deepEqual(c.checkTimeouts(NOW + cfg.transferLeaderTimeoutMs + 1), [], "peer steps get longer (snapshots)");
  // a heartbeat past the timeout also ends it
  assert.equal(c.onHeartbeat(r, NOW + cfg.changePeerTimeoutMs + 1), undefined);
  assert.equal(add.status, "TIMEOUT");

  const never = op([{ kind: "transferLeader", fromStore: 1n, toStore: 2n }], region(2, [1, 2, 3]));
  c.add(never, NOW);
  assert.deepEqual(c.checkTimeouts(NOW + cfg.operatorExpireMs + 1), [never]);
  assert.equal(never.status, "EXPIRED");
});

test("one operator per region: a higher priority replaces, an equal or lower one is refused", () => {
  const r = region(1, [1, 2, 3]);
  const c = new OperatorController({ config: cfg });
  const balance = op([{ kind: "transferLeader", fromStore: 1n, toStore: 2n }], r, "balance-region", PRIORITY.low);
  const balance2 = op([{ kind: "transferLeader", fromStore: 1n, toStore: 3n }], r, "balance-region", PRIORITY.low);
  const replica = op([{ kind: "removePeer", storeId: 3n }], r, "replica", PRIORITY.high);
  assert.deepEqual(c.add(balance, NOW), { ok: true });
  const refused = c.add(balance2, NOW);
  assert.equal(refused.ok, false);
  assert.deepEqual(c.add(replica, NOW), { ok: true });
  assert.equal(balance.status, "REPLACED");
  assert.equal(c.get(1n), replica);
  assert.equal(c.runningCount("replica"), 1);
  assert.equal(c.runningCount("balance-region"), 0);
});

test("influence: remaining steps of running operators, per store", () => {
  const r = region(1, [1, 2, 3], { leader: 1 });
  const c = new OperatorController({ config: cfg });
  c.add(op([{ kind: "addLearner", storeId: 4n, peerId: 9n }, { kind: "promoteLearner", storeId: 4n, peerId: 9n }, { kind: "transferLeader", fromStore: 1n, toStore: 4n }, { kind: "removePeer", storeId: 1n }], r), NOW);
  const inf = c.influence(() => r);
  assert.deepEqual(inf.get(4n), { regionCount: 1, regionSize: Number(r.approximateSize), leaderCount: 1, movingPeers: 1 });
  assert.deepEqual(inf.get(1n), { regionCount: -1, regionSize: -Number(r.approximateSize), leaderCount: -1, movingPeers: 1 });
});

test("history is bounded; latest() falls back to the last finished operator of the region", () => {
  const c = new OperatorController({ config: resolveSchedulerConfig({ operatorHistory: 2 }) });
  for (let i = 1; i <= 3; i++) {
    const r = region(i, [1, 2, 3]);
    const o = op([{ kind: "removePeer", storeId: 9n }], r);
    c.add(o, NOW);
    c.onHeartbeat(r, NOW);
  }
  assert.deepEqual(c.finishedOperators().map((o) => o.regionId), [2n, 3n]);
  assert.equal(c.latest(1n), undefined);
  assert.equal(c.latest(3n)?.status, "SUCCESS");
});

test("removing the peer of the store that holds the leader again is stale (the plan moves the leader first)", () => {
  const r = region(1, [1, 2, 3], { leader: 1 });
  const o = op([{ kind: "transferLeader", fromStore: 1n, toStore: 2n }, { kind: "removePeer", storeId: 1n }], r);
  assert.equal(checkProgress(o, r).kind, "running");
  const moved = withPeers(r, r.region.peers, { leaderStore: 2 });
  assert.deepEqual(checkProgress(o, moved), { kind: "running", step: { kind: "removePeer", storeId: 1n } });
  const back = withPeers(r, r.region.peers, { leaderStore: 1 });
  assert.equal(checkProgress(o, back).kind, "stale");
});

test("an add step whose target store already holds another peer of the region is stale (the store would refuse it forever)", () => {
  const r = region(1, [1, 2, 3]);
  const op = new Operator(1n, r.region.regionEpoch!, "hot-region", "move 1→4", [{ kind: "addLearner", storeId: 4n, peerId: 910n }, { kind: "promoteLearner", storeId: 4n, peerId: 910n }, { kind: "removePeer", storeId: 1n }], PRIORITY.normal, NOW);
  assert.equal(checkProgress(op, r).kind, "running");
  const withOther = withPeers(r, [...r.region.peers, { id: 909n, storeId: 4n, role: metapb.PeerRole.Learner }], { confVer: r.region.regionEpoch!.confVer + 1n });
  const p = checkProgress(op, withOther);
  assert.equal(p.kind, "stale");
  assert.match(p.kind === "stale" ? p.reason : "", /store 4 already holds peer 909/);
});
