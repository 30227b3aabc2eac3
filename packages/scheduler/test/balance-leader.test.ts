// balance-leader: leaders move from the store leading most to the one leading fewest, within tolerance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { scheduleBalanceLeader } from "../src/index.js";
import { downSince, mkCtx, NOW, region, store } from "./schedule-helpers.js";

function leaders(counts: number[]): ReturnType<typeof region>[] {
  // region i led by the store whose turn it is, replicas on stores 1..3
  const out = [];
  let id = 1;
  for (let s = 0; s < counts.length; s++) for (let i = 0; i < counts[s]!; i++) out.push(region(id++, [1, 2, 3], { leader: s + 1 }));
  return out;
}

test("moves a leader from the store leading most to the one leading fewest", () => {
  const regions = leaders([6, 2, 1]);
  const stores = [store(1, 9, { leaderCount: 6 }), store(2, 9, { leaderCount: 2 }), store(3, 9, { leaderCount: 1 })];
  const op = scheduleBalanceLeader(mkCtx(stores, regions));
  assert.equal(op?.kind, "balance-leader");
  assert.deepEqual(op!.steps, [{ kind: "transferLeader", fromStore: 1n, toStore: 3n }]);
  assert.equal(regions.find((r) => r.region.id === op!.regionId)!.leader!.storeId, 1n);
});

test("within tolerance nothing moves", () => {
  const regions = leaders([2, 1, 1]);
  const stores = [store(1, 4, { leaderCount: 2 }), store(2, 4, { leaderCount: 1 }), store(3, 4, { leaderCount: 1 })];
  assert.equal(scheduleBalanceLeader(mkCtx(stores, regions)), undefined);
  assert.ok(scheduleBalanceLeader(mkCtx(stores.map((s) => (s.id === 1n ? { ...s, leaderCount: 3 } : s)), leaders([3, 1, 1]))));
});

test("the target must hold a healthy voter of the region; a down or pending follower is skipped", () => {
  const r = region(1, [1, 2, 3], { leader: 1, pending: [3], down: [{ store: 2, secs: 100 }] });
  const stores = [store(1, 1, { leaderCount: 5 }), store(2, 1, { leaderCount: 0 }), store(3, 1, { leaderCount: 0 })];
  assert.equal(scheduleBalanceLeader(mkCtx(stores, [r])), undefined);
});

test("down and silent stores take no leaders; running transfers count (leader-schedule-limit and influence)", () => {
  const cfg = mkCtx([], []).config;
  const regions = leaders([6, 0, 0]);
  const stores = [store(1, 6, { leaderCount: 6 }), store(2, 6, { leaderCount: 0, lastHeartbeatMs: downSince(cfg) }), store(3, 6, { leaderCount: 0 })];
  const ctx = mkCtx(stores, regions, { leaderScheduleLimit: 2 });
  const a = scheduleBalanceLeader(ctx)!;
  assert.deepEqual(a.steps, [{ kind: "transferLeader", fromStore: 1n, toStore: 3n }]);
  ctx.controller.add(a, NOW);
  const b = scheduleBalanceLeader(ctx)!;
  assert.notEqual(b.regionId, a.regionId);
  ctx.controller.add(b, NOW);
  assert.equal(scheduleBalanceLeader(ctx), undefined, "limit reached");
  // with a higher limit, influence says 6−2 vs 0+2: one more is still worth it, then 3 vs 3 is not
  const roomy = mkCtx(stores, regions, { leaderScheduleLimit: 10 }, { controller: ctx.controller });
  const c = scheduleBalanceLeader(roomy)!;
  roomy.controller.add(c, NOW);
  assert.equal(scheduleBalanceLeader(roomy), undefined);
});
