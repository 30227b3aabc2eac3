import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { metapb, schedulerpb } from "@regionkv/proto";
import { IdAllocator, SchedulerCore, SchedulerError, SCHEDULER_DB_FILE, Tso, MAX_LOGICAL, toErrorType } from "../src/index.js";
import { heartbeat, mustHeartbeat, mustOpenBootstrapped, newRegion, newStore, tempDir } from "./helpers.js";

test("bootstrap twice fails with AlreadyBootstrapped, also after a restart", () => {
  const { core, dir } = mustOpenBootstrapped(1);
  assert.equal(core.isBootstrapped(), true);
  assert.throws(() => core.bootstrap(newStore(2n)), (e: unknown) => e instanceof SchedulerError && e.code === "AlreadyBootstrapped" && toErrorType(e.code) === schedulerpb.ErrorType.ALREADY_BOOTSTRAPPED);
  core.close();
  const again = SchedulerCore.open(dir);
  assert.equal(again.isBootstrapped(), true);
  assert.throws(() => again.bootstrap(newStore(2n)), { code: "AlreadyBootstrapped" });
  again.close();
});

test("before bootstrap, region operations fail with NotBootstrapped; AllocID, TSO and store registration work", () => {
  const dir = tempDir();
  const core = SchedulerCore.open(dir);
  assert.equal(core.isBootstrapped(), false);
  const hb = core.regionHeartbeat(schedulerpb.RegionHeartbeatRequest.fromPartial({}));
  assert.equal(hb.ok ? "ok" : hb.error.code, "NotBootstrapped");
  assert.equal(core.allocId(), 1n);
  assert.ok(core.tso(1) > 0n);
  // Stores register while the cluster waits for its initial stores; they survive a restart.
  core.putStore(newStore(2n));
  core.putStore(newStore(3n));
  assert.deepEqual(core.getAllStores().map((s) => s.id), [2n, 3n]);
  core.close();
  const again = SchedulerCore.open(dir);
  assert.deepEqual(again.getAllStores().map((s) => s.id), [2n, 3n]);
  assert.equal(again.isBootstrapped(), false);
  again.close();
});

test("store heartbeat from an unknown store is an error; a known one is recorded", () => {
  const { core } = mustOpenBootstrapped(2, { now: () => 1234 });
  assert.throws(() => core.storeHeartbeat(schedulerpb.StoreStats.fromPartial({ storeId: 9n })), { code: "StoreNotFound" });
  core.storeHeartbeat(schedulerpb.StoreStats.fromPartial({ storeId: 2n, capacity: 100n }));
  assert.equal(core.getStoreInfo(2n)!.stats?.capacity, 100n);
  assert.equal(core.getStoreInfo(2n)!.lastHeartbeatMs, 1234);
  core.close();
});

test("a tombstone store is excluded on request and may not come back", () => {
  const { core } = mustOpenBootstrapped(3);
  core.putStore({ ...newStore(3n), state: metapb.StoreState.Tombstone });
  assert.deepEqual(core.getAllStores(true).map((s) => s.id), [1n, 2n]);
  assert.equal(core.getAllStores().length, 3);
  assert.throws(() => core.putStore(newStore(3n)), { code: "StoreTombstone" });
  core.close();
});

test("ids increase across restarts and never repeat", () => {
  const dir = tempDir();
  let core = SchedulerCore.open(dir);
  const seen: bigint[] = [];
  for (let i = 0; i < 1500; i++) seen.push(core.allocId());
  core.close();
  core = SchedulerCore.open(dir);
  for (let i = 0; i < 10; i++) seen.push(core.allocId());
  core.close();
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `id ${seen[i]} after ${seen[i - 1]}`);
});

test("the id allocator persists the window end before handing out ids in it", () => {
  const saved: bigint[] = [];
  const ids = new IdAllocator({ loadIdMark: () => 0n, saveIdMark: (m) => void saved.push(m) }, 10n);
  assert.equal(ids.alloc(), 1n);
  assert.deepEqual(saved, [10n]);
  for (let i = 0; i < 9; i++) ids.alloc();
  assert.deepEqual(saved, [10n]);
  assert.equal(ids.alloc(), 11n);
  assert.deepEqual(saved, [10n, 20n]);
});

