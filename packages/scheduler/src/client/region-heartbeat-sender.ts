/**
 * Region heartbeats over one long-lived `RegionHeartbeat` stream:
 *
 *   send(req) → stream open? write : (wait until the channel is ready, within the deadline → open) → write
 *   stream answers (operators, errors) → every onResponse listener
 *   stream fails → forgotten; the next send reopens it (heartbeats are periodic, so a reopened
 *   stream is never far away)
 *
 * `send` resolves once the request is handed to an open stream: a heartbeat written just before
 * the stream breaks is lost, and the next one replaces it (a heartbeat is a report of the current
 * state, not an event). It rejects with UNAVAILABLE when no scheduler is reachable within the
 * deadline.
 */
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { schedulerpb } from "@regionkv/proto";
import type { Endpoint, Endpoints } from "./endpoints.js";
import { headerError, unreachableError } from "./scheduler-rpc-error.js";
import { UnaryCaller } from "./unary-caller.js";

type HeartbeatStream = ClientDuplexStream<schedulerpb.RegionHeartbeatRequest, schedulerpb.RegionHeartbeatResponse>;
interface OpenStream {
  s: HeartbeatStream;
  ep: Endpoint;
}

export interface RegionHeartbeatSenderDeps {
  endpoints: Endpoints;
  timeoutMs: number;
  log: Logger;
}

export class RegionHeartbeatSender {
  private stream: OpenStream | undefined;
  private opening: Promise<OpenStream> | undefined;
  private readonly listeners: ((resp: schedulerpb.RegionHeartbeatResponse) => void)[] = [];
  /** Consecutive stream failures; 0 while healthy. */
  private failures = 0;
  private closed = false;

  constructor(private readonly deps: RegionHeartbeatSenderDeps) {}

  /** Call `cb` with every response the scheduler sends on the stream. */
  onResponse(cb: (resp: schedulerpb.RegionHeartbeatResponse) => void): void {
    this.listeners.push(cb);
  }

  async send(req: schedulerpb.RegionHeartbeatRequest): Promise<void> {
    if (this.closed) throw UnaryCaller.closedError("RegionHeartbeat");
    const stream = this.stream ?? (await (this.opening ??= this.openWhenReady(Date.now() + this.deps.timeoutMs)));
    if (this.closed) throw UnaryCaller.closedError("RegionHeartbeat");
    await new Promise<void>((resolve, reject) => {
      stream.s.write(req, (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
    });
  }

  close(): void {
    this.closed = true;
    const s = this.stream?.s;
    this.stream = undefined;
    s?.cancel();
  }

  private async openWhenReady(deadline: number): Promise<OpenStream> {
    try {
      const ep = this.deps.endpoints.current();
      await new Promise<void>((resolve, reject) => {
        ep.client.waitForReady(deadline, (err) => {
          if (!err) {
            resolve();
            return;
          }
          this.deps.endpoints.failover(ep);
          reject(unreachableError("RegionHeartbeat", this.deps.endpoints.addresses, this.deps.timeoutMs, undefined));
        });
      });
      if (this.closed) throw UnaryCaller.closedError("RegionHeartbeat");
      return this.open(ep);
    } finally {
      this.opening = undefined;
    }
  }

  private open(ep: Endpoint): OpenStream {
    const s = ep.client.regionHeartbeat();
    const stream = { s, ep };
    this.stream = stream;
    if (this.failures > 0) this.deps.log.info({ address: ep.address, failures: this.failures }, "region heartbeat stream to the scheduler reopened");
    this.failures = 0;
    s.on("data", (resp: schedulerpb.RegionHeartbeatResponse) => this.onData(stream, resp));
    s.on("error", (e: ServiceError) => this.onStreamDown(stream, e));
    s.on("end", () => this.onStreamDown(stream, undefined));
    return stream;
  }

  private onData(stream: OpenStream, resp: schedulerpb.RegionHeartbeatResponse): void {
    const err = headerError("RegionHeartbeat", stream.ep.address, resp.header);
    if (err) this.deps.log.warn({ regionId: String(resp.regionId), code: err.code, err: err.message }, "the scheduler rejected a region heartbeat");
    for (const cb of this.listeners) {
      try {
        cb(resp);
      } catch (e) {
        this.deps.log.error({ err: e instanceof Error ? e.message : String(e) }, "region heartbeat response listener failed");
      }
    }
  }

  private onStreamDown(stream: OpenStream, e: ServiceError | undefined): void {
    if (this.stream !== stream || this.closed) return;
    this.stream = undefined;
    this.failures++;
    const fields = { address: stream.ep.address, err: e ? e.details || e.message : "stream ended by the scheduler" };
    if (this.failures === 1) this.deps.log.warn(fields, "region heartbeat stream to the scheduler broke; the next heartbeat reopens it");
    else this.deps.log.debug(fields, "region heartbeat stream broke again");
  }
}
