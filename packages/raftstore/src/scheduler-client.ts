/**
 * What the raftstore needs from the scheduler. The next issue plugs in the gRPC client; tests use
 * a mock. Heartbeat responses (operators) come back through `onRegionHeartbeatResponse`.
 */
import type { metapb, schedulerpb } from "@regionkv/proto";

export interface RegionHeartbeat {
  region: metapb.Region;
  leader: metapb.Peer;
  pendingPeers: metapb.Peer[];
  approximateSize: number;
  approximateKeys: number;
  // The rest is optional for callers that only report membership (tests, tools): absent = none/0.
  /** Peers the leader has not heard from for longer than maxPeerDownMs. */
  downPeers?: schedulerpb.PeerStats[];
  /** Traffic of the region during [intervalStartSec, intervalEndSec) (unix seconds). */
  bytesWritten?: number;
  keysWritten?: number;
  keysRead?: number;
  intervalStartSec?: number;
  intervalEndSec?: number;
  /** The leader's raft term. */
  term?: number;
}

export interface SchedulerClient {
  /** Report a region as seen by its leader. */
  regionHeartbeat(hb: RegionHeartbeat): Promise<void>;
  /** Report the store's statistics. */
  storeHeartbeat(stats: schedulerpb.StoreStats): Promise<void>;
  /** Ids for splitting `region` into `count + 1` regions. */
  askBatchSplit(region: metapb.Region, count: number): Promise<schedulerpb.SplitID[]>;
  /**
   * The region as the scheduler knows it (the stale-peer check). A client without it leaves
   * stale peers to GC messages alone.
   */
  getRegionById?(regionId: bigint): Promise<{ region: metapb.Region } | undefined>;
  /** Look up a store (to resolve its address). */
  getStore(storeId: bigint): Promise<metapb.Store | undefined>;
  /**
   * Register the handler of region heartbeat responses (operator steps for the leader this store
   * hosts). A client without a response channel may leave it out.
   */
  onRegionHeartbeatResponse?(cb: (resp: schedulerpb.RegionHeartbeatResponse) => void): void;
}
