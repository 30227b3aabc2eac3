/**
 * What the raw client does about a failed attempt, decided by pure functions here and carried
 * out by the request sender (region-request-sender.ts):
 *
 * - a region error in the response → `decideRegionError`: how to correct the region cache, whether
 *   to back off before retrying, and whether the request may have been applied;
 * - a gRPC status → `decideRpcFailure`: retry on another peer, retry later, or give up, and again
 *   whether the request may have been applied;
 * - `backoffDelayMs`: bounded exponential backoff with jitter.
 *
 * "May have been applied" matters for writes (raw-rpcs.ts `resendable`): they are never retried
 * after such a failure (UnknownOutcomeError). By the wire contract
 * (kvrpcpb.proto), a response with a region error had no effect, except StaleCommand.
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { errorpb, metapb } from "@regionkv/proto";

/** How to correct the cache after a region error; the sender applies it to the RegionCache. */
export type RegionErrorAction =
  /** NotLeader with a hint: switch to the hinted leader and retry at once. */
  | { kind: "followLeader"; leader: metapb.Peer }
  /** NotLeader without a hint (election under way), RegionNotFound: try the region's next peer. */
  | { kind: "tryNextPeer" }
  /** EpochNotMatch with the store's current regions: replace the stale entry with them. */
  | { kind: "replaceRegions"; regions: metapb.Region[] }
  /** KeyNotInRegion, EpochNotMatch without regions, an error of no known kind: reload the region from the scheduler. */
  | { kind: "reloadRegion" }
  /** ServerIsBusy, StaleCommand: keep the route, retry after a while (at least `minDelayMs`). */
  | { kind: "retryLater"; minDelayMs: number }
  /** StoreNotMatch: the store address we used is stale; resolve the store (and region) again. */
  | { kind: "refreshStore" }
  /** RaftEntryTooLarge: retrying the same request cannot succeed. */
  | { kind: "fail"; message: string };

export interface RegionErrorDecision {
  action: RegionErrorAction;
  /** Back off before the next attempt (else retry at once; a retry still counts against maxRetries). */
  backoff: boolean;
  /** The request may have been applied (only StaleCommand, per the wire contract). */
  mayHaveApplied: boolean;
}

