/**
 * Request and response headers of the scheduler's gRPC service, and the two kinds of failure a
 * handler reports:
 * - a `SchedulerError` (not bootstrapped, stale epoch, cluster id mismatch, ...) travels in
 *   `ResponseHeader.error` with its wire type (`toErrorType`);
 * - a `MalformedRequest` (a required field is missing) becomes the gRPC status INVALID_ARGUMENT,
 *   its message naming the field.
 */
import type { schedulerpb } from "@regionkv/proto";
import { SchedulerError, toErrorType } from "./errors.js";

/** A request the service cannot interpret: a required field is missing or out of range. */
export class MalformedRequest extends Error {
  override readonly name = "MalformedRequest";
}

/** A header for a successful response. */
export function okHeader(clusterId: bigint): schedulerpb.ResponseHeader {
  return { clusterId, error: undefined };
}

/** A header carrying `error`. */
export function errorHeader(clusterId: bigint, error: SchedulerError): schedulerpb.ResponseHeader {
  return { clusterId, error: { type: toErrorType(error.code), message: error.message } };
}

/**
 * Check a request's header: it must be present (`MalformedRequest` naming `<method>Request.header`)
 * and name this scheduler's cluster (`SchedulerError` ClusterIdMismatch).
 */
export function checkRequestHeader(method: string, header: schedulerpb.RequestHeader | undefined, clusterId: bigint): void {
  if (!header) throw new MalformedRequest(`${method}Request.header is required (it carries the cluster_id learned from GetMembers)`);
  if (header.clusterId !== clusterId) {
    throw new SchedulerError(
      "ClusterIdMismatch",
      `the request is for cluster ${header.clusterId} but this scheduler serves cluster ${clusterId}; point the store or client at its own cluster's scheduler (or start this store with a fresh --data directory)`,
    );
  }
}

/** `value`, or a `MalformedRequest` naming `field` when it is absent. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new MalformedRequest(`${field} is required`);
  return value;
}
