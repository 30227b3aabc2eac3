// SchedulerRpcClient against a real scheduler server on 127.0.0.1: every RPC, the two streams,
// restarts (ids and timestamps keep increasing, the client carries on), unreachable schedulers.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { metapb, schedulerpb } from "@regionkv/proto";
import { SchedulerRpcClient, SchedulerRpcError, type SchedulerRpcClientOptions } from "../src/client/index.js";
import type { RunningSchedulerServer } from "../src/index.js";
import { deadPort, mustStartServer, mustTempDir, newRegion, newStore, silentLogger, waitFor } from "./server-helpers.js";

async function mustConnect(t: TestContext, endpoints: string | string[], opts: Partial<SchedulerRpcClientOptions> = {}): Promise<SchedulerRpcClient> {
  const c = await SchedulerRpcClient.connect({ endpoints, logger: silentLogger, ...opts });
  t.after(() => c.close());
  return c;
}

/** Restart a scheduler on the same address and data directory. */
async function mustRestart(t: TestContext, server: RunningSchedulerServer, dataDir: string): Promise<RunningSchedulerServer> {
  await server.close();
  const again = await mustStartServer(t, dataDir, { listen: server.address });
  assert.equal(again.address, server.address);
  return again;
}

function rpcCode(code: string, message?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof SchedulerRpcError, `expected a SchedulerRpcError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

/** Bootstrap through the client with fresh ids: store, whole-key-space region with one peer. */
async function mustBootstrap(c: SchedulerRpcClient): Promise<{ store: metapb.Store; region: metapb.Region }> {
  const store = newStore(await c.allocId());
  const regionId = await c.allocId();
  const region: metapb.Region = {
    id: regionId,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1n, version: 1n },
    peers: [{ id: await c.allocId(), storeId: store.id, role: metapb.PeerRole.Voter }],
  };
  await c.bootstrap(store, region);
  return { store, region };
}

test("every RPC round-trips through the client", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = await mustConnect(t, server.address);
  assert.equal(c.clusterId, server.core.clusterId);

  assert.equal(await c.isBootstrapped(), false);
  await assert.rejects(c.getRegion(Buffer.from("a")), rpcCode("NOT_BOOTSTRAPPED", /not bootstrapped/));
  const { store, region } = await mustBootstrap(c);
  assert.deepEqual([store.id, region.id, region.peers[0]!.id], [1n, 2n, 3n], "AllocID hands out increasing ids");
  assert.equal(await c.isBootstrapped(), true);
  await assert.rejects(c.bootstrap(store, region), rpcCode("ALREADY_BOOTSTRAPPED", /already bootstrapped/));

  // Stores.
  const s2 = newStore(await c.allocId());
  const s3 = { ...newStore(await c.allocId()), state: metapb.StoreState.Tombstone };
  await c.putStore(s2);
  await c.putStore(s3);
  assert.deepEqual(await c.getStore(store.id), store);
  assert.equal(await c.getStore(999n), undefined);
  assert.deepEqual((await c.getAllStores()).map((s) => s.id), [store.id, s2.id, s3.id]);
  assert.deepEqual((await c.getAllStores({ excludeTombstones: true })).map((s) => s.id), [store.id, s2.id]);
  await assert.rejects(c.putStore({ ...s3, state: metapb.StoreState.Up }), rpcCode("STORE_TOMBSTONE", /may not rejoin/));
  await c.storeHeartbeat(schedulerpb.StoreStats.fromPartial({ storeId: s2.id, capacity: 100n, available: 60n }));
  assert.equal(server.core.getStoreInfo(s2.id)?.stats?.available, 60n);
  await assert.rejects(c.storeHeartbeat(schedulerpb.StoreStats.fromPartial({ storeId: 999n })), rpcCode("UNKNOWN", /store 999/));

  // Regions.
  await c.regionHeartbeat({ region, leader: region.peers[0]!, pendingPeers: [], approximateSize: 4096, approximateKeys: 12 });
  await waitFor("the region heartbeat to reach the tree", () => server.core.getRegionById(region.id)?.leader !== undefined);
  assert.equal(server.core.getRegionById(region.id)?.approximateSize, 4096n);
  const key = new Uint8Array(Buffer.from("xxk")).subarray(2); // not a Buffer, and not at offset 0
  assert.deepEqual(await c.getRegion(key), { region, leader: region.peers[0] });
  assert.deepEqual(await c.getRegionById(region.id), { region, leader: region.peers[0] });
  assert.equal(await c.getRegionById(12345n), undefined);
  assert.deepEqual(await c.scanRegions(new Uint8Array(), new Uint8Array(), 0), [{ region, leader: region.peers[0], approximateSize: 4096n, approximateKeys: 12n }], "with the sizes of the last heartbeat");

  const ids = await c.askBatchSplit(region, 2);
  assert.equal(ids.length, 2);
  for (const s of ids) assert.equal(s.newPeerIds.length, 1);
  const fresh = ids.flatMap((s) => [s.newRegionId, ...s.newPeerIds]);
  assert.ok(fresh.every((id) => id > s3.id), "split ids come from the same allocator");
  await assert.rejects(c.askBatchSplit({ ...region, regionEpoch: { confVer: 0n, version: 1n } }, 1), rpcCode("STALE_EPOCH"));
  await assert.rejects(c.askBatchSplit({ ...region, id: 4242n }, 1), rpcCode("REGION_NOT_FOUND"));
  await assert.rejects(c.askBatchSplit(region, 0), rpcCode("INVALID_ARGUMENT", /split_count/));

  // Timestamps and the GC safe point.
  const t1 = await c.getTimestamp();
  const t2 = await c.getTimestamp();
  assert.ok(t2 > t1 && t1 > 0n);
  assert.equal(await c.getGcSafePoint(), 0n);
  assert.equal(await c.updateGcSafePoint(t1), t1);
  assert.equal(await c.updateGcSafePoint(t1 - 5n), t1, "the safe point never moves back");
  assert.equal(await c.getGcSafePoint(), t1);
});

test("the region heartbeat stream updates the region tree; stale epochs are ignored; error answers reach the listener", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = await mustConnect(t, server.address);
  const { region } = await mustBootstrap(c);
  const leader = region.peers[0]!;
  const core = server.core;

  // A split: the left half keeps the id, both halves at version 2.
  const left: metapb.Region = { ...region, endKey: Buffer.from("m"), regionEpoch: { confVer: 1n, version: 2n } };
  const rightId = await c.allocId();
  const right = newRegion(rightId, "m", "", [leader.storeId], 2n, 1n);
  await c.regionHeartbeat({ region: left, leader, pendingPeers: [], approximateSize: 10, approximateKeys: 1 });
  await c.regionHeartbeat({ region: right, leader: right.peers[0]!, pendingPeers: [], approximateSize: 20, approximateKeys: 2 });
  await waitFor("both halves in the tree", () => core.regionCount() === 2 && core.getRegion(Buffer.from("x"))?.region.id === rightId);
  assert.equal((await c.getRegion(Buffer.from("a")))?.region.endKey.toString(), "m");
  // allRegions walks the map page by page (here one region per page) to the end.
  assert.deepEqual((await c.allRegions(1)).map((r) => r.region.id), [region.id, rightId]);
  assert.deepEqual((await c.allRegions()).map((r) => r.region.id), [region.id, rightId]);

  // A stale heartbeat (the pre-split region) is ignored; the marker after it proves it was processed.
  await c.regionHeartbeat({ region, leader, pendingPeers: [], approximateSize: 999, approximateKeys: 9 });
  await c.regionHeartbeat({ region: right, leader: right.peers[0]!, pendingPeers: [], approximateSize: 21, approximateKeys: 2 });
  await waitFor("the marker heartbeat", () => core.getRegionById(rightId)?.approximateSize === 21n);
  assert.equal(core.regionCount(), 2);
  assert.deepEqual(core.getRegionById(region.id)?.region.endKey, Buffer.from("m"));
  assert.equal(core.getRegionById(region.id)?.approximateSize, 10n);

  const answers: schedulerpb.RegionHeartbeatResponse[] = [];
  c.onRegionHeartbeatResponse((r) => answers.push(r));
  await c.regionHeartbeat({ region: { ...right, peers: [] }, leader: right.peers[0]!, pendingPeers: [], approximateSize: 0, approximateKeys: 0 });
  await waitFor("an error answer", () => answers.length === 1);
  assert.equal(answers[0]!.header?.error?.type, schedulerpb.ErrorType.INVALID_ARGUMENT);
  assert.equal(answers[0]!.regionId, rightId);
  assert.match(answers[0]!.header?.error?.message ?? "", /has no peers/);
});

test("TSO: strictly increasing across many concurrent callers, which are batched", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = await mustConnect(t, server.address);

  // Callers in the same tick share one request: consecutive timestamps in call order.
  const burst = await Promise.all(Array.from({ length: 1000 }, () => c.getTimestamp()));
  for (let i = 1; i < burst.length; i++) assert.equal(burst[i], burst[i - 1]! + 1n, `caller ${i} of one batch`);

  // Many callers each asking repeatedly, interleaved: all distinct, each caller's own sequence increasing,
  // everything above the burst.
  const perCaller = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const mine: bigint[] = [];
      for (let i = 0; i < 40; i++) mine.push(await c.getTimestamp());
      return mine;
    }),
  );
  const all = perCaller.flat();
  assert.equal(new Set(all).size, all.length, "no timestamp handed out twice");
  for (const mine of perCaller) for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! > mine[i - 1]!);
  assert.ok(all.every((ts) => ts > burst[burst.length - 1]!));
});

test("ids and timestamps keep increasing across a scheduler restart on the same data directory", async (t) => {
  const dir = mustTempDir(t);
  const first = await mustStartServer(t, dir);
  const c = await mustConnect(t, first.address);
  await mustBootstrap(c);
  const ids: bigint[] = [];
  const tss: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(await c.allocId());
    tss.push(await c.getTimestamp());
  }
  const again = await mustRestart(t, first, dir);
  assert.equal(again.core.clusterId, c.clusterId);
  // The same client carries on (its streams and channel reconnect).
  for (let i = 0; i < 5; i++) {
    ids.push(await c.allocId());
    tss.push(...(await Promise.all([c.getTimestamp(), c.getTimestamp()])));
  }
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `id ${ids[i]} after ${ids[i - 1]}`);
  for (let i = 1; i < tss.length; i++) assert.ok(tss[i]! > tss[i - 1]!, `timestamp ${tss[i]} after ${tss[i - 1]}`);
  assert.equal(await c.isBootstrapped(), true);
  const fresh = await mustConnect(t, again.address);
  assert.equal(fresh.clusterId, c.clusterId);
});

test("a client survives a scheduler restart: the heartbeat stream reopens and answers reach the listener", async (t) => {
  const dir = mustTempDir(t);
  const first = await mustStartServer(t, dir);
  const c = await mustConnect(t, first.address);
  const { region } = await mustBootstrap(c);
  const leader = region.peers[0]!;
  const answers: schedulerpb.RegionHeartbeatResponse[] = [];
  c.onRegionHeartbeatResponse((r) => answers.push(r));
  await c.regionHeartbeat({ region, leader, pendingPeers: [], approximateSize: 1, approximateKeys: 1 });
  await waitFor("the first heartbeat", () => first.core.getRegionById(region.id)?.approximateSize === 1n);

  const again = await mustRestart(t, first, dir);
  assert.equal(again.core.getRegionById(region.id)?.leader, undefined, "a restarted scheduler knows no leaders yet");
  // Heartbeats are periodic: one written before the client noticed the restart may be lost, the next one lands.
  let sent = 0;
  await waitFor("a heartbeat after the restart", () => {
    if (again.core.getRegionById(region.id)?.leader !== undefined) return true;
    sent++;
    void c.regionHeartbeat({ region, leader, pendingPeers: [], approximateSize: 2, approximateKeys: 2 }).catch(() => {});
    return false;
  });
  assert.ok(sent >= 1);
  assert.equal(again.core.getRegionById(region.id)?.approximateSize, 2n);
  await c.regionHeartbeat({ region: { ...region, id: 0n }, leader, pendingPeers: [], approximateSize: 0, approximateKeys: 0 });
  await waitFor("an answer on the reopened stream", () => answers.length === 1);
  assert.equal(answers[0]!.header?.error?.type, schedulerpb.ErrorType.INVALID_ARGUMENT);
  assert.ok((await c.getTimestamp()) > 0n);
});

test("while the scheduler is down calls fail with UNAVAILABLE saying what to do; once it is back they succeed", async (t) => {
  const dir = mustTempDir(t);
  const first = await mustStartServer(t, dir);
  const timeoutMs = 2500;
  const c = await mustConnect(t, first.address, { timeoutMs });
  const { region } = await mustBootstrap(c);
  await first.close();

  const started = Date.now();
  const hint = new RegExp(`no scheduler answered at ${first.address} within ${timeoutMs} ms; is \`regionkv scheduler\` running at ${first.address}\\?`);
  await Promise.all([
    assert.rejects(c.allocId(), rpcCode("UNAVAILABLE", hint)),
    assert.rejects(c.getTimestamp(), rpcCode("UNAVAILABLE", hint)),
    assert.rejects(c.regionHeartbeat({ region, leader: region.peers[0]!, pendingPeers: [], approximateSize: 0, approximateKeys: 0 }), rpcCode("UNAVAILABLE", hint)),
  ]);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= timeoutMs - 300 && elapsed < timeoutMs + 1500, `gave up after ${elapsed} ms`);

  const again = await mustStartServer(t, dir, { listen: first.address });
  assert.ok((await c.allocId()) > region.peers[0]!.id);
  assert.ok((await c.getTimestamp()) > 0n);
  await c.regionHeartbeat({ region, leader: region.peers[0]!, pendingPeers: [], approximateSize: 7, approximateKeys: 0 });
  await waitFor("the heartbeat after the outage", () => again.core.getRegionById(region.id)?.approximateSize === 7n);
});

