/**
 * Background workers, run through `Workers` in manual mode: each task runs on a real engine and
 * reports back only through the router. Region worker: a generated snapshot installs to equal
 * data on another engine. Raft-log GC: deletes exactly [lo, hi). Split check: size, keys and the
 * split key. Scheduler task: heartbeats reach the SchedulerClient.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { CF_NAMES, WriteBatch, cfKeyRange, encodeBytes, type ColumnFamily, type Engine, type KvPair } from "@regionkv/engine";
import { raft_serverpb, type metapb, type schedulerpb } from "@regionkv/proto";
import type { Ready, Snapshot } from "@regionkv/raft";
import pino from "pino";
import { resolveRaftstoreConfig, type RaftstoreConfig } from "../src/config.js";
import type { PeerMsg } from "../src/messages.js";
import { RaftstoreMetrics } from "../src/metrics.js";
import { PeerStorage, writeInitialRegionState } from "../src/peer-storage.js";
import { Router } from "../src/router.js";
import type { RegionHeartbeat, SchedulerClient } from "../src/scheduler-client.js";
import { Workers } from "../src/workers/workers.js";
import { b, makeRegion, openEngine } from "./helpers.js";

interface Harness {
  workers: Workers;
  router: Router;
  metrics: RaftstoreMetrics;
  /** Mail posted to region `id` so far (taken from the router). */
  mail(id: number): PeerMsg[];
}

function harness(engine: Engine, regions: number[], cfg: Partial<RaftstoreConfig> = {}, scheduler?: SchedulerClient): Harness {
  const router = new Router();
  for (const id of regions) router.register(id);
  const metrics = new RaftstoreMetrics();
  const workers = new Workers(
    {
      engine,
      router,
      cfg: resolveRaftstoreConfig(cfg),
      metrics,
      log: pino({ level: "silent" }),
      clock: { now: () => Date.now() },
      scheduler,
      storeStats: () => ({ storeId: 1n, regionCount: regions.length }) as schedulerpb.StoreStats,
    },
    "manual",
  );
  const boxes = new Map<number, PeerMsg[]>();
  return {
    workers,
    router,
    metrics,
    mail(id) {
      for (const [rid, msgs] of router.takeBusy()) boxes.set(rid, [...(boxes.get(rid) ?? []), ...msgs]);
      return boxes.get(id) ?? [];
    },
  };
}

function initRegion(engine: Engine, region: metapb.Region): void {
  const wb = new WriteBatch();
  writeInitialRegionState(wb, region);
  engine.write(wb);
}

function allData(engine: Engine, region: metapb.Region): Record<ColumnFamily, string[]> {
  const show = (ps: KvPair[]) => ps.map((p) => `${p.key.toString("hex")}=${p.value.toString("hex")}`);
  return Object.fromEntries(
    CF_NAMES.map((cf) => {
      const r = cfKeyRange(cf, region.startKey, region.endKey);
      return [cf, show(engine.scan(cf, r.start, r.end))];
    }),
  ) as Record<ColumnFamily, string[]>;
}

/** A versioned-family key: memcomparable user key ++ 8-byte version. */
function versioned(user: string, version: number): Buffer {
  const v = Buffer.alloc(8);
  v.writeBigUInt64BE(BigInt(version));
  return Buffer.concat([encodeBytes(b(user)), v]);
}

function generated(h: Harness, regionId: number): Extract<PeerMsg, { type: "snapshotGenerated" }> {
  const msgs = h.mail(regionId).filter((m) => m.type === "snapshotGenerated");
  assert.equal(msgs.length, 1, "exactly one snapshotGenerated report");
  return msgs[0] as Extract<PeerMsg, { type: "snapshotGenerated" }>;
}

function installReady(snapshot: Snapshot): Ready {
  return { softState: undefined, hardState: undefined, readStates: [], entries: [], snapshot, committedEntries: [], messages: [], mustSync: true };
}

