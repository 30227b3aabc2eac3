// The coordinator over a real core (fake clock, no timers): heartbeats in, operator steps out.
import { test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { eraftpb, metapb, schedulerpb } from "@regionkv/proto";
import { Coordinator, PRIORITY, type SchedulerConfig } from "../src/index.js";
import { newOperator } from "../src/schedule/operator-builder.js";
import { heartbeat, mustOpenBootstrapped, newRegion, newStore } from "./helpers.js";
import { seededRng } from "./schedule-helpers.js";

const log = pino({ level: "silent" });

function setup(stores: number, cfg: Partial<SchedulerConfig> = {}): { coord: Coordinator; clock: { t: number }; core: ReturnType<typeof mustOpenBootstrapped>["core"]; sent: { storeId: bigint; resp: schedulerpb.RegionHeartbeatResponse }[] } {
  const clock = { t: 1_000_000 };
  const { core } = mustOpenBootstrapped(stores, { now: () => clock.t });
  // Voter-first unless a test asks for learners.
  const coord = new Coordinator({ core, config: { addLearnerFirst: false, ...cfg }, log, rng: seededRng(3) });
  const sent: { storeId: bigint; resp: schedulerpb.RegionHeartbeatResponse }[] = [];
  coord.setSink({ send: (storeId, resp) => (sent.push({ storeId, resp }), true) });
  return { coord, clock, core, sent };
}

function storeHeartbeats(core: ReturnType<typeof mustOpenBootstrapped>["core"], ids: bigint[]): void {
  for (const id of ids) core.storeHeartbeat(schedulerpb.StoreStats.fromPartial({ storeId: id, available: 100n }));
}

function mustRespond(coord: Coordinator, req: schedulerpb.RegionHeartbeatRequest): schedulerpb.RegionHeartbeatResponse | undefined {
  const r = coord.onRegionHeartbeat(req);
  if (!r.ok) assert.fail(r.error.message);
  return r.value.response;
}

test("a one-replica region is made up to three, one learner at a time, each promoted once caught up", () => {
  const { coord, core } = setup(3, { addLearnerFirst: true });
  storeHeartbeats(core, [1n, 2n, 3n]);
  let region: metapb.Region = newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n], 1n, 1n);
  const leader = region.peers[0]!;
  for (let round = 0; round < 2; round++) {
    const add = mustRespond(coord, heartbeat(region, leader))!;
    assert.equal(add.changePeer?.changeType, eraftpb.ConfChangeType.AddLearnerNode, `round ${round}`);
    const learner = add.changePeer!.peer!;
    assert.ok(!region.peers.some((p) => p.storeId === learner.storeId));
    // re-sent while the region does not show it
    assert.deepEqual(mustRespond(coord, heartbeat(region, leader))?.changePeer, add.changePeer);
    const conf = region.regionEpoch!.confVer;
    region = { ...region, regionEpoch: { version: 1n, confVer: conf + 1n }, peers: [...region.peers, learner] };
    assert.equal(mustRespond(coord, heartbeat(region, leader, { pendingPeers: [learner] })), undefined, "pending: wait");
    const promote = mustRespond(coord, heartbeat(region, leader))!;
    assert.equal(promote.changePeer?.changeType, eraftpb.ConfChangeType.AddNode);
    region = { ...region, regionEpoch: { version: 1n, confVer: conf + 2n }, peers: region.peers.map((p) => (p.id === learner.id ? { ...p, role: metapb.PeerRole.Voter } : p)) };
  }
  assert.equal(mustRespond(coord, heartbeat(region, leader)), undefined);
  assert.deepEqual(new Set(region.peers.map((p) => p.storeId)), new Set([1n, 2n, 3n]));
  assert.equal(coord.operators.finishedOperators().filter((o) => o.status === "SUCCESS").length, 2);
});

