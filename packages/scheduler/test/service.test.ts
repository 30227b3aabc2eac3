// The scheduler's gRPC service through the raw generated client: headers, error channels, the two
// bidi streams, and startup/robustness of the server (port taken, data dir locked, garbage input).
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { Metadata, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { schedulerpb } from "@regionkv/proto";
import { ListenError, MAX_SPLIT_COUNT, SchedulerCore, SchedulerError, startSchedulerServer } from "../src/index.js";
import { mustStartServer, mustTempDir, newRegion, newStore, rawClient, silentLogger, unary, waitFor } from "./server-helpers.js";

const ErrorType = schedulerpb.ErrorType;

function isStatus(code: status, detail?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    const se = e as ServiceError;
    assert.equal(se.code, code, `expected gRPC status ${status[code]}, got ${status[se.code]}: ${se.details}`);
    if (detail) assert.match(se.details, detail);
    return true;
  };
}

/** Collects a bidi stream's responses and its end (status or error). */
function collect<Req, Res>(stream: ClientDuplexStream<Req, Res>): { responses: Res[]; ended: { code: status; details: string } | undefined } {
  const out: { responses: Res[]; ended: { code: status; details: string } | undefined } = { responses: [], ended: undefined };
  stream.on("data", (r: Res) => out.responses.push(r));
  stream.on("error", (e: ServiceError) => (out.ended ??= { code: e.code, details: e.details }));
  stream.on("status", (s: { code: status; details: string }) => (out.ended ??= { code: s.code, details: s.details }));
  return out;
}

test("GetMembers needs no header and reports this scheduler and the cluster id", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t), { newClusterId: () => 4242n });
  const c = rawClient(t, server.address);
  const r = await unary<schedulerpb.GetMembersResponse>((cb) => c.getMembers({ header: undefined }, cb));
  assert.equal(r.header?.clusterId, 4242n);
  assert.equal(r.header?.error, undefined);
  assert.equal(r.members.length, 1);
  assert.deepEqual(r.leader?.clientUrls, [server.address]);
  assert.match(server.address, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(server.address, "127.0.0.1:0");
});

test("a missing header or required field is INVALID_ARGUMENT naming it; another cluster's id is CLUSTER_ID_MISMATCH", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t), { newClusterId: () => 7n });
  const c = rawClient(t, server.address);
  await assert.rejects(
    unary((cb) => c.allocId({ header: undefined }, cb)),
    isStatus(status.INVALID_ARGUMENT, /AllocIDRequest\.header is required/),
  );
  const mismatch = await unary<schedulerpb.AllocIDResponse>((cb) => c.allocId({ header: { clusterId: 8n } }, cb));
  assert.equal(mismatch.header?.error?.type, ErrorType.CLUSTER_ID_MISMATCH);
  assert.match(mismatch.header?.error?.message ?? "", /cluster 8 .* cluster 7/);
  assert.equal(mismatch.id, 0n, "an error response carries nothing else");

  // Bootstrap does not check the cluster id (the bootstrapping store may not know it), but needs its fields.
  await assert.rejects(
    unary((cb) => c.bootstrap({ header: { clusterId: 99n }, store: newStore(1n), region: undefined }, cb)),
    isStatus(status.INVALID_ARGUMENT, /BootstrapRequest\.region is required/),
  );
  const boot = await unary<schedulerpb.BootstrapResponse>((cb) => c.bootstrap({ header: { clusterId: 99n }, store: newStore(1n), region: newRegion(2n, "", "", [1n]) }, cb));
  assert.equal(boot.header?.error, undefined);
  await assert.rejects(
    unary((cb) => c.putStore({ header: { clusterId: 7n }, store: undefined }, cb)),
    isStatus(status.INVALID_ARGUMENT, /PutStoreRequest\.store is required/),
  );
  await assert.rejects(
    unary((cb) => c.storeHeartbeat({ header: { clusterId: 7n }, stats: undefined }, cb)),
    isStatus(status.INVALID_ARGUMENT, /StoreHeartbeatRequest\.stats is required/),
  );
});

