/**
 * Region split (split.ts, apply.ts, peer.ts, raft-store.ts): the BatchSplit rules at propose and
 * apply, both halves' epochs and ranges on every store, the new region electing a leader at once,
 * KeyNotInRegion / EpochNotMatch after the split, restarts, and the automatic path (split check →
 * AskBatchSplit → BatchSplit) with the halves reported to the scheduler.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { raft_cmdpb, type metapb, type schedulerpb } from "@regionkv/proto";
import type { RegionHeartbeat, SchedulerClient } from "../src/scheduler-client.js";
import { Engine, WriteBatch } from "@regionkv/engine";
import { writeInitialRegionState } from "../src/peer-storage.js";
import { checkBatchSplit, splitRegions } from "../src/split.js";
import { TestCluster, b, getReq, header, makeRegion, mustFail, mustOk, putReq, regionOn, track, turn, until } from "./helpers.js";

function splitReq(region: metapb.Region, from: metapb.Peer | undefined, cuts: Array<{ key: string; id: number; peers: number[] }>, rightDerive = false): raft_cmdpb.RaftCmdRequest {
  return {
    header: header(region, from),
    requests: [],
    adminRequest: {
      cmdType: raft_cmdpb.AdminCmdType.BatchSplit,
      splits: { requests: cuts.map((c) => ({ splitKey: b(c.key), newRegionId: BigInt(c.id), newPeerIds: c.peers.map(BigInt) })), rightDerive },
    },
  };
}

const bs = (cuts: Array<{ key: string; id: number; peers: number[] }>, rightDerive = false): raft_cmdpb.BatchSplitRequest => splitReq(makeRegion([1]), undefined, cuts, rightDerive).adminRequest!.splits!;

function leaderOf(c: TestCluster, regionId: number): number | undefined {
  for (const [id, s] of c.stores) if (s.peers.get(regionId)?.isLeader) return id;
  return undefined;
}

describe("split rules", () => {
  const region = makeRegion([1, 2, 3], { start: "b", end: "y" });

  test("keys strictly inside the range and increasing, fresh region and peer ids, one peer id per peer", () => {
    const ok = checkBatchSplit(region, bs([{ key: "c", id: 10, peers: [11, 12, 13] }, { key: "m", id: 20, peers: [21, 22, 23] }]), 10);
    assert.equal(ok, undefined);
    const cases: Array<[string, raft_cmdpb.BatchSplitRequest, RegExp]> = [
      ["no cut", bs([]), /at least one split key/],
      ["start key", bs([{ key: "b", id: 10, peers: [11, 12, 13] }]), /not after the region's start key/],
      ["end key", bs([{ key: "y", id: 10, peers: [11, 12, 13] }]), /not before the region's end key/],
      ["decreasing", bs([{ key: "m", id: 10, peers: [11, 12, 13] }, { key: "c", id: 20, peers: [21, 22, 23] }]), /strictly increasing/],
      ["equal keys", bs([{ key: "m", id: 10, peers: [11, 12, 13] }, { key: "m", id: 20, peers: [21, 22, 23] }]), /strictly increasing/],
      ["parent id", bs([{ key: "m", id: 1, peers: [11, 12, 13] }]), /no fresh region id/],
      ["same new id twice", bs([{ key: "c", id: 10, peers: [11, 12, 13] }, { key: "m", id: 10, peers: [21, 22, 23] }]), /no fresh region id/],
      ["too few peer ids", bs([{ key: "m", id: 10, peers: [11, 12] }]), /2 new peer ids for 3 peers/],
      ["an old peer id", bs([{ key: "m", id: 10, peers: [11, 2, 13] }]), /reuses or lacks a peer id/],
    ];
    for (const [what, req, re] of cases) {
      const err = checkBatchSplit(region, req, 10);
      assert.equal(err?.kind, "InvalidRequest", what);
      assert.match(err.kind === "InvalidRequest" ? err.message : "", re, what);
    }
    const tooMany = checkBatchSplit(region, bs([{ key: "c", id: 10, peers: [11, 12, 13] }, { key: "m", id: 20, peers: [21, 22, 23] }]), 1);
    assert.match(tooMany?.kind === "InvalidRequest" ? tooMany.message : "", /at most 1/);
  });

  test("the pieces cover the range in order, all at version + 1 with conf_ver kept; the parent keeps the left (or right) piece", () => {
    const r = makeRegion([1, 2, 3], { start: "b", end: "y", confVer: 4n, version: 7n });
    const left = splitRegions(r, bs([{ key: "c", id: 10, peers: [11, 12, 13] }, { key: "m", id: 20, peers: [21, 22, 23] }]));
    assert.deepEqual(
      left.all.map((x) => [Number(x.id), x.startKey.toString(), x.endKey.toString(), x.regionEpoch!.confVer, x.regionEpoch!.version]),
      [
        [1, "b", "c", 4n, 8n],
        [10, "c", "m", 4n, 8n],
        [20, "m", "y", 4n, 8n],
      ],
    );
    assert.equal(left.derived.id, 1n);
    assert.deepEqual(left.created[1]!.peers.map((p) => [Number(p.id), Number(p.storeId)]), [[21, 1], [22, 2], [23, 3]]);
    const right = splitRegions(r, bs([{ key: "c", id: 10, peers: [11, 12, 13] }, { key: "m", id: 20, peers: [21, 22, 23] }], true));
    assert.deepEqual(right.all.map((x) => [Number(x.id), x.startKey.toString(), x.endKey.toString()]), [[10, "b", "c"], [20, "c", "m"], [1, "m", "y"]]);
    assert.equal(right.derived.endKey.toString(), "y");
    // The parent region object is not changed.
    assert.equal(r.endKey.toString(), "y");
  });
});

describe("raftstore: BatchSplit", () => {
  test("a split applies on every store: both halves at version 2, the new region elects a leader at once and serves; the old region refuses keys it no longer holds", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    for (const k of ["a", "k", "z"]) await c.mustPut(leader, k, `v-${k}`);
    const resp = mustOk(await c.propose(leader, splitReq(c.region, c.peerOf(leader), [{ key: "m", id: 100, peers: [101, 102, 103] }])));
    assert.deepEqual(resp.adminResponse?.splits?.regions.map((r) => Number(r.id)), [1, 100]);
    c.pump();
    for (const s of [1, 2, 3]) {
      const left = regionOn(c, s, 1);
      const right = regionOn(c, s, 100);
      assert.deepEqual([left.startKey.toString(), left.endKey.toString(), left.regionEpoch!.version, left.regionEpoch!.confVer], ["", "m", 2n, 1n], `store ${s} left`);
      assert.deepEqual([right.startKey.toString(), right.endKey.toString(), right.regionEpoch!.version], ["m", "", 2n], `store ${s} right`);
      assert.deepEqual(right.peers.map((p) => Number(p.storeId)), [1, 2, 3]);
    }
    // The new region's peer on the old leader's store campaigned at once: a leader without
    // waiting an election timeout.
    c.pump();
    assert.equal(leaderOf(c, 100), leader, "the new region is led from the parent's leader store right after the split");

    const right = regionOn(c, leader, 100);
    const rightPeer = right.peers.find((p) => Number(p.storeId) === leader)!;
    // Reads and writes on the new region.
    const got = mustOk(await c.propose(leader, getReq(right, rightPeer, "z")));
    assert.equal(got.responses[0]!.get!.value.toString(), "v-z");
    mustOk(await c.propose(leader, putReq(right, rightPeer, "q", "v-q")));
    // The old region with the old epoch: EpochNotMatch carrying the current region.
    const stale = mustFail(await c.propose(leader, getReq(c.region, c.peerOf(leader), "a")), "EpochNotMatch");
    // ... and the other piece of the split, so a client's cache covers the old range again.
    assert.deepEqual(
      stale.currentRegions.map((r) => [Number(r.id), r.startKey.toString(), r.endKey.toString()]),
      [
        [1, "", "m"],
        [100, "m", ""],
      ],
    );
    // The old region with the new epoch, for a key now in the new region: KeyNotInRegion (TestOneSplit3B).
    const left = regionOn(c, leader, 1);
    mustFail(await c.propose(leader, getReq(left, c.peerOf(leader), "z")), "KeyNotInRegion");
    assert.equal(mustOk(await c.propose(leader, getReq(left, c.peerOf(leader), "a"))).responses[0]!.get!.value.toString(), "v-a");
  });

  test("a read queued before a split and served after it is checked again: its old epoch gets EpochNotMatch, not a view of the moved keys", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    await c.mustPut(leader, "z", "1");
    const store = c.store(leader);
    const split = track(store.propose(splitReq(c.region, c.peerOf(leader), [{ key: "m", id: 100, peers: [101, 102, 103] }])));
    store.poll();
    // The read's ReadIndex is issued while the split is appended but not committed: both are
    // confirmed by the same round of follower replies, and the split applies before the read runs.
    const read = track(store.propose(getReq(c.region, c.peerOf(leader), "z")));
    store.poll();
    c.pump();
    await turn();
    assert.ok(split.settled && read.settled, "both settled");
    mustOk(split.value!);
    const err = mustFail(read.value!, "EpochNotMatch");
    assert.ok(err.currentRegions.some((r) => r.id === 100n), "the new region is named");
  });

  test("a split with a stale epoch is refused at propose; keys outside the region are refused; re-sending an applied split changes nothing", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    const bad = mustFail(await c.propose(leader, splitReq(c.region, c.peerOf(leader), [{ key: "", id: 100, peers: [101, 102, 103] }])), "InvalidRequest");
    assert.match(bad.message, /empty/);
    const stale = { ...c.region, regionEpoch: { confVer: 1n, version: 0n } };
    mustFail(await c.propose(leader, splitReq(stale, c.peerOf(leader), [{ key: "m", id: 100, peers: [101, 102, 103] }])), "EpochNotMatch");
    const req = splitReq(c.region, c.peerOf(leader), [{ key: "m", id: 100, peers: [101, 102, 103] }]);
    mustOk(await c.propose(leader, req));
    c.pump();
    mustFail(await c.propose(leader, req), "EpochNotMatch");
    assert.equal(c.store(leader).peers.size, 2);
    assert.equal(regionOn(c, leader, 1).regionEpoch!.version, 2n);
  });

  test("a batch of three cuts makes four regions; each splits again later; everything survives a restart of every store", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    const keys = ["a", "d", "g", "j", "p", "s", "w"];
    for (const k of keys) await c.mustPut(leader, k, `v-${k}`);
    mustOk(
      await c.propose(
        leader,
        splitReq(c.region, c.peerOf(leader), [
          { key: "e", id: 100, peers: [101, 102, 103] },
          { key: "k", id: 110, peers: [111, 112, 113] },
          { key: "t", id: 120, peers: [121, 122, 123] },
        ]),
      ),
    );
    c.pump();
    await until(c, () => [100, 110, 120].every((id) => leaderOf(c, id) !== undefined), "every new region has a leader");
    const r110 = regionOn(c, leaderOf(c, 110)!, 110);
    const l110 = leaderOf(c, 110)!;
    mustOk(await c.propose(l110, splitReq(r110, r110.peers.find((p) => Number(p.storeId) === l110), [{ key: "n", id: 130, peers: [131, 132, 133] }])));
    c.pump();
    assert.equal(regionOn(c, 1, 110).regionEpoch!.version, 3n);
    assert.equal(regionOn(c, 1, 130).startKey.toString(), "n");
    for (const s of [1, 2, 3]) c.stopStore(s);
    for (const s of [1, 2, 3]) c.startStore(s);
    for (const s of [1, 2, 3]) assert.deepEqual([...c.store(s).peers.keys()].sort((x, y) => x - y), [1, 100, 110, 120, 130], `store ${s} after restart`);
    await until(c, () => [1, 100, 110, 120, 130].every((id) => leaderOf(c, id) !== undefined), "every region elects after the restart", 100);
    for (const k of keys) {
      const id = [...c.store(1).peers.values()].find((p) => p.region.startKey.toString() <= k && (p.region.endKey.length === 0 || k < p.region.endKey.toString()))!.regionId;
      const l = leaderOf(c, id)!;
      const r = regionOn(c, l, id);
      const v = mustOk(await c.propose(l, getReq(r, r.peers.find((p) => Number(p.storeId) === l), k))).responses[0]!.get!.value.toString();
      assert.equal(v, `v-${k}`, `key ${k} in region ${id}`);
    }
  });

  test("a store that was cut off applies the split from the log later; the votes of the new region that reached it early are replayed", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    const lagging = [1, 2, 3].find((s) => s !== leader)!;
    await c.mustPut(leader, "x", "1");
    c.isolate(lagging);
    mustOk(await c.propose(leader, splitReq(c.region, c.peerOf(leader), [{ key: "m", id: 100, peers: [101, 102, 103] }])));
    c.pump();
    assert.equal(c.store(lagging).peers.has(100), false);
    c.clearFilters();
    await until(c, () => c.store(lagging).peers.get(100)?.isInitialized === true, "the lagging store applies the split");
    assert.equal(regionOn(c, lagging, 100).regionEpoch!.version, 2n);
    await until(c, () => leaderOf(c, 100) !== undefined, "the new region has a leader");
    const l = leaderOf(c, 100)!;
    const r = regionOn(c, l, 100);
    mustOk(await c.propose(l, putReq(r, r.peers.find((p) => Number(p.storeId) === l), "y", "2")));
    await until(c, () => c.engine(lagging).get("default", b("y"))?.toString() === "2", "the lagging store's new peer replicates");
  });
});

describe("raftstore: split together with other changes", () => {
  test("a split and the removal of a replica applied in one batch: the removed store still starts its peer of the new region", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    await c.mustPut(leader, "z", "1");
    const removed = [1, 2, 3].find((s) => s !== leader)!;
    const store = c.store(leader);
    // Both proposed in one round: the split first, the conf change right after it.
    const split = track(store.propose(splitReq(c.region, c.peerOf(leader), [{ key: "m", id: 100, peers: [101, 102, 103] }])));
    const remove = track(
      store.propose({
        header: header({ ...c.region }, c.peerOf(leader)),
        requests: [],
        adminRequest: { cmdType: raft_cmdpb.AdminCmdType.ChangePeer, changePeer: { changeType: 1 /* RemoveNode */, peer: c.peerOf(removed) } },
      }),
    );
    store.poll();
    c.pump();
    await turn();
    for (let i = 0; i < 20 && !(split.settled && remove.settled); i++) {
      c.tick();
      await turn();
    }
    mustOk(split.value!);
    mustOk(remove.value!);
    assert.equal(c.store(removed).peers.has(1), false, "the removed store's parent peer is gone");
    const piece = c.store(removed).peers.get(100);
    assert.ok(piece?.isInitialized, "the removed store runs its peer of the new region");
    assert.equal(regionOn(c, removed, 100).peers.length, 3);
  });

  test("at restart, of two stored regions whose ranges overlap (a stale state), only the newer is started", async (t) => {
    const c = new TestCluster(t, [1]);
    c.mustElect();
    await c.mustPut(1, "q", "1");
    c.stopStore(1);
    const e = Engine.open(c.dirs.get(1)!);
    const wb = new WriteBatch();
    writeInitialRegionState(wb, makeRegion([1], { id: 50, start: "m", end: "t", version: 3n }));
    e.write(wb, { sync: true });
    e.close();
    const s = c.startStore(1);
    assert.deepEqual([...s.peers.keys()], [50], "the version-3 region wins; the stale whole-range one is not started");
    assert.equal(c.engine(1).get("default", b("q"))?.toString(), "1", "no data was deleted");
  });

  test("a split whose ids the scheduler refuses is measured and asked again after a back-off, with no further writes", async (t) => {
    let next = 1000n;
    let asks = 0;
    const client = (): SchedulerClient => ({
      regionHeartbeat: () => Promise.resolve(),
      storeHeartbeat: () => Promise.resolve(),
      askBatchSplit: (region, count) => {
        if (++asks === 1) return Promise.reject(new Error("region is unknown to the scheduler"));
        return Promise.resolve(Array.from({ length: count }, () => ({ newRegionId: next++, newPeerIds: region.peers.map(() => next++) })));
      },
      getStore: () => Promise.resolve(undefined),
    });
    const c = new TestCluster(t, [1, 2, 3], { scheduler: client, config: { regionMaxSize: 1200, regionSplitSize: 800, splitCheckTickInterval: 100_000 } });
    const leader = c.mustElect();
    // 12 rows of 104 bytes: past the 1,200-byte limit with the last put (workers have not run yet).
    for (let i = 0; i < 12; i++) await c.mustPut(leader, `key${String(i).padStart(3, "0")}`, Buffer.alloc(98, 1));
    await until(c, () => asks === 1, "the first ask was refused", 20);
    assert.equal(c.store(leader).peers.size, 1);
    // No writes from here on; the periodic check is 10,000 s away.
    await until(c, () => c.store(leader).peers.size >= 2, "split after the back-off", 40);
  });
});

