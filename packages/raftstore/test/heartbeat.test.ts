/**
 * What the stores tell the scheduler: region heartbeats (down peers, pending peers, traffic over
 * an interval, term) and store heartbeats (disk capacity, traffic since the last one).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eraftpb, metapb, raft_cmdpb, type schedulerpb } from "@regionkv/proto";
import type { RegionHeartbeat, SchedulerClient } from "../src/scheduler-client.js";
import { TestCluster, b, header, makeRegion, mustOk } from "./helpers.js";

function recorder() {
  const regions: RegionHeartbeat[] = [];
  const stores: schedulerpb.StoreStats[] = [];
  const clientFor = (): SchedulerClient => ({
    regionHeartbeat: (hb) => {
      regions.push(hb);
      return Promise.resolve();
    },
    storeHeartbeat: (s) => {
      stores.push(s);
      return Promise.resolve();
    },
    askBatchSplit: () => Promise.resolve([]),
    getStore: () => Promise.resolve(undefined),
  });
  return { regions, stores, clientFor };
}

describe("region heartbeats", () => {
  test("a peer silent for longer than maxPeerDownMs is reported down with its down time; it is no longer down once heard from", async (t) => {
    const rec = recorder();
    const c = new TestCluster(t, [1, 2, 3], { scheduler: rec.clientFor, config: { maxPeerDownMs: 3_000, regionHeartbeatTickInterval: 10 } });
    const leader = c.mustElect();
    const silent = [1, 2, 3].find((s) => s !== leader)!;
    c.isolate(silent);
    // 5 s of silence (50 ticks of 100 ms): past the 3 s limit.
    c.tick(50);
    await c.runWorkers();
    const last = rec.regions.filter((hb) => Number(hb.leader.storeId) === leader).at(-1)!;
    assert.deepEqual(last.downPeers?.map((d) => Number(d.peer!.storeId)), [silent]);
    assert.ok(Number(last.downPeers![0]!.downSeconds) >= 3, `down for ${last.downPeers![0]!.downSeconds}s`);
    assert.ok((last.term ?? 0) > 0, "the heartbeat carries the leader's term");
    c.clearFilters();
    c.tick(12);
    await c.runWorkers();
    const healed = rec.regions.filter((hb) => Number(hb.leader.storeId) === leader).at(-1)!;
    assert.deepEqual(healed.downPeers, []);
  });

  test("writes and reads are reported with the interval they happened in; the counters start again after each heartbeat", async (t) => {
    const rec = recorder();
    const c = new TestCluster(t, [1, 2, 3], { scheduler: rec.clientFor, config: { regionHeartbeatTickInterval: 1000 } });
    const leader = c.mustElect();
    // Followers count as pending until their first reply; the heartbeat that says they caught
    // up goes out on the next tick. Let that settle before measuring.
    c.tick(5);
    await c.runWorkers();
    const before = rec.regions.length;
    for (let i = 0; i < 10; i++) await c.mustPut(leader, `k${i}`, "0123456789");
    await c.mustGet(leader, "k1");
    // The heartbeat tick comes every 1000 ticks (100 s of driven time).
    c.tick(1000);
    await c.runWorkers();
    const hb = rec.regions.slice(before).filter((h) => Number(h.leader.storeId) === leader).at(-1)!;
    assert.equal(hb.bytesWritten, 10 * (2 + 10));
    assert.equal(hb.keysWritten, 10);
    assert.equal(hb.keysRead, 1);
    assert.ok(hb.intervalEndSec! - hb.intervalStartSec! >= 90, `interval ${hb.intervalStartSec}..${hb.intervalEndSec}`);
    c.tick(1000);
    await c.runWorkers();
    const next = rec.regions.filter((h) => Number(h.leader.storeId) === leader).at(-1)!;
    assert.equal(next.bytesWritten, 0);
    assert.equal(next.intervalStartSec, hb.intervalEndSec);
  });
});

describe("heartbeats that end scheduler steps at once", () => {
  test("a new replica that catches up (snapshot applied) is reported at once, not at the next periodic heartbeat", async (t) => {
    const rec = recorder();
    const c = new TestCluster(t, [1, 2, 3], { scheduler: rec.clientFor, region: makeRegion([1, 2]), bootstrapOn: [1, 2], config: { regionHeartbeatTickInterval: 100_000 } });
    const leader = c.mustElect();
    await c.mustPut(leader, "k", "v");
    c.tick(5);
    await c.runWorkers();
    mustOk(
      await c.propose(leader, {
        header: header(c.region, c.peerOf(leader)),
        requests: [],
        adminRequest: { cmdType: raft_cmdpb.AdminCmdType.ChangePeer, changePeer: { changeType: eraftpb.ConfChangeType.AddLearnerNode, peer: { id: 3n, storeId: 3n, role: metapb.PeerRole.Learner } } },
      }),
    );
    await c.runWorkers();
    const added = rec.regions.at(-1)!;
    assert.deepEqual(added.pendingPeers.map((p) => Number(p.id)), [3], "reported pending right after the change");
    for (let i = 0; i < 60 && c.engine(3).get("default", b("k")) === undefined; i++) {
      c.tick();
      await c.runWorkers();
    }
    c.tick(2);
    await c.runWorkers();
    const last = rec.regions.at(-1)!;
    assert.equal(last.region.peers.length, 3);
    assert.deepEqual(last.pendingPeers, [], "a heartbeat says the learner caught up (periodic heartbeats are 10,000 s apart here)");
  });

  test("a store reports its statistics as soon as it starts", async (t) => {
    const rec = recorder();
    const c = new TestCluster(t, [1, 2, 3], { scheduler: rec.clientFor });
    await c.runWorkers();
    assert.deepEqual(rec.stores.map((s) => Number(s.storeId)).sort(), [1, 2, 3]);
  });
});

describe("store heartbeats", () => {
  test("carry the data directory's disk capacity and free space, the used bytes, and the traffic applied since the last one", async (t) => {
    const rec = recorder();
    const c = new TestCluster(t, [1, 2, 3], { scheduler: rec.clientFor });
    const leader = c.mustElect();
    c.store(1).storeStats(); // resets the counters
    for (let i = 0; i < 5; i++) await c.mustPut(leader, `k${i}`, "0123456789");
    c.pump();
    const s = c.store(1).storeStats();
    assert.ok(s.capacity > 0n && s.available > 0n && s.available <= s.capacity, `capacity ${s.capacity}, available ${s.available}`);
    assert.equal(s.regionCount, 1);
    assert.equal(s.bytesWritten, 5n * 12n, "every replica counts what it applied");
    assert.equal(s.keysWritten, 5n);
    assert.ok(s.interval && s.interval.endTimestamp >= s.interval.startTimestamp);
    const again = c.store(1).storeStats();
    assert.equal(again.bytesWritten, 0n);
  });
});