test("scheduler errors travel in the response header with their wire type", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };

  const notBoot = await unary<schedulerpb.GetRegionResponse>((cb) => c.getRegion({ header, regionKey: Buffer.from("a") }, cb));
  assert.equal(notBoot.header?.error?.type, ErrorType.NOT_BOOTSTRAPPED);

  const region = newRegion(2n, "", "m", [1n]);
  await unary((cb) => c.bootstrap({ header, store: newStore(1n), region }, cb));
  const again = await unary<schedulerpb.BootstrapResponse>((cb) => c.bootstrap({ header, store: newStore(1n), region }, cb));
  assert.equal(again.header?.error?.type, ErrorType.ALREADY_BOOTSTRAPPED);

  const noRegion = await unary<schedulerpb.GetRegionResponse>((cb) => c.getRegion({ header, regionKey: Buffer.from("z") }, cb));
  assert.equal(noRegion.header?.error?.type, ErrorType.REGION_NOT_FOUND);
  assert.equal(noRegion.region, undefined);

  const noStore = await unary<schedulerpb.GetStoreResponse>((cb) => c.getStore({ header, storeId: 9n }, cb));
  assert.equal(noStore.header?.error?.type, ErrorType.UNKNOWN);
  assert.match(noStore.header?.error?.message ?? "", /store 9 is unknown/);

  const badStore = await unary<schedulerpb.PutStoreResponse>((cb) => c.putStore({ header, store: newStore(0n) }, cb));
  assert.equal(badStore.header?.error?.type, ErrorType.INVALID_ARGUMENT);
  assert.match(badStore.header?.error?.message ?? "", /store\.id must not be 0/);
});

test("region lookups: GetRegion, GetPrevRegion, GetRegionByID and ScanRegions", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  const [a, b, z] = [newRegion(2n, "", "g", [1n]), newRegion(3n, "g", "p", [1n]), newRegion(4n, "p", "", [1n])];
  await unary((cb) => c.bootstrap({ header, store: newStore(1n), region: a }, cb));
  for (const r of [b, z]) {
    const res = server.core.regionHeartbeat(schedulerpb.RegionHeartbeatRequest.fromPartial({ region: r, leader: r.peers[0] }));
    assert.ok(res.ok);
  }

  const got = await unary<schedulerpb.GetRegionResponse>((cb) => c.getRegion({ header, regionKey: Buffer.from("h") }, cb));
  assert.equal(got.region?.id, 3n);
  assert.deepEqual(got.leader, b.peers[0]);
  const prev = await unary<schedulerpb.GetRegionResponse>((cb) => c.getPrevRegion({ header, regionKey: Buffer.from("h") }, cb));
  assert.equal(prev.region?.id, 2n);
  assert.equal(prev.leader, undefined, "the bootstrap region has no heartbeat leader yet");
  const byId = await unary<schedulerpb.GetRegionResponse>((cb) => c.getRegionById({ header, regionId: 4n }, cb));
  assert.deepEqual(byId.region?.startKey, Buffer.from("p"));
  const none = await unary<schedulerpb.GetRegionResponse>((cb) => c.getRegionById({ header, regionId: 77n }, cb));
  assert.equal(none.header?.error?.type, ErrorType.REGION_NOT_FOUND);

  const scan = async (start: string, end: string, limit: number): Promise<bigint[]> =>
    (await unary<schedulerpb.ScanRegionsResponse>((cb) => c.scanRegions({ header, startKey: Buffer.from(start), endKey: Buffer.from(end), limit }, cb))).regions.map((r) => r.region!.id);
  assert.deepEqual(await scan("", "", 0), [2n, 3n, 4n]);
  assert.deepEqual(await scan("h", "", 1), [3n]);
  assert.deepEqual(await scan("a", "p", -1), [2n, 3n]);
});

