/**
 * The store's storage engine: one SQLite database (WAL) per store, holding every region's user
 * data, raft log and states (schema.ts). Writes go through `WriteBatch`es, each one SQLite
 * transaction; reads of the latest committed state go through the engine, consistent
 * point-in-time reads through `snapshot()`.
 *
 * Durability: `write(batch, { sync: true })` commits with synchronous=FULL (fsync of the WAL).
 * Commits become durable in order (the WAL is sequential), so an unsynced apply batch followed by
 * a synced raft batch is durable as a whole once the latter returns. The raftstore syncs raft log
 * writes (entries, hard state) and leaves apply batches unsynced: they are redone from the log.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { raft_serverpb } from "@regionkv/proto";
import { CF_IDS, type ColumnFamily } from "./column-family.js";
import { EngineError, decodeBytes, fromSqliteError, type Decoder } from "./errors.js";
import { SCHEMA_DDL, SCHEMA_VERSION } from "./schema.js";
import { kvGet, kvScan } from "./kv-read.js";
import { EngineSnapshot, type KvPair, type ScanOptions } from "./snapshot.js";
import { StoreLock } from "./store-lock.js";
import type { LogEntry, WriteBatch } from "./write-batch.js";

export const DB_FILE = "store.db";
/** Written once the database exists: from then on a missing database file is an error, not a fresh start. */
export const MARKER_FILE = "REGIONKV";

export interface EngineOptions {
  /** Create the directory and database if they do not exist. Default true. */
  create?: boolean;
  /** Run SQLite's quick_check at open (reads the whole file). Default false. */
  verify?: boolean;
  /** SQLite page cache of the main connection, in MiB. Default 64. */
  cacheMiB?: number;
}

export interface WriteStats {
  ops: number;
  bytes: number;
  durationMs: number;
  synced: boolean;
}

type Stmt = Database.Statement;

/** Prepared statements for writes and latest-state reads, created once per engine. */
interface Statements {
  put: Stmt;
  del: Stmt;
  delRange: Stmt;
  delFrom: Stmt;
  appendLog: Stmt;
  truncLog: Stmt;
  delLogRange: Stmt;
  setRaft: Stmt;
  setApply: Stmt;
  setRegion: Stmt;
  delRaftState: Stmt;
  delApplyState: Stmt;
  delLogAll: Stmt;
  setMeta: Stmt;
  getMeta: Stmt;
  getRaft: Stmt;
  getApply: Stmt;
  getRegion: Stmt;
  allRegions: Stmt;
  logRange: Stmt;
  logTerm: Stmt;
}

export class Engine {
  private closed = false;
  private syncMode: "FULL" | "NORMAL" = "FULL";
  private readonly st: Statements;
  private readonly readPool: Database.Database[] = [];
  private readonly applyOps: (ops: WriteBatch["ops"]) => void;

  private constructor(
    readonly dir: string,
    readonly file: string,
    private readonly db: Database.Database,
    private readonly lock: StoreLock,
  ) {
    this.st = prepareStatements(db);
    this.applyOps = db.transaction((ops: WriteBatch["ops"]) => {
      for (const op of ops) this.applyOp(op);
    });
  }

