import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { metapb } from "@regionkv/proto";
import { RegionCache, regionContains } from "../src/region-cache.js";

const b = (s: string) => Buffer.from(s);

function region(id: bigint, start: string, end: string, peers: bigint[] = [1n, 2n, 3n], version = 1n): metapb.Region {
  return {
    id,
    startKey: b(start),
    endKey: b(end),
    regionEpoch: { confVer: 1n, version },
    peers: peers.map((p) => ({ id: p * 10n + id, storeId: p, role: 0 })),
  };
}

describe("RegionCache", () => {
  test("a key is found in the region whose [start, end) holds it; an empty end key is unbounded", () => {
    const c = new RegionCache();
    c.insert(region(1n, "", "m"), undefined);
    c.insert(region(2n, "m", ""), undefined);
    assert.equal(c.lookup(b("a"))?.region.id, 1n);
    assert.equal(c.lookup(b("l\xff"))?.region.id, 1n);
    assert.equal(c.lookup(b("m"))?.region.id, 2n, "the start key belongs to the region");
    assert.equal(c.lookup(b("zzzz"))?.region.id, 2n);
    assert.equal(regionContains(region(3n, "c", "f"), b("f")), false, "the end key is exclusive");
  });

  test("a key in a gap between cached regions is not found", () => {
    const c = new RegionCache();
    c.insert(region(1n, "a", "c"), undefined);
    c.insert(region(2n, "x", "z"), undefined);
    assert.equal(c.lookup(b("m")), undefined);
    assert.equal(c.lookup(b("0")), undefined);
  });

  test("inserting a region drops every cached region it overlaps (split and merge views replace old ones)", () => {
    const c = new RegionCache();
    c.insert(region(1n, "", ""), undefined);
    c.insert(region(1n, "", "m", undefined, 2n), undefined);
    assert.equal(c.size, 1);
    c.insert(region(2n, "m", "", undefined, 2n), undefined);
    assert.equal(c.size, 2);
    c.insert(region(3n, "a", "z"), undefined);
    assert.deepEqual(c.overlapping(b(""), b("")).map((e) => e.region.id), [3n], "the merged region replaced both halves");
  });

  test("NotLeader with a member hint follows the hint", () => {
    const c = new RegionCache();
    const r = region(1n, "", "");
    c.insert(r, r.peers[0]);
    assert.equal(c.onNotLeader(1n, r.peers[2]), true);
    assert.equal(c.lookup(b("k"))?.leader?.id, r.peers[2]!.id);
  });

  test("NotLeader without a hint tries each peer once, then drops the region", () => {
    const c = new RegionCache();
    const r = region(1n, "", "");
    c.insert(r, r.peers[0]);
    assert.equal(c.onNotLeader(1n, undefined), true);
    assert.equal(c.lookup(b("k"))?.leader?.id, r.peers[1]!.id);
    assert.equal(c.onNotLeader(1n, undefined), true);
    assert.equal(c.lookup(b("k"))?.leader?.id, r.peers[2]!.id);
    assert.equal(c.onNotLeader(1n, undefined), false, "every peer was tried");
    assert.equal(c.lookup(b("k")), undefined, "the region is dropped: the next lookup asks the scheduler");
  });

  test("a hint naming a peer not in the cached region drops the stale region", () => {
    const c = new RegionCache();
    const r = region(1n, "", "");
    c.insert(r, r.peers[0]);
    assert.equal(c.onNotLeader(1n, { id: 999n, storeId: 9n, role: 0 }), false);
    assert.equal(c.size, 0);
  });

  test("a success resets the peers tried, so a later failure starts over", () => {
    const c = new RegionCache();
    const r = region(1n, "", "");
    c.insert(r, r.peers[0]);
    c.onPeerFailure(1n);
    c.onPeerFailure(1n);
    c.onSuccess(1n, r.peers[2]!);
    assert.equal(c.onPeerFailure(1n), true);
    assert.equal(c.onPeerFailure(1n), true);
    assert.equal(c.onPeerFailure(1n), false);
  });

  test("EpochNotMatch replaces the stale region with the store's current regions, keeping a still-valid leader", () => {
    const c = new RegionCache();
    const r = region(1n, "", "");
    c.insert(r, r.peers[1]);
    const left = region(1n, "", "m", undefined, 2n);
    const right = region(2n, "m", "", undefined, 2n);
    c.onEpochNotMatch(1n, [left, right]);
    assert.equal(c.lookup(b("a"))?.region.regionEpoch?.version, 2n);
    assert.equal(c.lookup(b("a"))?.leader?.id, r.peers[1]!.id, "the leader is kept");
    assert.equal(c.lookup(b("q"))?.region.id, 2n);
    assert.equal(c.lookup(b("q"))?.leader?.storeId, 2n, "the new half starts with its peer on the old leader's store");
    assert.equal(c.size, 2);
  });

  test("invalidate forgets a region by id", () => {
    const c = new RegionCache();
    c.insert(region(1n, "", "m"), undefined);
    c.insert(region(2n, "m", ""), undefined);
    c.invalidate(1n);
    assert.equal(c.lookup(b("a")), undefined);
    assert.equal(c.lookup(b("n"))?.region.id, 2n);
  });

  test("overlapping lists the cached regions of a range in key order", () => {
    const c = new RegionCache();
    c.insert(region(3n, "t", ""), undefined);
    c.insert(region(1n, "", "g"), undefined);
    c.insert(region(2n, "g", "t"), undefined);
    assert.deepEqual(c.overlapping(b("f"), b("u")).map((e) => e.region.id), [1n, 2n, 3n]);
    assert.deepEqual(c.overlapping(b("g"), b("t")).map((e) => e.region.id), [2n], "range ends are exclusive");
  });

  test("lookupBefore finds the region holding the keys just below an end key (where a reverse walk goes on)", () => {
    const c = new RegionCache();
    c.insert(region(1n, "", "g"), undefined);
    c.insert(region(2n, "g", "t"), undefined);
    c.insert(region(3n, "t", ""), undefined);
    assert.equal(c.lookupBefore(b("t"))?.region.id, 2n, "a region's start key belongs to the next region; the keys below it to this one");
    assert.equal(c.lookupBefore(b("m"))?.region.id, 2n);
    assert.equal(c.lookupBefore(b("g\x00"))?.region.id, 2n);
    assert.equal(c.lookupBefore(b("g"))?.region.id, 1n);
    assert.equal(c.lookupBefore(b(""))?.region.id, 3n, "an empty end key is +∞: the last region");
    c.invalidate(3n);
    assert.equal(c.lookupBefore(b("")), undefined, "the last region is not cached");
    c.invalidate(1n);
    assert.equal(c.lookupBefore(b("g")), undefined, "a gap below the end key");
  });

  test("maybeInsert skips a scheduler view older than the cached one (lower version, or same region with lower conf_ver)", () => {
    const c = new RegionCache();
    c.insert(region(1n, "", "m", undefined, 2n), undefined);
    c.insert(region(2n, "m", "", undefined, 2n), undefined);
    assert.equal(c.maybeInsert(region(1n, "", ""), undefined), undefined, "the pre-split region is stale");
    assert.deepEqual(c.overlapping(b(""), b("")).map((e) => e.region.id), [1n, 2n]);
    const newer = { ...region(2n, "m", "", [1n, 2n, 4n], 2n), regionEpoch: { confVer: 2n, version: 2n } };
    assert.ok(c.maybeInsert(newer, undefined), "a membership change is newer");
    assert.equal(c.maybeInsert(region(2n, "m", "", undefined, 2n), undefined), undefined, "and the older membership is then stale");
    assert.equal(c.lookup(b("x"))?.region.peers.length, 3);
    assert.equal(c.lookup(b("x"))?.region.peers.some((p) => p.storeId === 4n), true);
  });
});