test("connecting to a dead port rejects within the timeout, naming the address(es)", async (t) => {
  const [p1, p2] = [await deadPort(), await deadPort()];
  let started = Date.now();
  await assert.rejects(
    SchedulerRpcClient.connect({ endpoints: `127.0.0.1:${p1}`, timeoutMs: 300, logger: silentLogger }),
    rpcCode("UNAVAILABLE", new RegExp(`GetMembers: no scheduler answered at 127\\.0\\.0\\.1:${p1} within 300 ms; is \`regionkv scheduler\` running at 127\\.0\\.0\\.1:${p1}\\?`)),
  );
  assert.ok(Date.now() - started < 1300, `gave up after ${Date.now() - started} ms`);
  started = Date.now();
  await assert.rejects(
    SchedulerRpcClient.connect({ endpoints: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`], timeoutMs: 300, logger: silentLogger }),
    rpcCode("UNAVAILABLE", new RegExp(`running at one of 127\\.0\\.0\\.1:${p1}, 127\\.0\\.0\\.1:${p2}\\?`)),
  );
  assert.ok(Date.now() - started < 1300);

  // A dead endpoint before a live one: the client moves on.
  const server = await mustStartServer(t, mustTempDir(t));
  const c = await mustConnect(t, [`127.0.0.1:${p1}`, server.address], { timeoutMs: 2000 });
  assert.equal(c.clusterId, server.core.clusterId);
  assert.ok((await c.allocId()) > 0n);
  assert.ok((await c.getTimestamp()) > 0n);
});

test("a scheduler of another cluster on the same address is refused with CLUSTER_MISMATCH", async (t) => {
  const first = await mustStartServer(t, mustTempDir(t), { newClusterId: () => 1111n });
  const c = await mustConnect(t, first.address);
  await first.close();
  await mustStartServer(t, mustTempDir(t), { listen: first.address, newClusterId: () => 2222n });
  await assert.rejects(c.allocId(), rpcCode("CLUSTER_MISMATCH", /cluster 1111 .* cluster 2222/));
  await assert.rejects(c.getTimestamp(), rpcCode("CLUSTER_MISMATCH"));
  await assert.rejects(c.isBootstrapped(), rpcCode("CLUSTER_MISMATCH"));
});

test("close() fails pending and later calls with CLOSED", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = await SchedulerRpcClient.connect({ endpoints: server.address, logger: silentLogger });
  const pending = c.getTimestamp();
  c.close();
  await assert.rejects(pending, rpcCode("CLOSED", /closed/));
  await assert.rejects(c.allocId(), rpcCode("CLOSED"));
  await assert.rejects(c.getTimestamp(), rpcCode("CLOSED"));
  await assert.rejects(c.regionHeartbeat({ region: newRegion(1n, "", "", [1n]), leader: { id: 101n, storeId: 1n, role: 0 }, pendingPeers: [], approximateSize: 0, approximateKeys: 0 }), rpcCode("CLOSED"));
  c.close(); // idempotent
});

test("the client entry point loads neither better-sqlite3 nor the scheduler core", () => {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), "../src/client/index.ts");
  const script = `
    import { createRequire } from "node:module";
    const mod = await import(${JSON.stringify(entry)});
    if (typeof mod.SchedulerRpcClient !== "function") throw new Error("SchedulerRpcClient not exported");
    const require = createRequire(import.meta.url);
    const cjs = Object.keys(require.cache).filter((f) => f.includes("better-sqlite3"));
    process.stdout.write(JSON.stringify({ cjs }));
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", cwd: path.dirname(entry) });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { cjs: [] });

  // Statically: value imports stay inside the folder or go to the allowed packages (type imports are free).
  const allowed = new Set(["@grpc/grpc-js", "pino", "@regionkv/proto"]);
  const dir = path.dirname(entry);
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const text = fs.readFileSync(path.join(dir, file), "utf8");
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
      const [, typeOnly, from] = m;
      if (typeOnly || from!.startsWith("./") || allowed.has(from!)) continue;
      assert.fail(`${file} imports ${from} at runtime; the client may only use ./*, ${[...allowed].join(", ")}`);
    }
  }
});