  /**
   * Open (or create) the engine in `dir`. Throws EngineError: Locked when another process has
   * the directory, Missing when the directory was initialized but the database file is gone,
   * Corrupt when the file is not a readable regionkv database, SchemaMismatch on a version skew.
   */
  static open(dir: string, opts: EngineOptions = {}): Engine {
    const create = opts.create ?? true;
    const file = path.join(dir, DB_FILE);
    if (!fs.existsSync(dir)) {
      if (!create) throw new EngineError("Missing", `data directory ${dir} does not exist`);
      fs.mkdirSync(dir, { recursive: true });
    }
    const lock = StoreLock.acquire(dir);
    try {
      const initialized = fs.existsSync(path.join(dir, MARKER_FILE));
      if (!fs.existsSync(file)) {
        if (initialized) {
          throw new EngineError(
            "Missing",
            `data file ${file} is missing but ${dir} was initialized as a store; restore the file, or remove the directory to start this store empty (its data must then come from replicas)`,
          );
        }
        if (!create) {
          throw new EngineError("Missing", `data file ${file} does not exist: ${dir} is not a store's data directory; check the --data path, or allow creating a new store there`);
        }
      }
      let db: Database.Database | undefined;
      try {
        db = new Database(file, { timeout: 5000 });
        // Larger pages suit the raft log's blobs and batch writes; only a new database takes it.
        db.pragma("page_size = 16384");
        db.pragma(`cache_size = -${Math.round((opts.cacheMiB ?? 64) * 1024)}`);
        const mode = db.pragma("journal_mode = WAL", { simple: true });
        if (String(mode).toLowerCase() !== "wal") throw new Error(`could not enable WAL (journal_mode=${String(mode)})`);
        db.pragma("synchronous = FULL");
        // Check the version before touching the schema: a newer version's file stays as it was.
        const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
        const v = hasMeta ? (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: Buffer } | undefined) : undefined;
        if (v && v.value.toString() !== String(SCHEMA_VERSION)) {
          throw new EngineError(
            "SchemaMismatch",
            `${file} has schema version ${v.value.toString()}, this build understands ${SCHEMA_VERSION}; run the regionkv version that wrote it`,
          );
        }
        db.exec(SCHEMA_DDL);
        if (opts.verify) {
          const res = db.pragma("quick_check", { simple: true });
          if (res !== "ok") throw new EngineError("Corrupt", `${file} failed SQLite's quick_check: ${String(res)}; restore it from a replica or a backup`);
        }
        if (!v) db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(Buffer.from(String(SCHEMA_VERSION)));
      } catch (e) {
        // Close the half-opened connection: left open it would keep the file, WAL and shm open.
        db?.close();
        throw fromSqliteError(e, file, "opening the database");
      }
      if (!initialized) fs.writeFileSync(path.join(dir, MARKER_FILE), `regionkv store data directory (schema ${SCHEMA_VERSION})\n`);
      return new Engine(dir, file, db, lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.readPool) r.close();
    this.readPool.length = 0;
    this.db.close();
    this.lock.release();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private checkOpen(): void {
    if (this.closed) throw new EngineError("Closed", `engine for ${this.file} is closed`);
  }

  // ---- writes -------------------------------------------------------------------------

  /** Commit `batch` atomically. With `sync`, it is on disk when this returns (fsync). */
  write(batch: WriteBatch, opts: { sync?: boolean } = {}): WriteStats {
    this.checkOpen();
    const sync = opts.sync ?? true;
    const t0 = performance.now();
    if (!batch.isEmpty) {
      const mode = sync ? "FULL" : "NORMAL";
      try {
        if (mode !== this.syncMode) {
          this.db.pragma(`synchronous = ${mode}`);
          this.syncMode = mode;
        }
        this.applyOps(batch.ops);
      } catch (e) {
        throw fromSqliteError(e, this.file, "writing a batch");
      }
    }
    return { ops: batch.ops.length, bytes: batch.bytes, durationMs: performance.now() - t0, synced: sync };
  }

  private applyOp(op: WriteBatch["ops"][number]): void {
    const s = this.st;
    switch (op.kind) {
      case "put":
        s.put.run(op.cf, op.key, op.value);
        return;
      case "delete":
        s.del.run(op.cf, op.key);
        return;
      case "deleteRange":
        if (op.end.byteLength === 0) s.delFrom.run(op.cf, op.start);
        else s.delRange.run(op.cf, op.start, op.end);
        return;
      case "appendLog":
        for (const e of op.entries) s.appendLog.run(op.regionId, e.index, e.term, e.type, e.data);
        return;
      case "truncateLogFrom":
        s.truncLog.run(op.regionId, op.from);
        return;
      case "deleteLogRange":
        s.delLogRange.run(op.regionId, op.lo, op.hi);
        return;
      case "setRaftState":
        s.setRaft.run(op.regionId, op.state);
        return;
      case "setApplyState":
        s.setApply.run(op.regionId, op.state);
        return;
      case "setRegionState":
        s.setRegion.run(op.regionId, op.state);
        return;
      case "clearRaftMeta":
        s.delLogAll.run(op.regionId);
        s.delRaftState.run(op.regionId);
        s.delApplyState.run(op.regionId);
        return;
      case "setMeta":
        s.setMeta.run(op.key, op.value);
        return;
      default: {
        const never: never = op;
        throw new Error(`unknown write op ${JSON.stringify(never)}`);
      }
    }
  }

  // ---- latest-state reads ---------------------------------------------------------------

  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    return kvGet(this.db, CF_IDS[cf], key);
  }

  scan(cf: ColumnFamily, start: Uint8Array, end: Uint8Array, opts: ScanOptions = {}): KvPair[] {
    this.checkOpen();
    return kvScan(this.db, CF_IDS[cf], start, end, opts);
  }

  getMeta(key: string): Buffer | undefined {
    this.checkOpen();
    return (this.st.getMeta.get(key) as { value: Buffer } | undefined)?.value;
  }

  getRaftState(regionId: number): raft_serverpb.RaftLocalState | undefined {
    this.checkOpen();
    return decodeState(this.st.getRaft, regionId, raft_serverpb.RaftLocalState, this.file, "raft state");
  }

  getApplyState(regionId: number): raft_serverpb.RaftApplyState | undefined {
    this.checkOpen();
    return decodeState(this.st.getApply, regionId, raft_serverpb.RaftApplyState, this.file, "apply state");
  }

  getRegionState(regionId: number): raft_serverpb.RegionLocalState | undefined {
    this.checkOpen();
    return decodeState(this.st.getRegion, regionId, raft_serverpb.RegionLocalState, this.file, "region state");
  }

