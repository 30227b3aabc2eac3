/**
 * How a store reaches other stores. The raftstore only calls `send`; the implementation (gRPC in
 * the server, a simulated network in tests) batches and delivers. `send` never blocks: when the
 * message cannot be queued (the peer is unreachable or its queue is full) it returns false and
 * the raftstore reports the peer unreachable to raft.
 */
import type { raft_serverpb } from "@regionkv/proto";

export interface Transport {
  /** Queue a raft message for its target store. Returns false if it was dropped. */
  send(msg: raft_serverpb.RaftMessage): boolean;
  /** Called once per raft worker round, after all sends: push queued batches out now. */
  flush(): void;
}

/**
 * A snapshot was delivered (or not); the transport reports this back so raft can resume
 * (RaftStore implements it). A MsgSnapshot counts as delivered once the receiving store has the
 * whole message.
 */
export interface SnapshotReporter {
  reportSnapshotStatus(regionId: number, toPeerId: number, ok: boolean): void;
}
