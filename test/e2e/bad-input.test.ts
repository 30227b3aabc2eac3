/**
 * Bad input against real processes: every case gets a clear error, no process crashes, and the
 * data written before is all still there afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { InvalidArgumentError, RawClient } from "@regionkv/client";
import { kvrpcpb, regionkvpb } from "@regionkv/proto";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster, freePort, runCli } from "./support/processes.js";

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

function call<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<{ err: grpc.ServiceError | null; res: Res | undefined }> {
  return new Promise((resolve) => fn(req, (err, res) => resolve({ err, res })));
}

/** Write junk to a TCP port and wait until the peer closes the connection (or 3 s pass). */
function sendGarbage(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1", () => sock.write(bytes));
    const done = () => {
      sock.destroy();
      resolve();
    };
    sock.on("close", done);
    sock.on("error", done);
    setTimeout(done, 3_000);
  });
}

test("bad input gets clear errors and loses nothing (real processes)", async (t) => {
  const c = await ProcessCluster.start(t);
  const client = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 10_000 });
  t.after(() => client.close());
  const keep = Array.from({ length: 20 }, (_, i) => ({ key: `keep-${i}`, value: `value-${i}` }));
  await client.batchPut(keep);

  // --- The client refuses what the store would refuse, naming the limit. ---
  await assert.rejects(client.put("", "v"), (e: unknown) => e instanceof InvalidArgumentError && /empty/i.test(e.message));
  await assert.rejects(client.put(Buffer.alloc(8 * 1024 + 1, 1), "v"), (e: unknown) => e instanceof InvalidArgumentError && /key/i.test(e.message));
  await assert.rejects(client.put("k", Buffer.alloc(4 * 1024 * 1024 + 1)), (e: unknown) => e instanceof InvalidArgumentError && /value/i.test(e.message));
  await assert.rejects(client.scan("a", "b", { limit: 1_000_000 }), (e: unknown) => e instanceof InvalidArgumentError && /limit/i.test(e.message));

  // --- The store checks at the edge, whatever a client sends. ---
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());
  const located = await sched.getRegion(Buffer.from("keep-0"));
  assert.ok(located);
  const region = located.region;
  const leaderIdx = await c.leaderIndex();
  const leaderStore = c.stores[leaderIdx]!;
  const leaderPeer = region.peers.find((p) => String(p.storeId) === leaderStore.storeId);
  const kv = new regionkvpb.KvClient(leaderStore.address, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": 64 * 1024 * 1024 });
  t.after(() => kv.close());
  const ctx: kvrpcpb.Context = { regionId: region.id, regionEpoch: region.regionEpoch, peer: leaderPeer, term: 0n, resolvedLocks: [] };
  const rawPut = kv.rawPut.bind(kv) as Unary<kvrpcpb.RawPutRequest, kvrpcpb.RawPutResponse>;
  const rawScan = kv.rawScan.bind(kv) as Unary<kvrpcpb.RawScanRequest, kvrpcpb.RawScanResponse>;
  const rawGet = kv.rawGet.bind(kv) as Unary<kvrpcpb.RawGetRequest, kvrpcpb.RawGetResponse>;
  const put = (over: Partial<kvrpcpb.RawPutRequest>) => call(rawPut, kvrpcpb.RawPutRequest.fromPartial({ context: ctx, key: Buffer.from("k"), value: Buffer.from("v"), ...over }));

  const checks: Array<[string, Promise<{ err: grpc.ServiceError | null }>, RegExp]> = [
    ["empty key", put({ key: Buffer.alloc(0) }), /empty/],
    ["oversized key", put({ key: Buffer.alloc(9 * 1024, 7) }), /MAX_KEY_BYTES/],
    ["oversized value", put({ value: Buffer.alloc(5 * 1024 * 1024, 7) }), /MAX_VALUE_BYTES/],
    ["absurd scan limit", call(rawScan, kvrpcpb.RawScanRequest.fromPartial({ context: ctx, startKey: Buffer.from("a"), limit: 4_000_000_000 })), /MAX_SCAN_LIMIT/],
    ["inverted scan range", call(rawScan, kvrpcpb.RawScanRequest.fromPartial({ context: ctx, startKey: Buffer.from("z"), endKey: Buffer.from("a"), limit: 10 })), /inverted/],
    ["missing context", call(rawGet, kvrpcpb.RawGetRequest.fromPartial({ key: Buffer.from("k") })), /region_id/],
    ["transactional column family", put({ cf: "lock" }), /column family/],
    ["ttl", put({ ttl: 10n }), /ttl/],
  ];
  for (const [what, p, pattern] of checks) {
    const { err } = await p;
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${what}: expected INVALID_ARGUMENT, got ${err?.code} ${err?.details}`);
    assert.match(err.details, pattern, `${what}: the message names the problem`);
  }

  // Unknown region, stale epoch, wrong store: region errors the client can act on.
  const unknown = await call(rawGet, kvrpcpb.RawGetRequest.fromPartial({ context: { ...ctx, regionId: 987_654n }, key: Buffer.from("k") }));
  assert.equal(unknown.err, null);
  assert.equal(unknown.res?.regionError?.kind?.$case, "regionNotFound");
  const stale = await call(rawPut, kvrpcpb.RawPutRequest.fromPartial({ context: { ...ctx, regionEpoch: { confVer: 0n, version: 0n } }, key: Buffer.from("k"), value: Buffer.from("v") }));
  assert.equal(stale.err, null);
  assert.equal(stale.res?.regionError?.kind?.$case, "epochNotMatch");
  const wrongStore = await call(rawPut, kvrpcpb.RawPutRequest.fromPartial({ context: { ...ctx, peer: { ...leaderPeer!, storeId: 424_242n } }, key: Buffer.from("k"), value: Buffer.from("v") }));
  assert.equal(wrongStore.res?.regionError?.kind?.$case, "storeNotMatch");

  // Garbage on the wire: raw junk on the gRPC ports, and a gRPC call whose body is not protobuf.
  await sendGarbage(leaderStore.port, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + "\u0000\u00ff".repeat(5000)));
  await sendGarbage(leaderStore.port, Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 256)));
  await sendGarbage(c.schedulerPort, Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "junk".repeat(10_000)));
  const Generic = grpc.makeGenericClientConstructor({}, "Garbage");
  const generic = new Generic(leaderStore.address, grpc.credentials.createInsecure());
  t.after(() => generic.close());
  const junkCall = await new Promise<grpc.ServiceError | null>((resolve) =>
    generic.makeUnaryRequest(
      "/regionkvpb.Kv/RawPut",
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]),
      (err: grpc.ServiceError | null) => resolve(err),
    ),
  );
  assert.ok(junkCall, "a body that is not a RawPutRequest is refused");
  assert.ok(junkCall.code === grpc.status.INTERNAL || junkCall.code === grpc.status.INVALID_ARGUMENT, `status ${junkCall.code}: ${junkCall.details}`);
  const junkRaft = await new Promise<grpc.ServiceError | null>((resolve) => {
    const stream = generic.makeClientStreamRequest(
      "/regionkvpb.RaftTransport/Raft",
      (b: Buffer) => b,
      (b: Buffer) => b,
      (err: grpc.ServiceError | null) => resolve(err),
    );
    stream.write(Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]));
    stream.end();
  });
  assert.equal(junkRaft?.code, grpc.status.INVALID_ARGUMENT, `raft stream of junk: ${junkRaft?.details}`);

  // --- Processes that cannot start say why and exit non-zero, without harming the running ones. ---
  const sameDir = await runCli(["store", "--scheduler", c.schedulerAddr, "--listen", `127.0.0.1:${await freePort()}`, "--status-listen", `127.0.0.1:${await freePort()}`, "--data", c.stores[0]!.dataDir]);
  assert.notEqual(sameDir.code, 0);
  assert.match(sameDir.stderr, /another store process|in use by another|locked/i, sameDir.stderr);
  const portTaken = await runCli(["store", "--scheduler", c.schedulerAddr, "--listen", leaderStore.address, "--data", fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-e2e-taken-"))]);
  assert.notEqual(portTaken.code, 0);
  assert.match(portTaken.stderr, /already in use/, portTaken.stderr);
  const schedulerTaken = await runCli(["scheduler", "--listen", c.schedulerAddr, "--data", fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-e2e-sched-"))]);
  assert.notEqual(schedulerTaken.code, 0);
  assert.match(schedulerTaken.stderr, /already in use/, schedulerTaken.stderr);
  const corruptDir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-e2e-corrupt-"));
  t.after(() => fs.rmSync(corruptDir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(corruptDir, "store.db"), Buffer.from("this is not a database ".repeat(400)));
  const corrupt = await runCli(["store", "--scheduler", c.schedulerAddr, "--listen", `127.0.0.1:${await freePort()}`, "--status-listen", `127.0.0.1:${await freePort()}`, "--data", corruptDir]);
  assert.notEqual(corrupt.code, 0);
  assert.match(corrupt.stderr, /corrupt|not a regionkv database|damaged/i, corrupt.stderr);
  const badFlag = await runCli(["store", "--listen", "nonsense", "--data", corruptDir]);
  assert.notEqual(badFlag.code, 0);
  assert.match(badFlag.stderr, /host:port/, badFlag.stderr);

  // --- Nothing was lost, and every process is still up. ---
  for (const s of c.stores) assert.ok(s.proc.running, `store-${s.index + 1} is still running`);
  assert.ok(c.scheduler.running, "the scheduler is still running");
  const rows = await client.scan("keep-", "keep.", { limit: 100 });
  assert.deepEqual(
    rows.map((r) => [r.key.toString(), r.value.toString()]).sort(),
    keep.map((k) => [k.key, k.value]).sort(),
  );
  await client.put("after", "all");
  assert.deepEqual(await client.get("after"), Buffer.from("all"));
});