describe("region worker: snapshot generation", () => {
  test("a snapshot of a region with data in every column family installs to equal data on another engine", async (t) => {
    const src = openEngine(t);
    const region = makeRegion([1, 2, 3], { start: "k", end: "t" });
    initRegion(src, region);
    const wb = new WriteBatch();
    // More than one scan chunk (4096 rows) in the default CF.
    for (let i = 0; i < 5000; i++) wb.put("default", b(`k${String(i).padStart(5, "0")}`), b(`v${i}`));
    for (let i = 0; i < 50; i++) wb.put("lock", b(`l${i}`), b(`lock${i}`));
    for (let i = 0; i < 50; i++) wb.put("write", versioned(`m${i}`, i), Buffer.from([i, 0, 255]));
    for (let i = 0; i < 25; i++) wb.put("txn_default", versioned(`n${i}`, i), b(`value${i}`));
    wb.put("default", b("a-outside"), b("x")).put("lock", b("z-outside"), b("x"));
    // Versioned keys belong to the region by their user key: "szz" is inside, "t" (the end) and
    // "j" are outside.
    wb.put("write", versioned("t", 1), b("x")).put("txn_default", versioned("j", 1), b("x")).put("write", versioned("szz", 1), b("in"));
    src.write(wb);
    // Applied beyond the truncated index: the term comes from the log entry at the applied index.
    src.write(
      new WriteBatch()
        .appendLog(1, [6, 7, 8].map((i) => ({ index: i, term: i === 8 ? 7 : 6, type: 0, data: b("x") })))
        .setApplyState(1, { appliedIndex: 8n, truncatedState: { index: 5n, term: 5n } }),
    );

    const h = harness(src, [1]);
    h.workers.schedule({ worker: "region", kind: "generate", regionId: 1 });
    assert.equal(h.mail(1).length, 0, "manual mode: nothing runs before runPending");
    assert.equal(await h.workers.runPending(), 1);
    const msg = generated(h, 1);
    assert.equal(msg.error, undefined);
    const snap = msg.snapshot!;
    assert.equal(snap.metadata.index, 8);
    assert.equal(snap.metadata.term, 7);
    assert.deepEqual(snap.metadata.confState, { voters: [1, 2, 3], learners: [] });
    const data = raft_serverpb.RaftSnapshotData.decode(snap.data);
    assert.deepEqual(data.region, region);
    assert.equal(data.data.length, 5126, "only the region's rows, from every CF");

    const dst = openEngine(t);
    dst.write(
      new WriteBatch()
        .put("default", b("kzz-stale"), b("old"))
        .put("write", versioned("kzz-stale", 3), b("old"))
        .put("default", b("a-other"), b("keep"))
        .put("write", versioned("t", 9), b("keep")),
    );
    const ps = new PeerStorage(dst, { ...makeRegion([]), id: 1n, peers: [] }, 3, () => {}, 16);
    const iwb = new WriteBatch();
    ps.saveReadyState(installReady(snap), iwb);
    dst.write(iwb);
    assert.deepEqual(allData(dst, region), allData(src, region));
    assert.equal(dst.get("default", b("a-other"))?.toString(), "keep");
    assert.equal(dst.get("write", versioned("t", 9))?.toString(), "keep", "the next region's versions are not touched");
    assert.equal(dst.get("write", versioned("kzz-stale", 3)), undefined, "stale versions inside the region are replaced");
    assert.equal(dst.getApplyState(1)?.appliedIndex, 8n);
    assert.ok(Number((await h.metrics.snapshots.get()).values.find((v) => v.labels.kind === "generate" && v.labels.result === "ok")?.value) === 1);
  });

  test("peer storage's snapshot() is unavailable until the region worker's snapshot comes back through the router", async (t) => {
    const engine = openEngine(t);
    const region = makeRegion([1, 2, 3]);
    initRegion(engine, region);
    engine.write(new WriteBatch().put("default", b("k"), b("v")));
    const h = harness(engine, [1]);
    const ps = new PeerStorage(engine, region, 1, (id) => h.workers.schedule({ worker: "region", kind: "generate", regionId: id }), 16);
    assert.throws(() => ps.snapshot(), { code: "SnapshotTemporarilyUnavailable" });
    assert.equal(h.workers.pendingCount, 1);
    assert.throws(() => ps.snapshot(), { code: "SnapshotTemporarilyUnavailable" });
    assert.equal(h.workers.pendingCount, 1, "one generation at a time");
    await h.workers.runPending();
    const msg = generated(h, 1);
    ps.onSnapshotGenerated(msg.snapshot);
    const snap = ps.snapshot();
    assert.equal(snap.metadata.index, 5);
    assert.deepEqual(raft_serverpb.RaftSnapshotData.decode(snap.data).data.map((kv) => kv.key.toString()), ["k"]);
  });

  test("when the applied index equals the truncated index the snapshot takes the truncated term", async (t) => {
    const engine = openEngine(t);
    initRegion(engine, makeRegion([1]));
    const h = harness(engine, [1]);
    h.workers.schedule({ worker: "region", kind: "generate", regionId: 1 });
    await h.workers.runPending();
    const snap = generated(h, 1).snapshot!;
    assert.deepEqual([snap.metadata.index, snap.metadata.term], [5, 5]);
  });

  test("a region that is a tombstone (or unknown) reports a failed generation, not a snapshot", async (t) => {
    const engine = openEngine(t);
    const region = makeRegion([1]);
    initRegion(engine, region);
    engine.write(new WriteBatch().setRegionState(1, { state: raft_serverpb.PeerState.Tombstone, region }));
    const h = harness(engine, [1, 2]);
    h.workers.schedule({ worker: "region", kind: "generate", regionId: 1 });
    h.workers.schedule({ worker: "region", kind: "generate", regionId: 2 });
    await h.workers.runPending();
    for (const id of [1, 2]) {
      const msg = generated(h, id);
      assert.equal(msg.snapshot, undefined);
      assert.match(msg.error ?? "", new RegExp(`region ${id}`));
    }
  });
});

