// TinyKV 3C balance_test.go scenarios (store size = count × 10 MB, region 10 MB) and the
// back-and-forth protections.
import { test } from "node:test";
import assert from "node:assert/strict";
import { metapb } from "@regionkv/proto";
import { scheduleBalanceRegion } from "../src/index.js";
import { downSince, mkCtx, moveOf, NOW, region, store, stepKinds, withPeers } from "./schedule-helpers.js";

test("Replicas1: a single-replica region moves from the fullest store, with its leader", () => {
  const stores = [store(1, 6), store(2, 8), store(3, 8), store(4, 16)];
  const r1 = region(1, [4], { leader: 4 });
  let op = scheduleBalanceRegion(mkCtx(stores, [r1], { maxReplicas: 1 }));
  assert.deepEqual(moveOf(op), { from: 4, to: 1, leaderMoves: true });
  assert.deepEqual(stepKinds(op), ["addVoter", "transferLeader", "removePeer"]);
  const learnerFirst = scheduleBalanceRegion(mkCtx(stores, [r1], { maxReplicas: 1, addLearnerFirst: true }));
  assert.deepEqual(stepKinds(learnerFirst), ["addLearner", "promoteLearner", "transferLeader", "removePeer"]);
  assert.equal(op!.kind, "balance-region");

  // store 1 offline, store 2 down to 6 → 4→2
  const s2 = [store(1, 6, { state: metapb.StoreState.Offline }), store(2, 6), store(3, 8), store(4, 16)];
  op = scheduleBalanceRegion(mkCtx(s2, [r1], { maxReplicas: 1 }));
  assert.deepEqual(moveOf(op), { from: 4, to: 2, leaderMoves: true });

  assert.equal(scheduleBalanceRegion(mkCtx(s2, [r1], { maxReplicas: 3 })), undefined, "a region short of replicas is the replica checker's");
  assert.ok(scheduleBalanceRegion(mkCtx(s2, [r1], { maxReplicas: 1 })));
});

test("Replicas3: targets are stores without the region; down stores are skipped; no target → nothing", () => {
  const cfg = { maxReplicas: 3 };
  const r = region(1, [1, 2, 3], { leader: 1 });
  const base = [store(1, 16), store(2, 15), store(3, 14)];
  assert.equal(scheduleBalanceRegion(mkCtx(base, [r], cfg)), undefined);
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx([...base, store(4, 2)], [r], cfg))), { from: 1, to: 4, leaderMoves: true });
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx([...base, store(4, 2), store(5, 1)], [r], cfg))), { from: 1, to: 5, leaderMoves: true });
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx([...base, store(4, 2), store(5, 1), store(6, 0)], [r], cfg))), { from: 1, to: 6, leaderMoves: true });
  const ctx = mkCtx([], [], cfg);
  const down = downSince(ctx.config);
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx([...base, store(4, 2), store(5, 1), store(6, 0, { lastHeartbeatMs: down })], [r], cfg))), { from: 1, to: 5, leaderMoves: true });
  const allDown = [...base, store(4, 2, { lastHeartbeatMs: down }), store(5, 1, { lastHeartbeatMs: down }), store(6, 0, { lastHeartbeatMs: down }), store(7, 20)];
  assert.equal(scheduleBalanceRegion(mkCtx(allDown, [r], cfg)), undefined, "the only candidate target is bigger than the source");
});

test("Replicas5: five replicas; the source is the fullest store holding a region", () => {
  const cfg = { maxReplicas: 5 };
  let stores = [store(1, 4), store(2, 5), store(3, 6), store(4, 7), store(5, 28), store(6, 1)];
  const r = region(1, [1, 2, 3, 4, 5], { leader: 1 });
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx(stores, [r], cfg))), { from: 5, to: 6, leaderMoves: false });
  stores = [...stores, store(7, 5)];
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx(stores, [r], cfg))), { from: 5, to: 6, leaderMoves: false });
  const r2 = region(1, [2, 3, 4, 5, 6], { leader: 2 });
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx(stores, [r2], cfg))), { from: 5, to: 1, leaderMoves: false });
  stores = [...stores, store(11, 29), store(12, 8), store(13, 7)];
  const r3 = region(1, [2, 3, 11, 12, 13], { leader: 2 });
  assert.deepEqual(moveOf(scheduleBalanceRegion(mkCtx(stores, [r3], cfg))), { from: 11, to: 6, leaderMoves: false });
});

