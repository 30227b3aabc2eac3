/**
 * Everything that travels through the router: messages for a peer (by region id) and messages for
 * the store. Workers report back only through these (STYLE.md: workers are a task union plus a
 * runner and never touch peer state directly).
 */
import type { raft_cmdpb, raft_serverpb, schedulerpb } from "@regionkv/proto";
import type { Snapshot } from "@regionkv/raft";
import type { ProposalCallback } from "./proposal.js";

export const PeerTick = { Raft: 0, RaftLogGc: 1, SplitCheck: 2, SchedulerHeartbeat: 3 } as const;
export type PeerTick = (typeof PeerTick)[keyof typeof PeerTick];

export const StoreTick = { SchedulerStoreHeartbeat: 0, SnapGc: 1 } as const;
export type StoreTick = (typeof StoreTick)[keyof typeof StoreTick];

export type PeerMsg =
  /** A raft message from a peer on another store. */
  | { type: "raftMessage"; msg: raft_serverpb.RaftMessage }
  /** A command to propose (or a read to serve), settled through `callback`. */
  | { type: "raftCmd"; request: raft_cmdpb.RaftCmdRequest; callback: ProposalCallback; deadline: number }
  | { type: "tick"; tick: PeerTick }
  /** Begin: a lone voter (or a split piece whose parent led here, `campaign`) campaigns at once. */
  | { type: "start"; campaign?: boolean }
  /** From the region worker: the snapshot asked for by peer storage is ready (or failed). */
  | { type: "snapshotGenerated"; snapshot: Snapshot | undefined; error: string | undefined }
  /**
   * From the split-check worker: the measured size of the region (version `version`) and where to
   * split it (empty: nowhere). `reason` says which rule found the keys (logs).
   */
  | { type: "regionApproximateSize"; bytes: number; keys: number; splitKeys: Buffer[]; version: bigint; reason: string }
  /**
   * From the scheduler worker: the split asked at region version `version` was not made (ids
   * refused, proposal refused or failed at apply); the peer measures again shortly.
   */
  | { type: "splitFailed"; version: bigint; why: string }
  /** From the scheduler worker: the scheduler's region no longer has this peer and is newer than ours. */
  | { type: "stalePeer"; why: string }
  /** From the transport: a snapshot sent to `toPeerId` arrived (ok) or did not. */
  | { type: "snapshotStatus"; toPeerId: number; ok: boolean }
  /** From the raft-log GC worker: the log up to `index` is physically deleted. */
  | { type: "raftLogGcDone"; index: number }
  /** From the scheduler: the answer to this peer's region heartbeat (maybe an operator step). */
  | { type: "heartbeatResponse"; resp: schedulerpb.RegionHeartbeatResponse };

export type StoreMsg =
  /** A raft message for a region that has no peer on this store. */
  | { type: "raftMessage"; msg: raft_serverpb.RaftMessage }
  | { type: "tick"; tick: StoreTick }
  | { type: "start" }
  /** A peer destroyed itself (removed, stale or replaced): take it out of the store. */
  | { type: "peerDestroyed"; regionId: number; peerId: number }
  /** From the region worker: a destroyed peer's data range is deleted. */
  | { type: "regionDataDeleted"; regionId: number };