describe("raft-log GC worker", () => {
  test("deletes exactly the entries [lo, hi) of its region and reports the last deleted index", async (t) => {
    const engine = openEngine(t);
    const ents = (n: number) => Array.from({ length: n }, (_, k) => ({ index: k + 1, term: 1, type: 0, data: b(`e${k + 1}`) }));
    engine.write(new WriteBatch().appendLog(1, ents(20)).appendLog(2, ents(20)));
    const h = harness(engine, [1, 2]);
    h.workers.schedule({ worker: "raftLogGc", regionId: 1, lo: 5, hi: 12 });
    await h.workers.runPending();
    const left = engine.logEntries(1, 0, 100, Infinity).map((e) => e.index);
    assert.deepEqual(left, [1, 2, 3, 4, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.equal(engine.logEntries(2, 0, 100, Infinity).length, 20, "another region's log is untouched");
    assert.deepEqual(h.mail(1), [{ type: "raftLogGcDone", index: 11 }]);
    assert.deepEqual(h.mail(2), []);
  });
});

describe("split-check worker", () => {
  function fill(engine: Engine): void {
    const wb = new WriteBatch();
    // 20 keys "k00".."k19" with 97-byte values: 100 bytes each in the default CF.
    for (let i = 0; i < 20; i++) wb.put("default", b(`k${String(i).padStart(2, "0")}`), Buffer.alloc(97, 1));
    // A lock on k05 (8 bytes) and a version of k06 (17-byte key + 4) belong to those user keys.
    wb.put("lock", b("k05"), b("lock!")).put("write", Buffer.concat([encodeBytes(b("k06")), Buffer.alloc(8, 1)]), b("wr!!"));
    // Outside the region.
    wb.put("default", b("a"), Buffer.alloc(1000)).put("default", b("z"), Buffer.alloc(1000));
    engine.write(wb);
  }

  async function check(engine: Engine, cfg: Partial<RaftstoreConfig>): Promise<Extract<PeerMsg, { type: "regionApproximateSize" }>> {
    const region = makeRegion([1], { start: "k", end: "l" });
    const h = harness(engine, [1], cfg);
    h.workers.schedule({ worker: "splitCheck", regionId: 1, region, policy: "size" });
    await h.workers.runPending();
    const msgs = h.mail(1);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]!.type, "regionApproximateSize");
    return msgs[0] as Extract<PeerMsg, { type: "regionApproximateSize" }>;
  }

  test("reports the region's bytes and keys over every column family, and no split key under regionMaxSize", async (t) => {
    const engine = openEngine(t);
    fill(engine);
    const m = await check(engine, { regionMaxSize: 10_000, regionSplitSize: 5_000 });
    assert.equal(m.bytes, 2000 + 8 + 21);
    assert.equal(m.keys, 20, "user keys");
    assert.deepEqual(m.splitKeys, []);
  });

  test("over regionMaxSize, the split key is the first key at which the running size exceeds regionSplitSize", async (t) => {
    const engine = openEngine(t);
    fill(engine);
    const m = await check(engine, { regionMaxSize: 1500, regionSplitSize: 1050 });
    assert.equal(m.bytes, 2029);
    // About 100 bytes per key: the running total passes 1050 at the 11th key, k10.
    assert.deepEqual(m.splitKeys.map(String), ["k10"]);
  });
});

