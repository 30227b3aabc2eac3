/**
 * A consistent, point-in-time read view of the engine: a read-only connection with an open read
 * transaction (WAL readers see the database as of their first read and nothing committed after).
 * Used for linearizable reads served after ReadIndex, for region snapshot generation and for the
 * split check, none of which may see a half-applied batch.
 */
import type Database from "better-sqlite3";
import { raft_serverpb } from "@regionkv/proto";
import { CF_IDS, type ColumnFamily } from "./column-family.js";
import { EngineError, decodeBytes, fromSqliteError } from "./errors.js";
import { cached, kvGet, kvScan } from "./kv-read.js";

export interface KvPair {
  key: Buffer;
  value: Buffer;
}

export interface ScanOptions {
  /** At most this many pairs (default: no limit). */
  limit?: number;
  /** Descending key order (from the end of the range). */
  reverse?: boolean;
  /** Return empty values. */
  keysOnly?: boolean;
}

export class EngineSnapshot {
  private released = false;

  constructor(
    private readonly conn: Database.Database,
    private readonly file: string,
    private readonly onRelease: (conn: Database.Database) => void,
  ) {
    try {
      conn.exec("BEGIN");
      // The read transaction takes its snapshot at the first read.
      cached(conn, "SELECT count(*) FROM meta").get();
    } catch (e) {
      throw fromSqliteError(e, file, "starting a read snapshot");
    }
  }

  private check(): void {
    if (this.released) throw new EngineError("Closed", `snapshot of ${this.file} was released`);
  }

  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.check();
    return kvGet(this.conn, CF_IDS[cf], key);
  }

  /** Pairs in [start, end) (empty end: no upper bound), in key order. */
  scan(cf: ColumnFamily, start: Uint8Array, end: Uint8Array, opts: ScanOptions = {}): KvPair[] {
    this.check();
    return kvScan(this.conn, CF_IDS[cf], start, end, opts);
  }

  /** The apply state as of this snapshot (generation pairs it with the data it describes). */
  applyState(regionId: number): raft_serverpb.RaftApplyState | undefined {
    this.check();
    const row = cached(this.conn, "SELECT state FROM apply_state WHERE region_id = ?").get(regionId) as { state: Buffer } | undefined;
    return row ? decodeBytes(row.state, raft_serverpb.RaftApplyState, this.file, `apply state of region ${regionId}`) : undefined;
  }

  regionState(regionId: number): raft_serverpb.RegionLocalState | undefined {
    this.check();
    const row = cached(this.conn, "SELECT state FROM region_state WHERE region_id = ?").get(regionId) as { state: Buffer } | undefined;
    return row ? decodeBytes(row.state, raft_serverpb.RegionLocalState, this.file, `region state of region ${regionId}`) : undefined;
  }

  /** Total key+value bytes and key count of cf in [start, end). */
  approximateSize(cf: ColumnFamily, start: Uint8Array, end: Uint8Array): { bytes: number; keys: number } {
    this.check();
    const bound = end.byteLength === 0 ? "" : " AND key < ?";
    const args: unknown[] = end.byteLength === 0 ? [CF_IDS[cf], start] : [CF_IDS[cf], start, end];
    const row = cached(this.conn, `SELECT coalesce(sum(length(key) + length(value)), 0) AS bytes, count(*) AS keys FROM kv WHERE cf = ? AND key >= ?${bound}`)
      .get(...args) as { bytes: number; keys: number };
    return { bytes: Number(row.bytes), keys: Number(row.keys) };
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      this.conn.exec("COMMIT");
    } catch {
      /* a read transaction cannot fail to end in a way that matters */
    }
    this.onRelease(this.conn);
  }
}
