/**
 * Configuration of the raft transport, both directions: the sending side (`GrpcTransport`: store
 * pipes, reconnects, snapshot sends) and the receiving side (`raftTransportService`: snapshot
 * reassembly limits). One object so a store has one `transport` config section.
 */

export interface TransportConfig {
  // ---- sending raft messages (StorePipe) ----
  /** Messages queued per target store; a send beyond it is dropped (raft is told: unreachable). */
  queueCapacity: number;
  /** Estimated bytes per RaftMessageBatch; more is left for the next batch (a larger single message goes alone). */
  maxBatchBytes: number;
  /** A stream that has not completed its handshake by then counts as a failed connection. */
  connectTimeoutMs: number;
  /** First reconnect delay; doubles per failure in a row. */
  backoffBaseMs: number;
  /** Largest reconnect delay. */
  backoffMaxMs: number;
  /** gRPC keepalive ping interval on the raft channels (detects a peer that vanished without a reset). */
  keepaliveTimeMs: number;
  /** How long a keepalive ping may go unanswered before the connection is dropped. */
  keepaliveTimeoutMs: number;
  /** close(): how long to wait for half-closed streams to be acknowledged before cancelling them. */
  closeGraceMs: number;

  // ---- sending snapshots (SnapshotSender) ----
  /** Payload bytes per SnapshotChunk. */
  snapshotChunkBytes: number;
  /** Snapshots streamed at the same time by this store. */
  maxConcurrentSnapshotSends: number;
  /** Snapshots waiting for a send slot; beyond it a snapshot fails at once (raft retries later). */
  maxQueuedSnapshotSends: number;
  /** Deadline of one whole snapshot send, from the first chunk to the receiver's Done. */
  snapshotSendTimeoutMs: number;

  // ---- receiving (raftTransportService) ----
  /** Largest snapshot (its data bytes) accepted; a larger one fails with INVALID_ARGUMENT. */
  maxSnapshotBytes: number;
  /** Snapshots received at the same time; more fail with RESOURCE_EXHAUSTED (the sender retries). */
  maxConcurrentSnapshotReceives: number;
  /** A snapshot stream with no chunk for this long is failed with DEADLINE_EXCEEDED and its data dropped. */
  snapshotRecvIdleTimeoutMs: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_TRANSPORT_CONFIG: Readonly<TransportConfig> = {
  queueCapacity: 4096,
  maxBatchBytes: 1 * MiB,
  connectTimeoutMs: 5_000,
  backoffBaseMs: 50,
  backoffMaxMs: 5_000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
  closeGraceMs: 1_000,
  snapshotChunkBytes: 1 * MiB,
  maxConcurrentSnapshotSends: 2,
  maxQueuedSnapshotSends: 32,
  snapshotSendTimeoutMs: 10 * 60_000,
  maxSnapshotBytes: 1024 * MiB,
  maxConcurrentSnapshotReceives: 2,
  snapshotRecvIdleTimeoutMs: 30_000,
};

/**
 * gRPC server options a store's `Server` needs for the raft transport: a MsgAppend may carry a
 * raft entry of up to the raftstore's `maxRaftEntryBytes` (8 MiB by default), above grpc-js's
 * 4 MiB default receive limit. Pass them to `new Server(...)` (merge with your own).
 */
export const RAFT_TRANSPORT_SERVER_OPTIONS = {
  "grpc.max_receive_message_length": 64 * MiB,
} as const;

export class TransportConfigError extends Error {
  override readonly name = "TransportConfigError";
  readonly code = "InvalidTransportConfig";
}

/** Defaults filled in and every rule checked; errors name the field. */
export function resolveTransportConfig(partial: Partial<TransportConfig> = {}): TransportConfig {
  const c: TransportConfig = { ...DEFAULT_TRANSPORT_CONFIG, ...partial };
  for (const [k, v] of Object.entries(c)) {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new TransportConfigError(`transport config ${k} must be a positive integer, got ${String(v)}`);
    }
  }
  if (c.backoffMaxMs < c.backoffBaseMs) {
    throw new TransportConfigError(`transport config backoffMaxMs (${c.backoffMaxMs}) must be at least backoffBaseMs (${c.backoffBaseMs})`);
  }
  if (c.snapshotChunkBytes > 4 * MiB - 1024) {
    throw new TransportConfigError(
      `transport config snapshotChunkBytes (${c.snapshotChunkBytes}) must stay below 4 MiB, grpc-js's default receive limit; use 1 MiB`,
    );
  }
  return c;
}
