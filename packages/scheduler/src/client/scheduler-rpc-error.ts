/**
 * The one error type of the scheduler client: a stable `code` for programs, a message that says
 * what to do for people. Both failure channels map here: gRPC statuses (the transport, malformed
 * requests) and scheduler errors in `ResponseHeader.error`.
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { schedulerpb } from "@regionkv/proto";

export type SchedulerRpcErrorCode =
  /** No scheduler could be reached (within the deadline, after retries). */
  | "UNAVAILABLE"
  /** The scheduler did not answer within the deadline. */
  | "DEADLINE_EXCEEDED"
  /** The request was malformed (gRPC INVALID_ARGUMENT or the scheduler's INVALID_ARGUMENT). */
  | "INVALID_ARGUMENT"
  /** The scheduler does not implement the method. */
  | "UNIMPLEMENTED"
  /** A message exceeded a size limit. */
  | "RESOURCE_EXHAUSTED"
  /** The scheduler failed internally (see its log). */
  | "INTERNAL"
  /** The call was cancelled. */
  | "CANCELLED"
  /** `close()` was called on this client. */
  | "CLOSED"
  /** The cluster has not been bootstrapped yet. */
  | "NOT_BOOTSTRAPPED"
  /** Bootstrap on a bootstrapped cluster. */
  | "ALREADY_BOOTSTRAPPED"
  /** The store is a tombstone. */
  | "STORE_TOMBSTONE"
  /** Incompatible versions. */
  | "INCOMPATIBLE_VERSION"
  /** No such region. */
  | "REGION_NOT_FOUND"
  /** The request's region epoch is older than the scheduler's. */
  | "STALE_EPOCH"
  /** The scheduler serves another cluster than the one this client connected to. */
  | "CLUSTER_MISMATCH"
  /** Anything else (the scheduler's UNKNOWN, other gRPC statuses). */
  | "UNKNOWN";

export class SchedulerRpcError extends Error {
  override readonly name = "SchedulerRpcError";
  constructor(
    readonly code: SchedulerRpcErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The client code for a scheduler error type (never called with OK). */
export function codeOfErrorType(type: schedulerpb.ErrorType): SchedulerRpcErrorCode {
  switch (type) {
    case schedulerpb.ErrorType.NOT_BOOTSTRAPPED:
      return "NOT_BOOTSTRAPPED";
    case schedulerpb.ErrorType.ALREADY_BOOTSTRAPPED:
      return "ALREADY_BOOTSTRAPPED";
    case schedulerpb.ErrorType.STORE_TOMBSTONE:
      return "STORE_TOMBSTONE";
    case schedulerpb.ErrorType.INCOMPATIBLE_VERSION:
      return "INCOMPATIBLE_VERSION";
    case schedulerpb.ErrorType.REGION_NOT_FOUND:
      return "REGION_NOT_FOUND";
    case schedulerpb.ErrorType.STALE_EPOCH:
      return "STALE_EPOCH";
    case schedulerpb.ErrorType.INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case schedulerpb.ErrorType.CLUSTER_ID_MISMATCH:
      return "CLUSTER_MISMATCH";
    case schedulerpb.ErrorType.OK:
    case schedulerpb.ErrorType.UNKNOWN:
    case schedulerpb.ErrorType.UNRECOGNIZED:
      return "UNKNOWN";
    default: {
      const never: never = type;
      return never;
    }
  }
}

/** The error a response header carries, or undefined when it reports success. */
export function headerError(method: string, address: string, header: schedulerpb.ResponseHeader | undefined): SchedulerRpcError | undefined {
  const err = header?.error;
  if (!err || err.type === schedulerpb.ErrorType.OK) return undefined;
  return new SchedulerRpcError(codeOfErrorType(err.type), `${method} at scheduler ${address}: ${err.message}`);
}

/** The client code for a gRPC status. */
export function codeOfStatus(code: status): SchedulerRpcErrorCode {
  switch (code) {
    case status.UNAVAILABLE:
      return "UNAVAILABLE";
    case status.DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case status.INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case status.UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case status.RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case status.INTERNAL:
      return "INTERNAL";
    case status.CANCELLED:
      return "CANCELLED";
    default:
      return "UNKNOWN";
  }
}

/** What to tell a person when `addresses` cannot be reached. */
export function unreachableHint(addresses: readonly string[]): string {
  return addresses.length === 1
    ? `is \`regionkv scheduler\` running at ${addresses[0]}?`
    : `is \`regionkv scheduler\` running at one of ${addresses.join(", ")}?`;
}

/** A gRPC failure of `method` as a SchedulerRpcError whose message says what to do. */
export function fromServiceError(method: string, address: string, e: ServiceError, timeoutMs: number): SchedulerRpcError {
  const code = codeOfStatus(e.code);
  const detail = e.details || e.message;
  switch (code) {
    case "UNAVAILABLE":
      return new SchedulerRpcError(code, `${method}: scheduler ${address} is unavailable (${detail}); ${unreachableHint([address])}`, { cause: e });
    case "DEADLINE_EXCEEDED":
      return new SchedulerRpcError(code, `${method}: scheduler ${address} did not answer within ${timeoutMs} ms; it may be overloaded or stuck (check its log), or raise timeoutMs`, { cause: e });
    default:
      return new SchedulerRpcError(code, `${method} at scheduler ${address} failed: ${detail}`, { cause: e });
  }
}

/** No scheduler at `addresses` answered `method` within `timeoutMs`. */
export function unreachableError(method: string, addresses: readonly string[], timeoutMs: number, last: ServiceError | undefined): SchedulerRpcError {
  const lastText = last ? ` (last error: ${last.details || last.message})` : "";
  return new SchedulerRpcError("UNAVAILABLE", `${method}: no scheduler answered at ${addresses.join(", ")} within ${timeoutMs} ms; ${unreachableHint(addresses)}${lastText}`, {
    cause: last,
  });
}
