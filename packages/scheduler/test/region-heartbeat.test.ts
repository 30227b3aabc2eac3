// TinyKV 3C cluster_test.go behaviours, adapted: 3 stores, 3 regions with 3 peers each, epoch (2,2).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { metapb } from "@regionkv/proto";
import type { SchedulerCore } from "../src/index.js";
import { heartbeat, mustBeStale, mustHeartbeat, mustOpenBootstrapped, newRegion } from "./helpers.js";

const k = (n: number): Buffer => Buffer.from([n]);

function setup(): { core: SchedulerCore; regions: metapb.Region[] } {
  const { core } = mustOpenBootstrapped(3);
  const regions = [0, 1, 2].map((i) => newRegion(BigInt(i + 1), k(i * 10), k(i * 10 + 10), [1n, 2n, 3n]));
  for (const r of regions) mustHeartbeat(core, heartbeat(r));
  return { core, regions };
}

function withEpoch(r: metapb.Region, dv: bigint, dc: bigint): metapb.Region {
  return { ...r, regionEpoch: { version: r.regionEpoch!.version + dv, confVer: r.regionEpoch!.confVer + dc } };
}

/** Store statistics must equal what the region tree implies (TestRegionGetStoresInfo3C). */
function mustStatsMatchTree(core: SchedulerCore): void {
  for (const store of core.getAllStores()) {
    let leaderCount = 0, regionCount = 0, pendingPeerCount = 0, leaderSize = 0n, regionSize = 0n;
    for (const r of core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0)) {
      if (r.region.peers.some((p) => p.storeId === store.id)) { regionCount++; regionSize += r.approximateSize; }
      if (r.leader?.storeId === store.id) { leaderCount++; leaderSize += r.approximateSize; }
      pendingPeerCount += r.pendingPeers.filter((p) => p.storeId === store.id).length;
    }
    const info = core.getStoreInfo(store.id)!;
    assert.deepEqual(
      { leaderCount: info.leaderCount, regionCount: info.regionCount, pendingPeerCount: info.pendingPeerCount, leaderSize: info.leaderSize, regionSize: info.regionSize },
      { leaderCount, regionCount, pendingPeerCount, leaderSize, regionSize },
      `store ${store.id}`,
    );
  }
}

/** Lookup by id and by key agree for every region in the tree. */
function mustLookupsAgree(core: SchedulerCore, regions: metapb.Region[]): void {
  for (const r of regions) {
    assert.deepEqual(core.getRegionById(r.id)?.region, r, `region ${r.id} by id`);
    assert.deepEqual(core.getRegion(r.startKey)?.region, r, `region ${r.id} by key`);
  }
}

test("RegionNotUpdate: the same heartbeats again change nothing", () => {
  const { core, regions } = setup();
  for (const r of regions) {
    const res = core.regionHeartbeat(heartbeat(r));
    assert.deepEqual(res, { ok: true, value: { changed: false } });
  }
  mustStatsMatchTree(core);
});

test("UpdateVersion: version+1 is accepted", () => {
  const { core, regions } = setup();
  const r = withEpoch(regions[0]!, 1n, 0n);
  mustHeartbeat(core, heartbeat(r));
  assert.deepEqual(core.getRegionById(r.id)?.region, r);
});

test("WithStaleVersion: after version+1, the original with conf_ver+1 is rejected", () => {
  const { core, regions } = setup();
  mustHeartbeat(core, heartbeat(withEpoch(regions[0]!, 1n, 0n)));
  mustBeStale(core, heartbeat(withEpoch(regions[0]!, 0n, 1n)));
  mustBeStale(core, heartbeat(regions[0]!));
});

test("UpdateVersionAndConfver: both +1 is accepted", () => {
  const { core, regions } = setup();
  const r = withEpoch(regions[1]!, 1n, 1n);
  mustHeartbeat(core, heartbeat(r));
  assert.deepEqual(core.getRegionById(r.id)?.region, r);
});

test("WithStaleConfVer: after conf_ver+1, the original is rejected", () => {
  const { core, regions } = setup();
  mustHeartbeat(core, heartbeat(withEpoch(regions[0]!, 0n, 1n)));
  mustBeStale(core, heartbeat(regions[0]!));
  mustBeStale(core, heartbeat(withEpoch(regions[0]!, 1n, 0n)));
});

test("AddPendingPeer and RemovePendingPeer: store pending counts follow, back to 0", () => {
  const { core, regions } = setup();
  const r = regions[0]!;
  mustHeartbeat(core, heartbeat(r, r.peers[0], { pendingPeers: [r.peers[1]!, r.peers[2]!] }));
  assert.equal(core.getStoreInfo(2n)!.pendingPeerCount, 1);
  assert.equal(core.getStoreInfo(3n)!.pendingPeerCount, 1);
  mustStatsMatchTree(core);
  mustHeartbeat(core, heartbeat(r, r.peers[0], { pendingPeers: [r.peers[2]!] }));
  assert.equal(core.getStoreInfo(2n)!.pendingPeerCount, 0);
  mustHeartbeat(core, heartbeat(r, r.peers[0], { pendingPeers: [] }));
  for (const s of [1n, 2n, 3n]) assert.equal(core.getStoreInfo(s)!.pendingPeerCount, 0);
});

