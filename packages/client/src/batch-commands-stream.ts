/**
 * One long-lived BatchCommands stream to one store, shared by every request to that store
 * (client-go's batch-commands), so concurrent requests travel together, one HTTP/2 message for
 * many, instead of one gRPC call each. Flow of one request:
 *
 *   send(cmd, deadline, signal) → queued → flush on the next turn of the event loop: the queue
 *   goes out as messages of at most MAX_BATCH_REQUESTS requests and MAX_BATCH_BYTES, each request
 *   under a fresh id with its remaining time as timeout_ms → "sent" → the response carrying its id
 *   settles it.
 *
 * Outcomes (what the request sender makes of them is in region-request-sender.ts):
 *   response       the store's answer: a response of the request's kind, or a per-request status
 *   failed, sent   the stream broke after the request was written: it may have been applied
 *   failed, unsent the stream broke (or this object was closed) before it was written: not applied
 *   aborted        the caller's signal fired (deadline, abort, close); `sent` as above
 *   unimplemented  the store does not serve BatchCommands (UNIMPLEMENTED): nothing reached a
 *                  handler; use the unary RPC. Every later request answers this at once.
 *
 * The stream opens lazily at the first flush, and again at the next flush after it failed, after
 * a backoff when it fails repeatedly without any answer in between. While the stream takes no more
 * writes (Writable backpressure) requests wait in the queue, unsent, and go out later in larger
 * messages. When the channel leaves READY (the store sent GOAWAY, or the connection is going) the
 * stream is half-closed: the store answers what is outstanding on it and then ends it, so a store
 * shutting down gracefully is not held up by an idle stream, and the next request opens a new
 * stream on the new connection.
 */
import { connectivityState, Metadata, status as GrpcStatus, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { regionkvpb } from "@regionkv/proto";
import type { ClientLogger } from "./logger.js";
import { backoffDelayMs, type BackoffPolicy } from "./retry-policy.js";

/** A command of a BatchCommands request. */
export type BatchCommand = NonNullable<regionkvpb.BatchCommandsRequest_Request["cmd"]>;
/** The answer to one request: a response of its kind, or a status. */
export type BatchResponse = regionkvpb.BatchCommandsResponse_Response;

export type BatchOutcome =
  | { kind: "response"; response: BatchResponse }
  | { kind: "failed"; sent: boolean; error: ServiceError }
  | { kind: "aborted"; sent: boolean }
  | { kind: "unimplemented" };

/** Most requests in one message. */
export const MAX_BATCH_REQUESTS = 256;
/** Most payload bytes (keys and values) in one message; a larger single request goes alone. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Largest timeout_ms sent (the store caps it far lower anyway). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

type Call = ClientDuplexStream<regionkvpb.BatchCommandsRequest, regionkvpb.BatchCommandsResponse>;

interface Entry {
  readonly id: bigint;
  readonly cmd: BatchCommand;
  readonly bytes: number;
  /** Epoch ms. */
  readonly deadline: number;
  readonly signal: AbortSignal;
  state: "queued" | "sent" | "settled";
  resolve(o: BatchOutcome): void;
  onAbort(): void;
}

/** One opened stream; after a half-close it lives on until its outstanding requests are answered. */
interface OpenStream {
  readonly call: Call;
  /** Its requests written and not yet answered, by id. */
  readonly pending: Map<bigint, Entry>;
  writable: boolean;
  /** Whether any response came back on it (a stream that answers is healthy). */
  answered: boolean;
}

/** The channel the stream runs on: its state is watched (see the file comment). */
export interface WatchableChannel {
  getConnectivityState(tryToConnect: boolean): connectivityState;
  watchConnectivityState(currentState: connectivityState, deadline: Date | number, callback: (error?: Error) => void): void;
}

export interface BatchCommandsStreamOptions {
  /** The store's address, for messages. */
  address: string;
  /** Opens a BatchCommands call (`KvClient.batchCommands`). */
  open: () => Call;
  channel: WatchableChannel;
  logger: ClientLogger;
  /** Backoff between reopenings of a stream that keeps failing. */
  backoff: BackoffPolicy;
  random: () => number;
}

export class BatchCommandsStream {
  private queue: Entry[] = [];
  private stream: OpenStream | undefined;
  /** Streams half-closed while requests were outstanding on them. */
  private readonly draining = new Set<OpenStream>();
  private nextId = 1n;
  private flushScheduled = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  /** Stream failures in a row without an answer in between. */
  private failures = 0;
  private unimplemented = false;
  private closed = false;

