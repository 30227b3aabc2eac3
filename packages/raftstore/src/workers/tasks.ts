/**
 * Background work, one union for all workers; each worker is a runner for its own variants and
 * reports back through the router only.
 */
import type { metapb } from "@regionkv/proto";
import type { RegionHeartbeat } from "../scheduler-client.js";

export type WorkerTask =
  /** Region worker: build a snapshot of the region from a consistent read. */
  | { worker: "region"; kind: "generate"; regionId: number }
  /** Region worker: delete a destroyed peer's data in [startKey, endKey). */
  | { worker: "region"; kind: "destroy"; regionId: number; startKey: Buffer; endKey: Buffer }
  /** Raft-log GC worker: delete entries [lo, hi) of the region's log. */
  | { worker: "raftLogGc"; regionId: number; lo: number; hi: number }
  /**
   * Split-check worker: measure the region and find split keys — `size`: by the size and key-count
   * limits; `half`: the key that halves it (a scheduler's split step without keys).
   */
  | { worker: "splitCheck"; regionId: number; region: metapb.Region; policy: "size" | "half" }
  /** Scheduler-task worker: ask for ids for a split at `splitKeys`, then propose the BatchSplit to the leader. */
  | { worker: "scheduler"; kind: "askBatchSplit"; region: metapb.Region; leader: metapb.Peer; splitKeys: Buffer[]; reason: string }
  /** Scheduler-task worker: a leader's region heartbeat. */
  | { worker: "scheduler"; kind: "regionHeartbeat"; heartbeat: RegionHeartbeat }
  /** Scheduler-task worker: is this peer still a member of its region (it has heard from no leader for long)? */
  | { worker: "scheduler"; kind: "checkStalePeer"; regionId: number; peerId: number; epoch: metapb.RegionEpoch }
  /** Scheduler-task worker: the store heartbeat. */
  | { worker: "scheduler"; kind: "storeHeartbeat" };
