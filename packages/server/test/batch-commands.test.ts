/**
 * The store side of Kv.BatchCommands, over real gRPC on 127.0.0.1:
 * - against a real single-store RaftStore on a real engine (production mode): a mixed batch of
 *   every raw command, answers identical to the unary RPCs', per-request errors (limits, missing
 *   fields, region errors) next to successful neighbours, metrics, junk on the wire;
 * - against a fake raftstore whose proposals settle only when the test says so: per-request
 *   deadlines (and their cap), cancellation when the stream goes away, half-close, backpressure.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { regionkvpb, type kvrpcpb, type raft_cmdpb } from "@regionkv/proto";
import type { ProposalResult, ProposeOptions, RaftStore } from "@regionkv/raftstore";
import { Registry } from "prom-client";
import { KvService, MAX_BATCH_KEYS, MAX_GRPC_MESSAGE_BYTES, MAX_OUTSTANDING, MAX_RESPONSES_PER_MESSAGE, rawKvService } from "../src/index.js";
import { leadingSingleStore, silent, waitFor } from "./transport-helpers.js";

type Request = regionkvpb.BatchCommandsRequest_Request;
type Response = regionkvpb.BatchCommandsResponse_Response;
type Cmd = NonNullable<Request["cmd"]>;

const b = (s: string): Buffer => Buffer.from(s);
const EMPTY = Buffer.alloc(0);
const CLIENT_OPTIONS = { "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1 };

interface Fixture {
  kv: KvService;
  client: regionkvpb.KvClient;
  registry: Registry;
  address: string;
  ctx: kvrpcpb.Context;
}

/** Serve `kv` on a port of its own (under `definition`); a client for it. Both closed when the test ends. */
async function serve(t: TestContext, kv: KvService, registry: Registry, ctx: kvrpcpb.Context, definition: grpc.ServiceDefinition = rawKvService): Promise<Fixture> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_GRPC_MESSAGE_BYTES, "grpc.max_send_message_length": MAX_GRPC_MESSAGE_BYTES });
  server.addService(definition, kv.service());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const address = `127.0.0.1:${port}`;
  const client = new regionkvpb.KvClient(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
  t.after(() => {
    client.close();
    server.forceShutdown();
  });
  return { kv, client, registry, address, ctx };
}

/** A real single-store RaftStore (one region, one peer, leading) behind a KvService. */
async function realStore(t: TestContext, definition?: grpc.ServiceDefinition): Promise<Fixture> {
  const { store, region } = await leadingSingleStore(t, "regionkv-batch-commands-");
  const registry = new Registry();
  const kv = new KvService({ store, logger: silent, registry });
  return serve(t, kv, registry, { regionId: region.id, regionEpoch: region.regionEpoch, peer: region.peers[0], term: 0n, resolvedLocks: [] }, definition);
}

/** A proposal the fake raftstore holds until the test settles it (or its deadline or signal ends it). */
interface HeldProposal {
  request: raft_cmdpb.RaftCmdRequest;
  deadline: number;
  signal: AbortSignal | undefined;
  settle(r: ProposalResult): void;
  settled: boolean;
}

/**
 * The part of RaftStore the KV service uses, faked: proposals are held (see HeldProposal) and
 * end like the real store's: Timeout at their deadline, Aborted when their signal fires.
 */
class FakeRaftStore {
  readonly cfg = { proposalTimeoutMs: 2_000 };
  readonly held: HeldProposal[] = [];