  /** Every region's local state (start-up loads peers from these). */
  allRegionStates(): Map<number, raft_serverpb.RegionLocalState> {
    this.checkOpen();
    const out = new Map<number, raft_serverpb.RegionLocalState>();
    for (const row of this.st.allRegions.iterate() as IterableIterator<{ region_id: number; state: Buffer }>) {
      out.set(Number(row.region_id), decodeBytes(row.state, raft_serverpb.RegionLocalState, this.file, `region state of region ${row.region_id}`));
    }
    return out;
  }

  /** Log entries [lo, hi) of a region, stopping once `maxBytes` of data is reached (at least one). */
  logEntries(regionId: number, lo: number, hi: number, maxBytes: number): LogEntry[] {
    this.checkOpen();
    const out: LogEntry[] = [];
    let size = 0;
    for (const row of this.st.logRange.iterate(regionId, lo, hi) as IterableIterator<{ idx: number; term: number; type: number; data: Buffer }>) {
      size += row.data.byteLength + 24;
      if (out.length > 0 && size > maxBytes) break;
      out.push({ index: Number(row.idx), term: Number(row.term), type: Number(row.type), data: row.data });
    }
    return out;
  }

  /** The term of a region's log entry `idx`, or undefined if it is not stored. */
  logTerm(regionId: number, idx: number): number | undefined {
    this.checkOpen();
    const row = this.st.logTerm.get(regionId, idx) as { term: number } | undefined;
    return row === undefined ? undefined : Number(row.term);
  }

  // ---- snapshots ----------------------------------------------------------------------

  /**
   * A consistent point-in-time view (its own connection with an open read transaction). Writes
   * committed after this call are invisible to it. Release it when done: it pins the WAL.
   */
  snapshot(): EngineSnapshot {
    this.checkOpen();
    const conn = this.readPool.pop() ?? this.openReader();
    return new EngineSnapshot(conn, this.file, (c) => {
      if (this.closed) c.close();
      else this.readPool.push(c);
    });
  }

  private openReader(): Database.Database {
    try {
      const c = new Database(this.file, { readonly: true, fileMustExist: true, timeout: 5000 });
      return c;
    } catch (e) {
      throw fromSqliteError(e, this.file, "opening a read connection");
    }
  }

  /** Size of the database file and its WAL, in bytes (for store heartbeats). */
  usedBytes(): number {
    let n = 0;
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        n += fs.statSync(f).size;
      } catch {
        /* absent */
      }
    }
    return n;
  }
}

function prepareStatements(db: Database.Database): Statements {
  return {
    put: db.prepare("INSERT OR REPLACE INTO kv (cf, key, value) VALUES (?, ?, ?)"),
    del: db.prepare("DELETE FROM kv WHERE cf = ? AND key = ?"),
    delRange: db.prepare("DELETE FROM kv WHERE cf = ? AND key >= ? AND key < ?"),
    delFrom: db.prepare("DELETE FROM kv WHERE cf = ? AND key >= ?"),
    appendLog: db.prepare("INSERT OR REPLACE INTO raft_log (region_id, idx, term, type, data) VALUES (?, ?, ?, ?, ?)"),
    truncLog: db.prepare("DELETE FROM raft_log WHERE region_id = ? AND idx >= ?"),
    delLogRange: db.prepare("DELETE FROM raft_log WHERE region_id = ? AND idx >= ? AND idx < ?"),
    setRaft: db.prepare("INSERT OR REPLACE INTO raft_state (region_id, state) VALUES (?, ?)"),
    setApply: db.prepare("INSERT OR REPLACE INTO apply_state (region_id, state) VALUES (?, ?)"),
    setRegion: db.prepare("INSERT OR REPLACE INTO region_state (region_id, state) VALUES (?, ?)"),
    delRaftState: db.prepare("DELETE FROM raft_state WHERE region_id = ?"),
    delApplyState: db.prepare("DELETE FROM apply_state WHERE region_id = ?"),
    delLogAll: db.prepare("DELETE FROM raft_log WHERE region_id = ?"),
    setMeta: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
    getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
    getRaft: db.prepare("SELECT state FROM raft_state WHERE region_id = ?"),
    getApply: db.prepare("SELECT state FROM apply_state WHERE region_id = ?"),
    getRegion: db.prepare("SELECT state FROM region_state WHERE region_id = ?"),
    allRegions: db.prepare("SELECT region_id, state FROM region_state ORDER BY region_id"),
    logRange: db.prepare("SELECT idx, term, type, data FROM raft_log WHERE region_id = ? AND idx >= ? AND idx < ? ORDER BY idx"),
    logTerm: db.prepare("SELECT term FROM raft_log WHERE region_id = ? AND idx = ?"),
  };
}

function decodeState<T>(stmt: Stmt, regionId: number, codec: Decoder<T>, file: string, what: string): T | undefined {
  const row = stmt.get(regionId) as { state: Buffer } | undefined;
  return row ? decodeBytes(row.state, codec, file, `${what} of region ${regionId}`) : undefined;
}