test("a store down past max-store-down-time has its replicas replaced on a live store", () => {
  const { coord, core, clock } = setup(4, { maxStoreDownTimeMs: 60_000 });
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  const region = newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n, 2n, 3n], 1n, 3n);
  assert.equal(mustRespond(coord, heartbeat(region)), undefined);
  clock.t += 30_000;
  storeHeartbeats(core, [1n, 2n, 4n]);
  assert.equal(mustRespond(coord, heartbeat(region)), undefined, "store 3 silent for 30 s is not down yet");
  clock.t += 31_000;
  storeHeartbeats(core, [1n, 2n, 4n]);
  const resp = mustRespond(coord, heartbeat(region))!;
  assert.deepEqual(resp.changePeer, { peer: region.peers[2], changeType: eraftpb.ConfChangeType.RemoveNode });
  const op = coord.getOperator(1n)!;
  assert.equal(op.desc, "replace-down-replica");
  assert.deepEqual(op.steps, [{ kind: "removePeer", storeId: 3n }, { kind: "addVoter", storeId: 4n, peerId: (op.steps[1] as { peerId: bigint }).peerId }]);
  // removed: the voter on store 4 is added next
  const without = { ...region, regionEpoch: { version: 1n, confVer: 4n }, peers: region.peers.slice(0, 2) };
  const add = mustRespond(coord, heartbeat(without))!;
  assert.equal(add.changePeer?.changeType, eraftpb.ConfChangeType.AddNode);
  assert.equal(add.changePeer?.peer?.storeId, 4n);
});

test("a stale heartbeat is an error value and no operator step is sent for it", () => {
  const { coord, core } = setup(3);
  storeHeartbeats(core, [1n, 2n, 3n]);
  const r = newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n, 2n, 3n], 2n, 3n);
  assert.equal(mustRespond(coord, heartbeat(r)), undefined);
  const res = coord.onRegionHeartbeat(heartbeat({ ...r, regionEpoch: { version: 1n, confVer: 3n } }));
  assert.equal(res.ok, false);
});

test("schedulers: a new empty store draws regions (balance-region), the step is pushed to the leader's store at once", () => {
  const { coord, core, sent } = setup(4);
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  for (let i = 0; i < 10; i++) {
    const r = newRegion(BigInt(i + 1), Buffer.from([i * 10]), Buffer.from([i * 10 + 10]), [1n, 2n, 3n], 1n, 3n);
    mustRespond(coord, heartbeat(r, r.peers[i % 3]));
  }
  const ops = coord.runSchedulers(["balance-region"]);
  assert.equal(ops.length, 1);
  assert.equal(ops[0]!.kind, "balance-region");
  const region = core.getRegionById(ops[0]!.regionId)!;
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.storeId, region.leader!.storeId);
  assert.equal(sent[0]!.resp.changePeer?.peer?.storeId, 4n);
  assert.equal(ops[0]!.status, "STARTED");
  // run until the limit of in-flight moves per store stops it
  let more = 0;
  while (coord.runSchedulers(["balance-region"]).length > 0) more++;
  assert.ok(more >= 1 && more < 10, `more moves: ${more}`);
});

test("schedulers: only the configured balancers run (none: an empty store draws nothing, the replica checker still acts)", () => {
  const { coord, core } = setup(4, { schedulers: [] });
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  for (let i = 0; i < 10; i++) {
    const r = newRegion(BigInt(i + 1), Buffer.from([i * 10]), Buffer.from([i * 10 + 10]), [1n, 2n, 3n], 1n, 3n);
    mustRespond(coord, heartbeat(r, r.peers[0]));
  }
  assert.deepEqual(coord.runSchedulers(), [], "no balancer runs");
  // Naming a balancer explicitly still runs it (tests, tools).
  assert.equal(coord.runSchedulers(["balance-region"]).length, 1);
  // The replica checker is not a balancer: a region missing a replica gets one.
  const short = newRegion(50n, Buffer.from([200]), Buffer.from([210]), [1n, 2n], 1n, 2n);
  const resp = mustRespond(coord, heartbeat(short));
  assert.ok(resp?.changePeer, "the replica checker adds the missing replica");
});