  propose(request: raft_cmdpb.RaftCmdRequest, opts: ProposeOptions = {}): Promise<ProposalResult> {
    return new Promise((resolve) => {
      const deadline = opts.deadline ?? Date.now() + this.cfg.proposalTimeoutMs;
      const p: HeldProposal = {
        request,
        deadline,
        signal: opts.signal,
        settled: false,
        settle: (r) => {
          if (p.settled) return;
          p.settled = true;
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => p.settle({ ok: false, error: { kind: "Timeout", message: "the proposal timed out (fake)" } }), Math.max(0, deadline - Date.now()));
      opts.signal?.addEventListener("abort", () => p.settle({ ok: false, error: { kind: "Aborted", message: "the request was cancelled (fake)" } }));
      this.held.push(p);
    });
  }

  /** Answer every held, unsettled proposal with an empty success (a put's answer). */
  releaseAll(): void {
    for (const p of this.held) p.settle({ ok: true, response: { header: { error: undefined, currentTerm: 1n, uuid: EMPTY }, responses: [], adminResponse: undefined } });
  }
}

async function fakeStore(t: TestContext, definition?: grpc.ServiceDefinition): Promise<Fixture & { fake: FakeRaftStore }> {
  const fake = new FakeRaftStore();
  const registry = new Registry();
  const kv = new KvService({ store: fake as unknown as RaftStore, logger: silent, registry });
  const ctx: kvrpcpb.Context = { regionId: 1n, regionEpoch: { confVer: 1n, version: 1n }, peer: { id: 1n, storeId: 1n, role: 0 }, term: 0n, resolvedLocks: [] };
  return { ...(await serve(t, kv, registry, ctx, definition)), fake };
}

/** One BatchCommands stream, recording every response under its id. */
class TestStream {
  readonly got = new Map<bigint, Response>();
  /** Sizes of the response messages, in arrival order. */
  readonly messages: number[] = [];
  readonly status: Promise<grpc.StatusObject>;
  readonly call: grpc.ClientDuplexStream<regionkvpb.BatchCommandsRequest, regionkvpb.BatchCommandsResponse>;
  private nextId = 1n;

  constructor(client: regionkvpb.KvClient) {
    this.call = client.batchCommands();
    this.call.on("data", (m: regionkvpb.BatchCommandsResponse) => {
      this.messages.push(m.responses.length);
      m.requestIds.forEach((id, i) => this.got.set(id, m.responses[i]!));
    });
    this.status = new Promise((resolve) => this.call.on("status", resolve));
    this.call.on("error", () => undefined); // the status says it
  }

  /** Send `cmds` as one message; returns their ids. */
  send(cmds: Array<Cmd | undefined>, timeoutMs = 0): bigint[] {
    const ids = cmds.map(() => this.nextId++);
    this.call.write({ requests: cmds.map((cmd) => ({ timeoutMs, cmd })), requestIds: ids });
    return ids;
  }

  async answers(ids: bigint[], timeoutMs = 10_000): Promise<Response[]> {
    await waitFor(() => ids.every((id) => this.got.has(id)), `answers to ${ids.join(", ")}`, timeoutMs);
    return ids.map((id) => this.got.get(id)!);
  }

  close(): void {
    this.call.cancel();
  }
}

function openStream(t: TestContext, f: Fixture): TestStream {
  const s = new TestStream(f.client);
  t.after(() => s.close());
  return s;
}

/** The response value of each command kind. */
type ResponseOf = { [C in NonNullable<Response["cmd"]> as C["$case"]]: C["value"] };

/** The response must be of `kind`; returns its value. */
function mustBe<K extends keyof ResponseOf>(r: Response, kind: K): ResponseOf[K] {
  assert.equal(r.status, undefined, `expected ${kind}, got status ${r.status?.code}: ${r.status?.message}`);
  assert.equal(r.cmd?.$case, kind);
  return (r.cmd as { value: unknown }).value as ResponseOf[K];
}

function mustStatus(r: Response, code: grpc.status, pattern?: RegExp): string {
  assert.ok(r.status, `expected status ${grpc.status[code]}, got ${r.cmd?.$case}`);
  assert.equal(r.status.code, code, `status ${r.status.code}: ${r.status.message}`);
  assert.equal(r.cmd, undefined);
  if (pattern) assert.match(r.status.message, pattern);
  return r.status.message;
}

function unary<Req, Res>(client: regionkvpb.KvClient, method: "rawGet" | "rawPut" | "rawScan" | "rawBatchGet" | "rawBatchPut", req: Req): Promise<{ ok: true; res: Res } | { ok: false; err: grpc.ServiceError }> {
  const fn = (client[method] as unknown as (r: Req, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void).bind(client);
  return new Promise((resolve) => fn(req, (err, res) => resolve(err ? { ok: false, err } : { ok: true, res: res! })));
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => String(x.labels[k]) === want));
  return v?.value ?? 0;
}