test("AskSplit and AskBatchSplit: fresh ids, one peer id per peer; unknown region, stale epoch and bad counts are rejected", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  const region = newRegion(2n, "", "", [1n, 2n, 3n], 5n, 3n);
  await unary((cb) => c.bootstrap({ header, store: newStore(1n), region }, cb));

  const one = await unary<schedulerpb.AskSplitResponse>((cb) => c.askSplit({ header, region }, cb));
  assert.equal(one.header?.error, undefined);
  assert.equal(one.newPeerIds.length, 3);
  const batch = await unary<schedulerpb.AskBatchSplitResponse>((cb) => c.askBatchSplit({ header, region, splitCount: 4 }, cb));
  assert.equal(batch.ids.length, 4);
  const all = [one.newRegionId, ...one.newPeerIds, ...batch.ids.flatMap((s) => [s.newRegionId, ...s.newPeerIds])];
  assert.equal(all.length, 4 + 4 * 4);
  assert.equal(new Set(all).size, all.length, "every id is fresh");
  assert.ok(all.every((id) => id > 0n));
  for (const s of batch.ids) assert.equal(s.newPeerIds.length, region.peers.length);

  const ask = async (r: typeof region, splitCount: number): Promise<schedulerpb.Error | undefined> =>
    (await unary<schedulerpb.AskBatchSplitResponse>((cb) => c.askBatchSplit({ header, region: r, splitCount }, cb))).header?.error;
  assert.equal((await ask({ ...region, regionEpoch: { version: 4n, confVer: 3n } }, 1))?.type, ErrorType.STALE_EPOCH);
  assert.equal((await ask({ ...region, regionEpoch: { version: 5n, confVer: 2n } }, 1))?.type, ErrorType.STALE_EPOCH);
  assert.equal((await ask({ ...region, regionEpoch: { version: 6n, confVer: 3n } }, 1))?.type, undefined, "a newer epoch than the scheduler's is fine");
  assert.equal((await ask({ ...region, id: 99n }, 1))?.type, ErrorType.REGION_NOT_FOUND);
  const zero = await ask(region, 0);
  assert.equal(zero?.type, ErrorType.INVALID_ARGUMENT);
  assert.match(zero?.message ?? "", /split_count/);
  assert.equal((await ask(region, MAX_SPLIT_COUNT + 1))?.type, ErrorType.INVALID_ARGUMENT);
  await assert.rejects(
    unary((cb) => c.askSplit({ header, region: undefined }, cb)),
    isStatus(status.INVALID_ARGUMENT, /AskSplitRequest\.region is required/),
  );
});

test("Tso stream: each response carries the last timestamp of its range; a wrong cluster is answered in the header; count 0 ends the stream", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t), { clock: { now: () => 1_000_000 } });
  const c = rawClient(t, server.address);
  const clusterId = server.core.clusterId;
  const stream = c.tso();
  t.after(() => stream.cancel());
  const got = collect(stream);
  stream.write({ header: { clusterId }, count: 10 });
  stream.write({ header: { clusterId }, count: 1 });
  stream.write({ header: { clusterId: clusterId + 1n }, count: 1 });
  stream.write({ header: { clusterId }, count: 5 });
  await waitFor("4 tso responses", () => got.responses.length === 4);
  const [r10, r1, bad, r5] = got.responses;
  assert.equal(r10!.count, 10);
  // A fixed clock: the ranges are logical 0..=9, 10, (mismatch), 11..=15 of the same millisecond.
  const p = 1_000_000n;
  assert.deepEqual(r10!.timestamp, { physical: p, logical: 9n });
  assert.deepEqual(r1!.timestamp, { physical: p, logical: 10n });
  assert.equal(bad!.header?.error?.type, ErrorType.CLUSTER_ID_MISMATCH);
  assert.equal(bad!.timestamp, undefined);
  assert.deepEqual(r5!.timestamp, { physical: p, logical: 15n });
  assert.equal(r5!.count, 5);

  stream.write({ header: { clusterId }, count: 0 });
  await waitFor("the stream to end", () => got.ended !== undefined);
  assert.equal(got.ended?.code, status.INVALID_ARGUMENT);
  assert.match(got.ended?.details ?? "", /TsoRequest\.count/);
});

