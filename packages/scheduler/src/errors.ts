/**
 * Scheduler errors: a stable `code` per failure, one mapping to the wire's `schedulerpb.ErrorType`
 * (`toErrorType`), and messages that say what to do.
 */
import { schedulerpb } from "@regionkv/proto";

export type SchedulerErrorCode =
  /** The cluster has not been bootstrapped yet. */
  | "NotBootstrapped"
  /** Bootstrap was called on a bootstrapped cluster. */
  | "AlreadyBootstrapped"
  /** A heartbeat (or request) carries an epoch older than the scheduler's. */
  | "StaleEpoch"
  /** No such region. */
  | "RegionNotFound"
  /** No such store. */
  | "StoreNotFound"
  /** The store is a tombstone and may not come back. */
  | "StoreTombstone"
  /** A malformed request; the message names the field. */
  | "InvalidArgument"
  /** The request's header names another cluster than this scheduler's. */
  | "ClusterIdMismatch"
  /** The scheduler's data file is used by another process. */
  | "Locked"
  /** The scheduler's data file is not a scheduler database or is damaged. */
  | "Corrupt"
  /** Any other I/O failure. */
  | "Io"
  /** A manual operator was refused (another runs for the region, or it makes no sense). */
  | "OperatorRejected"
  /** No operator is known for the region. */
  | "OperatorNotFound";

export class SchedulerError extends Error {
  override readonly name = "SchedulerError";
  constructor(
    readonly code: SchedulerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The wire error type for a scheduler error code. */
export function toErrorType(code: SchedulerErrorCode): schedulerpb.ErrorType {
  switch (code) {
    case "NotBootstrapped":
      return schedulerpb.ErrorType.NOT_BOOTSTRAPPED;
    case "AlreadyBootstrapped":
      return schedulerpb.ErrorType.ALREADY_BOOTSTRAPPED;
    case "StaleEpoch":
      return schedulerpb.ErrorType.STALE_EPOCH;
    case "RegionNotFound":
      return schedulerpb.ErrorType.REGION_NOT_FOUND;
    case "StoreTombstone":
      return schedulerpb.ErrorType.STORE_TOMBSTONE;
    case "InvalidArgument":
      return schedulerpb.ErrorType.INVALID_ARGUMENT;
    case "ClusterIdMismatch":
      return schedulerpb.ErrorType.CLUSTER_ID_MISMATCH;
    case "StoreNotFound":
    case "Locked":
    case "Corrupt":
    case "Io":
    case "OperatorRejected":
      return schedulerpb.ErrorType.UNKNOWN;
    case "OperatorNotFound":
      return schedulerpb.ErrorType.REGION_NOT_FOUND;
    default: {
      const never: never = code;
      throw new Error(`unknown scheduler error code ${String(never)}`);
    }
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: SchedulerError };
