/**
 * Raftstore configuration. Every interval is a number of base ticks (the tick driver turns one
 * timer of `raftBaseTickMs` into all of them), so tests can drive time tick by tick.
 */

export interface RaftstoreConfig {
  /** Milliseconds per base tick in production (the one timer). */
  raftBaseTickMs: number;
  /** Base ticks between leader heartbeats. */
  raftHeartbeatTicks: number;
  /** Base ticks before a follower campaigns; randomized in [n, 2n). */
  raftElectionTimeoutTicks: number;
  /** Base ticks between raft-log GC checks. */
  raftLogGcTickInterval: number;
  /** Compact the log when applied − truncated exceeds this many entries. */
  raftLogGcCountLimit: number;
  /** ... or when the log holds more than this many bytes (estimated from appended sizes). */
  raftLogGcSizeLimit: number;
  /** Base ticks between split checks of a region (its size and key count are measured). */
  splitCheckTickInterval: number;
  /** Base ticks between a leader's region heartbeats to the scheduler. */
  regionHeartbeatTickInterval: number;
  /** Base ticks between store heartbeats. */
  storeHeartbeatTickInterval: number;
  /** Base ticks between snapshot garbage collections. */
  snapGcTickInterval: number;
  /** Default deadline of a proposal or read, in ms of wall (or simulated) time. */
  proposalTimeoutMs: number;
  /** Largest raft command accepted (serialized bytes); larger ones fail with RaftEntryTooLarge. */
  maxRaftEntryBytes: number;
  /** Bytes of entries per append message. */
  raftMaxSizePerMsg: number;
  /** Append messages in flight per follower. */
  raftMaxInflightMsgs: number;
  /** Pending proposals per peer before new ones are refused with ServerIsBusy. */
  maxPendingProposalsPerPeer: number;
  /** Region size above which the split checker asks to split (reported only in this issue). */
  regionMaxSize: number;
  /** Target size of each half of a split. */
  regionSplitSize: number;
  /** Entries kept in each peer's in-memory log cache (served to followers without reading SQLite). */
  entryCacheLimit: number;
}

export const DEFAULT_RAFTSTORE_CONFIG: RaftstoreConfig = {
  raftBaseTickMs: 100,
  raftHeartbeatTicks: 2,
  raftElectionTimeoutTicks: 10,
  raftLogGcTickInterval: 100,
  raftLogGcCountLimit: 10_000,
  raftLogGcSizeLimit: 64 * 1024 * 1024,
  splitCheckTickInterval: 100,
  regionHeartbeatTickInterval: 100,
  storeHeartbeatTickInterval: 100,
  snapGcTickInterval: 600,
  proposalTimeoutMs: 10_000,
  maxRaftEntryBytes: 8 * 1024 * 1024,
  raftMaxSizePerMsg: 1024 * 1024,
  raftMaxInflightMsgs: 256,
  maxPendingProposalsPerPeer: 10_000,
  regionMaxSize: 144 * 1024 * 1024,
  regionSplitSize: 96 * 1024 * 1024,
  entryCacheLimit: 4096,
};

export class RaftstoreConfigError extends Error {
  override readonly name = "RaftstoreConfigError";
}

/** Defaults filled in and every rule checked; errors name the field. */
export function resolveRaftstoreConfig(partial: Partial<RaftstoreConfig> = {}): RaftstoreConfig {
  const c: RaftstoreConfig = { ...DEFAULT_RAFTSTORE_CONFIG, ...partial };
  for (const [k, v] of Object.entries(c)) {
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || !Number.isInteger(v)) {
      throw new RaftstoreConfigError(`raftstore config ${k} must be a positive integer, got ${String(v)}`);
    }
  }
  if (c.raftElectionTimeoutTicks <= c.raftHeartbeatTicks) {
    throw new RaftstoreConfigError(
      `raftElectionTimeoutTicks (${c.raftElectionTimeoutTicks}) must be greater than raftHeartbeatTicks (${c.raftHeartbeatTicks})`,
    );
  }
  if (c.regionSplitSize > c.regionMaxSize) {
    throw new RaftstoreConfigError(`regionSplitSize (${c.regionSplitSize}) must not exceed regionMaxSize (${c.regionMaxSize})`);
  }
  return c;
}
