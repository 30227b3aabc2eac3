/**
 * The store side of `Kv.BatchCommands`: many raw requests over one long-lived stream per client
 * and store (see the rpc's comment in regionkvpb.proto). Flow of one stream:
 *
 *   message in → (id, request) pairs → for each: a deadline from its timeout_ms (capped by the
 *   proposal timeout, as a unary call's deadline is) and an abort controller of its own →
 *   the KvService method of its kind, through `KvService.handle` (same checks, limits, region
 *   errors and metrics as the unary RPC; a failure comes back as a status value) →
 *   its Response, queued → everything that completed within one turn of the event loop is
 *   written back as one message (split at MAX_RESPONSES_PER_MESSAGE / MAX_RESPONSE_MESSAGE_BYTES).
 *
 * Backpressure: when the stream does not take more writes, responses wait for 'drain' (and keep
 * accumulating into larger messages), and reading stops until the writes drain and fewer than
 * MAX_OUTSTANDING requests are running, so a client that sends faster than it reads is slowed
 * down by HTTP/2 flow control rather than buffered without bound.
 *
 * Endings: the client half-closes → the outstanding requests are answered, then the stream ends
 * OK. The stream is cancelled or breaks → every outstanding request is aborted (a write among
 * them may still apply, as with a cancelled unary call).
 *
 * Bad input never takes the stream down with it: a request without a command, or (under
 * `rawKvService`, which leaves decoding to this file) one whose bytes do not decode, is answered
 * with its own INVALID_ARGUMENT status. Only a message whose envelope is not a
 * BatchCommandsRequest at all ends the stream, with INVALID_ARGUMENT (its ids are unknowable).
 */
import * as grpc from "@grpc/grpc-js";
import { regionkvpb, type errorpb } from "@regionkv/proto";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { KvMethod, KvOutcome, KvRequestScope, KvService } from "./kv-service.js";
import { MAX_GRPC_MESSAGE_BYTES } from "./limits.js";

type Request = regionkvpb.BatchCommandsRequest_Request;
type Response = regionkvpb.BatchCommandsResponse_Response;

/** Most responses in one message. */
export const MAX_RESPONSES_PER_MESSAGE = 256;
/** Most payload bytes (estimated) in one response message; a single larger response goes alone. */
export const MAX_RESPONSE_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Requests running at once per stream before the store stops reading it. */
export const MAX_OUTSTANDING = 4096;

/** A message as it arrives: decoded by grpc-js (generated definition) or raw (`rawKvService`). */
export type IncomingBatch = Buffer | regionkvpb.BatchCommandsRequest;

/**
 * The Kv service definition with BatchCommands messages left undecoded, so that a request whose
 * bytes do not decode is answered on its own instead of grpc-js failing the whole stream with
 * INTERNAL. Register it in place of `regionkvpb.KvService`; `KvService.service()` serves both.
 */
export const rawKvService = {
  ...regionkvpb.KvService,
  batchCommands: { ...regionkvpb.KvService.batchCommands, requestDeserialize: (b: Buffer): Buffer => b },
} as const;

/** The metrics of the BatchCommands streams (the requests themselves count as unary ones do). */
export class BatchCommandsMetrics {
  readonly batchSize: Histogram<"direction">;
  readonly streams: Gauge;
  readonly rejected: Counter<"reason">;