test("RegionHeartbeat stream: accepted and stale heartbeats get no answer, errors a header-only one; a heartbeat without leader ends the stream", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  const r1 = newRegion(2n, "", "", [1n, 2n], 3n, 3n);
  await unary((cb) => c.bootstrap({ header, store: newStore(1n), region: newRegion(2n, "", "", [1n], 1n, 1n) }, cb));

  const stream = c.regionHeartbeat();
  t.after(() => stream.cancel());
  const got = collect(stream);
  const hb = (region: typeof r1, leader = region.peers[0]): schedulerpb.RegionHeartbeatRequest =>
    schedulerpb.RegionHeartbeatRequest.fromPartial({ header, region, leader, approximateSize: 123n });
  stream.write(hb(r1)); // accepted: epoch (3, 3) over the bootstrap's (1, 1)
  stream.write(hb({ ...r1, regionEpoch: { version: 2n, confVer: 3n } }, r1.peers[1])); // stale: ignored
  stream.write(hb({ ...r1, id: 0n })); // invalid region id: answered with an error header
  stream.write({ ...hb(r1), header: { clusterId: header.clusterId + 1n } }); // another cluster
  await waitFor("2 heartbeat responses", () => got.responses.length === 2);
  const [invalid, mismatch] = got.responses;
  assert.equal(invalid!.header?.error?.type, ErrorType.INVALID_ARGUMENT);
  assert.equal(invalid!.regionId, 0n);
  assert.deepEqual(invalid!.targetPeer, r1.peers[0]);
  assert.equal(mismatch!.header?.error?.type, ErrorType.CLUSTER_ID_MISMATCH);
  assert.equal(mismatch!.regionId, 2n);
  const info = server.core.getRegionById(2n)!;
  assert.deepEqual(info.region.regionEpoch, { version: 3n, confVer: 3n });
  assert.deepEqual(info.leader, r1.peers[0], "the stale heartbeat's leader was not taken");
  assert.equal(info.approximateSize, 123n);

  stream.write(schedulerpb.RegionHeartbeatRequest.fromPartial({ header, region: r1 }));
  await waitFor("the stream to end", () => got.ended !== undefined);
  assert.equal(got.ended?.code, status.INVALID_ARGUMENT);
  assert.match(got.ended?.details ?? "", /RegionHeartbeatRequest\.leader/);
  assert.equal(got.responses.length, 2);
});

test("methods not implemented yet answer UNIMPLEMENTED and say so", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  await assert.rejects(unary((cb) => c.reportBatchSplit({ header, regions: [] }, cb)), isStatus(status.UNIMPLEMENTED, /ReportBatchSplit/));
  await assert.rejects(unary((cb) => c.scatterRegion({ header, regionId: 1n, region: undefined, leader: undefined }, cb)), isStatus(status.UNIMPLEMENTED));
  await assert.rejects(unary((cb) => c.getClusterConfig({ header }, cb)), isStatus(status.UNIMPLEMENTED));
  await assert.rejects(unary((cb) => c.putClusterConfig({ header, cluster: undefined }, cb)), isStatus(status.UNIMPLEMENTED));
});

test("a taken port is a clear error, and the data directory is released again", async (t) => {
  const dir = mustTempDir(t);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  t.after(() => blocker.close());
  const listen = `127.0.0.1:${(blocker.address() as net.AddressInfo).port}`;
  await assert.rejects(startSchedulerServer({ listen, dataDir: dir, logger: silentLogger }), (e: unknown) => {
    assert.ok(e instanceof ListenError);
    assert.equal(e.code, "AddressInUse");
    assert.equal(e.message, `${listen} is already in use: stop the other process or choose another --listen`);
    return true;
  });
  // The core was closed: the directory's lock is free.
  SchedulerCore.open(dir).close();
  await assert.rejects(startSchedulerServer({ listen: "127.0.0.1", dataDir: dir, logger: silentLogger }), { name: "ListenError", code: "BadAddress" });
});

