/**
 * The transactional Kv* methods over gRPC on a real single-store RaftStore: every command goes
 * through a ReadIndex view and one raft command (RaftTxnStorage), unary and on a BatchCommands
 * stream; region errors come back in the response; malformed requests are INVALID_ARGUMENT
 * naming what is wrong.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { kvrpcpb, regionkvpb, type metapb } from "@regionkv/proto";
import { RaftTxnStorage, TxnCommands, composeTs } from "@regionkv/txn";
import { Registry } from "prom-client";
import { KvService, MAX_GRPC_MESSAGE_BYTES, rawKvService } from "../src/index.js";
import { leadingSingleStore, silent, waitFor } from "./transport-helpers.js";

const b = (s: string): Buffer => Buffer.from(s);

interface Fixture {
  client: regionkvpb.KvClient;
  ctx: kvrpcpb.Context;
  region: metapb.Region;
  /** The TSO the store uses to sync max_ts (tests move it). */
  tso: { now: bigint };
}

async function fixture(t: TestContext): Promise<Fixture> {
  const { store, region } = await leadingSingleStore(t, "regionkv-txn-service-");
  const tso = { now: composeTs(1000n, 0n) };
  const txn = new TxnCommands({ storage: new RaftTxnStorage({ store, tso: async () => (tso.now += 1n) }) });
  const kv = new KvService({ store, logger: silent, registry: new Registry(), txn });
  const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_GRPC_MESSAGE_BYTES });
  server.addService(rawKvService, kv.service());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new regionkvpb.KvClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => {
    client.close();
    server.forceShutdown();
  });
  const ctx: kvrpcpb.Context = { regionId: region.id, regionEpoch: region.regionEpoch, peer: region.peers[0], term: 0n, resolvedLocks: [] };
  return { client, ctx, region, tso };
}

type Method<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

function call<Req, Res>(fn: Method<Req, Res>, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res!))));
}

function kv(f: Fixture) {
  const c = f.client;
  return {
    get: (r: Partial<kvrpcpb.GetRequest>) => call<kvrpcpb.GetRequest, kvrpcpb.GetResponse>(c.kvGet.bind(c), kvrpcpb.GetRequest.fromPartial({ context: f.ctx, ...r })),
    scan: (r: Partial<kvrpcpb.ScanRequest>) => call<kvrpcpb.ScanRequest, kvrpcpb.ScanResponse>(c.kvScan.bind(c), kvrpcpb.ScanRequest.fromPartial({ context: f.ctx, ...r })),
    prewrite: (r: Partial<kvrpcpb.PrewriteRequest>) =>
      call<kvrpcpb.PrewriteRequest, kvrpcpb.PrewriteResponse>(c.kvPrewrite.bind(c), kvrpcpb.PrewriteRequest.fromPartial({ context: f.ctx, lockTtl: 3000n, ...r })),
    commit: (r: Partial<kvrpcpb.CommitRequest>) => call<kvrpcpb.CommitRequest, kvrpcpb.CommitResponse>(c.kvCommit.bind(c), kvrpcpb.CommitRequest.fromPartial({ context: f.ctx, ...r })),
    checkTxnStatus: (r: Partial<kvrpcpb.CheckTxnStatusRequest>) =>
      call<kvrpcpb.CheckTxnStatusRequest, kvrpcpb.CheckTxnStatusResponse>(c.kvCheckTxnStatus.bind(c), kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: f.ctx, ...r })),
    resolveLock: (r: Partial<kvrpcpb.ResolveLockRequest>) =>
      call<kvrpcpb.ResolveLockRequest, kvrpcpb.ResolveLockResponse>(c.kvResolveLock.bind(c), kvrpcpb.ResolveLockRequest.fromPartial({ context: f.ctx, ...r })),
    gc: (r: Partial<kvrpcpb.GCRequest>) => call<kvrpcpb.GCRequest, kvrpcpb.GCResponse>(c.kvGc.bind(c), kvrpcpb.GCRequest.fromPartial({ context: f.ctx, ...r })),
  };
}