export function decideRegionError(err: errorpb.Error): RegionErrorDecision {
  const kind = err.kind;
  if (kind === undefined) return { action: { kind: "reloadRegion" }, backoff: true, mayHaveApplied: false };
  switch (kind.$case) {
    case "notLeader": {
      const leader = kind.value.leader;
      if (leader && leader.id !== 0n) return { action: { kind: "followLeader", leader }, backoff: false, mayHaveApplied: false };
      return { action: { kind: "tryNextPeer" }, backoff: true, mayHaveApplied: false };
    }
    case "regionNotFound":
      return { action: { kind: "tryNextPeer" }, backoff: false, mayHaveApplied: false };
    case "keyNotInRegion":
      return { action: { kind: "reloadRegion" }, backoff: true, mayHaveApplied: false };
    case "epochNotMatch": {
      const regions = kind.value.currentRegions;
      if (regions.length === 0) return { action: { kind: "reloadRegion" }, backoff: true, mayHaveApplied: false };
      return { action: { kind: "replaceRegions", regions }, backoff: false, mayHaveApplied: false };
    }
    case "serverIsBusy":
      return { action: { kind: "retryLater", minDelayMs: Number(kind.value.backoffMs) }, backoff: true, mayHaveApplied: false };
    case "staleCommand":
      return { action: { kind: "retryLater", minDelayMs: 0 }, backoff: true, mayHaveApplied: true };
    case "storeNotMatch":
      return { action: { kind: "refreshStore" }, backoff: true, mayHaveApplied: false };
    case "raftEntryTooLarge":
      return {
        action: {
          kind: "fail",
          message: `the request makes a raft entry of ${kind.value.entrySize} bytes, over the store's raft entry limit: write fewer or smaller pairs per call`,
        },
        backoff: false,
        mayHaveApplied: false,
      };
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

/** Stable one-line text for a region error (logs, error messages). */
export function describeRegionError(err: errorpb.Error): string {
  const kind = err.kind;
  if (kind === undefined) return `region error: ${err.message}`;
  switch (kind.$case) {
    case "notLeader": {
      const l = kind.value.leader;
      return l && l.id !== 0n
        ? `NotLeader (region ${kind.value.regionId}; leader is peer ${l.id} on store ${l.storeId})`
        : `NotLeader (region ${kind.value.regionId}; leader unknown)`;
    }
    case "regionNotFound":
      return `RegionNotFound (region ${kind.value.regionId})`;
    case "keyNotInRegion":
      return `KeyNotInRegion (region ${kind.value.regionId})`;
    case "epochNotMatch":
      return `EpochNotMatch (${kind.value.currentRegions.length} current region(s))`;
    case "serverIsBusy":
      return `ServerIsBusy (${kind.value.reason || err.message})`;
    case "staleCommand":
      return "StaleCommand";
    case "storeNotMatch":
      return `StoreNotMatch (sent to store ${kind.value.actualStoreId}, meant for store ${kind.value.requestStoreId})`;
    case "raftEntryTooLarge":
      return `RaftEntryTooLarge (region ${kind.value.regionId}, ${kind.value.entrySize} bytes)`;
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

/** What to do about a gRPC status other than OK, on a call that reached a connected channel. */
export type RpcFailureAction =
  /** The connection broke (UNAVAILABLE): mark the peer failed and try the region's next peer. */
  | { kind: "tryNextPeer" }
  /** The store timed out or gave up on the proposal: retry after a backoff. */
  | { kind: "retryLater" }
  /** The store refused the request as malformed: an InvalidArgumentError, not retried. */
  | { kind: "invalidArgument" }
  /** Anything else: a ServerError, not retried. */
  | { kind: "fail" };

export interface RpcFailureDecision {
  action: RpcFailureAction;
  /** The request may have been applied (it may have reached the store before the failure). */
  mayHaveApplied: boolean;
}

export function decideRpcFailure(code: GrpcStatus): RpcFailureDecision {
  switch (code) {
    case GrpcStatus.UNAVAILABLE:
      return { action: { kind: "tryNextPeer" }, mayHaveApplied: true };
    case GrpcStatus.DEADLINE_EXCEEDED: // the store's proposal timeout (ours is handled by the caller)
    case GrpcStatus.CANCELLED: // the store aborted the proposal
    case GrpcStatus.ABORTED:
      return { action: { kind: "retryLater" }, mayHaveApplied: true };
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return { action: { kind: "invalidArgument" }, mayHaveApplied: false };
    case GrpcStatus.RESOURCE_EXHAUSTED: // a message over a size limit (a store's overload is ServerIsBusy)
    case GrpcStatus.UNIMPLEMENTED:
    case GrpcStatus.NOT_FOUND:
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.FAILED_PRECONDITION:
      return { action: { kind: "fail" }, mayHaveApplied: false };
    default:
      // UNKNOWN, INTERNAL, DATA_LOSS: the handler failed somewhere, possibly after proposing.
      return { action: { kind: "fail" }, mayHaveApplied: true };
  }
}

export interface BackoffPolicy {
  /** Delay before the first backed-off retry, in ms. */
  baseMs: number;
  /** Largest delay, in ms. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 10, capMs: 1_000 };

/**
 * Delay before backed-off retry number `n` (0-based): an exponential step min(cap, base·2ⁿ),
 * "equal jitter" (half fixed, half uniform random, so retries of many clients spread out but
 * never collapse to 0), and never less than `minDelayMs` (a store's ServerIsBusy hint).
 */
export function backoffDelayMs(n: number, random: () => number, policy: BackoffPolicy, minDelayMs = 0): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(n, 30));
  const jittered = step / 2 + (random() * step) / 2;
  return Math.max(Math.round(jittered), minDelayMs);
}