  constructor(registers: Registry[]) {
    this.batchSize = new Histogram({
      name: "regionkv_kv_batch_commands_batch_size",
      help: "Requests per BatchCommands message received (direction=in) and responses per message sent (direction=out)",
      labelNames: ["direction"],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.streams = new Gauge({ name: "regionkv_kv_batch_commands_streams", help: "Open BatchCommands streams", registers });
    this.rejected = new Counter({
      name: "regionkv_kv_batch_commands_rejected_total",
      help: "BatchCommands requests answered INVALID_ARGUMENT before reaching a KV method (no_command, undecodable), ignored (no_id), or messages that ended their stream (bad_message)",
      labelNames: ["reason"],
      registers,
    });
  }
}

export interface BatchCommandsOptions {
  logger: Logger;
  metrics: BatchCommandsMetrics;
}

/** The BatchCommands handler over `kv`: one BatchCommandsStream per call. */
export function batchCommandsHandler(kv: KvService, opts: BatchCommandsOptions): grpc.handleBidiStreamingCall<IncomingBatch, regionkvpb.BatchCommandsResponse> {
  return (call) => {
    new BatchCommandsStream(call, kv, opts).start();
  };
}

type Call = grpc.ServerDuplexStream<IncomingBatch, regionkvpb.BatchCommandsResponse>;

/** One stream's requests in flight and responses waiting to be written. */
class BatchCommandsStream {
  /** One controller per running request: aborted when the stream goes away. */
  private readonly outstanding = new Set<AbortController>();
  private ids: bigint[] = [];
  private responses: Response[] = [];
  private bytes = 0;
  private flushScheduled = false;
  /** A write returned false: wait for 'drain'. */
  private blocked = false;
  private paused = false;
  private halfClosed = false;
  /** Cancelled, broken, or ended by us: nothing more is written. */
  private done = false;

  constructor(
    private readonly call: Call,
    private readonly kv: KvService,
    private readonly opts: BatchCommandsOptions,
  ) {}

  start(): void {
    this.opts.metrics.streams.inc();
    this.call.on("data", (m: IncomingBatch) => this.onMessage(m));
    this.call.on("end", () => {
      this.halfClosed = true;
      this.maybeEnd();
    });
    this.call.on("cancelled", () => this.onGone("cancelled by the client"));
    this.call.on("error", (err: Error) => this.onGone(err.message));
    this.call.on("drain", () => {
      this.blocked = false;
      this.flush();
    });
  }

  private onMessage(m: IncomingBatch): void {
    if (this.done) return;
    const batch = decodeEnvelope(m);
    if (!batch.ok) {
      this.opts.metrics.rejected.inc({ reason: "bad_message" });
      this.fail(grpc.status.INVALID_ARGUMENT, `a BatchCommands message that is not a BatchCommandsRequest (${batch.message}); the stream cannot go on: send encoded BatchCommandsRequest messages`);
      return;
    }
    const { ids, requests } = batch;
    this.opts.metrics.batchSize.observe({ direction: "in" }, requests.length);
    if (ids.length < requests.length) {
      this.opts.metrics.rejected.inc({ reason: "no_id" }, requests.length - ids.length);
      this.opts.logger.warn({ requests: requests.length, ids: ids.length }, "BatchCommands message with fewer request_ids than requests; the requests without an id are ignored");
    }
    for (let i = 0; i < ids.length; i++) this.run(ids[i]!, requests[i]);
    this.maybePause();
  }

  /** Run one request and queue its response. */
  private run(id: bigint, raw: Request | Buffer | undefined): void {
    const req = raw === undefined ? { ok: false as const, message: "request_ids has more ids than there are requests" } : decodeRequest(raw);
    if (!req.ok) {
      this.opts.metrics.rejected.inc({ reason: "undecodable" });
      this.enqueue(id, statusResponse(grpc.status.INVALID_ARGUMENT, `request ${id}: ${req.message}`));
      return;
    }
    const cmd = req.value.cmd;
    if (cmd === undefined) {
      this.opts.metrics.rejected.inc({ reason: "no_command" });
      this.enqueue(
        id,
        statusResponse(grpc.status.INVALID_ARGUMENT, `request ${id} has no command (or one this store does not know): set one of raw_get, raw_batch_get, raw_put, raw_batch_put, raw_delete, raw_batch_delete, raw_delete_range, raw_scan, raw_cas`),
      );
      return;
    }
    const ac = new AbortController();
    const timeoutMs = req.value.timeoutMs;
    const scope: KvRequestScope = { deadline: this.kv.capDeadline(timeoutMs > 0 ? Date.now() + timeoutMs : undefined), signal: ac.signal };
    this.outstanding.add(ac);
    void dispatch(this.kv, cmd, scope).then((response) => {
      this.outstanding.delete(ac);
      this.enqueue(id, response);
      this.maybeResume();
    });
  }

  private enqueue(id: bigint, response: Response): void {
    if (this.done) return;
    const size = responseBytes(response);
    this.ids.push(id);
    this.responses.push(size > MAX_GRPC_MESSAGE_BYTES / 2 ? oversized(id, response, size) : response);
    this.bytes += size;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Write the queued responses, as few messages as the caps allow, while the stream takes them. */
  private flush(): void {
    while (!this.done && !this.blocked && this.responses.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.responses.length && n < MAX_RESPONSES_PER_MESSAGE && (n === 0 || bytes + responseBytes(this.responses[n]!) <= MAX_RESPONSE_MESSAGE_BYTES)) {
        bytes += responseBytes(this.responses[n]!);
        n++;
      }
      const msg: regionkvpb.BatchCommandsResponse = { responses: this.responses.splice(0, n), requestIds: this.ids.splice(0, n) };
      this.bytes -= bytes;
      this.opts.metrics.batchSize.observe({ direction: "out" }, n);
      if (!this.call.write(msg)) this.blocked = true;
    }
    this.maybePause();
    this.maybeResume();
    this.maybeEnd();
  }

  private maybePause(): void {
    if (this.paused || this.done) return;
    if (this.blocked || this.outstanding.size >= MAX_OUTSTANDING) {
      this.paused = true;
      this.call.pause();
    }
  }

  private maybeResume(): void {
    if (!this.paused || this.done) return;
    if (!this.blocked && this.outstanding.size < MAX_OUTSTANDING / 2) {
      this.paused = false;
      this.call.resume();
    }
  }

  private maybeEnd(): void {
    if (this.done || !this.halfClosed || this.outstanding.size > 0 || this.responses.length > 0 || this.flushScheduled) return;
    this.finish();
    this.call.end();
  }

  /** End the stream with a status; the requests still running are aborted. */
  private fail(code: grpc.status, details: string): void {
    this.finish();
    for (const ac of this.outstanding) ac.abort();
    this.call.emit("error", { code, details });
  }

  private onGone(why: string): void {
    if (this.done) return;
    this.opts.logger.debug({ outstanding: this.outstanding.size, why }, "BatchCommands stream gone; aborting its requests");
    this.finish();
    for (const ac of this.outstanding) ac.abort();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.responses = [];
    this.ids = [];
    this.opts.metrics.streams.dec();
  }
}

/**
 * Run `cmd` through the KvService method of its kind. Never rejects: a failure is a Response
 * with a status.
 */
function dispatch(kv: KvService, cmd: NonNullable<Request["cmd"]>, scope: KvRequestScope): Promise<Response> {
  switch (cmd.$case) {
    case "rawGet":
      return answer(kv, "RawGet", () => kv.rawGet(cmd.value, scope), (value) => ({ $case: "rawGet", value }));
    case "rawBatchGet":
      return answer(kv, "RawBatchGet", () => kv.rawBatchGet(cmd.value, scope), (value) => ({ $case: "rawBatchGet", value }));
    case "rawPut":
      return answer(kv, "RawPut", () => kv.rawPut(cmd.value, scope), (value) => ({ $case: "rawPut", value }));
    case "rawBatchPut":
      return answer(kv, "RawBatchPut", () => kv.rawBatchPut(cmd.value, scope), (value) => ({ $case: "rawBatchPut", value }));
    case "rawDelete":
      return answer(kv, "RawDelete", () => kv.rawDelete(cmd.value, scope), (value) => ({ $case: "rawDelete", value }));
    case "rawBatchDelete":
      return answer(kv, "RawBatchDelete", () => kv.rawBatchDelete(cmd.value, scope), (value) => ({ $case: "rawBatchDelete", value }));
    case "rawDeleteRange":
      return answer(kv, "RawDeleteRange", () => kv.rawDeleteRange(cmd.value, scope), (value) => ({ $case: "rawDeleteRange", value }));
    case "rawScan":
      return answer(kv, "RawScan", () => kv.rawScan(cmd.value, scope), (value) => ({ $case: "rawScan", value }));
    case "rawCas":
      return answer(kv, "RawCompareAndSwap", () => kv.rawCompareAndSwap(cmd.value, scope), (value) => ({ $case: "rawCas", value }));
    case "get":
      return answer(kv, "KvGet", () => kv.kvGet(cmd.value, scope), (value) => ({ $case: "get", value }));
    case "scan":
      return answer(kv, "KvScan", () => kv.kvScan(cmd.value, scope), (value) => ({ $case: "scan", value }));
    case "batchGet":
      return answer(kv, "KvBatchGet", () => kv.kvBatchGet(cmd.value, scope), (value) => ({ $case: "batchGet", value }));
    case "prewrite":
      return answer(kv, "KvPrewrite", () => kv.kvPrewrite(cmd.value, scope), (value) => ({ $case: "prewrite", value }));
    case "commit":
      return answer(kv, "KvCommit", () => kv.kvCommit(cmd.value, scope), (value) => ({ $case: "commit", value }));
    case "batchRollback":
      return answer(kv, "KvBatchRollback", () => kv.kvBatchRollback(cmd.value, scope), (value) => ({ $case: "batchRollback", value }));
    case "scanLock":
      return answer(kv, "KvScanLock", () => kv.kvScanLock(cmd.value, scope), (value) => ({ $case: "scanLock", value }));
    case "resolveLock":
      return answer(kv, "KvResolveLock", () => kv.kvResolveLock(cmd.value, scope), (value) => ({ $case: "resolveLock", value }));
    case "gc":
      return answer(kv, "KvGC", () => kv.kvGc(cmd.value, scope), (value) => ({ $case: "gc", value }));
    case "checkTxnStatus":
      return answer(kv, "KvCheckTxnStatus", () => kv.kvCheckTxnStatus(cmd.value, scope), (value) => ({ $case: "checkTxnStatus", value }));
    case "txnHeartBeat":
      return answer(kv, "KvTxnHeartBeat", () => kv.kvTxnHeartBeat(cmd.value, scope), (value) => ({ $case: "txnHeartBeat", value }));
    case "checkSecondaryLocks":
      return answer(kv, "KvCheckSecondaryLocks", () => kv.kvCheckSecondaryLocks(cmd.value, scope), (value) => ({ $case: "checkSecondaryLocks", value }));
    default: {
      const unreachable: never = cmd;
      return Promise.resolve(statusResponse(grpc.status.INVALID_ARGUMENT, `unknown command ${JSON.stringify((unreachable as { $case?: unknown }).$case)}`));
    }
  }
}

async function answer<Res extends { regionError?: errorpb.Error | undefined }>(
  kv: KvService,
  method: KvMethod,
  fn: () => Promise<Res>,
  wrap: (r: Res) => Response["cmd"],
): Promise<Response> {
  const o: KvOutcome<Res> = await kv.handle(method, fn);
  return o.ok ? { status: undefined, cmd: wrap(o.response) } : statusResponse(o.code, o.message);
}

function statusResponse(code: grpc.status, message: string): Response {
  return { status: { code, message }, cmd: undefined };
}

/** A response too large for a message of its own is replaced by RESOURCE_EXHAUSTED, so it cannot break the stream for its neighbours. */
function oversized(id: bigint, response: Response, estimate: number): Response {
  const exact = regionkvpb.BatchCommandsResponse_Response.encode(response).finish().length;
  if (exact + 1024 <= MAX_GRPC_MESSAGE_BYTES) return response;
  return statusResponse(
    grpc.status.RESOURCE_EXHAUSTED,
    `request ${id}: the response is ${exact} bytes (estimated ${estimate}), over the message limit of ${MAX_GRPC_MESSAGE_BYTES} bytes (MAX_GRPC_MESSAGE_BYTES): scan with a smaller limit or read fewer keys per request`,
  );
}

/** Payload bytes of a response (keys and values), for sizing messages; a small constant for the rest. */
function responseBytes(r: Response): number {
  const c = r.cmd;
  if (c === undefined) return 32 + (r.status?.message.length ?? 0);
  switch (c.$case) {
    case "rawGet":
      return 32 + c.value.value.length;
    case "rawBatchGet":
      return 32 + pairBytes(c.value.pairs);
    case "rawScan":
      return 32 + pairBytes(c.value.kvs);
    case "rawCas":
      return 32 + c.value.previousValue.length;
    case "get":
      return 32 + c.value.value.length;
    case "scan":
    case "batchGet":
      return 32 + pairBytes(c.value.pairs);
    case "scanLock":
      return 32 + c.value.locks.reduce((n, l) => n + 64 + l.key.length + l.primaryLock.length, 0);
    case "checkSecondaryLocks":
      return 32 + c.value.locks.reduce((n, l) => n + 64 + l.key.length + l.primaryLock.length, 0);
    case "checkTxnStatus":
      return 96 + (c.value.lockInfo?.secondaries.reduce((n, k) => n + k.length + 4, 0) ?? 0);
    case "prewrite":
      return 32 + c.value.errors.length * 96;
    case "rawPut":
    case "rawBatchPut":
    case "rawDelete":
    case "rawBatchDelete":
    case "rawDeleteRange":
    case "commit":
    case "batchRollback":
    case "resolveLock":
    case "gc":
    case "txnHeartBeat":
      return 32;
    default: {
      const unreachable: never = c;
      return unreachable;
    }
  }
}

function pairBytes(pairs: { key: Buffer; value: Buffer }[]): number {
  let n = 0;
  for (const p of pairs) n += p.key.length + p.value.length + 8;
  return n;
}

// ------------------------------------------------------------------------------------------
// Decoding raw messages (under `rawKvService`): the envelope by hand, each request on its own.

type Envelope = { ok: true; ids: bigint[]; requests: Array<Request | Buffer> } | { ok: false; message: string };

/**
 * The ids and the (still encoded) requests of a BatchCommandsRequest. Its wire form is
 * `1: repeated Request (length-delimited)`, `2: repeated uint64 (packed or not)`; other fields
 * are skipped.
 */
function decodeEnvelope(m: IncomingBatch): Envelope {
  if (!Buffer.isBuffer(m)) return { ok: true, ids: m.requestIds, requests: m.requests };
  const r = new WireReader(m);
  const ids: bigint[] = [];
  const requests: Buffer[] = [];
  try {
    while (!r.atEnd()) {
      const tag = Number(r.varint());
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 1 && wire === 2) requests.push(r.bytes());
      else if (field === 2 && wire === 0) ids.push(r.varint());
      else if (field === 2 && wire === 2) {
        const packed = new WireReader(r.bytes());
        while (!packed.atEnd()) ids.push(packed.varint());
      } else r.skip(wire);
    }
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  return { ok: true, ids, requests };
}

function decodeRequest(raw: Request | Buffer): { ok: true; value: Request } | { ok: false; message: string } {
  if (!Buffer.isBuffer(raw)) return { ok: true, value: raw };
  try {
    return { ok: true, value: regionkvpb.BatchCommandsRequest_Request.decode(raw) };
  } catch (e) {
    return { ok: false, message: `does not decode as a BatchCommandsRequest.Request (${e instanceof Error ? e.message : String(e)})` };
  }
}

/** The few protobuf wire-format reads the envelope needs; throws on truncated or malformed input. */
class WireReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const byte = this.buf[this.pos++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, v);
    }
    throw new Error("varint longer than 10 bytes");
  }

  bytes(): Buffer {
    const len = Number(this.varint());
    if (len > this.buf.length - this.pos) throw new Error(`a length of ${len} runs past the end of the message`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw new Error(`wire type ${wire} is not valid here`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error("truncated field");
    this.pos += n;
  }
}
