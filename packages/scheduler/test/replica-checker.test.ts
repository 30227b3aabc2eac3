// Replica checker: make up, remove extra, replace down / offline, pending peers block removals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { metapb } from "@regionkv/proto";
import { checkReplicas } from "../src/index.js";
import { downSince, mkCtx, moveOf, NOW, region, store, stepKinds } from "./schedule-helpers.js";

test("missing replicas are added on the store with the fewest regions, never on one holding the region", () => {
  const stores = [store(1, 5), store(2, 5), store(3, 9), store(4, 7), store(5, 1)];
  const r = region(1, [1, 5]);
  const op = checkReplicas(mkCtx(stores, [r]), r);
  assert.deepEqual(stepKinds(op), ["addVoter"]);
  assert.equal(op!.desc, "make-up-replica");
  assert.equal((op!.steps[0] as { storeId: bigint }).storeId, 2n, "store 5 is emptier but holds the region");
  const learnerFirst = checkReplicas(mkCtx(stores, [r], { addLearnerFirst: true }), r);
  assert.deepEqual(stepKinds(learnerFirst), ["addLearner", "promoteLearner"]);
});

test("ties are broken by data size, then free space; stores down, offline, silent or tombstoned get nothing", () => {
  const r = region(1, [1]);
  const base = mkCtx([], []).config;
  const stores = [
    store(1, 0),
    store(2, 3, { regionSize: 50 }),
    store(3, 3, { regionSize: 40, available: 10 }),
    store(4, 3, { regionSize: 40, available: 20 }),
    store(5, 0, { lastHeartbeatMs: downSince(base) }),
    store(6, 0, { state: metapb.StoreState.Offline }),
    store(7, 0, { state: metapb.StoreState.Tombstone }),
    store(8, 0, { lastHeartbeatMs: NOW - base.storeDisconnectMs - 1 }),
  ];
  const op = checkReplicas(mkCtx(stores, [r]), r);
  assert.equal((op!.steps[0] as { storeId: bigint }).storeId, 4n);
});

test("enough healthy replicas: nothing to do; no store to add to: nothing", () => {
  const stores = [store(1, 1), store(2, 1), store(3, 1)];
  const r = region(1, [1, 2, 3]);
  assert.equal(checkReplicas(mkCtx(stores, [r]), r), undefined);
  const r2 = region(2, [1, 2]);
  assert.equal(checkReplicas(mkCtx(stores.slice(0, 2), [r2]), r2), undefined);
});

test("extra replicas: the one on the store with the most regions goes; the leader moves away first", () => {
  const stores = [store(1, 9), store(2, 5), store(3, 5), store(4, 4)];
  const r = region(1, [1, 2, 3, 4], { leader: 2 });
  const op = checkReplicas(mkCtx(stores, [r]), r);
  assert.deepEqual(op!.steps, [{ kind: "removePeer", storeId: 1n }]);
  const led = region(1, [1, 2, 3, 4], { leader: 1 });
  const op2 = checkReplicas(mkCtx(stores, [led]), led);
  assert.deepEqual(op2!.steps, [{ kind: "transferLeader", fromStore: 1n, toStore: 2n }, { kind: "removePeer", storeId: 1n }]);
});

test("pending peers block removing others; an extra pending peer itself may go", () => {
  const stores = [store(1, 9), store(2, 5), store(3, 5), store(4, 4)];
  const r = region(1, [1, 2, 3, 4], { leader: 2, pending: [4] });
  assert.deepEqual(checkReplicas(mkCtx(stores, [r]), r)!.steps, [{ kind: "removePeer", storeId: 4n }], "not store 1, the fullest");
  const cfg = mkCtx([], []).config;
  const down = [store(1, 9, { lastHeartbeatMs: downSince(cfg) }), store(2, 5), store(3, 5), store(4, 4)];
  const r2 = region(1, [1, 2, 3, 4], { leader: 2, pending: [3] });
  assert.deepEqual(checkReplicas(mkCtx(down, [r2]), r2)!.steps, [{ kind: "removePeer", storeId: 1n }], "a dead replica may go even while another is pending");
  const offline = [store(1, 9, { state: metapb.StoreState.Offline }), store(2, 5), store(3, 5), store(4, 4)];
  assert.deepEqual(checkReplicas(mkCtx(offline, [r2]), r2)!.steps, [{ kind: "removePeer", storeId: 3n }], "a live offline replica waits; the extra pending one goes");
});

test("an extra replica waits while every follower is pending (a leader just elected knows nothing yet); then the pending one goes", () => {
  const stores = [store(1, 9), store(2, 5), store(3, 5), store(4, 4)];
  const fresh = region(1, [1, 2, 3, 4], { leader: 1, pending: [2, 3, 4] });
  assert.equal(checkReplicas(mkCtx(stores, [fresh]), fresh), undefined, "no healthy replica removed on an election-time report");
  const later = region(1, [1, 2, 3, 4], { leader: 1, pending: [2] });
  assert.deepEqual(checkReplicas(mkCtx(stores, [later]), later)!.steps, [{ kind: "removePeer", storeId: 2n }], "the replica that never caught up goes, not store 1's or the emptiest's");
});

