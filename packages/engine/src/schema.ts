/**
 * The SQLite schema of a store's database. One database per store; user data of every region in
 * `kv`, each region's raft log and states in their own tables.
 *
 * - kv(cf, key, value): user data; ordered by (cf, key) with memcmp order on the BLOB key.
 * - raft_log(region_id, idx, term, type, data): raft entries; contiguous per region between the
 *   truncated index (exclusive) and the last index in raft_state.
 * - raft_state(region_id, state): raft_serverpb.RaftLocalState (hard state, last index/term).
 * - apply_state(region_id, state): raft_serverpb.RaftApplyState (applied index, truncated state).
 *   Written in the same transaction as the kv effects of the entries it covers.
 * - region_state(region_id, state): raft_serverpb.RegionLocalState (range, epoch, peers, Normal/Tombstone).
 * - meta(key, value): schema version and the store identity.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA_DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
  cf INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY (cf, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raft_log (
  region_id INTEGER NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (region_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raft_state (region_id INTEGER PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS apply_state (region_id INTEGER PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS region_state (region_id INTEGER PRIMARY KEY, state BLOB NOT NULL);
`;
