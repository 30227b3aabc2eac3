/**
 * Timestamps over one long-lived `Tso` stream, with concurrent callers batched:
 *
 *   get() → queue → (next microtask, or when the request in flight is answered) one TsoRequest
 *   {count = n waiters} → TsoResponse{last ts} → waiter i gets last - (n - 1 - i)
 *
 * At most one request is in flight, so callers arriving meanwhile form the next batch. Callers get
 * timestamps in the order they called (each batch's range is above every earlier one).
 *
 * When the stream fails (scheduler restarting, connection lost) the unanswered batch goes back to
 * the front of the queue and the stream is reopened after a short backoff; timestamps the
 * scheduler allocated for the lost request are simply never used. Each caller has its own
 * deadline; a malformed-request status (INVALID_ARGUMENT, UNIMPLEMENTED, ...) fails the batch.
 */
import { status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { composeTs, type schedulerpb } from "@regionkv/proto";
import { retryBackoffMs } from "./channel-options.js";
import type { Endpoint, Endpoints } from "./endpoints.js";
import { fromServiceError, headerError, SchedulerRpcError, unreachableError } from "./scheduler-rpc-error.js";
import { UnaryCaller } from "./unary-caller.js";

/** Most timestamps asked for in one request (the scheduler allows up to 2^18 - 1). */
export const MAX_TSO_BATCH = 4096;


interface Waiter {
  resolve(ts: bigint): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  settled: boolean;
}

type TsoStream = ClientDuplexStream<schedulerpb.TsoRequest, schedulerpb.TsoResponse>;

/** Statuses that will not get better by reopening the stream. */
const FATAL_STATUSES: ReadonlySet<number> = new Set([status.INVALID_ARGUMENT, status.UNIMPLEMENTED, status.RESOURCE_EXHAUSTED, status.PERMISSION_DENIED, status.UNAUTHENTICATED]);

export interface TsoBatcherDeps {
  endpoints: Endpoints;
  clusterId: bigint;
  timeoutMs: number;
  log: Logger;
}

export class TsoBatcher {
  private queue: Waiter[] = [];
  private inFlight: Waiter[] | undefined;
  private stream: { s: TsoStream; ep: Endpoint } | undefined;
  private flushScheduled = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  /** Consecutive stream failures; 0 while healthy. */
  private failures = 0;
  private lastFailure: ServiceError | undefined;
  private closed = false;

  constructor(private readonly deps: TsoBatcherDeps) {}

  /** One timestamp (u64: physical << 18 | logical), strictly above every one handed out before. */
  get(): Promise<bigint> {
    if (this.closed) return Promise.reject(UnaryCaller.closedError("Tso"));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        settled: false,
        timer: setTimeout(() => this.settle(w, this.timeoutError()), this.deps.timeoutMs),
      };
      this.queue.push(w);
      this.scheduleFlush();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer);
    const s = this.stream?.s;
    this.stream = undefined;
    s?.cancel();
    const err = UnaryCaller.closedError("Tso");
    for (const w of [...(this.inFlight ?? []), ...this.queue]) this.settle(w, err);
    this.inFlight = undefined;
    this.queue = [];
  }

  private settle(w: Waiter, outcome: bigint | Error): void {
    if (w.settled) return;
    w.settled = true;
    clearTimeout(w.timer);
    if (typeof outcome === "bigint") w.resolve(outcome);
    else w.reject(outcome);
  }

  private timeoutError(): SchedulerRpcError {
    if (this.failures > 0) return unreachableError("Tso", this.deps.endpoints.addresses, this.deps.timeoutMs, this.lastFailure);
    const address = this.stream?.ep.address ?? this.deps.endpoints.addresses.join(", ");
    return new SchedulerRpcError("DEADLINE_EXCEEDED", `Tso: scheduler ${address} did not answer within ${this.deps.timeoutMs} ms; it may be overloaded or stuck (check its log), or raise timeoutMs`);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Send the queued callers as one request, unless one is in flight or the stream is backing off. */
  private flush(): void {
    if (this.closed || this.inFlight || this.reopenTimer) return;
    this.queue = this.queue.filter((w) => !w.settled);
    if (this.queue.length === 0) return;
    const stream = this.stream ?? this.open();
    const batch = this.queue.splice(0, MAX_TSO_BATCH);
    this.inFlight = batch;
    stream.s.write({ header: { clusterId: this.deps.clusterId }, count: batch.length });
  }

  private open(): { s: TsoStream; ep: Endpoint } {
    const ep = this.deps.endpoints.current();
    const s = ep.client.tso();
    const stream = { s, ep };
    this.stream = stream;
    s.on("data", (resp: schedulerpb.TsoResponse) => this.onResponse(stream, resp));
    s.on("error", (e: ServiceError) => this.onStreamDown(stream, e));
    s.on("end", () => this.onStreamDown(stream, undefined));
    return stream;
  }

  private onResponse(stream: { s: TsoStream; ep: Endpoint }, resp: schedulerpb.TsoResponse): void {
    if (this.stream !== stream) return;
    const batch = this.inFlight;
    this.inFlight = undefined;
    if (this.failures > 0) this.deps.log.info({ address: stream.ep.address, failures: this.failures }, "tso stream to the scheduler recovered");
    this.failures = 0;
    this.lastFailure = undefined;
    if (!batch) {
      this.deps.log.warn({ address: stream.ep.address }, "tso response without a request; ignored");
      return;
    }
    const err = headerError("Tso", stream.ep.address, resp.header);
    const ts = resp.timestamp;
    if (err || !ts || resp.count !== batch.length) {
      const e = err ?? new SchedulerRpcError("INTERNAL", `Tso: scheduler ${stream.ep.address} answered ${resp.count} timestamps for a request of ${batch.length}; this is a scheduler bug`);
      for (const w of batch) this.settle(w, e);
    } else {
      const last = composeTs(ts.physical, ts.logical);
      const n = batch.length;
      batch.forEach((w, i) => this.settle(w, last - BigInt(n - 1 - i)));
    }
    this.flush();
  }

  private onStreamDown(stream: { s: TsoStream; ep: Endpoint }, e: ServiceError | undefined): void {
    if (this.stream !== stream || this.closed) return;
    this.stream = undefined;
    const batch = this.inFlight ?? [];
    this.inFlight = undefined;
    if (e && FATAL_STATUSES.has(e.code)) {
      const err = fromServiceError("Tso", stream.ep.address, e, this.deps.timeoutMs);
      for (const w of batch) this.settle(w, err);
      this.scheduleFlush();
      return;
    }
    this.queue = [...batch, ...this.queue];
    this.failures++;
    this.lastFailure = e;
    if (e?.code === status.UNAVAILABLE) this.deps.endpoints.failover(stream.ep);
    const wait = retryBackoffMs(this.failures - 1);
    const fields = { address: stream.ep.address, err: e ? e.details || e.message : "stream ended by the scheduler", waitMs: wait };
    if (this.failures === 1) this.deps.log.warn(fields, "tso stream to the scheduler broke; reopening");
    else this.deps.log.debug(fields, "tso stream still failing; reopening");
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.flush();
    }, wait);
  }
}
