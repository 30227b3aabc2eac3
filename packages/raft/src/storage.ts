import type { ConfState, Entry, HardState, Snapshot } from "./types.js";

/**
 * What the raft core reads from stable storage. The caller owns writing: it persists a Ready's
 * entries, hard state and snapshot, then calls `advance`. Implementations: `MemoryStorage` here,
 * the SQLite-backed peer storage in the raftstore.
 *
 * Errors are thrown as `RaftError` with codes "Compacted", "Unavailable" and
 * "SnapshotTemporarilyUnavailable"; any other exception is a storage failure and stops the peer.
 */
export interface Storage {
  /** The saved hard state and membership, read once when the node starts. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), at most `maxSize` bytes of them but always at least one when lo < hi.
   * Throws "Compacted" if lo ≤ the snapshot index, "Unavailable" if hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /**
   * The term of entry `i`, for i in [firstIndex() - 1, lastIndex()] (the entry just before the
   * first one is kept as the snapshot's index and term). Throws "Compacted" below, "Unavailable" above.
   */
  term(i: number): number;
  /** Index of the last entry in storage (the snapshot index if there is none). */
  lastIndex(): number;
  /** Index of the first entry that is still available (snapshot index + 1). */
  firstIndex(): number;
  /**
   * The most recent snapshot. May throw "SnapshotTemporarilyUnavailable" while one is being
   * built; raft then tries again later.
   */
  snapshot(): Snapshot;
}
