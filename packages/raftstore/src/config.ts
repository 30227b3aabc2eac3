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
  /** A leader reports a peer it has not heard from for this long (ms) as down in its region heartbeats. */
  maxPeerDownMs: number;
  /**
   * A follower or learner that has heard from no leader for this long (ms) asks the scheduler
   * whether it is still a member; if the region moved on without it, it destroys itself.
   */
  maxLeaderMissingMs: number;
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
  /**
   * Bytes of user data (default CF, key + value) above which the split checker asks to split a
   * region. Invariant: regionSplitSize ≤ regionMaxSize.
   */
  regionMaxSize: number;
  /** Target size of each piece of a split: a split key every regionSplitSize bytes. */
  regionSplitSize: number;
  /** Keys (default CF) above which the split checker asks to split. Invariant: regionSplitKeys ≤ regionMaxKeys. */
  regionMaxKeys: number;
  /** Target key count of each piece of a split. */
  regionSplitKeys: number;
  /** Most split keys one split check returns for a region far past the limits (one BatchSplit). */
  batchSplitLimit: number;
  /** Rows the split checker reads per chunk before it yields to the raft worker. */
  splitCheckScanBatch: number;
  /** Load-based split: a region serving more than this many requests per second is hot. */
  loadSplitQpsThreshold: number;
  /** Load-based split: length of one measuring window (ms). */
  loadSplitWindowMs: number;
  /** Load-based split: consecutive hot windows before a split key is chosen. */
  loadSplitWindows: number;
  /** Load-based split: request keys kept per region (reservoir sample). */
  loadSplitSampleSize: number;
  /** Load-based split: fewest samples from which a split key is chosen. Invariant: ≤ loadSplitSampleSize. */
  loadSplitMinSamples: number;
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
  maxPeerDownMs: 5 * 60_000,
  maxLeaderMissingMs: 30_000,
  regionHeartbeatTickInterval: 100,
  storeHeartbeatTickInterval: 100,
  snapGcTickInterval: 600,
  proposalTimeoutMs: 10_000,
  maxRaftEntryBytes: 8 * 1024 * 1024,
  raftMaxSizePerMsg: 1024 * 1024,
  raftMaxInflightMsgs: 256,
  maxPendingProposalsPerPeer: 10_000,
  // TiKV's current defaults (TinyKV used 144/96 MB).
  regionMaxSize: 96 * 1024 * 1024,
  regionSplitSize: 64 * 1024 * 1024,
  regionMaxKeys: 1_440_000,
  regionSplitKeys: 960_000,
  batchSplitLimit: 10,
  splitCheckScanBatch: 1024,
  loadSplitQpsThreshold: 3000,
  loadSplitWindowMs: 1000,
  loadSplitWindows: 3,
  loadSplitSampleSize: 100,
  loadSplitMinSamples: 20,
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
    throw new RaftstoreConfigError(
      `regionSplitSize (${c.regionSplitSize}) must not exceed regionMaxSize (${c.regionMaxSize}): lower --region-split-size or raise --region-max-size`,
    );
  }
  if (c.regionSplitKeys > c.regionMaxKeys) {
    throw new RaftstoreConfigError(
      `regionSplitKeys (${c.regionSplitKeys}) must not exceed regionMaxKeys (${c.regionMaxKeys}): lower --region-split-keys or raise --region-max-keys`,
    );
  }
  if (c.loadSplitMinSamples > c.loadSplitSampleSize) {
    throw new RaftstoreConfigError(`loadSplitMinSamples (${c.loadSplitMinSamples}) must not exceed loadSplitSampleSize (${c.loadSplitSampleSize})`);
  }
  return c;
}
