/**
 * RaftStore end to end on real engines, driven by hand (manual mode, simulated clock): writes
 * through the log, reads through ReadIndex, every region error a proposal can meet, deadlines,
 * abort signals and stop, restart without re-applying, raft-log GC, and a lagging follower caught
 * up by a snapshot. Every proposal must settle exactly once.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { WriteBatch, encodeBytes, type Engine } from "@regionkv/engine";
import { raft_cmdpb } from "@regionkv/proto";
import { StateRole } from "@regionkv/raft";
import type { ProposalResult, RaftstoreMetrics } from "../src/index.js";
import {
  TestCluster,
  b,
  deleteRangeReq,
  deleteReq,
  getReq,
  header,
  makeRegion,
  mustFail,
  mustOk,
  putReq,
  track,
  turn,
} from "./helpers.js";

/** Totals (count, sum) of one of a store's histograms. */
async function histogram(h: RaftstoreMetrics["readIndexBatch"]): Promise<{ count: number; sum: number }> {
  const m = await h.get();
  const pick = (suffix: string) => m.values.filter((v) => v.metricName?.endsWith(suffix)).reduce((a, v) => a + v.value, 0);
  return { count: pick("_count"), sum: pick("_sum") };
}

/** Post a command straight into the peer's mailbox with a callback that counts how often it is called. */
function proposeCounting(c: TestCluster, storeId: number, req: raft_cmdpb.RaftCmdRequest, deadline = c.now + 60_000): { calls: ProposalResult[] } {
  const rec = { calls: [] as ProposalResult[] };
  const ok = c.store(storeId).router.send(1, { type: "raftCmd", request: req, callback: (r) => rec.calls.push(r), deadline });
  assert.ok(ok);
  return rec;
}

function lastIndex(c: TestCluster, storeId: number): number {
  return c.store(storeId).peers.get(1)!.raw.raft.raftLog.lastIndex();
}

function applyState(e: Engine): { applied: number; truncated: number } {
  const as = e.getApplyState(1)!;
  return { applied: Number(as.appliedIndex), truncated: Number(as.truncatedState?.index ?? 0n) };
}

function scanKeys(e: Engine, cf: "default" | "lock" | "write" = "default"): string[] {
  return e.scan(cf, Buffer.alloc(0), Buffer.alloc(0)).map((p) => p.key.toString());
}

