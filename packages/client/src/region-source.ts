/**
 * Where the client learns the cluster's map: regions by key or id, and store addresses. The
 * scheduler's gRPC client (`SchedulerRpcClient` from `@regionkv/scheduler/client`) satisfies this
 * interface structurally; tests use an in-memory fake. Kept narrow so the raw client depends on
 * what it uses and nothing else.
 */
import type { metapb } from "@regionkv/proto";

/** A region and the peer the scheduler last saw leading it (undefined while unknown). */
export interface RegionWithLeader {
  region: metapb.Region;
  leader: metapb.Peer | undefined;
}

export interface RegionSource {
  /** A store's metadata (its `address` is "host:port"), or undefined if the scheduler has no such store. */
  getStore(storeId: bigint): Promise<metapb.Store | undefined>;
  /** The region containing `key`, or undefined if none does (e.g. the cluster is not bootstrapped). */
  getRegion(key: Uint8Array): Promise<RegionWithLeader | undefined>;
  /** A region by id, or undefined if the scheduler does not know it (any more). */
  getRegionById(regionId: bigint): Promise<RegionWithLeader | undefined>;
  /**
   * Up to `limit` regions in key order, the first one containing `startKey`, stopping before
   * `endKey` (empty = no bound).
   */
  scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): Promise<RegionWithLeader[]>;
  /** Release connections. Called once, by `RawClient.close()`. */
  close(): void;
}
