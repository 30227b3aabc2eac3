// hot-region: leaders, then replicas, of write-hot regions leave the busiest store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { scheduleHotRegion, WriteRateStats } from "../src/index.js";
import { schedulerpb } from "@regionkv/proto";
import { mkCtx, moveOf, region, store } from "./schedule-helpers.js";

const HOT = 1024 * 1024;

test("two hot regions led by one store: the hottest leader that can move without inverting the load goes to the coolest follower store", () => {
  const regions = [region(1, [1, 2, 3], { leader: 1 }), region(2, [1, 2, 3], { leader: 1 }), region(3, [1, 2, 3], { leader: 2 })];
  const stores = [store(1, 3), store(2, 3), store(3, 3)];
  const rates = new Map([[1n, 2 * HOT], [2n, HOT], [3n, 10]]);
  const op = scheduleHotRegion(mkCtx(stores, regions, {}, { rates }));
  assert.equal(op?.kind, "hot-region");
  // region 1 (2 MiB/s) would leave store 3 hotter (2) than store 1 (1): region 2 moves instead
  assert.equal(op!.regionId, 2n);
  assert.deepEqual(op!.steps, [{ kind: "transferLeader", fromStore: 1n, toStore: 3n }]);
});

test("a single hot region stays: moving it would only move the hot spot", () => {
  const regions = [region(1, [1, 2, 3], { leader: 1 })];
  const stores = [store(1, 1), store(2, 1), store(3, 1), store(4, 0)];
  assert.equal(scheduleHotRegion(mkCtx(stores, regions, {}, { rates: new Map([[1n, 5 * HOT]]) })), undefined);
});

test("nothing hot, nothing to do", () => {
  const regions = [region(1, [1, 2, 3], { leader: 1 }), region(2, [1, 2, 3], { leader: 1 })];
  assert.equal(scheduleHotRegion(mkCtx([store(1, 2), store(2, 2), store(3, 2)], regions, {}, { rates: new Map([[1n, 100], [2n, 100]]) })), undefined);
});

test("replicas: when leaders cannot help, a hot replica moves to a store without write load", () => {
  // all hot regions on stores 1-3, each store leads one: leaders are balanced, replicas are not
  const regions = [region(1, [1, 2, 3], { leader: 1 }), region(2, [1, 2, 3], { leader: 2 }), region(3, [1, 2, 3], { leader: 3 })];
  const stores = [store(1, 3), store(2, 3), store(3, 3), store(4, 0)];
  const rates = new Map([[1n, HOT], [2n, HOT], [3n, HOT]]);
  const op = scheduleHotRegion(mkCtx(stores, regions, {}, { rates }));
  assert.equal(moveOf(op).to, 4);
  assert.equal(moveOf(op).from, 1);
});

test("write rates come from heartbeat bytes over the interval, smoothed", () => {
  const w = new WriteRateStats();
  const hb = (bytes: bigint, start: bigint, end: bigint): schedulerpb.RegionHeartbeatRequest =>
    schedulerpb.RegionHeartbeatRequest.fromPartial({ region: { id: 7n }, bytesWritten: bytes, interval: { startTimestamp: start, endTimestamp: end } });
  w.observe(hb(10_000n, 100n, 110n), 0);
  assert.equal(w.bytesRate(7n), 1000);
  w.observe(hb(30_000n, 110n, 120n), 10_000);
  assert.equal(w.bytesRate(7n), 2000);
  assert.equal(w.bytesRate(8n), 0);
});