test("RemovePeers then AddBackPeers: peer-set changes with the same epoch are applied", () => {
  const { core, regions } = setup();
  const r = regions[0]!;
  const one = { ...r, peers: [r.peers[0]!] };
  mustHeartbeat(core, heartbeat(one));
  assert.deepEqual(core.getRegionById(r.id)?.region.peers, [r.peers[0]]);
  assert.equal(core.getStoreInfo(2n)!.regionCount, 2);
  mustStatsMatchTree(core);
  mustHeartbeat(core, heartbeat(r));
  assert.deepEqual(core.getRegionById(r.id)?.region.peers, r.peers);
  assert.equal(core.getStoreInfo(2n)!.regionCount, 3);
  mustStatsMatchTree(core);
});

test("ChangeLeader: the new leader is recorded and leader counts move", () => {
  const { core, regions } = setup();
  const r = regions[0]!;
  assert.equal(core.getStoreInfo(1n)!.leaderCount, 3);
  mustHeartbeat(core, heartbeat(r, r.peers[1]));
  assert.deepEqual(core.getRegionById(r.id)?.leader, r.peers[1]);
  assert.equal(core.getStoreInfo(1n)!.leaderCount, 2);
  assert.equal(core.getStoreInfo(2n)!.leaderCount, 1);
  mustStatsMatchTree(core);
});

test("ChangeApproximateSize: a new size is applied to the region and its stores", () => {
  const { core, regions } = setup();
  const r = regions[0]!;
  mustHeartbeat(core, heartbeat(r, r.peers[0], { approximateSize: 144n }));
  assert.equal(core.getRegionById(r.id)?.approximateSize, 144n);
  assert.equal(core.getStoreInfo(1n)!.leaderSize, 144n);
  assert.equal(core.getStoreInfo(3n)!.regionSize, 144n);
  mustStatsMatchTree(core);
});

test("Counts, GetRegions, GetStores, GetStoresInfo: counts and store statistics equal the region tree", () => {
  const { core, regions } = setup();
  assert.equal(core.regionCount(), 3);
  assert.deepEqual(core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0).map((r) => r.region), regions);
  assert.deepEqual(core.scanRegions(k(15), Buffer.alloc(0), 1).map((r) => r.region.id), [2n]);
  assert.deepEqual(core.scanRegions(k(10), k(20), 0).map((r) => r.region.id), [2n]);
  assert.deepEqual(core.getAllStores().map((s) => s.id), [1n, 2n, 3n]);
  for (const s of [1n, 2n, 3n]) assert.equal(core.getStoreInfo(s)!.regionCount, 3);
  mustStatsMatchTree(core);
});

test("GetPrevRegion: the region before the one containing the key", () => {
  const { core } = setup();
  assert.equal(core.getPrevRegion(k(25))?.region.id, 2n);
  assert.equal(core.getPrevRegion(k(5)), undefined);
  assert.equal(core.getRegion(k(30)), undefined);
});

test("HeartbeatSplit: halves arrive in either order; a range stays missing until its own heartbeat", () => {
  const { core } = mustOpenBootstrapped(3);
  const r1 = newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n, 2n, 3n], 1n, 1n);
  mustHeartbeat(core, heartbeat(r1));
  // Split at "m": right half keeps id 1, left half is new id 2; both version 2.
  const right = { ...r1, startKey: Buffer.from("m"), regionEpoch: { version: 2n, confVer: 1n } };
  const left = newRegion(2n, Buffer.alloc(0), Buffer.from("m"), [1n, 2n, 3n], 2n, 1n);
  mustHeartbeat(core, heartbeat(right));
  assert.equal(core.getRegion(Buffer.from("a")), undefined, "left range missing until its own heartbeat");
  assert.equal(core.getRegion(Buffer.from("z"))?.region.id, 1n);
  mustHeartbeat(core, heartbeat(left));
  assert.equal(core.getRegion(Buffer.from("a"))?.region.id, 2n);
  // Split the left half at "g", the new left (id 3) arriving first: it replaces [nil, m) only for its range.
  const l3 = newRegion(3n, Buffer.alloc(0), Buffer.from("g"), [1n, 2n, 3n], 3n, 1n);
  const l2 = { ...left, startKey: Buffer.from("g"), regionEpoch: { version: 3n, confVer: 1n } };
  mustHeartbeat(core, heartbeat(l3));
  assert.equal(core.getRegion(Buffer.from("h")), undefined, "region 2 was overlapped and dropped");
  assert.equal(core.getRegion(Buffer.from("a"))?.region.id, 3n);
  mustHeartbeat(core, heartbeat(l2));
  assert.equal(core.getRegion(Buffer.from("h"))?.region.id, 2n);
  // An equal-version report of a left half over an old region is accepted (version 1 over [nil,nil) version 1).
  const { core: c2 } = mustOpenBootstrapped(3);
  mustHeartbeat(c2, heartbeat(r1));
  mustHeartbeat(c2, heartbeat(newRegion(9n, Buffer.alloc(0), Buffer.from("m"), [1n, 2n, 3n], 1n, 1n)));
  mustStatsMatchTree(core);
  mustStatsMatchTree(c2);
});