describe("raftstore: a single-store region", () => {
  test("the only voter campaigns at start and becomes leader without waiting for an election timeout", (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    assert.equal(c.leaderStore(), 1);
  });

  test("put, get, delete and deleteRange apply through the log, in every column family", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    for (const k of ["a", "b", "c", "d", "e"]) await c.mustPut(1, k, `v-${k}`);
    await c.mustPut(1, "a", "lock-a", "lock");
    // The versioned families hold memcomparable user key ++ version (engine keys.ts).
    const writeKey = Buffer.concat([encodeBytes(b("a")), Buffer.alloc(8, 0xfe)]);
    await c.mustPut(1, writeKey, "write-a", "write");
    assert.equal(await c.mustGet(1, "a"), "v-a");
    assert.equal(await c.mustGet(1, "a", "lock"), "lock-a");
    assert.equal(await c.mustGet(1, writeKey, "write"), "write-a");
    const malformed = await c.propose(1, putReq(c.region, c.peerOf(1), "a", "raw key in a versioned family", "write"));
    assert.ok(!malformed.ok && malformed.error.kind === "InvalidRequest", "a write-CF key that is not user key ++ version is refused");
    assert.equal(await c.mustGet(1, "zz"), undefined);

    mustOk(await c.propose(1, deleteReq(c.region, c.peerOf(1), "a")));
    assert.equal(await c.mustGet(1, "a"), undefined);
    assert.equal(await c.mustGet(1, "a", "lock"), "lock-a", "a delete touches only its column family");

    mustOk(await c.propose(1, deleteRangeReq(c.region, c.peerOf(1), "b", "d")));
    assert.deepEqual(scanKeys(c.engine(1)), ["d", "e"]);
    assert.equal(c.engine(1).get("write", writeKey)?.toString(), "write-a");
  });

  test("compare-and-swap is decided at apply, in log order, seeing earlier writes of the same apply batch", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    const cas = (key: string, expected: string | undefined, value: string): raft_cmdpb.RaftCmdRequest => ({
      header: header(c.region, c.peerOf(1)),
      requests: [
        {
          cmdType: raft_cmdpb.CmdType.CompareAndSwap,
          compareAndSwap: { cf: "", key: b(key), value: b(value), previousNotExist: expected === undefined, previousValue: b(expected ?? ""), delete: false },
        },
      ],
      adminRequest: undefined,
    });
    const casResult = (r: ProposalResult) => {
      const resp = mustOk(r).responses[0]?.compareAndSwap;
      assert.ok(resp, "a CompareAndSwap response");
      return { succeed: resp.succeed, previous: resp.previousNotExist ? undefined : resp.previousValue.toString() };
    };
    // Three commands accepted in one round: one raft round, one apply batch.
    const store = c.store(1);
    const p1 = store.propose(cas("k", undefined, "v1"));
    const p2 = store.propose(cas("k", "v1", "v2"));
    const p3 = store.propose(cas("k", undefined, "x"));
    c.pump();
    const [r1, r2, r3] = await Promise.all([p1, p2, p3]);
    assert.deepEqual(casResult(r1), { succeed: true, previous: undefined });
    assert.deepEqual(casResult(r2), { succeed: true, previous: "v1" }, "sees the first swap, applied in the same batch");
    assert.deepEqual(casResult(r3), { succeed: false, previous: "v2" });
    assert.equal(await c.mustGet(1, "k"), "v2");

    // Against committed state, and after a delete and a range delete in the same command.
    assert.deepEqual(casResult(await c.propose(1, cas("k", "nope", "y"))), { succeed: false, previous: "v2" });
    const del = deleteReq(c.region, c.peerOf(1), "k");
    del.requests.push(...cas("k", undefined, "after-delete").requests);
    const resp = mustOk(await c.propose(1, del));
    assert.equal(resp.responses[1]?.compareAndSwap?.succeed, true, "the delete earlier in the command is seen");
    const dr = deleteRangeReq(c.region, c.peerOf(1), "a", "z");
    dr.requests.push(...cas("k", "after-delete", "z").requests);
    const resp2 = mustOk(await c.propose(1, dr));
    assert.deepEqual(
      { succeed: resp2.responses[1]?.compareAndSwap?.succeed, absent: resp2.responses[1]?.compareAndSwap?.previousNotExist },
      { succeed: false, absent: true },
      "the range delete earlier in the command removed the key",
    );
    assert.equal(await c.mustGet(1, "k"), undefined);
    // A swap that deletes.
    await c.mustPut(1, "k", "old");
    const casDelete = cas("k", "old", "");
    casDelete.requests[0]!.compareAndSwap!.delete = true;
    assert.deepEqual(casResult(await c.propose(1, casDelete)), { succeed: true, previous: "old" });
    assert.equal(await c.mustGet(1, "k"), undefined);
    // Mixed with a read: refused at propose.
    const mixed = cas("k", undefined, "m");
    mixed.requests.push(...getReq(c.region, c.peerOf(1), "k").requests);
    mustFail(await c.propose(1, mixed), "InvalidRequest");
  });

  test("a put's response echoes one response per request and the applied index advances with it", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    const before = applyState(c.engine(1)).applied;
    const req = putReq(c.region, c.peerOf(1), "k", "v");
    req.requests.push(...putReq(c.region, c.peerOf(1), "k2", "v2").requests);
    const resp = mustOk(await c.propose(1, req));
    assert.equal(resp.responses.length, 2);
    assert.equal(applyState(c.engine(1)).applied, before + 1, "one command, one entry");
  });

  test("reads go through ReadIndex, not the log: the last index does not grow, and one round serves a batch", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    await c.mustPut(1, "k", "v");
    const last = lastIndex(c, 1);
    const store = c.store(1);
    const reads = [1, 2, 3].map(() => track(store.propose(getReq(c.region, c.peerOf(1), "k"))));
    c.pump();
    await turn();
    for (const r of reads) assert.equal(mustOk(r.value!).responses[0]?.get?.value.toString(), "v");
    assert.equal(lastIndex(c, 1), last, "no log entry for reads");
    const h = await histogram(c.store(1).metrics.readIndexBatch);
    assert.deepEqual(h, { count: 1, sum: 3 }, "three reads queued in one round share one ReadIndex");
  });

  test("a Snap read returns the region and a consistent engine view that outlives later writes", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    await c.mustPut(1, "k", "before");
    const req: raft_cmdpb.RaftCmdRequest = { header: getReq(c.region, c.peerOf(1), "k").header, requests: [{ cmdType: 5 /* Snap */ }], adminRequest: undefined };
    const r = await c.propose(1, req);
    const resp = mustOk(r);
    assert.equal(resp.responses[0]?.snap?.region?.id, 1n);
    assert.ok(r.ok && r.snapshot);
    await c.mustPut(1, "k", "after");
    if (r.ok && r.snapshot) {
      assert.equal(r.snapshot.get("default", b("k"))?.toString(), "before");
      r.snapshot.release();
    }
  });

  test("a key outside a bounded region gets KeyNotInRegion, for writes and reads", async (t) => {
    const region = makeRegion([1], { start: "b", end: "m" });
    const c = new TestCluster(t, [1], { region });
    c.pump();
    await c.mustPut(1, "b", "first key is inside");
    for (const key of ["a", "m", "z"]) {
      const err = mustFail(await c.propose(1, putReq(region, c.peerOf(1), key, "v")), "KeyNotInRegion");
      assert.equal(err.key.toString(), key);
      assert.equal(err.startKey.toString(), "b");
      assert.equal(err.endKey.toString(), "m");
    }
    mustFail(await c.propose(1, getReq(region, c.peerOf(1), "z")), "KeyNotInRegion");
    assert.deepEqual(scanKeys(c.engine(1)), ["b"]);
  });

  test("a deleteRange reaching past a bounded region deletes only the region's keys", async (t) => {
    const region = makeRegion([1], { start: "b", end: "m" });
    const c = new TestCluster(t, [1], { region });
    c.pump();
    c.engine(1).write(new WriteBatch().put("default", b("a"), b("left")).put("default", b("z"), b("right")).put("default", b("m"), b("end key")));
    for (const k of ["b", "c", "l"]) await c.mustPut(1, k, "in");
    mustOk(await c.propose(1, deleteRangeReq(region, c.peerOf(1), "", "")));
    assert.deepEqual(scanKeys(c.engine(1)), ["a", "m", "z"]);
  });

  test("a command for another store gets StoreNotMatch; one from an old term gets StaleCommand", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    const wrongStore = putReq(c.region, { id: 1n, storeId: 9n, role: 0 }, "k", "v");
    const err = mustFail(await c.propose(1, wrongStore), "StoreNotMatch");
    assert.deepEqual([err.requestStoreId, err.actualStoreId], [9n, 1n]);
    const term = BigInt(c.store(1).peers.get(1)!.raw.raft.term);
    const old = putReq(c.region, c.peerOf(1), "k", "v");
    old.header!.term = term - 2n;
    mustFail(await c.propose(1, old), "StaleCommand");
    const recent = putReq(c.region, c.peerOf(1), "k", "v");
    recent.header!.term = term - 1n;
    mustOk(await c.propose(1, recent));
  });

  test("proposals beyond maxPendingProposalsPerPeer are refused with ServerIsBusy", async (t) => {
    const c = new TestCluster(t, [1, 2, 3], { config: { maxPendingProposalsPerPeer: 2 } });
    const leader = c.mustElect();
    c.isolate(leader);
    const recs = [0, 1, 2].map((i) => proposeCounting(c, leader, putReq(c.region, c.peerOf(leader), `k${i}`, "v")));
    c.pump();
    assert.deepEqual(recs.map((r) => r.calls.length), [0, 0, 1]);
    mustFail(recs[2]!.calls[0]!, "ServerIsBusy");
    c.clearFilters();
    c.tick(2);
    for (const r of recs.slice(0, 2)) mustOk(r.calls[0]!);
  });

  test("a stale epoch gets EpochNotMatch with the current region, and nothing is appended", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    const last = lastIndex(c, 1);
    const req = putReq(c.region, c.peerOf(1), "k", "v");
    req.header!.regionEpoch = { confVer: 1n, version: 0n };
    const err = mustFail(await c.propose(1, req), "EpochNotMatch");
    assert.equal(err.currentRegions[0]?.id, 1n);
    assert.deepEqual(err.currentRegions[0]?.regionEpoch, { confVer: 1n, version: 1n });
    const read = getReq(c.region, c.peerOf(1), "k");
    read.header!.regionEpoch = { confVer: 1n, version: 2n };
    mustFail(await c.propose(1, read), "EpochNotMatch");
    assert.equal(lastIndex(c, 1), last);
  });

  test("a command over maxRaftEntryBytes gets RaftEntryTooLarge and is not appended", async (t) => {
    const c = new TestCluster(t, [1], { config: { maxRaftEntryBytes: 1024 } });
    c.pump();
    const last = lastIndex(c, 1);
    const err = mustFail(await c.propose(1, putReq(c.region, c.peerOf(1), "k", Buffer.alloc(2000))), "RaftEntryTooLarge");
    assert.ok(err.entrySize > 2000n);
    assert.equal(err.regionId, 1n);
    assert.equal(lastIndex(c, 1), last);
    await c.mustPut(1, "k", Buffer.alloc(500));
  });

  test("a proposal to an unknown region, or a mix of reads and writes, is refused", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    const unknown = putReq(c.region, c.peerOf(1), "k", "v");
    unknown.header!.regionId = 99n;
    mustFail(await c.propose(1, unknown), "RegionNotFound");
    const mixed = putReq(c.region, c.peerOf(1), "k", "v");
    mixed.requests.push(...getReq(c.region, c.peerOf(1), "k").requests);
    mustFail(await c.propose(1, mixed), "InvalidRequest");
  });

  test("restart on the same engine keeps the data and does not re-apply entries at or below the applied index", async (t) => {
    const c = new TestCluster(t, [1]);
    c.pump();
    const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    for (const k of keys) await c.mustPut(1, k, `v-${k}`);
    const before = applyState(c.engine(1));
    c.stopStore(1);

    // Tamper with an applied key behind raft's back: re-applying its entry would restore it.
    const engine = (await import("@regionkv/engine")).Engine.open(c.dirs.get(1)!);
    engine.write(new WriteBatch().put("default", b("k07"), b("tampered")));
    engine.close();

    c.startStore(1);
    // Count the puts applied after the restart (a checksum of the apply batches).
    let appliedPuts = 0;
    const e = c.engine(1);
    const write = e.write.bind(e);
    e.write = (wb, opts) => {
      if (!opts?.sync) appliedPuts += wb.ops.filter((op) => op.kind === "put").length;
      return write(wb, opts);
    };
    c.pump();
    c.tick(5);
    assert.equal(c.leaderStore(), 1);
    assert.equal(appliedPuts, 0, "no entry at or below the applied index was applied again");
    assert.equal(e.get("default", b("k07"))?.toString(), "tampered");
    assert.ok(applyState(e).applied >= before.applied);
    for (const k of keys.filter((k) => k !== "k07")) assert.equal(e.get("default", b(k))?.toString(), `v-${k}`);
    await c.mustPut(1, "after", "restart");
    assert.equal(appliedPuts, 1);
    assert.equal(await c.mustGet(1, "k19"), "v-k19");
  });

  test("log GC: after raftLogGcCountLimit entries the truncated index advances and the old log rows are deleted", async (t) => {
    const c = new TestCluster(t, [1], { config: { raftLogGcCountLimit: 10, raftLogGcTickInterval: 2 } });
    c.pump();
    for (let i = 0; i < 30; i++) await c.mustPut(1, `k${i}`, "v");
    c.tick(4);
    await c.runWorkers();
    c.tick(2);
    await c.runWorkers();
    const { applied, truncated } = applyState(c.engine(1));
    assert.ok(truncated > 5, `truncated index advanced (${truncated})`);
    assert.ok(applied - truncated <= 2 * 10, `applied ${applied} − truncated ${truncated} ≤ 2 × limit`);
    const rows = c.engine(1).logEntries(1, 0, Number.MAX_SAFE_INTEGER, Infinity).map((e) => e.index);
    assert.ok(rows.length > 0);
    assert.equal(rows[0], truncated + 1, "the log starts right after the truncated index");
    assert.equal(rows[rows.length - 1], c.store(1).peers.get(1)!.storage.lastIndex());
    assert.equal(c.store(1).peers.get(1)!.storage.firstIndex(), truncated + 1);
    // The region still works after compaction, and across a restart.
    await c.mustPut(1, "after-gc", "v");
    c.stopStore(1);
    c.startStore(1);
    c.pump();
    assert.equal(await c.mustGet(1, "k29"), "v");
    assert.equal(await c.mustGet(1, "after-gc"), "v");
  });

  test("a proposal whose deadline passes settles with Timeout exactly once, even if its entry applies later", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.isolate(leader);
    const rec = proposeCounting(c, leader, putReq(c.region, c.peerOf(leader), "late", "v"), c.now + 350);
    c.pump();
    assert.equal(rec.calls.length, 0);
    c.tick(3);
    assert.equal(rec.calls.length, 0, "not yet due");
    c.tick(1);
    assert.equal(rec.calls.length, 1);
    mustFail(rec.calls[0]!, "Timeout");
    // Heal before the leader steps down: the entry commits and applies, but the proposal stays settled.
    c.clearFilters();
    c.tick(3);
    assert.equal(c.engine(leader).get("default", b("late"))?.toString(), "v", "the entry may still apply");
    assert.equal(rec.calls.length, 1);
  });

  test("a proposal times out at its own deadline even when an earlier proposal has a later one", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.isolate(leader);
    const patient = proposeCounting(c, leader, putReq(c.region, c.peerOf(leader), "patient", "v"), c.now + 60_000);
    const hasty = proposeCounting(c, leader, putReq(c.region, c.peerOf(leader), "hasty", "v"), c.now + 250);
    c.pump();
    c.tick(3);
    assert.equal(hasty.calls.length, 1, "the later proposal with the earlier deadline timed out");
    mustFail(hasty.calls[0]!, "Timeout");
    assert.equal(patient.calls.length, 0, "the earlier proposal is still waiting");
    c.clearFilters();
    c.tick(3);
    assert.equal(patient.calls.length, 1);
    mustOk(patient.calls[0]!);
    assert.equal(hasty.calls.length, 1);
  });

  test("a read whose deadline passes settles with Timeout exactly once", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.isolate(leader);
    const rec = proposeCounting(c, leader, getReq(c.region, c.peerOf(leader), "k"), c.now + 250);
    c.tick(3);
    assert.equal(rec.calls.length, 1);
    mustFail(rec.calls[0]!, "Timeout");
    c.clearFilters();
    c.tick(5);
    assert.equal(rec.calls.length, 1);
  });

  test("an aborted signal settles the proposal with Aborted; an already aborted one never reaches the log", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.isolate(leader);
    const ac = new AbortController();
    const p = track(c.store(leader).propose(putReq(c.region, c.peerOf(leader), "k", "v"), { signal: ac.signal }));
    c.pump();
    await turn();
    assert.equal(p.settled, false);
    ac.abort();
    await turn();
    assert.equal(p.settled, true);
    mustFail(p.value!, "Aborted");

    const last = lastIndex(c, leader);
    const pre = new AbortController();
    pre.abort();
    const q = track(c.store(leader).propose(putReq(c.region, c.peerOf(leader), "k2", "v"), { signal: pre.signal }));
    c.pump();
    await turn();
    mustFail(q.value!, "Aborted");
    assert.equal(lastIndex(c, leader), last);
  });

  test("stop() fails waiting proposals and reads with RegionNotFound, and later proposals too", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.isolate(leader);
    const w = proposeCounting(c, leader, putReq(c.region, c.peerOf(leader), "k", "v"));
    const r = proposeCounting(c, leader, getReq(c.region, c.peerOf(leader), "k"));
    c.pump();
    assert.equal(w.calls.length + r.calls.length, 0);
    const store = c.store(leader);
    store.stop();
    for (const rec of [w, r]) {
      assert.equal(rec.calls.length, 1);
      mustFail(rec.calls[0]!, "RegionNotFound");
    }
    mustFail(await store.propose(putReq(c.region, c.peerOf(leader), "k", "v")), "RegionNotFound");
    store.stop();
    assert.equal(w.calls.length, 1, "stopping twice settles nothing twice");
  });
});