test("manual operators: add-peer, transfer-leader, remove-peer, split; rejections say why", () => {
  const { coord, core } = setup(4);
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  const r = newRegion(1n, Buffer.from("a"), Buffer.from("z"), [1n, 2n, 3n], 1n, 3n);
  mustRespond(coord, heartbeat(r));
  const bad = coord.addManualOperator({ kind: "add-peer", regionId: 1n, storeId: 2n });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.error.message, /already has a peer on store 2/);
  const unknown = coord.addManualOperator({ kind: "add-peer", regionId: 9n, storeId: 4n });
  assert.equal(!unknown.ok && unknown.error.code, "RegionNotFound");
  const add = coord.addManualOperator({ kind: "add-peer", regionId: 1n, storeId: 4n });
  assert.ok(add.ok);
  const again = coord.addManualOperator({ kind: "transfer-leader", regionId: 1n, storeId: 2n });
  assert.equal(!again.ok && again.error.code, "OperatorRejected");
  coord.operators.cancel(1n, core.now(), "test");
  const tl = coord.addManualOperator({ kind: "transfer-leader", regionId: 1n, storeId: 2n });
  assert.ok(tl.ok);
  assert.deepEqual(mustRespond(coord, heartbeat(r))?.transferLeader?.peer, r.peers[1]);
  coord.operators.cancel(1n, core.now(), "test");
  const rm = coord.addManualOperator({ kind: "remove-peer", regionId: 1n, storeId: 1n });
  assert.ok(rm.ok);
  if (rm.ok) assert.deepEqual(rm.value.steps.map((s) => s.kind), ["transferLeader", "removePeer"]);
  coord.operators.cancel(1n, core.now(), "test");
  const outside = coord.addManualOperator({ kind: "split", regionId: 1n, keys: [Buffer.from("a")] });
  assert.equal(!outside.ok && outside.error.code, "InvalidArgument");
  const split = coord.addManualOperator({ kind: "split", regionId: 1n, keys: [Buffer.from("m")] });
  assert.ok(split.ok);
  assert.deepEqual(mustRespond(coord, heartbeat(r))?.splitRegion, { policy: schedulerpb.CheckPolicy.USEKEY, keys: [Buffer.from("m")] });
  assert.equal(coord.getOperator(1n)?.kind, "admin");
});

test("patrol: times operators out and checks regions that do not heartbeat", () => {
  const { coord, core, clock, sent } = setup(3);
  core.putStore(newStore(4n));
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  const r = newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n, 2n, 3n], 1n, 3n);
  mustRespond(coord, heartbeat(r));
  // store 1 is drained: the patrol finds the region without a new heartbeat
  core.putStore({ ...newStore(1n), state: metapb.StoreState.Offline });
  coord.patrol();
  const op = coord.getOperator(1n)!;
  assert.equal(op.desc, "replace-offline-replica");
  assert.equal(sent.length, 1, "pushed to the leader's store");
  clock.t += coord.config.changePeerTimeoutMs + 1;
  coord.patrol();
  assert.equal(op.status, "TIMEOUT");
});

test("store remove: Offline, drained by the replica checker, then a tombstone; refused when too few stores would be left", () => {
  const { coord, core } = setup(4);
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  const r = newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n, 2n, 3n], 1n, 3n);
  mustRespond(coord, heartbeat(r));
  const res = coord.removeStore(3n);
  assert.ok(res.ok);
  assert.equal(core.getStore(3n)?.state, metapb.StoreState.Offline);
  const refused = coord.removeStore(2n);
  assert.equal(refused.ok, false);
  if (!refused.ok) assert.match(refused.error.message, /would leave 2 stores for 3 replicas/);
  // the next heartbeat gets the replacement: add on 4, then remove on 3
  const add = mustRespond(coord, heartbeat(r))!;
  assert.equal(add.changePeer?.peer?.storeId, 4n);
  const withNew = { ...r, regionEpoch: { version: 1n, confVer: 4n }, peers: [...r.peers, add.changePeer!.peer!] };
  const rm = mustRespond(coord, heartbeat(withNew))!;
  assert.equal(rm.changePeer?.changeType, eraftpb.ConfChangeType.RemoveNode);
  assert.equal(rm.changePeer?.peer?.storeId, 3n);
  coord.patrol();
  assert.equal(core.getStore(3n)?.state, metapb.StoreState.Offline, "still holds the region");
  const drained = { ...withNew, regionEpoch: { version: 1n, confVer: 5n }, peers: withNew.peers.filter((p) => p.storeId !== 3n) };
  assert.equal(mustRespond(coord, heartbeat(drained)), undefined);
  coord.patrol();
  assert.equal(core.getStore(3n)?.state, metapb.StoreState.Tombstone);
});

