/**
 * What every handler of the scheduler's gRPC service works with, and how a handler turns a thrown
 * failure into what goes on the wire:
 * - `SchedulerError` → `ResponseHeader.error` (the response still arrives);
 * - `MalformedRequest` → gRPC INVALID_ARGUMENT;
 * - anything else is a bug: logged, and gRPC INTERNAL (the process keeps serving).
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { SchedulerError } from "./errors.js";
import type { SchedulerCore } from "./scheduler.js";
import type { Coordinator } from "./schedule/coordinator.js";
import { MalformedRequest } from "./service-header.js";

export interface ServiceContext {
  readonly core: SchedulerCore;
  /** Checkers, schedulers and operators; region heartbeats go through it. */
  readonly coordinator: Coordinator;
  /** The core's cluster id (constant for the life of the data directory). */
  readonly clusterId: bigint;
  readonly log: Logger;
  /** Bidi streams currently open, so a shutdown can end them. */
  readonly streams: OpenStreams;
  /** The region heartbeat stream each store last reported on (where its operators go). */
  readonly storeStreams: Map<bigint, { writable: boolean; write(resp: unknown): unknown }>;
}

/** The part of a server-side stream `OpenStreams` uses. */
interface EndableStream {
  readonly writable: boolean;
  end(): void;
  once(event: "close" | "finish" | "cancelled", listener: () => void): unknown;
}

/** The open server-side streams; `endAll` finishes each with status OK so clients reconnect. */
export class OpenStreams {
  private readonly open = new Set<EndableStream>();

  add(call: EndableStream): void {
    this.open.add(call);
    const forget = (): void => {
      this.open.delete(call);
    };
    call.once("close", forget);
    call.once("finish", forget);
    call.once("cancelled", forget);
  }

  get size(): number {
    return this.open.size;
  }

  endAll(): void {
    for (const call of this.open) {
      if (call.writable) call.end();
    }
    this.open.clear();
  }
}

/** Where a handler's failure goes: into the response header, or the call ends with a gRPC status. */
export type Failure = { kind: "header"; error: SchedulerError } | { kind: "status"; status: Partial<ServiceError> };

/** Classify (and log) what a handler threw. */
export function classifyFailure(ctx: ServiceContext, method: string, e: unknown): Failure {
  if (e instanceof SchedulerError) {
    ctx.log.debug({ method, code: e.code, err: e.message }, "request answered with a scheduler error");
    return { kind: "header", error: e };
  }
  if (e instanceof MalformedRequest) {
    ctx.log.warn({ method, err: e.message }, "malformed request");
    return { kind: "status", status: { code: status.INVALID_ARGUMENT, details: e.message } };
  }
  const message = e instanceof Error ? e.message : String(e);
  ctx.log.error({ method, err: message, stack: e instanceof Error ? e.stack : undefined }, "scheduler handler failed unexpectedly");
  return { kind: "status", status: { code: status.INTERNAL, details: `${method} failed inside the scheduler: ${message}; see the scheduler's log` } };
}