test("RegionSplitAndMerge: binary splits then merges; lookups by id and key agree after each heartbeat", () => {
  const { core } = mustOpenBootstrapped(3);
  let regions = [newRegion(1n, Buffer.alloc(0), Buffer.alloc(0), [1n, 2n, 3n], 1n, 1n)];
  mustHeartbeat(core, heartbeat(regions[0]!));
  let nextId = 2n;
  const ver = (r: metapb.Region): bigint => r.regionEpoch!.version;
  // 7 rounds of binary splits over a 2-byte key space.
  for (let round = 0; round < 7; round++) {
    const next: metapb.Region[] = [];
    for (const r of regions) {
      const lo = r.startKey.length === 0 ? 0 : r.startKey.readUInt16BE();
      const hi = r.endKey.length === 0 ? 0x10000 : r.endKey.readUInt16BE();
      const mid = Buffer.alloc(2);
      mid.writeUInt16BE((lo + hi) >> 1);
      const epoch = { version: ver(r) + 1n, confVer: r.regionEpoch!.confVer };
      const left = { ...r, id: nextId++, endKey: mid, regionEpoch: epoch, peers: r.peers.map((p) => ({ ...p, id: p.id + 1000n * nextId })) };
      const right = { ...r, startKey: mid, regionEpoch: epoch };
      next.push(left, right);
    }
    regions = next;
    for (const r of regions) {
      mustHeartbeat(core, heartbeat(r));
      mustLookupsAgree(core, [r]);
    }
    mustLookupsAgree(core, regions);
  }
  assert.equal(core.regionCount(), 128);
  // 7 rounds of merges: the right one absorbs its left neighbour, version = max + 1.
  for (let round = 0; round < 7; round++) {
    const next: metapb.Region[] = [];
    for (let i = 0; i < regions.length; i += 2) {
      const l = regions[i]!, r = regions[i + 1]!;
      const v = (ver(l) > ver(r) ? ver(l) : ver(r)) + 1n;
      next.push({ ...r, startKey: l.startKey, regionEpoch: { version: v, confVer: r.regionEpoch!.confVer } });
    }
    regions = next;
    for (const r of regions) {
      mustHeartbeat(core, heartbeat(r));
      mustLookupsAgree(core, [r]);
    }
    mustLookupsAgree(core, regions);
    assert.equal(core.regionCount(), regions.length);
  }
  assert.equal(core.regionCount(), 1);
  // split, split, merge
  const [whole] = regions;
  const a = { ...whole!, id: 900n, endKey: Buffer.from([0x40, 0]), regionEpoch: { version: ver(whole!) + 1n, confVer: 1n } };
  const b = { ...whole!, startKey: Buffer.from([0x40, 0]), regionEpoch: { version: ver(whole!) + 1n, confVer: 1n } };
  mustHeartbeat(core, heartbeat(a));
  mustHeartbeat(core, heartbeat(b));
  const b1 = { ...b, id: 901n, endKey: Buffer.from([0x80, 0]), regionEpoch: { version: ver(b) + 1n, confVer: 1n } };
  const b2 = { ...b, startKey: Buffer.from([0x80, 0]), regionEpoch: { version: ver(b) + 1n, confVer: 1n } };
  mustHeartbeat(core, heartbeat(b1));
  mustHeartbeat(core, heartbeat(b2));
  mustLookupsAgree(core, [a, b1, b2]);
  const merged = { ...b2, startKey: a.startKey, regionEpoch: { version: ver(b2) + 1n, confVer: 1n } };
  mustHeartbeat(core, heartbeat(merged));
  mustLookupsAgree(core, [merged]);
  assert.equal(core.regionCount(), 1);
  mustStatsMatchTree(core);
});

test("a heartbeat without leader or peers is rejected as an invalid argument", () => {
  const { core, regions } = setup();
  const r1 = core.regionHeartbeat({ ...heartbeat(regions[0]!), leader: undefined });
  assert.equal(!r1.ok && r1.error.code, "InvalidArgument");
  const r2 = core.regionHeartbeat(heartbeat({ ...regions[0]!, peers: [] }, regions[0]!.peers[0]));
  assert.equal(!r2.ok && r2.error.code, "InvalidArgument");
});