describe("BatchCommands over a real single-store RaftStore", () => {
  test("a mixed batch: every raw command, each answered under its id exactly as its unary RPC answers", async (t) => {
    const f = await realStore(t);
    const ctx = f.ctx;
    const s = openStream(t, f);
    const writes = s.send([
      { $case: "rawPut", value: { context: ctx, key: b("a"), value: b("1"), cf: "", ttl: 0n } },
      { $case: "rawBatchPut", value: { context: ctx, pairs: ["b", "c", "d", "e"].map((k) => ({ error: undefined, key: b(k), value: b(k.toUpperCase()) })), cf: "" } },
      { $case: "rawCas", value: { context: ctx, key: b("lock"), value: b("me"), previousNotExist: true, previousValue: EMPTY, cf: "", ttl: 0n, delete: false } },
    ]);
    const [put, batchPut, cas] = await s.answers(writes);
    assert.deepEqual(mustBe(put!, "rawPut"), { regionError: undefined, error: "" });
    assert.deepEqual(mustBe(batchPut!, "rawBatchPut"), { regionError: undefined, error: "" });
    assert.equal(mustBe(cas!, "rawCas").succeed, true);

    const readCmds: Cmd[] = [
      { $case: "rawGet", value: { context: ctx, key: b("a"), cf: "" } },
      { $case: "rawGet", value: { context: ctx, key: b("missing"), cf: "" } },
      { $case: "rawBatchGet", value: { context: ctx, keys: [b("e"), b("x"), b("b")], cf: "" } },
      { $case: "rawScan", value: { context: ctx, startKey: b("b"), endKey: b("e"), limit: 10, keyOnly: false, cf: "", reverse: false } },
      { $case: "rawScan", value: { context: ctx, startKey: EMPTY, endKey: EMPTY, limit: 2, keyOnly: true, cf: "", reverse: true } },
      { $case: "rawCas", value: { context: ctx, key: b("lock"), value: b("you"), previousNotExist: true, previousValue: EMPTY, cf: "", ttl: 0n, delete: false } },
    ];
    const reads = await s.answers(s.send(readCmds));
    assert.equal(mustBe(reads[0]!, "rawGet").value.toString(), "1");
    assert.equal(mustBe(reads[1]!, "rawGet").notFound, true);
    assert.deepEqual(mustBe(reads[2]!, "rawBatchGet").pairs.map((p) => `${p.key}=${p.value}`), ["e=E", "b=B"]);
    assert.deepEqual(mustBe(reads[3]!, "rawScan").kvs.map((p) => `${p.key}=${p.value}`), ["b=B", "c=C", "d=D"]);
    assert.deepEqual(mustBe(reads[4]!, "rawScan").kvs.map((p) => `${p.key}=${p.value.length}`), ["lock=0", "e=0"]);
    const lost = mustBe(reads[5]!, "rawCas");
    assert.deepEqual([lost.succeed, lost.previousNotExist, lost.previousValue.toString()], [false, false, "me"]);

    // The unary RPCs answer the same requests identically.
    assert.deepEqual(await unary(f.client, "rawGet", (readCmds[0] as Extract<Cmd, { $case: "rawGet" }>).value), { ok: true, res: mustBe(reads[0]!, "rawGet") });
    assert.deepEqual(await unary(f.client, "rawBatchGet", (readCmds[2] as Extract<Cmd, { $case: "rawBatchGet" }>).value), { ok: true, res: mustBe(reads[2]!, "rawBatchGet") });
    assert.deepEqual(await unary(f.client, "rawScan", (readCmds[3] as Extract<Cmd, { $case: "rawScan" }>).value), { ok: true, res: mustBe(reads[3]!, "rawScan") });

    const deletes = await s.answers(
      s.send([
        { $case: "rawDelete", value: { context: ctx, key: b("a"), cf: "" } },
        { $case: "rawBatchDelete", value: { context: ctx, keys: [b("b"), b("c")], cf: "" } },
        { $case: "rawDeleteRange", value: { context: ctx, startKey: b("d"), endKey: b("f"), cf: "" } },
      ]),
    );
    mustBe(deletes[0]!, "rawDelete");
    mustBe(deletes[1]!, "rawBatchDelete");
    mustBe(deletes[2]!, "rawDeleteRange");
    const [after] = await s.answers(s.send([{ $case: "rawScan", value: { context: ctx, startKey: EMPTY, endKey: EMPTY, limit: 100, keyOnly: false, cf: "", reverse: false } }]));
    assert.deepEqual(mustBe(after!, "rawScan").kvs.map((p) => p.key.toString()), ["lock"]);
  });

  test("per-request failures stay with their request: limits, missing fields and region errors next to successful neighbours", async (t) => {
    const f = await realStore(t);
    const ctx = f.ctx;
    const s = openStream(t, f);
    const put = (key: Buffer, value: Buffer, context: kvrpcpb.Context | null = ctx): Cmd => ({ $case: "rawPut", value: { context: context ?? undefined, key, value, cf: "", ttl: 0n } });
    const tooManyKeys = Array.from({ length: MAX_BATCH_KEYS + 1 }, (_, i) => b(`k${i}`));
    const cmds: Array<Cmd | undefined> = [
      put(b("ok-1"), b("v")),
      put(EMPTY, b("v")),
      put(b("big"), Buffer.alloc(4 * 1024 * 1024 + 1)),
      undefined,
      put(b("no-context"), b("v"), null),
      put(b("wrong-region"), b("v"), { ...ctx, regionId: 99n }),
      put(b("stale-epoch"), b("v"), { ...ctx, regionEpoch: { confVer: 1n, version: 0n } }),
      { $case: "rawGet", value: { context: ctx, key: b("ok-1"), cf: "lock" } },
      { $case: "rawScan", value: { context: ctx, startKey: EMPTY, endKey: EMPTY, limit: 10_001, keyOnly: false, cf: "", reverse: false } },
      { $case: "rawBatchGet", value: { context: ctx, keys: tooManyKeys, cf: "" } },
      { $case: "rawPut", value: { context: ctx, key: b("ttl"), value: b("v"), cf: "", ttl: 5n } },
      put(b("ok-2"), b("v")),
    ];
    const r = await s.answers(s.send(cmds));
    mustBe(r[0]!, "rawPut");
    const empty = mustStatus(r[1]!, grpc.status.INVALID_ARGUMENT, /key is empty/);
    mustStatus(r[2]!, grpc.status.INVALID_ARGUMENT, /MAX_VALUE_BYTES/);
    mustStatus(r[3]!, grpc.status.INVALID_ARGUMENT, /no command.*raw_get/);
    mustStatus(r[4]!, grpc.status.INVALID_ARGUMENT, /context\.region_id is missing/);
    assert.equal(mustBe(r[5]!, "rawPut").regionError?.kind?.$case, "regionNotFound", "a region error is a response, as in the unary call");
    assert.equal(mustBe(r[6]!, "rawPut").regionError?.kind?.$case, "epochNotMatch");
    mustStatus(r[7]!, grpc.status.INVALID_ARGUMENT, /column family "lock"/);
    mustStatus(r[8]!, grpc.status.INVALID_ARGUMENT, /MAX_SCAN_LIMIT/);
    mustStatus(r[9]!, grpc.status.INVALID_ARGUMENT, /MAX_BATCH_KEYS/);
    mustStatus(r[10]!, grpc.status.INVALID_ARGUMENT, /ttl 5 is not supported/);
    mustBe(r[11]!, "rawPut");

    // The same limit, unary: the same status and words.
    const u = await unary<kvrpcpb.RawPutRequest, kvrpcpb.RawPutResponse>(f.client, "rawPut", { context: ctx, key: EMPTY, value: b("v"), cf: "", ttl: 0n });
    assert.ok(!u.ok);
    assert.equal(u.err.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(u.err.details, empty);

    // Nothing broke the stream: it carries on, and only the good puts were written.
    const [scan] = await s.answers(s.send([{ $case: "rawScan", value: { context: ctx, startKey: EMPTY, endKey: EMPTY, limit: 100, keyOnly: true, cf: "", reverse: false } }]));
    assert.deepEqual(mustBe(scan!, "rawScan").kvs.map((p) => p.key.toString()), ["ok-1", "ok-2"]);
  });

  test("metrics: each request counts in regionkv_kv_requests_total as a unary call would; batch sizes in a histogram", async (t) => {
    const f = await realStore(t);
    const s = openStream(t, f);
    await s.answers(s.send(Array.from({ length: 5 }, (_, i): Cmd => ({ $case: "rawPut", value: { context: f.ctx, key: b(`m${i}`), value: b("v"), cf: "", ttl: 0n } }))));
    await s.answers(s.send([{ $case: "rawGet", value: { context: f.ctx, key: EMPTY, cf: "" } }, { $case: "rawGet", value: { context: f.ctx, key: b("m1"), cf: "" } }]));
    await unary(f.client, "rawPut", { context: f.ctx, key: b("unary"), value: b("v"), cf: "", ttl: 0n });
    assert.equal(await metric(f.registry, "regionkv_kv_requests_total", { method: "RawPut", result: "ok" }), 6);
    assert.equal(await metric(f.registry, "regionkv_kv_requests_total", { method: "RawGet", result: "ok" }), 1);
    assert.equal(await metric(f.registry, "regionkv_kv_requests_total", { method: "RawGet", result: "INVALID_ARGUMENT" }), 1);
    assert.equal(await metric(f.registry, "regionkv_kv_request_seconds", { method: "RawPut", le: "+Inf" }), 6);
    assert.equal(await metric(f.registry, "regionkv_kv_batch_commands_batch_size", { direction: "in", le: "+Inf" }), 2);
    assert.equal(await metric(f.registry, "regionkv_kv_batch_commands_batch_size", { direction: "in", le: "4" }), 1, "the message of 2");
    assert.equal(await metric(f.registry, "regionkv_kv_batch_commands_streams", {}), 1);
  });

  test("junk: a request that does not decode gets INVALID_ARGUMENT next to good neighbours; a message that is not a BatchCommandsRequest ends only its stream", async (t) => {
    const f = await realStore(t);
    const Generic = grpc.makeGenericClientConstructor({}, "Junk");
    const generic = new Generic(f.address, grpc.credentials.createInsecure());
    t.after(() => generic.close());
    const rawStream = () => {
      const got: regionkvpb.BatchCommandsResponse[] = [];
      const call = generic.makeBidiStreamRequest(
        "/regionkvpb.Kv/BatchCommands",
        (x: Buffer) => x,
        (x: Buffer) => regionkvpb.BatchCommandsResponse.decode(x),
      );
      call.on("data", (m: regionkvpb.BatchCommandsResponse) => got.push(m));
      call.on("error", () => undefined);
      const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      return { call, got, status };
    };
    const good = regionkvpb.BatchCommandsRequest_Request.encode({ timeoutMs: 0, cmd: { $case: "rawPut", value: { context: f.ctx, key: b("j"), value: b("v"), cf: "", ttl: 0n } } }).finish();
    // Envelope by hand: requests (field 1) good, junk, good; ids (field 2, packed) 7, 8, 9.
    const junk = Buffer.from([0x0a, 0xff, 0xff, 0x01, 0x02]);
    const field1 = (bytes: Uint8Array) => Buffer.concat([Buffer.from([0x0a, bytes.length]), Buffer.from(bytes)]);
    const envelope = Buffer.concat([field1(good), field1(junk), field1(good), Buffer.from([0x12, 3, 7, 8, 9])]);
    const a = rawStream();
    a.call.write(envelope);
    await waitFor(() => a.got.flatMap((m) => m.requestIds).length === 3, "three answers");
    const byId = new Map(a.got.flatMap((m) => m.requestIds.map((id, i) => [id, m.responses[i]!] as const)));
    mustBe(byId.get(7n)!, "rawPut");
    mustStatus(byId.get(8n)!, grpc.status.INVALID_ARGUMENT, /does not decode/);
    mustBe(byId.get(9n)!, "rawPut");

    // Not protobuf at all: that stream ends with INVALID_ARGUMENT, and the store serves on.
    a.call.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    const st = await a.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT, st.details);
    assert.match(st.details, /not a BatchCommandsRequest/);
    const s = openStream(t, f);
    const [after] = await s.answers(s.send([{ $case: "rawGet", value: { context: f.ctx, key: b("j"), cf: "" } }]));
    assert.equal(mustBe(after!, "rawGet").value.toString(), "v");
    assert.equal(await metric(f.registry, "regionkv_kv_batch_commands_rejected_total", { reason: "undecodable" }), 1);
    assert.equal(await metric(f.registry, "regionkv_kv_batch_commands_rejected_total", { reason: "bad_message" }), 1);
  });

  test("junk under the generated service definition: grpc-js ends that stream (INTERNAL), other streams carry on", async (t) => {
    const f = await realStore(t, regionkvpb.KvService);
    const s = openStream(t, f);
    await s.answers(s.send([{ $case: "rawPut", value: { context: f.ctx, key: b("g"), value: b("v"), cf: "", ttl: 0n } }]));
    const Generic = grpc.makeGenericClientConstructor({}, "Junk");
    const generic = new Generic(f.address, grpc.credentials.createInsecure());
    t.after(() => generic.close());
    const call = generic.makeBidiStreamRequest("/regionkvpb.Kv/BatchCommands", (x: Buffer) => x, (x: Buffer) => x);
    call.on("error", () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    const st = await status;
    assert.ok(st.code === grpc.status.INTERNAL || st.code === grpc.status.INVALID_ARGUMENT, `status ${st.code}: ${st.details}`);
    const [after] = await s.answers(s.send([{ $case: "rawGet", value: { context: f.ctx, key: b("g"), cf: "" } }]));
    assert.equal(mustBe(after!, "rawGet").value.toString(), "v");
  });

  test("ids: a response per id; more ids than requests are answered INVALID_ARGUMENT, requests without an id are ignored", async (t) => {
    const f = await realStore(t);
    const s = openStream(t, f);
    const put: Request = { timeoutMs: 0, cmd: { $case: "rawPut", value: { context: f.ctx, key: b("i"), value: b("v"), cf: "", ttl: 0n } } };
    s.call.write({ requests: [put], requestIds: [100n, 101n] });
    s.call.write({ requests: [put, put], requestIds: [102n] });
    const [a, extra, c] = await s.answers([100n, 101n, 102n]);
    mustBe(a!, "rawPut");
    mustStatus(extra!, grpc.status.INVALID_ARGUMENT, /more ids than there are requests/);
    mustBe(c!, "rawPut");
    await s.answers(s.send([{ $case: "rawGet", value: { context: f.ctx, key: b("i"), cf: "" } }]));
    assert.equal(s.got.size, 4);
  });
});

describe("BatchCommands: deadlines, cancellation, stream endings (fake raftstore)", () => {
  const put = (f: Fixture, key: string): Cmd => ({ $case: "rawPut", value: { context: f.ctx, key: b(key), value: b("v"), cf: "", ttl: 0n } });

  test("timeout_ms sets each request's deadline, capped by the proposal timeout; 0 means the proposal timeout", async (t) => {
    const f = await fakeStore(t);
    const s = openStream(t, f);
    const t0 = Date.now();
    const [short] = s.send([put(f, "short")], 150);
    const [long] = s.send([put(f, "long")], 60_000);
    const [none] = s.send([put(f, "none")], 0);
    await waitFor(() => f.fake.held.length === 3, "three proposals");
    const deadlines = new Map(f.fake.held.map((p) => [p.request.requests[0]!.put!.key.toString(), p.deadline - t0]));
    assert.ok(deadlines.get("short")! >= 140 && deadlines.get("short")! < 1_000, `short: ${deadlines.get("short")}`);
    assert.ok(deadlines.get("long")! > 1_500 && deadlines.get("long")! <= 2_100, `capped at the proposal timeout: ${deadlines.get("long")}`);
    assert.ok(deadlines.get("none")! > 1_500 && deadlines.get("none")! <= 2_100, `none: ${deadlines.get("none")}`);
    const [r] = await s.answers([short!]);
    mustStatus(r!, grpc.status.DEADLINE_EXCEEDED, /timed out.*may or may not have been applied/);
    assert.ok(Date.now() - t0 >= 140);
    assert.equal(s.got.has(long!) || s.got.has(none!), false, "the others are still running");
    f.fake.releaseAll();
    await s.answers([long!, none!]);
  });

  test("cancelling the stream aborts every request still running on it", async (t) => {
    const f = await fakeStore(t);
    const s = openStream(t, f);
    s.send([put(f, "a"), put(f, "b"), put(f, "c")]);
    await waitFor(() => f.fake.held.length === 3, "three proposals");
    s.close();
    await waitFor(() => f.fake.held.every((p) => p.signal?.aborted === true && p.settled), "all aborted");
    assert.equal(await metric(f.registry, "regionkv_kv_requests_total", { method: "RawPut", result: "CANCELLED" }), 3);
  });

  test("half-close: the outstanding requests are answered, then the stream ends OK", async (t) => {
    const f = await fakeStore(t);
    const s = openStream(t, f);
    const ids = s.send([put(f, "a"), put(f, "b")]);
    await waitFor(() => f.fake.held.length === 2, "two proposals");
    s.call.end();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.got.size, 0);
    f.fake.releaseAll();
    const st = await s.status;
    assert.equal(st.code, grpc.status.OK, st.details);
    assert.deepEqual([...s.got.keys()].sort(), ids);
  });

  test("responses that complete together go back in one message, at most MAX_RESPONSES_PER_MESSAGE each", async (t) => {
    const f = await fakeStore(t);
    const s = openStream(t, f);
    const n = MAX_RESPONSES_PER_MESSAGE + 44;
    const ids = s.send(Array.from({ length: n }, (_, i) => put(f, `k${i}`)));
    await waitFor(() => f.fake.held.length === n, "all proposals");
    f.fake.releaseAll();
    await s.answers(ids);
    assert.deepEqual(s.messages, [MAX_RESPONSES_PER_MESSAGE, 44]);
  });

  test("backpressure: the store stops reading a stream at MAX_OUTSTANDING running requests, and reads on (and writes to a slow reader) as they complete", async (t) => {
    const f = await fakeStore(t);
    const s = openStream(t, f);
    const total = 3 * MAX_OUTSTANDING;
    const ids: bigint[] = [];
    for (let i = 0; i < total / 512; i++) ids.push(...s.send(Array.from({ length: 512 }, (_, j) => put(f, `p${i}-${j}`))));
    await waitFor(() => f.fake.held.length >= MAX_OUTSTANDING, "the store has read up to its limit");
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(f.fake.held.length < total, `the store stopped reading at ${f.fake.held.length} of ${total}`);
    // The client does not read for a while; answers wait in the store, then flow when it does.
    s.call.pause();
    const release = setInterval(() => f.fake.releaseAll(), 5);
    t.after(() => clearInterval(release));
    await new Promise((r) => setTimeout(r, 100));
    s.call.resume();
    await s.answers(ids, 30_000);
    clearInterval(release);
    assert.equal(s.got.size, total);
  });
});