test("TSO is strictly increasing within a run, with batches and logical overflow", () => {
  let mark = 0n;
  const now = 1_000_000;
  const tso = new Tso({ loadTsoMark: () => mark, saveTsoMark: (m) => void (mark = m) }, () => now);
  let last = 0n;
  for (const count of [1, 5, 100_000, 200_000, 1, Number(MAX_LOGICAL - 1n), 3]) {
    const ts = tso.allocate(count);
    assert.ok(ts - BigInt(count) + 1n > last, `range of ${count} ending at ${ts} starts after ${last}`);
    assert.ok((ts & (MAX_LOGICAL - 1n)) >= BigInt(count - 1), "a batch shares one physical part");
    last = ts;
  }
  assert.ok(mark > last >> 18n, "the saved mark is above every handed-out physical time");
  assert.throws(() => tso.allocate(0), { code: "InvalidArgument" });
});

test("TSO is strictly increasing when the clock goes backwards", () => {
  let mark = 0n;
  let now = 5_000_000;
  const tso = new Tso({ loadTsoMark: () => mark, saveTsoMark: (m) => void (mark = m) }, () => now);
  let last = tso.allocate(1);
  for (const t of [4_000_000, 4_999_999, 5_000_000, 3, 5_000_001]) {
    now = t;
    const ts = tso.allocate(10);
    assert.ok(ts - 9n > last);
    last = ts;
  }
});

test("TSO is strictly increasing across a restart (reopen the file), even with the clock behind", () => {
  const dir = tempDir();
  let now = 10_000_000;
  let core = SchedulerCore.open(dir, { now: () => now });
  let last = 0n;
  for (let i = 0; i < 100; i++) last = core.tso(1000);
  core.close();
  now = 9_000_000;
  core = SchedulerCore.open(dir, { now: () => now });
  const first = core.tso(1);
  assert.ok(first > last, `${first} after restart must exceed ${last}`);
  core.close();
});

test("stores, regions and the GC safe point persist across reopen; the safe point never decreases", () => {
  const { core, dir } = mustOpenBootstrapped(3);
  const clusterId = core.clusterId;
  const r1 = newRegion(1n, Buffer.alloc(0), Buffer.from("m"), [1n, 2n, 3n]);
  const r2 = newRegion(2n, Buffer.from("m"), Buffer.alloc(0), [1n, 2n, 3n]);
  mustHeartbeat(core, heartbeat(r1));
  mustHeartbeat(core, heartbeat(r2));
  assert.equal(core.updateGcSafePoint(50n), 50n);
  assert.equal(core.updateGcSafePoint(40n), 50n);
  core.close();
  const again = SchedulerCore.open(dir);
  assert.equal(again.clusterId, clusterId);
  assert.deepEqual(again.getAllStores().map((s) => s.id), [1n, 2n, 3n]);
  assert.deepEqual(again.getRegionById(1n)?.region, r1);
  assert.deepEqual(again.getRegion(Buffer.from("z"))?.region, r2);
  assert.equal(again.getGcSafePoint(), 50n);
  // A merge replaces both persisted regions.
  const merged = { ...r2, startKey: Buffer.alloc(0), regionEpoch: { version: 3n, confVer: 2n } };
  mustHeartbeat(again, heartbeat(merged));
  again.close();
  const third = SchedulerCore.open(dir);
  assert.equal(third.regionCount(), 1);
  assert.deepEqual(third.getRegion(Buffer.from("a"))?.region, merged);
  third.close();
});

test("a second scheduler on the same file fails with Locked naming the file", () => {
  const { core, dir } = mustOpenBootstrapped(1);
  const file = path.join(dir, SCHEDULER_DB_FILE);
  assert.throws(() => SchedulerCore.open(dir), (e: unknown) => e instanceof SchedulerError && e.code === "Locked" && e.message.includes(file));
  core.close();
});

test("a corrupt file fails with Corrupt naming the file", () => {
  const dir = tempDir();
  const file = path.join(dir, SCHEDULER_DB_FILE);
  fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
  assert.throws(() => SchedulerCore.open(dir), (e: unknown) => e instanceof SchedulerError && e.code === "Corrupt" && e.message.includes(file));
});