test("ReplacePendingRegion: a region with a pending peer on the source is preferred", () => {
  const stores = [store(1, 16), store(2, 7), store(3, 15), store(4, 10)];
  const regions = [region(1, [1, 2, 3], { leader: 2 }), region(2, [1, 2, 3], { leader: 2 }), region(3, [1, 2, 3], { leader: 2, pending: [1] })];
  const op = scheduleBalanceRegion(mkCtx(stores, regions, { maxReplicas: 3 }));
  assert.equal(op?.regionId, 3n);
  assert.deepEqual(moveOf(op), { from: 1, to: 4, leaderMoves: false });
});

test("a size difference of at most twice the region's size moves nothing", () => {
  const r = region(1, [1], { leader: 1 });
  assert.equal(scheduleBalanceRegion(mkCtx([store(1, 3), store(2, 1)], [r], { maxReplicas: 1 })), undefined, "30 − 10 = 2 × 10");
  assert.ok(scheduleBalanceRegion(mkCtx([store(1, 4), store(2, 1)], [r], { maxReplicas: 1 })));
});

test("followers are preferred to leaders on the source", () => {
  const stores = [store(1, 20), store(2, 10), store(3, 10), store(4, 0)];
  const regions = [region(1, [1, 2, 3], { leader: 1 }), region(2, [1, 2, 3], { leader: 2 })];
  const op = scheduleBalanceRegion(mkCtx(stores, regions, { maxReplicas: 3 }));
  assert.equal(op?.regionId, 2n);
  assert.deepEqual(moveOf(op), { from: 1, to: 4, leaderMoves: false });
});

test("store limit: a store takes part in at most storeLimit moves at once", () => {
  const stores = [store(1, 20), store(2, 10), store(3, 10), store(4, 0)];
  const regions = [region(1, [1, 2, 3], { leader: 2 }), region(2, [1, 2, 3], { leader: 2 })];
  const ctx = mkCtx(stores, regions, { maxReplicas: 3, storeLimit: 1 });
  const op = scheduleBalanceRegion(ctx)!;
  assert.ok(ctx.controller.add(op, NOW).ok);
  assert.equal(scheduleBalanceRegion(ctx), undefined, "source 1 and target 4 are both busy");
  const roomy = mkCtx(stores, regions, { maxReplicas: 3, storeLimit: 2 }, { controller: ctx.controller });
  assert.ok(scheduleBalanceRegion(roomy));
});

test("back and forth: a region moved by a balance operator rests for regionCooldownMs", () => {
  const cfg = { maxReplicas: 3, regionCooldownMs: 10_000 };
  const stores = [store(1, 20), store(2, 10), store(3, 10), store(4, 0)];
  const r = region(1, [1, 2, 3], { leader: 2 });
  const ctx = mkCtx(stores, [r], cfg);
  const op = scheduleBalanceRegion(ctx)!;
  assert.deepEqual(moveOf(op), { from: 1, to: 4, leaderMoves: false });
  ctx.controller.add(op, NOW - 1000);
  const newPeer = { id: (op.steps[0] as { peerId: bigint }).peerId, storeId: 4n, role: metapb.PeerRole.Voter };
  const after = withPeers(r, [...r.region.peers.filter((p) => p.storeId !== 1n), newPeer], { confVer: 7n });
  assert.equal(ctx.controller.onHeartbeat(after, NOW - 500), undefined);
  assert.equal(op.status, "SUCCESS");
  assert.equal(ctx.controller.lastMovedAtMs(1n), NOW - 500);
  // the same imbalance again (say the sizes have not caught up): the region is left alone…
  assert.equal(scheduleBalanceRegion(mkCtx(stores, [r], cfg, { controller: ctx.controller })), undefined);
  // …until the cooldown has passed
  assert.ok(scheduleBalanceRegion(mkCtx(stores, [r], cfg, { controller: ctx.controller, now: NOW - 500 + 10_000 })));
});