const put = (key: string, value: string): kvrpcpb.Mutation => ({ op: kvrpcpb.Op.Put, key: b(key), value: b(value) });

describe("transactional API on a real RaftStore", () => {
  test("prewrite, commit and read through raft: visibility by timestamp, scans, a second transaction's conflict", async (t) => {
    const f = await fixture(t);
    const api = kv(f);
    const pre = await api.prewrite({ mutations: [put("a", "1"), put("b", "2"), { op: kvrpcpb.Op.Del, key: b("c"), value: Buffer.alloc(0) }], primaryLock: b("a"), startVersion: 100n });
    assert.deepEqual([pre.regionError, pre.errors], [undefined, []]);
    const locked = await api.get({ key: b("b"), version: 150n });
    assert.equal(locked.error?.kind?.$case, "locked", "a reader above the lock's start ts is blocked");
    assert.equal((await api.get({ key: b("b"), version: 99n })).notFound, true, "a reader below it is not");
    const com = await api.commit({ startVersion: 100n, commitVersion: 110n, keys: [b("a"), b("b"), b("c")] });
    assert.deepEqual([com.regionError, com.error], [undefined, undefined]);
    assert.equal((await api.get({ key: b("a"), version: 110n })).value.toString(), "1");
    assert.equal((await api.get({ key: b("a"), version: 109n })).notFound, true);
    const rows = await api.scan({ startKey: b("a"), limit: 10, version: 200n });
    assert.deepEqual(rows.pairs.map((p) => `${p.key}=${p.value}`), ["a=1", "b=2"]);
    const conflict = await api.prewrite({ mutations: [put("a", "x")], primaryLock: b("a"), startVersion: 105n });
    assert.equal(conflict.errors[0]?.kind?.$case, "conflict", "a commit at 110 ≥ start 105 conflicts");
  });

  test("an abandoned transaction: its expired primary is rolled back by CheckTxnStatus and its secondary resolved", async (t) => {
    const f = await fixture(t);
    const api = kv(f);
    const start = composeTs(1000n, 1n);
    assert.deepEqual((await api.prewrite({ mutations: [put("p", "1"), put("s", "2")], primaryLock: b("p"), startVersion: start, lockTtl: 10n })).errors, []);
    const status = await api.checkTxnStatus({ primaryKey: b("p"), lockTs: start, currentTs: composeTs(2000n, 0n) });
    assert.equal(status.action, kvrpcpb.Action.TTLExpireRollback);
    assert.deepEqual((await api.resolveLock({ startVersion: start, commitVersion: 0n })).error, undefined);
    const reader = composeTs(3000n, 0n);
    assert.equal((await api.get({ key: b("s"), version: reader })).notFound, true);
    assert.equal((await api.get({ key: b("s"), version: reader })).error, undefined, "the secondary's lock is gone");
  });

  test("async commit: the lock's min commit ts is above every read the store served, after syncing max_ts with the TSO", async (t) => {
    const f = await fixture(t);
    const api = kv(f);
    const readTs = composeTs(5000n, 7n);
    assert.equal((await api.get({ key: b("k"), version: readTs })).notFound, true);
    const pre = await api.prewrite({ mutations: [put("k", "v")], primaryLock: b("k"), startVersion: composeTs(1000n, 5n), useAsyncCommit: true, secondaries: [] });
    assert.deepEqual(pre.errors, []);
    assert.ok(pre.minCommitTs > readTs, `min commit ts ${pre.minCommitTs} above the read at ${readTs}`);
    const one = await api.prewrite({ mutations: [put("one", "pc")], primaryLock: b("one"), startVersion: composeTs(1000n, 9n), tryOnePc: true });
    assert.ok(one.onePcCommitTs > readTs, "1PC commits above the read too");
    assert.equal((await api.get({ key: b("one"), version: one.onePcCommitTs })).value.toString(), "pc");
  });

  test("region errors travel in the response: a stale epoch, an unknown region", async (t) => {
    const f = await fixture(t);
    const api = kv(f);
    const stale = { ...f.ctx, regionEpoch: { confVer: 1n, version: 0n } };
    const r1 = await call<kvrpcpb.PrewriteRequest, kvrpcpb.PrewriteResponse>(
      f.client.kvPrewrite.bind(f.client),
      kvrpcpb.PrewriteRequest.fromPartial({ context: stale, mutations: [put("a", "1")], primaryLock: b("a"), startVersion: 100n, lockTtl: 100n }),
    );
    assert.equal(r1.regionError?.kind?.$case, "epochNotMatch", "a stale epoch is EpochNotMatch");
    const r2 = await call<kvrpcpb.GetRequest, kvrpcpb.GetResponse>(f.client.kvGet.bind(f.client), kvrpcpb.GetRequest.fromPartial({ context: { ...f.ctx, regionId: 99n }, key: b("a"), version: 5n }));
    assert.equal(r2.regionError?.kind?.$case, "regionNotFound", "an unknown region is RegionNotFound");
    assert.equal((await api.get({ key: b("a"), version: 200n })).notFound, true, "the refused prewrite wrote nothing");
  });

  test("malformed requests are INVALID_ARGUMENT naming the problem", async (t) => {
    const f = await fixture(t);
    const api = kv(f);
    const refused = async (p: Promise<unknown>, pattern: RegExp) => {
      await assert.rejects(p, (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && pattern.test(e.details));
    };
    await refused(api.prewrite({ mutations: [put("a", "1")], primaryLock: b("a"), startVersion: 0n }), /start_version is 0/);
    await refused(api.prewrite({ mutations: [put("a", "1")], primaryLock: b("a"), startVersion: 5n, lockTtl: 0n }), /lock_ttl is 0/);
    await refused(api.prewrite({ mutations: [{ op: kvrpcpb.Op.Rollback, key: b("a"), value: Buffer.alloc(0) }], primaryLock: b("a"), startVersion: 5n }), /mutation op 3/);
    await refused(api.prewrite({ mutations: [put("", "1")], primaryLock: b("a"), startVersion: 5n }), /key is empty/);
    await refused(api.commit({ startVersion: 5n, commitVersion: 6n, keys: [] }), /batch is empty/);
    await refused(api.get({ context: undefined, key: b("a"), version: 1n }), /region_id is missing/);
    await refused(api.scan({ startKey: b("z"), endKey: b("a"), limit: 5, version: 1n }), /empty or inverted/);
    await refused(api.gc({ safePoint: 0n }), /safe_point is 0/);
  });

  test("the commands also run on a BatchCommands stream", async (t) => {
    const f = await fixture(t);
    const stream = f.client.batchCommands();
    const responses = new Map<bigint, regionkvpb.BatchCommandsResponse_Response>();
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (m: regionkvpb.BatchCommandsResponse) => m.requestIds.forEach((id, i) => responses.set(id, m.responses[i]!)));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    const send = (id: bigint, cmd: NonNullable<regionkvpb.BatchCommandsRequest_Request["cmd"]>) => stream.write({ requests: [{ timeoutMs: 0, cmd }], requestIds: [id] });
    send(1n, { $case: "prewrite", value: kvrpcpb.PrewriteRequest.fromPartial({ context: f.ctx, mutations: [put("x", "42")], primaryLock: b("x"), startVersion: 300n, lockTtl: 1000n }) });
    await waitFor(() => responses.has(1n), "prewrite answered");
    send(2n, { $case: "commit", value: kvrpcpb.CommitRequest.fromPartial({ context: f.ctx, startVersion: 300n, commitVersion: 301n, keys: [b("x")] }) });
    await waitFor(() => responses.has(2n), "commit answered");
    send(3n, { $case: "get", value: kvrpcpb.GetRequest.fromPartial({ context: f.ctx, key: b("x"), version: 400n }) });
    stream.end();
    await done;
    const pre = responses.get(1n)?.cmd;
    assert.deepEqual(pre?.$case === "prewrite" ? pre.value.errors : "not a prewrite response", []);
    const got = responses.get(3n)?.cmd;
    assert.equal(got?.$case === "get" ? got.value.value.toString() : undefined, "42");
  });
});