  constructor(private readonly opts: BatchCommandsStreamOptions) {
    this.watchChannel(opts.channel.getConnectivityState(false));
  }

  /** Whether the store answered UNIMPLEMENTED: its requests must go unary. */
  get isUnimplemented(): boolean {
    return this.unimplemented;
  }

  /**
   * Send `cmd` with the next flush; settles with its outcome (never rejects). `signal` must fire
   * by `deadline` (a CallScope's does): that is what ends a request the store does not answer.
   */
  send(cmd: BatchCommand, deadline: number, signal: AbortSignal): Promise<BatchOutcome> {
    if (this.unimplemented) return Promise.resolve({ kind: "unimplemented" });
    if (this.closed) return Promise.resolve({ kind: "failed", sent: false, error: statusError(GrpcStatus.UNAVAILABLE, `the stream to ${this.opts.address} is closed`) });
    if (signal.aborted) return Promise.resolve({ kind: "aborted", sent: false });
    return new Promise((resolve) => {
      const e: Entry = {
        id: this.nextId++,
        cmd,
        bytes: commandBytes(cmd),
        deadline,
        signal,
        state: "queued",
        resolve,
        onAbort: () => this.onAbort(e),
      };
      signal.addEventListener("abort", e.onAbort, { once: true });
      this.queue.push(e);
      this.scheduleFlush();
    });
  }

  /** Fail what is queued (unsent) and outstanding (sent), and cancel the streams. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer);
    const err = statusError(GrpcStatus.UNAVAILABLE, `the connection to ${this.opts.address} was closed`);
    for (const e of this.queue) this.settle(e, { kind: "failed", sent: false, error: err });
    this.queue = [];
    for (const s of [...this.draining, ...(this.stream ? [this.stream] : [])]) {
      for (const e of s.pending.values()) this.settle(e, { kind: "failed", sent: true, error: err });
      s.pending.clear();
      s.call.cancel();
    }
    this.draining.clear();
    this.stream = undefined;
  }

  // ------------------------------------------------------------------------------------------

  private settle(e: Entry, o: BatchOutcome): void {
    if (e.state === "settled") return;
    e.state = "settled";
    e.signal.removeEventListener("abort", e.onAbort);
    e.resolve(o);
  }

  private onAbort(e: Entry): void {
    if (e.state === "queued") {
      this.settle(e, { kind: "aborted", sent: false }); // left in the queue; the flush skips it
      return;
    }
    if (e.state === "sent") {
      this.stream?.pending.delete(e.id);
      for (const s of this.draining) s.pending.delete(e.id);
      this.settle(e, { kind: "aborted", sent: true });
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Write the queue, in as few messages as the caps allow, while the stream takes writes. */
  private flush(): void {
    if (this.closed || this.unimplemented || this.reopenTimer !== undefined) return;
    let next = 0;
    while (next < this.queue.length && this.queue[next]!.state !== "queued") next++;
    if (next === this.queue.length) {
      this.queue = [];
      return;
    }
    const s = this.stream ?? this.openStream();
    while (s.writable && next < this.queue.length) {
      const batch: Entry[] = [];
      let bytes = 0;
      for (; next < this.queue.length && batch.length < MAX_BATCH_REQUESTS; next++) {
        const e = this.queue[next]!;
        if (e.state !== "queued") continue;
        if (batch.length > 0 && bytes + e.bytes > MAX_BATCH_BYTES) break;
        batch.push(e);
        bytes += e.bytes;
      }
      if (batch.length === 0) break;
      const now = Date.now();
      const requests: regionkvpb.BatchCommandsRequest_Request[] = [];
      const requestIds: bigint[] = [];
      for (const e of batch) {
        e.state = "sent";
        s.pending.set(e.id, e);
        requests.push({ timeoutMs: Math.min(MAX_TIMEOUT_MS, Math.max(1, Math.ceil(e.deadline - now))), cmd: e.cmd });
        requestIds.push(e.id);
      }
      if (!s.call.write({ requests, requestIds })) s.writable = false;
    }
    this.queue = next >= this.queue.length ? [] : this.queue.slice(next);
  }

  private openStream(): OpenStream {
    const call = this.opts.open();
    const s: OpenStream = { call, pending: new Map(), writable: true, answered: false };
    this.stream = s;
    call.on("data", (m: regionkvpb.BatchCommandsResponse) => this.onResponse(s, m));
    call.on("error", (err: ServiceError) => this.onStreamDown(s, err));
    call.on("end", () => this.onStreamDown(s, undefined));
    call.on("drain", () => {
      s.writable = true;
      if (this.stream === s) this.flush();
    });
    return s;
  }