describe("raftstore: a three-store region", () => {
  test("a write on the leader is applied on every store", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    await c.mustPut(leader, "k", "v");
    c.tick(3);
    for (const id of [1, 2, 3]) assert.equal(c.engine(id).get("default", b("k"))?.toString(), "v", `store ${id}`);
  });

  test("a follower answers writes and reads with NotLeader and a hint naming the leader", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.tick(2);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    for (const req of [putReq(c.region, c.peerOf(follower), "k", "v"), getReq(c.region, c.peerOf(follower), "k")]) {
      const err = mustFail(await c.propose(follower, req), "NotLeader");
      assert.equal(err.regionId, 1n);
      assert.deepEqual(err.leader, c.peerOf(leader));
    }
  });

  test("TransferLeader is answered at once, not through the log, and the target takes over", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.tick(2);
    const target = [1, 2, 3].find((id) => id !== leader)!;
    const last = lastIndex(c, leader);
    const req: raft_cmdpb.RaftCmdRequest = {
      header: putReq(c.region, c.peerOf(leader), "k", "v").header,
      requests: [],
      adminRequest: { cmdType: raft_cmdpb.AdminCmdType.TransferLeader, transferLeader: { peer: c.peerOf(target) } },
    };
    const rec = proposeCounting(c, leader, req);
    c.store(leader).poll();
    assert.equal(rec.calls.length, 1, "answered in the round it was handled");
    assert.equal(mustOk(rec.calls[0]!).adminResponse?.cmdType, raft_cmdpb.AdminCmdType.TransferLeader);
    assert.equal(lastIndex(c, leader), last, "no log entry for the transfer itself");
    c.pump();
    c.tick(2);
    assert.equal(c.leaderStore(), target);
    await c.mustPut(target, "k", "v");
    const stale = { ...req, header: { ...req.header!, peer: c.peerOf(target), regionEpoch: { confVer: 0n, version: 1n } } };
    mustFail(await c.propose(target, stale), "EpochNotMatch");
  });

  test("a deposed leader in the minority never answers a read from its stale state", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const old = c.mustElect();
    await c.mustPut(old, "k", "v1");
    c.isolate(old);
    const stale = proposeCounting(c, old, getReq(c.region, c.peerOf(old), "k"));
    // The majority elects a new leader and overwrites k.
    let fresh: number | undefined;
    for (let i = 0; i < 60 && fresh === undefined; i++) {
      c.tick();
      fresh = [1, 2, 3].find((id) => id !== old && c.store(id).peers.get(1)!.isLeader);
    }
    assert.ok(fresh !== undefined, "the majority elected a leader");
    await c.mustPut(fresh, "k", "v2");
    c.tick(25);
    assert.equal(stale.calls.length, 1, "the read settled");
    assert.equal(stale.calls[0]!.ok, false, "…with an error, not the stale value");
    assert.notEqual(c.store(old).peers.get(1)!.raw.raft.state, StateRole.Leader);
    c.clearFilters();
    c.tick(5);
    assert.equal(await c.mustGet(fresh, "k"), "v2");
  });

  test("a lagging follower behind the compaction point catches up through a snapshot", async (t) => {
    const c = new TestCluster(t, [1, 2, 3], { config: { raftLogGcCountLimit: 10, raftLogGcTickInterval: 2 } });
    const leader = c.mustElect();
    await c.mustPut(leader, "k1", "v1", "lock");
    await c.mustPut(leader, "k2", "v2", "lock");
    c.tick(3);
    const lagging = [1, 2, 3].find((id) => id !== leader)!;
    c.isolate(lagging);
    for (let i = 100; i < 140; i++) await c.mustPut(leader, `k${i}`, `v${i}`);
    mustOk(await c.propose(leader, deleteReq(c.region, c.peerOf(leader), "k2", "lock")));
    for (let i = 0; i < 5; i++) {
      c.tick(2);
      await c.runWorkers();
    }
    const { truncated } = applyState(c.engine(leader));
    assert.ok(truncated > applyState(c.engine(lagging)).applied, "the leader compacted past what the follower has");
    assert.equal(c.engine(lagging).get("default", b("k100")), undefined);

    c.clearFilters();
    for (let i = 0; i < 20 && c.engine(lagging).get("default", b("k139")) === undefined; i++) {
      c.tick(2);
      await c.runWorkers();
    }
    const e = c.engine(lagging);
    assert.equal(e.get("default", b("k139"))?.toString(), "v139");
    assert.equal(e.get("lock", b("k1"))?.toString(), "v1");
    assert.equal(e.get("lock", b("k2")), undefined, "the delete is in the snapshot");
    const snaps = await c.store(leader).metrics.snapshots.get();
    assert.ok(snaps.values.some((v) => v.labels.kind === "generate" && v.labels.result === "ok" && v.value >= 1), "the leader generated a snapshot");
    assert.ok(snaps.values.some((v) => v.labels.kind === "send" && v.labels.result === "ok" && v.value >= 1), "and its delivery was reported");
    // The follower keeps replicating normally afterwards, also across a restart.
    await c.mustPut(leader, "after", "snap");
    c.tick(3);
    assert.equal(e.get("default", b("after"))?.toString(), "snap");
    c.stopStore(lagging);
    c.startStore(lagging);
    c.tick(3);
    assert.equal(c.engine(lagging).get("default", b("k139"))?.toString(), "v139");
    for (const id of [1, 2, 3]) {
      const s = applyState(c.engine(id));
      assert.ok(s.applied - s.truncated <= 2 * 10 + 5, `store ${id}: applied ${s.applied} − truncated ${s.truncated}`);
    }
  });

  test("writes accepted in the round in which the leader is deposed fail with NotLeader and are not forwarded", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const old = c.mustElect();
    c.isolate(old);
    let fresh: number | undefined;
    for (let i = 0; i < 60 && fresh === undefined; i++) {
      c.tick();
      fresh = [1, 2, 3].find((id) => id !== old && c.store(id).peers.get(1)!.isLeader);
    }
    assert.ok(fresh !== undefined);
    assert.ok(c.store(old).peers.get(1)!.isLeader, "the old leader has not noticed yet");
    // The write reaches the old leader's mailbox first, then the new leader's heartbeat, in one round.
    const rec = proposeCounting(c, old, putReq(c.region, c.peerOf(old), "k", "v"));
    c.clearFilters();
    c.queue = [];
    c.store(fresh).tick();
    c.store(fresh).tick();
    c.store(fresh).poll();
    const toOld = c.queue.filter((m) => Number(m.toPeer?.storeId) === old);
    assert.ok(toOld.length > 0, "the new leader sent the old one a message");
    for (const m of toOld) c.store(old).onRaftMessage(m);
    c.queue = c.queue.filter((m) => Number(m.toPeer?.storeId) !== old);
    const last = lastIndex(c, old);
    c.store(old).poll();
    assert.equal(c.store(old).peers.get(1)!.isLeader, false);
    assert.equal(rec.calls.length, 1);
    const err = mustFail(rec.calls[0]!, "NotLeader");
    assert.deepEqual(err.leader, c.peerOf(fresh));
    assert.equal(lastIndex(c, old), last);
    c.pump();
    c.tick(5);
    assert.equal(c.engine(fresh).get("default", b("k")), undefined, "the write was not forwarded to the new leader");
  });

  test("every proposal settles exactly once across a leader change: applied ones succeed, superseded ones fail", async (t) => {
    const c = new TestCluster(t, [1, 2, 3], { config: { proposalTimeoutMs: 5_000 } });
    const old = c.mustElect();
    const recs: Array<{ key: string; calls: ProposalResult[] }> = [];
    const propose = (store: number, key: string) => recs.push({ key, ...proposeCounting(c, store, putReq(c.region, c.peerOf(store), key, "v"), c.now + 5_000) });
    for (let i = 0; i < 10; i++) propose(old, `ok-${i}`);
    c.pump();
    // Proposals that the old leader appends while cut off: the new leader overwrites them.
    c.isolate(old);
    for (let i = 0; i < 10; i++) propose(old, `lost-${i}`);
    c.pump();
    let fresh: number | undefined;
    for (let i = 0; i < 60 && fresh === undefined; i++) {
      c.tick();
      fresh = [1, 2, 3].find((id) => id !== old && c.store(id).peers.get(1)!.isLeader);
    }
    assert.ok(fresh !== undefined);
    // Fewer new entries than lost ones: the first lost proposals are overwritten (StaleCommand), the
    // rest have no entry at their index until their deadline (Timeout).
    for (let i = 0; i < 3; i++) propose(fresh, `new-${i}`);
    c.pump();
    c.clearFilters();
    c.tick(80);
    for (const r of recs) assert.equal(r.calls.length, 1, `${r.key} settled ${r.calls.length} times`);
    const kinds = new Set(recs.filter((r) => r.key.startsWith("lost-")).map((r) => (r.calls[0]!.ok ? "ok" : r.calls[0]!.error.kind)));
    assert.deepEqual([...kinds].sort(), ["StaleCommand", "Timeout"]);
    const e = c.engine(fresh);
    for (const r of recs) {
      const res = r.calls[0]!;
      const stored = e.get("default", b(r.key)) !== undefined;
      if (res.ok) assert.ok(stored, `${r.key} succeeded, so it is stored`);
      if (r.key.startsWith("ok-") || r.key.startsWith("new-")) assert.ok(res.ok, `${r.key}: ${res.ok ? "" : res.error.kind}`);
      if (r.key.startsWith("lost-")) {
        assert.equal(res.ok, false, `${r.key} was appended only by a deposed leader`);
        if (!res.ok) assert.ok(["StaleCommand", "Timeout", "NotLeader"].includes(res.error.kind), res.error.kind);
        assert.equal(stored, false);
      }
    }
  });
});