describe("scheduler-task worker", () => {
  test("region and store heartbeats reach the scheduler client; without a client they are dropped quietly", async (t) => {
    const engine = openEngine(t);
    const seen: Array<RegionHeartbeat | schedulerpb.StoreStats> = [];
    const client: SchedulerClient = {
      regionHeartbeat: async (hb) => void seen.push(hb),
      storeHeartbeat: async (s) => void seen.push(s),
      askBatchSplit: async () => [],
      getStore: async () => undefined,
    };
    const region = makeRegion([1, 2, 3]);
    const h = harness(engine, [1], {}, client);
    const heartbeat: RegionHeartbeat = {
      region,
      leader: region.peers[0]!,
      approximateSize: 123,
      approximateKeys: 4,
      pendingPeers: [region.peers[2]!],
      downPeers: [],
      bytesWritten: 10,
      keysWritten: 1,
      keysRead: 2,
      intervalStartSec: 100,
      intervalEndSec: 110,
      term: 6,
    };
    h.workers.schedule({ worker: "scheduler", kind: "regionHeartbeat", heartbeat });
    h.workers.schedule({ worker: "scheduler", kind: "storeHeartbeat" });
    assert.equal(await h.workers.runPending(), 2);
    assert.deepEqual(seen, [
      heartbeat,
      { storeId: 1n, regionCount: 1 },
    ]);
    const none = harness(engine, [1]);
    none.workers.schedule({ worker: "scheduler", kind: "storeHeartbeat" });
    assert.equal(await none.workers.runPending(), 1);
  });

  test("askBatchSplit: ids from the scheduler, then a BatchSplit with the epoch the keys were found under goes to the region's peer", async (t) => {
    const engine = openEngine(t);
    const asked: Array<[bigint, number]> = [];
    const client: SchedulerClient = {
      regionHeartbeat: async () => {},
      storeHeartbeat: async () => {},
      askBatchSplit: async (r, n) => {
        asked.push([r.id, n]);
        return Array.from({ length: n }, (_, i) => ({ newRegionId: BigInt(100 + i * 10), newPeerIds: [BigInt(101 + i * 10), BigInt(102 + i * 10)] }));
      },
      getStore: async () => undefined,
    };
    const region = makeRegion([1, 2], { version: 4n });
    const h = harness(engine, [1], {}, client);
    h.workers.schedule({ worker: "scheduler", kind: "askBatchSplit", region, leader: region.peers[0]!, splitKeys: [b("g"), b("p")], reason: "size" });
    await h.workers.runPending();
    assert.deepEqual(asked, [[1n, 2]]);
    const mail = h.mail(1);
    assert.equal(mail.length, 1);
    const m = mail[0]!;
    assert.equal(m.type, "raftCmd");
    if (m.type !== "raftCmd") return;
    assert.deepEqual(m.request.header?.regionEpoch, { confVer: 1n, version: 4n });
    assert.deepEqual(
      m.request.adminRequest?.splits?.requests.map((r) => [r.splitKey.toString(), Number(r.newRegionId), r.newPeerIds.map(Number)]),
      [
        ["g", 100, [101, 102]],
        ["p", 110, [111, 112]],
      ],
    );
    // A scheduler that answers with the wrong number of ids: nothing is proposed, and the peer
    // hears that the split at this version failed (it measures again later).
    const bad = harness(engine, [1], {}, { ...client, askBatchSplit: async () => [] });
    bad.workers.schedule({ worker: "scheduler", kind: "askBatchSplit", region, leader: region.peers[0]!, splitKeys: [b("g")], reason: "size" });
    await bad.workers.runPending();
    assert.deepEqual(bad.mail(1), [{ type: "splitFailed", version: 4n, why: "scheduler gave 0 split ids for 1 keys" }]);
  });
});
