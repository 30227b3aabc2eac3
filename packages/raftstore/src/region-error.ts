/**
 * Region errors: one variant per `errorpb.Error` kind, with one converter each way. A request
 * fails with a region error when it reached the wrong peer or a stale view of the region; the
 * client recovers by refreshing its region cache or following the leader hint.
 *
 * Proposal outcomes that are not region errors (a deadline passed, the caller aborted) are
 * `ProposalFailure`s: they never travel as errorpb kinds (the server maps them to gRPC statuses).
 */
import type { errorpb} from "@regionkv/proto";
import { type metapb } from "@regionkv/proto";

export type RegionError =
  | { kind: "NotLeader"; regionId: bigint; leader: metapb.Peer | undefined }
  | { kind: "RegionNotFound"; regionId: bigint }
  | { kind: "KeyNotInRegion"; key: Buffer; regionId: bigint; startKey: Buffer; endKey: Buffer }
  | { kind: "EpochNotMatch"; message: string; currentRegions: metapb.Region[] }
  | { kind: "ServerIsBusy"; reason: string; backoffMs: bigint }
  | { kind: "StaleCommand" }
  | { kind: "StoreNotMatch"; requestStoreId: bigint; actualStoreId: bigint }
  | { kind: "RaftEntryTooLarge"; regionId: bigint; entrySize: bigint };

export type ProposalFailure =
  | RegionError
  /** The proposal's deadline passed before it was applied (it may still apply later). */
  | { kind: "Timeout"; message: string }
  /** The caller's AbortSignal fired (it may still apply later). */
  | { kind: "Aborted"; message: string }
  /** The request is malformed or not supported (gRPC INVALID_ARGUMENT); retrying will not help. */
  | { kind: "InvalidRequest"; message: string };

/** A human-readable line for logs and the `message` of the wire error. */
export function describeRegionError(e: ProposalFailure): string {
  switch (e.kind) {
    case "NotLeader":
      return `peer is not the leader of region ${e.regionId}${e.leader ? `; leader is peer ${e.leader.id} on store ${e.leader.storeId}` : "; leader unknown"}`;
    case "RegionNotFound":
      return `region ${e.regionId} not found on this store`;
    case "KeyNotInRegion":
      return `key ${e.key.toString("hex")} is not in region ${e.regionId} [${e.startKey.toString("hex")}, ${e.endKey.toString("hex")})`;
    case "EpochNotMatch":
      return e.message;
    case "ServerIsBusy":
      return `server is busy: ${e.reason}`;
    case "StaleCommand":
      return "stale command: the proposal was superseded (leadership changed); retry";
    case "StoreNotMatch":
      return `request for store ${e.requestStoreId} reached store ${e.actualStoreId}`;
    case "RaftEntryTooLarge":
      return `raft entry of ${e.entrySize} bytes for region ${e.regionId} is too large; split the write`;
    case "Timeout":
    case "Aborted":
    case "InvalidRequest":
      return e.message;
    default: {
      const never: never = e;
      return `unknown error ${JSON.stringify(never)}`;
    }
  }
}

export function regionErrorToPb(e: RegionError): errorpb.Error {
  const message = describeRegionError(e);
  switch (e.kind) {
    case "NotLeader":
      return { message, kind: { $case: "notLeader", value: { regionId: e.regionId, leader: e.leader } } };
    case "RegionNotFound":
      return { message, kind: { $case: "regionNotFound", value: { regionId: e.regionId } } };
    case "KeyNotInRegion":
      return { message, kind: { $case: "keyNotInRegion", value: { key: e.key, regionId: e.regionId, startKey: e.startKey, endKey: e.endKey } } };
    case "EpochNotMatch":
      return { message, kind: { $case: "epochNotMatch", value: { currentRegions: e.currentRegions } } };
    case "ServerIsBusy":
      return { message, kind: { $case: "serverIsBusy", value: { reason: e.reason, backoffMs: e.backoffMs } } };
    case "StaleCommand":
      return { message, kind: { $case: "staleCommand", value: {} } };
    case "StoreNotMatch":
      return { message, kind: { $case: "storeNotMatch", value: { requestStoreId: e.requestStoreId, actualStoreId: e.actualStoreId } } };
    case "RaftEntryTooLarge":
      return { message, kind: { $case: "raftEntryTooLarge", value: { regionId: e.regionId, entrySize: e.entrySize } } };
    default: {
      const never: never = e;
      throw new Error(`unknown region error ${JSON.stringify(never)}`);
    }
  }
}

/** The region error of a wire error, or undefined for an error with no kind (message only). */
export function regionErrorFromPb(e: errorpb.Error): RegionError | undefined {
  const k = e.kind;
  if (!k) return undefined;
  switch (k.$case) {
    case "notLeader":
      return { kind: "NotLeader", regionId: k.value.regionId, leader: k.value.leader };
    case "regionNotFound":
      return { kind: "RegionNotFound", regionId: k.value.regionId };
    case "keyNotInRegion":
      return { kind: "KeyNotInRegion", key: k.value.key, regionId: k.value.regionId, startKey: k.value.startKey, endKey: k.value.endKey };
    case "epochNotMatch":
      return { kind: "EpochNotMatch", message: e.message, currentRegions: k.value.currentRegions };
    case "serverIsBusy":
      return { kind: "ServerIsBusy", reason: k.value.reason, backoffMs: k.value.backoffMs };
    case "staleCommand":
      return { kind: "StaleCommand" };
    case "storeNotMatch":
      return { kind: "StoreNotMatch", requestStoreId: k.value.requestStoreId, actualStoreId: k.value.actualStoreId };
    case "raftEntryTooLarge":
      return { kind: "RaftEntryTooLarge", regionId: k.value.regionId, entrySize: k.value.entrySize };
    default: {
      const never: never = k;
      throw new Error(`unknown errorpb kind ${JSON.stringify(never)}`);
    }
  }
}