test("hot-region reads write rates from heartbeats (bytes_written over the interval)", () => {
  const { coord, core } = setup(3);
  storeHeartbeats(core, [1n, 2n, 3n]);
  for (const id of [1n, 2n]) {
    const r = newRegion(id, Buffer.from([Number(id)]), Buffer.from([Number(id) + 1]), [1n, 2n, 3n], 1n, 3n);
    mustRespond(coord, heartbeat(r, r.peers[0], { bytesWritten: 20n << 20n, interval: { startTimestamp: 100n, endTimestamp: 110n } }));
  }
  assert.equal(coord.writeRates.bytesRate(1n), 2 * 1024 * 1024);
  const [op] = coord.runSchedulers(["hot-region"]);
  assert.equal(op?.kind, "hot-region");
  assert.deepEqual(op!.steps, [{ kind: "transferLeader", fromStore: 1n, toStore: 2n }]);
});

test("patrol spreads the replacements of a dead store's replicas over the live stores", () => {
  const { coord, core, clock } = setup(5, { maxStoreDownTimeMs: 60_000 });
  storeHeartbeats(core, [1n, 2n, 3n, 4n, 5n]);
  for (let i = 0; i < 20; i++) {
    const r = newRegion(BigInt(i + 1), Buffer.from([i]), Buffer.from([i + 1]), [1n, 2n, 3n], 1n, 3n);
    mustRespond(coord, heartbeat(r, r.peers[i % 2]));
  }
  clock.t += 61_000;
  storeHeartbeats(core, [1n, 2n, 4n, 5n]);
  coord.patrol();
  const targets = new Map<bigint, number>();
  for (const op of coord.operators.runningOperators()) {
    const add = op.steps.find((s) => s.kind === "addVoter") as { storeId: bigint } | undefined;
    if (add) targets.set(add.storeId, (targets.get(add.storeId) ?? 0) + 1);
  }
  assert.equal(coord.operators.runningOperators().length, 20);
  assert.deepEqual([...targets.keys()].sort(), [4n, 5n]);
  assert.ok(Math.abs(targets.get(4n)! - targets.get(5n)!) <= 1, `targets ${[...targets].map(([s, n]) => `${s}:${n}`).join(" ")}`);
});

test("an operator whose step sends a replica to a store that stopped heartbeating is cancelled at the next patrol, not after its step timeout", () => {
  const { coord, core, clock } = setup(4);
  storeHeartbeats(core, [1n, 2n, 3n, 4n]);
  const r = newRegion(1n, Buffer.from("a"), Buffer.from("z"), [1n, 2n, 3n], 1n, 3n);
  mustRespond(coord, heartbeat(r));
  const added = coord.addManualOperator({ kind: "add-peer", regionId: 1n, storeId: 4n });
  assert.ok(added.ok);
  coord.patrol();
  assert.equal(coord.operators.get(1n)?.status, "STARTED", "a live target: the operator runs on");
  // 25 s later stores 1-3 have heartbeated, store 4 has not (storeDisconnectMs is 20 s).
  clock.t += 25_000;
  storeHeartbeats(core, [1n, 2n, 3n]);
  coord.patrol();
  const op = coord.operators.latest(1n)!;
  assert.equal(op.status, "CANCELED");
  assert.match(op.reason ?? "", /target store 4 has not heartbeated for 25 s/);
});

test("a replica lost with a down store is replaced at once even while a balancing operator runs on the region (high priority replaces it)", () => {
  const { coord, core, clock } = setup(5, { maxStoreDownTimeMs: 30_000 });
  storeHeartbeats(core, [1n, 2n, 3n, 4n, 5n]);
  const r = newRegion(1n, Buffer.from("a"), Buffer.from("z"), [1n, 2n, 3n], 1n, 3n);
  mustRespond(coord, heartbeat(r));
  // A balancing move of the replica on store 3 to store 4, stuck at its first step.
  const move = newOperator(core.getRegionById(1n)!, "balance-region", "balance-region 3→4", [{ kind: "addLearner", storeId: 4n, peerId: 99n }], PRIORITY.low, clock.t);
  assert.ok(coord.operators.add(move, clock.t).ok);
  // Store 2 goes silent past max-store-down-time; the others keep heartbeating.
  clock.t += 40_000;
  storeHeartbeats(core, [1n, 3n, 4n, 5n]);
  const resp = mustRespond(coord, heartbeat(r));
  const op = coord.operators.get(1n)!;
  assert.equal(op.kind, "replica", `the checker's operator took over: ${op.describe()}`);
  assert.match(op.desc, /down/);
  assert.equal(coord.operators.latest(1n), op);
  assert.ok(resp?.changePeer, "its first step goes out with this heartbeat");
  assert.equal(move.status, "REPLACED");
});