test("influence: with one move running toward the emptiest store, a second move goes elsewhere or not at all", () => {
  const stores = [store(1, 12), store(2, 12), store(3, 12), store(4, 9)];
  const regions = [region(1, [1, 2, 3], { leader: 2 }), region(2, [1, 2, 3], { leader: 2 })];
  const ctx = mkCtx(stores, regions, { maxReplicas: 3 });
  const op = scheduleBalanceRegion(ctx)!;
  assert.deepEqual(moveOf(op), { from: 1, to: 4, leaderMoves: false });
  ctx.controller.add(op, NOW);
  // without influence store 1 (120) vs store 4 (90) would still differ by 30 > 20; with it 110 vs 100
  assert.equal(scheduleBalanceRegion(ctx), undefined);
});

test("a move that timed out also rests the region (a failing move is not retried at once); a cancelled one does not", () => {
  const cfg = { maxReplicas: 3, regionCooldownMs: 10_000 };
  const stores = [store(1, 20), store(2, 10), store(3, 10), store(4, 0)];
  const r = region(1, [1, 2, 3], { leader: 2 });
  const ctx = mkCtx(stores, [r], cfg);
  const op = scheduleBalanceRegion(ctx)!;
  ctx.controller.add(op, NOW);
  ctx.controller.onHeartbeat(r, NOW);
  ctx.controller.checkTimeouts(NOW + ctx.config.changePeerTimeoutMs + 1);
  assert.equal(op.status, "TIMEOUT");
  assert.equal(scheduleBalanceRegion(mkCtx(stores, [r], cfg, { controller: ctx.controller })), undefined);
  const other = mkCtx(stores, [r], cfg);
  const op2 = scheduleBalanceRegion(other)!;
  other.controller.add(op2, NOW);
  other.controller.cancel(1n, NOW, "test");
  assert.ok(scheduleBalanceRegion(mkCtx(stores, [r], cfg, { controller: other.controller })));
});

test("storeBalanceRatePerMin: at most that many replicas start moving into one store per minute, at most 4 at once; more later", () => {
  const stores = [store(1, 30), store(2, 30), store(3, 30), store(4, 0)];
  const regions = Array.from({ length: 10 }, (_, i) => region(i + 1, [1, 2, 3], { leader: 1 + (i % 3) }));
  const cfg = { storeBalanceRatePerMin: 2, storeLimit: 100 };
  const first = mkCtx(stores, regions, cfg);
  const ops = [];
  for (let i = 0; i < 5; i++) {
    const op = scheduleBalanceRegion(first);
    if (!op) break;
    first.controller.add(op, NOW);
    ops.push(op);
  }
  assert.equal(ops.length, 2, "two moves into store 4 this minute");
  assert.ok(ops.every((o) => moveOf(o)?.to === 4));
  // 30 per minute: 4 at once, the fifth 8 s later.
  const paced = mkCtx(stores, regions, { storeBalanceRatePerMin: 30, storeLimit: 100 });
  let started = 0;
  for (let i = 0; i < 10; i++) {
    const op = scheduleBalanceRegion(paced);
    if (!op) break;
    paced.controller.add(op, NOW);
    started++;
  }
  assert.equal(started, 4, "a burst of at most 4");
  const after8s = mkCtx(stores.map((s) => ({ ...s, lastHeartbeatMs: NOW + 8_000 })), regions, { storeBalanceRatePerMin: 30, storeLimit: 100 }, { controller: paced.controller, now: NOW + 8_000 });
  assert.ok(scheduleBalanceRegion(after8s), "paced: the next after 8 s");
  const fresh = stores.map((s) => ({ ...s, lastHeartbeatMs: NOW + 61_000 }));
  const later = mkCtx(fresh, regions, cfg, { controller: first.controller, now: NOW + 61_000 });
  assert.ok(scheduleBalanceRegion(later), "a minute later the next one starts");
});