describe("raftstore: automatic split", () => {
  function scheduler() {
    let next = 1000n;
    const heartbeats: RegionHeartbeat[] = [];
    const asks: Array<{ region: metapb.Region; count: number }> = [];
    const clientFor = (): SchedulerClient => ({
      regionHeartbeat: (hb) => {
        heartbeats.push(hb);
        return Promise.resolve();
      },
      storeHeartbeat: () => Promise.resolve(),
      askBatchSplit: (region, count) => {
        asks.push({ region, count });
        const out: schedulerpb.SplitID[] = [];
        for (let i = 0; i < count; i++) out.push({ newRegionId: next++, newPeerIds: region.peers.map(() => next++) });
        return Promise.resolve(out);
      },
      getStore: () => Promise.resolve(undefined),
    });
    return { heartbeats, asks, clientFor };
  }

  test("writes past the size limit: the split check finds keys, the leader asks for ids and splits, every piece is reported to the scheduler", async (t) => {
    const sched = scheduler();
    const c = new TestCluster(t, [1, 2, 3], {
      scheduler: sched.clientFor,
      config: { regionMaxSize: 1200, regionSplitSize: 800, splitCheckTickInterval: 5, batchSplitLimit: 10 },
    });
    const leader = c.mustElect();
    // 40 rows of ~104 bytes: 4,160 bytes, past 1,200 → pieces of at most 800 bytes.
    for (let i = 0; i < 40; i++) await c.mustPut(leader, `key${String(i).padStart(3, "0")}`, Buffer.alloc(98, 1));
    await until(c, () => c.store(leader).peers.size >= 5, "the region splits into pieces of at most the split size", 100);
    assert.ok(sched.asks.length >= 1, "ids were asked of the scheduler");
    const regions = [...c.store(leader).peers.values()].map((p) => p.region).sort((x, y) => Buffer.compare(x.startKey, y.startKey));
    // Contiguous cover of the key space.
    assert.equal(regions[0]!.startKey.length, 0);
    assert.equal(regions.at(-1)!.endKey.length, 0);
    for (let i = 1; i < regions.length; i++) assert.deepEqual(regions[i]!.startKey, regions[i - 1]!.endKey);
    await until(c, () => regions.every((r) => sched.heartbeats.some((hb) => hb.region.id === r.id && hb.region.regionEpoch!.version >= 2n)), "every piece heartbeats", 40);
    // Every store agrees.
    for (const s of [1, 2, 3]) assert.equal(c.store(s).peers.size, c.store(leader).peers.size, `store ${s}`);
  });

  test("a scheduler split step with keys splits there; without keys the region is halved; a step re-sent after the split is ignored", async (t) => {
    const sched = scheduler();
    const handlers = new Map<number, (r: schedulerpb.RegionHeartbeatResponse) => void>();
    const c = new TestCluster(t, [1, 2, 3], {
      scheduler: (id) => ({ ...sched.clientFor(), onRegionHeartbeatResponse: (cb) => void handlers.set(id, cb) }),
    });
    const leader = c.mustElect();
    for (let i = 0; i < 20; i++) await c.mustPut(leader, `k${String(i).padStart(2, "0")}`, "0123456789");
    const step = (region: metapb.Region, policy: schedulerpb.CheckPolicy, keys: string[]): schedulerpb.RegionHeartbeatResponse => ({
      header: undefined,
      regionId: region.id,
      regionEpoch: region.regionEpoch,
      targetPeer: undefined,
      changePeer: undefined,
      transferLeader: undefined,
      splitRegion: { policy, keys: keys.map(b) },
    });
    handlers.get(leader)!(step(c.region, 2 /* USEKEY */, ["k05"]));
    await until(c, () => c.store(leader).peers.size === 2, "split at the given key");
    const right = [...c.store(leader).peers.values()].find((p) => p.regionId !== 1)!;
    assert.equal(right.region.startKey.toString(), "k05");
    // Re-sent with the old epoch: nothing.
    handlers.get(leader)!(step(c.region, 2, ["k10"]));
    await until(c, () => true, "");
    assert.equal(c.store(leader).peers.size, 2);
    // Halve the left region [, k05): five rows → the middle key.
    const left = regionOn(c, leader, 1);
    handlers.get(leader)!(step(left, 0 /* SCAN */, []));
    await until(c, () => c.store(leader).peers.size === 3, "halved");
    const mid = [...c.store(leader).peers.values()].find((p) => p.regionId !== 1 && p.regionId !== right.regionId)!;
    // 13-byte rows: 65 bytes, the running size first passes 33 at k02.
    assert.equal(mid.region.startKey.toString(), "k02");
  });
});