test("a store down past max-store-down-time: its replica is replaced (remove first with voters, add first with learners)", () => {
  const cfg = mkCtx([], []).config;
  const stores = [store(1, 5), store(2, 5), store(3, 5, { lastHeartbeatMs: downSince(cfg) }), store(4, 5)];
  const r = region(1, [1, 2, 3], { leader: 1 });
  const op = checkReplicas(mkCtx(stores, [r]), r);
  assert.equal(op!.desc, "replace-down-replica");
  assert.deepEqual(moveOf(op), { from: 3, to: 4, leaderMoves: false });
  assert.deepEqual(stepKinds(op), ["removePeer", "addVoter"]);
  assert.deepEqual(stepKinds(checkReplicas(mkCtx(stores, [r], { addLearnerFirst: true }), r)), ["addLearner", "promoteLearner", "removePeer"]);
  // not yet down long enough: nothing
  const recent = [store(1, 5), store(2, 5), store(3, 5, { lastHeartbeatMs: NOW - cfg.maxStoreDownTimeMs + 1000 }), store(4, 5)];
  assert.equal(checkReplicas(mkCtx(recent, [r]), r), undefined);
  // a shorter max-store-down-time (the CLI flag) makes it down
  assert.ok(checkReplicas(mkCtx(recent, [r], { maxStoreDownTimeMs: 500 }), r));
});

test("a peer the leader reports down for longer than max-store-down-time is replaced too", () => {
  const stores = [store(1, 5), store(2, 5), store(3, 5), store(4, 5)];
  const r = region(1, [1, 2, 3], { leader: 1, down: [{ store: 2, secs: 31 * 60 }] });
  assert.deepEqual(moveOf(checkReplicas(mkCtx(stores, [r]), r)), { from: 2, to: 4, leaderMoves: false });
  const brief = region(1, [1, 2, 3], { leader: 1, down: [{ store: 2, secs: 60 }] });
  assert.equal(checkReplicas(mkCtx(stores, [brief]), brief), undefined);
});

test("an offline store is drained: its replicas move, its leaders move away first", () => {
  const stores = [store(1, 5, { state: metapb.StoreState.Offline }), store(2, 5), store(3, 5), store(4, 5)];
  const r = region(1, [1, 2, 3], { leader: 1 });
  const op = checkReplicas(mkCtx(stores, [r]), r);
  assert.equal(op!.desc, "replace-offline-replica");
  assert.deepEqual(stepKinds(op), ["addVoter", "transferLeader", "removePeer"], "the store still serves: add first");
});

test("with a replacement already added (one replica too many), the bad replica is the one removed", () => {
  const cfg = mkCtx([], []).config;
  const stores = [store(1, 1), store(2, 9), store(3, 5, { lastHeartbeatMs: downSince(cfg) }), store(4, 5)];
  const r = region(1, [1, 2, 3, 4], { leader: 1 });
  assert.deepEqual(checkReplicas(mkCtx(stores, [r]), r)!.steps, [{ kind: "removePeer", storeId: 3n }]);
});

test("a stray learner is promoted when voters are missing (learners in use), removed otherwise", () => {
  const stores = [store(1, 5), store(2, 5), store(3, 5), store(4, 5)];
  const r = region(1, [1, 2, 3], { leader: 1, learners: [3] });
  assert.deepEqual(stepKinds(checkReplicas(mkCtx(stores, [r], { addLearnerFirst: true }), r)), ["promoteLearner"]);
  assert.deepEqual(checkReplicas(mkCtx(stores, [r]), r)!.steps, [{ kind: "removePeer", storeId: 3n }]);
  const r4 = region(1, [1, 2, 3, 4], { leader: 1, learners: [4] });
  assert.deepEqual(checkReplicas(mkCtx(stores, [r4]), r4)!.steps, [{ kind: "removePeer", storeId: 4n }]);
});

test("in-flight additions count: two regions missing a replica do not both pile onto one store", () => {
  const stores = [store(1, 5), store(2, 5), store(3, 5), store(4, 5)];
  const a = region(1, [1, 2]);
  const b = region(2, [1, 2]);
  const ctx = mkCtx(stores, [a, b]);
  const opA = checkReplicas(ctx, a)!;
  ctx.controller.add(opA, NOW);
  const opB = checkReplicas(ctx, b)!;
  assert.notEqual((opA.steps[0] as { storeId: bigint }).storeId, (opB.steps[0] as { storeId: bigint }).storeId);
  assert.equal(checkReplicas(ctx, a), undefined, "region a already has an operator");
});

test("replica-schedule-limit caps running replica operators", () => {
  const stores = [store(1, 5), store(2, 5), store(3, 5)];
  const a = region(1, [1, 2]);
  const b = region(2, [1, 2]);
  const ctx = mkCtx(stores, [a, b], { replicaScheduleLimit: 1 });
  ctx.controller.add(checkReplicas(ctx, a)!, NOW);
  assert.equal(checkReplicas(ctx, b), undefined);
});

test("a learner beyond max-replicas never makes the checker remove a voter: the learner goes (even pending), and with too few voters it is promoted", () => {
  const stores = [store(1, 5), store(2, 5), store(3, 5), store(4, 5)];
  // Three voters and a caught-up learner on store 4 (a move whose operator ended): remove the learner.
  const withLearner = region(1, [1, 2, 3, 4], { learners: [4] });
  const op = checkReplicas(mkCtx(stores, [withLearner], { addLearnerFirst: true }), withLearner)!;
  assert.equal(op.desc, "remove-stray-learner");
  assert.deepEqual(op.steps, [{ kind: "removePeer", storeId: 4n }]);
  // The same learner still pending: it goes too (there are enough voters), never a voter.
  const pending = region(1, [1, 2, 3, 4], { learners: [4], pending: [4] });
  const op2 = checkReplicas(mkCtx(stores, [pending], { addLearnerFirst: true }), pending)!;
  assert.deepEqual(op2.steps, [{ kind: "removePeer", storeId: 4n }]);
  // Two voters and a learner: promote it, never remove a voter.
  const short = region(2, [1, 2, 4], { learners: [4] });
  const op3 = checkReplicas(mkCtx(stores, [short], { addLearnerFirst: true }), short)!;
  assert.deepEqual(stepKinds(op3), ["promoteLearner"]);
});