  private onResponse(s: OpenStream, m: regionkvpb.BatchCommandsResponse): void {
    s.answered = true;
    this.failures = 0;
    const n = Math.min(m.requestIds.length, m.responses.length);
    for (let i = 0; i < n; i++) {
      const id = m.requestIds[i]!;
      const e = s.pending.get(id);
      if (!e) continue; // aborted meanwhile
      s.pending.delete(id);
      this.settle(e, { kind: "response", response: m.responses[i]! });
    }
    if (this.draining.has(s) && s.pending.size === 0) this.draining.delete(s);
  }

  /** The stream failed (`err`) or ended: settle what was on it; the next flush opens a new one. */
  private onStreamDown(s: OpenStream, err: ServiceError | undefined): void {
    const current = this.stream === s;
    if (!current && !this.draining.has(s)) return; // already handled (an error and an end both fire)
    this.draining.delete(s);
    if (current) this.stream = undefined;
    const wasSent = [...s.pending.values()];
    s.pending.clear();
    if (err?.code === GrpcStatus.UNIMPLEMENTED) {
      this.unimplemented = true;
      this.opts.logger.warn({ address: this.opts.address }, `store at ${this.opts.address} does not serve BatchCommands; sending its requests as unary RPCs`);
      for (const e of [...wasSent, ...this.queue]) this.settle(e, { kind: "unimplemented" });
      this.queue = [];
      return;
    }
    const error = err ?? statusError(GrpcStatus.UNAVAILABLE, `the store at ${this.opts.address} ended the BatchCommands stream`);
    for (const e of wasSent) this.settle(e, { kind: "failed", sent: true, error });
    if (!current) return;
    // Not written: never reached the store (the sender treats them as a connection that failed).
    for (const e of this.queue) this.settle(e, { kind: "failed", sent: false, error });
    this.queue = [];
    if (this.closed) return;
    if (err !== undefined && !s.answered) this.failures++;
    this.opts.logger.debug({ address: this.opts.address, failures: this.failures, code: err?.code, err: err?.details }, "BatchCommands stream down");
    if (this.failures > 1) {
      const wait = backoffDelayMs(this.failures - 2, this.opts.random, this.opts.backoff);
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        this.flush();
      }, wait);
    }
  }

  /** Half-close the stream when the channel leaves READY; re-armed on every change until it shuts down. */
  private watchChannel(from: connectivityState): void {
    if (this.closed || from === connectivityState.SHUTDOWN) return;
    try {
      this.opts.channel.watchConnectivityState(from, Infinity, () => {
        const state = this.opts.channel.getConnectivityState(false);
        if (state !== connectivityState.READY) this.halfClose();
        this.watchChannel(state);
      });
    } catch {
      // The channel shut down meanwhile: nothing more to watch.
    }
  }

  private halfClose(): void {
    const s = this.stream;
    if (!s) return;
    this.stream = undefined;
    if (s.pending.size > 0) this.draining.add(s);
    s.call.end();
  }
}

/** A ServiceError as grpc-js makes them, for failures this side decides. */
export function statusError(code: GrpcStatus, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${GrpcStatus[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

/** Payload bytes of a command (keys and values), for sizing messages. */
function commandBytes(cmd: BatchCommand): number {
  switch (cmd.$case) {
    case "rawGet":
    case "rawDelete":
      return 32 + cmd.value.key.length;
    case "rawPut":
      return 32 + cmd.value.key.length + cmd.value.value.length;
    case "rawCas":
      return 32 + cmd.value.key.length + cmd.value.value.length + cmd.value.previousValue.length;
    case "rawBatchGet":
    case "rawBatchDelete": {
      let n = 32;
      for (const k of cmd.value.keys) n += k.length + 4;
      return n;
    }
    case "rawBatchPut": {
      let n = 32;
      for (const p of cmd.value.pairs) n += p.key.length + p.value.length + 8;
      return n;
    }
    case "rawDeleteRange":
    case "rawScan":
      return 32 + cmd.value.startKey.length + cmd.value.endKey.length;
    default:
      // Transactional commands: their encoded size.
      return regionkvpb.BatchCommandsRequest_Request.encode({ timeoutMs: 0, cmd }).finish().length;
  }
}
