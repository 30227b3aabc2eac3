/**
 * `regionkv ctl txn` and `regionkv ctl gc` on real processes, and MVCC GC end to end: versions
 * written by several transactions, the safe point advanced past them, the stores' GC loop
 * (--gc-interval 1s) resolves a lock left below the safe point and deletes the versions no reader
 * can see; a read at the newest version still sees the data, a read below the safe point is
 * refused as too old.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { TxnClient } from "@regionkv/client";
import { kvrpcpb, regionkvpb } from "@regionkv/proto";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster, runCli } from "./support/processes.js";

async function ctl(c: ProcessCluster, ...args: string[]): Promise<string> {
  const r = await runCli(["ctl", "--scheduler", c.schedulerAddr, ...args]);
  assert.equal(r.code, 0, `ctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

test("ctl txn and ctl gc; the stores' GC loop collects old versions and resolves old locks", async (t) => {
  const c = await ProcessCluster.start(t, { stores: 3, schedulerArgs: ["--gc-life-time", "0s"], storeArgs: ["--gc-interval", "1s"] });

  // ctl txn: several operations, one commit; reads of what was committed.
  const first = JSON.parse(await ctl(c, "txn", "put", "a", "1", "put", "b", "2", "--json")) as { commitTs: string };
  assert.match(first.commitTs, /^\d+$/);
  assert.match(await ctl(c, "txn", "get", "a", "get", "b", "get", "nope"), /a\t1\nb\t2\nnope\t\(not found\)\nread at \d+/);
  for (const v of ["2", "3", "4"]) await ctl(c, "txn", "put", "a", v, "--mode", "2pc");
  assert.match(await ctl(c, "txn", "get", "a", "delete", "b"), /a\t4\ncommitted at \d+/);
  const bad = await runCli(["ctl", "--scheduler", c.schedulerAddr, "txn", "put", "a"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /needs a key and a value/);

  // A transaction abandoned after its prewrite (its client gone): a lock below the coming safe point.
  // Its commit stops for good after the prewrite (as if the process died there); the client closes.
  let prewritten!: () => void;
  const reached = new Promise<void>((resolve) => (prewritten = resolve));
  const db = await TxnClient.connect({
    scheduler: c.schedulerAddr,
    onePc: false,
    asyncCommit: false,
    lockTtlMs: 60_000,
    failpoints: {
      afterPrewrite: () => {
        prewritten();
        return new Promise<void>(() => undefined);
      },
    },
  });
  const doomed = await db.begin();
  doomed.put("c", "never");
  doomed.put("d", "never");
  void doomed.commit().catch(() => undefined);
  await reached;
  await db.close();

  // Before GC: a read at the first commit ts sees a = 1.
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());
  const region = (await sched.getRegion(Buffer.from("a")))!;
  const leaderStore = (await sched.getStore(region.leader!.storeId))!;
  const kv = new regionkvpb.KvClient(leaderStore.address, grpc.credentials.createInsecure());
  t.after(() => kv.close());
  const ctx: kvrpcpb.Context = { regionId: region.region.id, regionEpoch: region.region.regionEpoch, peer: region.leader, term: 0n, resolvedLocks: [] };
  const getAt = (version: bigint) =>
    new Promise<kvrpcpb.GetResponse>((resolve, reject) => kv.kvGet(kvrpcpb.GetRequest.fromPartial({ context: ctx, key: Buffer.from("a"), version }), (e, r) => (e ? reject(e) : resolve(r!))));
  assert.equal((await getAt(BigInt(first.commitTs))).value.toString(), "1");

  // ctl gc: shows, then advances the safe point to now; the stores collect within a few seconds.
  assert.match(await ctl(c, "gc"), /GC safe point: 0 \(never raised\)/);
  const advanced = await ctl(c, "gc", "--advance", "0s", "--json");
  const safePoint = BigInt((JSON.parse(advanced) as { safePoint: string }).safePoint);
  assert.ok(safePoint > BigInt(first.commitTs));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await getAt(BigInt(first.commitTs));
    if (r.error?.kind?.$case === "abort") {
      assert.match(r.error.kind.value, /snapshot too old/);
      break;
    }
    assert.ok(Date.now() < deadline, "the leader store collected below the safe point within 30 s");
    await new Promise((res) => setTimeout(res, 250));
  }
  // Every store enforces the scheduler's safe point (read every 10 s), not only the one that
  // collected: a store without the region's leader answers "too old" before routing.
  const other = c.stores.find((st) => st.storeId !== String(region.leader!.storeId))!;
  const kvOther = new regionkvpb.KvClient(other.address, grpc.credentials.createInsecure());
  t.after(() => kvOther.close());
  const otherDeadline = Date.now() + 30_000;
  for (;;) {
    const r = await new Promise<kvrpcpb.GetResponse>((resolve, reject) =>
      kvOther.kvGet(kvrpcpb.GetRequest.fromPartial({ context: ctx, key: Buffer.from("a"), version: BigInt(first.commitTs) }), (e, res) => (e ? reject(e) : resolve(res!))),
    );
    if (r.error?.kind?.$case === "abort") break;
    assert.ok(Date.now() < otherDeadline, `store ${other.storeId} refuses reads below the safe point within 30 s`);
    await new Promise((res) => setTimeout(res, 500));
  }
  // The newest versions are intact; the abandoned transaction was rolled back by GC's lock resolution.
  const after = JSON.parse(await ctl(c, "txn", "get", "a", "get", "b", "get", "c", "get", "d", "--json")) as { reads: Array<{ key: string; value: string | null }> };
  assert.deepEqual(after.reads, [
    { key: "a", value: "4" },
    { key: "b", value: null },
    { key: "c", value: null },
    { key: "d", value: null },
  ]);
  const locks = await new Promise<kvrpcpb.ScanLockResponse>((resolve, reject) =>
    kv.kvScanLock(kvrpcpb.ScanLockRequest.fromPartial({ context: ctx, maxVersion: (1n << 64n) - 1n, limit: 100 }), (e, r) => (e ? reject(e) : resolve(r!))),
  );
  assert.deepEqual(locks.locks, [], "no lock is left");
  assert.match(await ctl(c, "gc", "--run"), /collected \d+ regions, resolved 0 old locks/);
});