test("a second scheduler on the same data directory fails with a clear lock error", async (t) => {
  const dir = mustTempDir(t);
  const first = await mustStartServer(t, dir);
  await assert.rejects(startSchedulerServer({ listen: "127.0.0.1:0", dataDir: dir, logger: silentLogger }), (e: unknown) => {
    assert.ok(e instanceof SchedulerError);
    assert.equal(e.code, "Locked");
    assert.match(e.message, /scheduler\.db is in use by another scheduler process.*stop the other scheduler, or start this one with another --data directory/);
    return true;
  });
  const c = rawClient(t, first.address);
  const r = await unary<schedulerpb.GetMembersResponse>((cb) => c.getMembers({ header: undefined }, cb));
  assert.equal(r.header?.clusterId, first.core.clusterId, "the first scheduler is unaffected");
});

test("garbage on the port and undecodable messages do not crash the server; it keeps answering", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t));
  const [host, port] = [server.address.split(":")[0]!, Number(server.address.split(":")[1])];
  const junks = [
    Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
    Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.alloc(64, 0xff)]),
  ];
  for (const junk of junks) {
    const sock = net.connect(port, host);
    sock.on("error", () => {});
    sock.resume(); // read (and drop) what the server answers, so its close is seen
    const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
    sock.write(junk);
    await closed; // the server hangs up on garbage (HTTP/2 protocol error)
  }
  const c = rawClient(t, server.address);
  // A valid HTTP/2 gRPC call whose payload is not a protobuf message.
  await assert.rejects(
    new Promise((resolve, reject) =>
      c.makeUnaryRequest(
        "/schedulerpb.Scheduler/AllocID",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
        new Metadata(),
        {},
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    ),
    isStatus(status.INTERNAL, /deserializ/i),
  );
  const r = await unary<schedulerpb.GetMembersResponse>((cb) => c.getMembers({ header: undefined }, cb));
  assert.equal(r.header?.clusterId, server.core.clusterId);
  const id = await unary<schedulerpb.AllocIDResponse>((cb) => c.allocId({ header: { clusterId: server.core.clusterId } }, cb));
  assert.ok(id.id > 0n);
});

test("close() ends open streams with OK and returns promptly; the data directory can be reopened", async (t) => {
  const dir = mustTempDir(t);
  const server = await startSchedulerServer({ listen: "127.0.0.1:0", dataDir: dir, logger: silentLogger });
  const c = rawClient(t, server.address);
  const clusterId = server.core.clusterId;
  const tso = c.tso();
  const tsoGot = collect(tso);
  tso.write({ header: { clusterId }, count: 1 });
  const hb = c.regionHeartbeat();
  const hbGot = collect(hb);
  hb.write(schedulerpb.RegionHeartbeatRequest.fromPartial({ header: { clusterId }, region: newRegion(2n, "", "", [1n]), leader: { id: 201n, storeId: 1n } }));
  await waitFor("a tso response", () => tsoGot.responses.length === 1);
  await waitFor("a NOT_BOOTSTRAPPED heartbeat answer", () => hbGot.responses.length === 1);
  assert.equal(hbGot.responses[0]!.header?.error?.type, ErrorType.NOT_BOOTSTRAPPED);
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 1500, `close took ${Date.now() - started} ms`);
  await waitFor("both streams to end", () => tsoGot.ended !== undefined && hbGot.ended !== undefined);
  assert.equal(tsoGot.ended?.code, status.OK);
  assert.equal(hbGot.ended?.code, status.OK);
  await server.close(); // idempotent
  SchedulerCore.open(dir).close();
});
