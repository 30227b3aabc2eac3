/**
 * One unary call to the scheduler, with a deadline and retries:
 *
 *   attempt on the current endpoint (deadline = start + timeoutMs)
 *     → answered: header error → SchedulerRpcError (not retried); else the response
 *     → UNAVAILABLE (the scheduler may be restarting): next endpoint, back off 10 ms → 250 ms,
 *       try again while the deadline allows; when it runs out, UNAVAILABLE naming the addresses
 *     → any other status: SchedulerRpcError with that code
 */
import { Metadata, status, type CallOptions, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { schedulerpb } from "@regionkv/proto";
import { retryBackoffMs } from "./channel-options.js";
import type { Endpoints } from "./endpoints.js";
import { fromServiceError, headerError, SchedulerRpcError, unreachableError } from "./scheduler-rpc-error.js";

/** Start one attempt of a call on `client`; `done` gets the outcome. */
export type UnaryStart<Res> = (
  client: schedulerpb.SchedulerClient,
  metadata: Metadata,
  options: Partial<CallOptions>,
  done: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

type Outcome<Res> = { ok: true; res: Res } | { ok: false; err: ServiceError };

export class UnaryCaller {
  private readonly inFlight = new Set<ClientUnaryCall>();
  private closed = false;

  constructor(
    private readonly endpoints: Endpoints,
    readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** The error for calls made after `close()`. */
  static closedError(method: string): SchedulerRpcError {
    return new SchedulerRpcError("CLOSED", `${method}: the scheduler client is closed; connect a new one`);
  }

  /** Cancel the calls in flight; later calls fail with CLOSED. */
  close(): void {
    this.closed = true;
    for (const c of this.inFlight) c.cancel();
    this.inFlight.clear();
  }

  async call<Res extends { header?: schedulerpb.ResponseHeader | undefined }>(method: string, start: UnaryStart<Res>): Promise<Res> {
    const deadline = Date.now() + this.timeoutMs;
    let lastUnavailable: ServiceError | undefined;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw UnaryCaller.closedError(method);
      const ep = this.endpoints.current();
      const outcome = await this.attempt(ep.client, deadline, start);
      if (this.closed) throw UnaryCaller.closedError(method);
      if (outcome.ok) {
        const err = headerError(method, ep.address, outcome.res.header);
        if (err) throw err;
        return outcome.res;
      }
      const err = outcome.err;
      if (err.code === status.UNAVAILABLE) {
        lastUnavailable = err;
        this.endpoints.failover(ep);
        const wait = retryBackoffMs(attempt);
        if (Date.now() + wait >= deadline) throw this.unreachable(method, lastUnavailable);
        this.log.debug({ method, address: ep.address, attempt, waitMs: wait, err: err.details }, "scheduler unavailable; retrying");
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      if (err.code === status.DEADLINE_EXCEEDED && lastUnavailable) throw this.unreachable(method, lastUnavailable);
      throw fromServiceError(method, ep.address, err, this.timeoutMs);
    }
  }

  private attempt<Res>(client: schedulerpb.SchedulerClient, deadline: number, start: UnaryStart<Res>): Promise<Outcome<Res>> {
    return new Promise((resolve) => {
      let call: ClientUnaryCall | undefined = undefined;
      let settled = false;
      const done = (err: ServiceError | null, res: Res): void => {
        settled = true;
        if (call) this.inFlight.delete(call);
        resolve(err ? { ok: false, err } : { ok: true, res });
      };
      call = start(client, new Metadata(), { deadline }, done);
      if (!settled) this.inFlight.add(call);
    });
  }

  private unreachable(method: string, last: ServiceError): SchedulerRpcError {
    return unreachableError(method, this.endpoints.addresses, this.timeoutMs, last);
  }
}
