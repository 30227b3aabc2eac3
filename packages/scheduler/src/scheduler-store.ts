/**
 * The scheduler's persistence: one SQLite file (WAL, synchronous=FULL) holding the cluster meta,
 * stores, regions (latest meta per id), the id allocator's and the TSO's high-water marks and the
 * GC safe point. The file is locked exclusively while open: a second scheduler on the same file
 * fails with `Locked`, a damaged file with `Corrupt`; both name the file.
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { metapb } from "@regionkv/proto";
import { SchedulerError } from "./errors.js";
import type { IdMarkStorage } from "./id-allocator.js";
import type { TsoMarkStorage } from "./tso.js";

export const SCHEDULER_DB_FILE = "scheduler.db";
const SCHEMA_VERSION = "1";

const DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stores (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS regions (id TEXT PRIMARY KEY, data BLOB NOT NULL);
`;

type MetaKey = "schema_version" | "cluster_id" | "bootstrapped" | "id_mark" | "tso_mark" | "gc_safe_point";

function fromSqliteError(e: unknown, file: string, doing: string): SchedulerError {
  if (e instanceof SchedulerError) return e;
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
  const msg = e instanceof Error ? e.message : String(e);
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new SchedulerError("Locked", `${file} is in use by another scheduler process (${doing}: ${msg}); stop the other scheduler, or start this one with another --data directory`, { cause: e });
  }
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return new SchedulerError("Corrupt", `${file} is corrupt or not a regionkv scheduler database (${doing}: ${msg}); restore it from a backup or point --data at the right directory`, { cause: e });
  }
  return new SchedulerError("Io", `${file}: ${doing} failed: ${msg}`, { cause: e });
}

export interface SchedulerStoreOptions {
  /** The cluster id to record on first open; default random. */
  newClusterId?: () => bigint;
}

export class SchedulerStore implements IdMarkStorage, TsoMarkStorage {
  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {}

  /** Open (creating if needed) `<dir>/scheduler.db`. */
  static open(dir: string, options: SchedulerStoreOptions = {}): SchedulerStore {
    const file = path.join(dir, SCHEDULER_DB_FILE);
    let db: Database.Database | undefined;
    try {
      fs.mkdirSync(dir, { recursive: true });
      db = new Database(file, { timeout: 0 });
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.exec(DDL);
      const store = new SchedulerStore(db, file);
      const version = store.getMeta("schema_version");
      if (version !== undefined && version !== SCHEMA_VERSION) {
        throw new SchedulerError("Corrupt", `${file} has scheduler schema version ${version}, this build reads ${SCHEMA_VERSION}; use a matching regionkv version`);
      }
      // The first write takes the exclusive lock, held until close.
      store.setMeta("schema_version", SCHEMA_VERSION);
      if (store.getMeta("cluster_id") === undefined) {
        const id = options.newClusterId?.() ?? randomBytes(8).readBigUInt64BE() >> 1n;
        store.setMeta("cluster_id", id.toString());
      }
      return store;
    } catch (e) {
      db?.close();
      throw fromSqliteError(e, file, "opening the scheduler database");
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private run<T>(doing: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw fromSqliteError(e, this.file, doing);
    }
  }

  private getMeta(key: MetaKey): string | undefined {
    return this.run(`reading ${key}`, () => {
      const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
      return row?.value;
    });
  }

  private setMeta(key: MetaKey, value: string): void {
    this.run(`writing ${key}`, () => this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value));
  }

  private getBigMeta(key: MetaKey): bigint {
    const v = this.getMeta(key);
    if (v === undefined) return 0n;
    try {
      return BigInt(v);
    } catch (e) {
      throw new SchedulerError("Corrupt", `${this.file}: ${key} is not a number (${v}); the file is damaged`, { cause: e });
    }
  }

  clusterId(): bigint {
    return this.getBigMeta("cluster_id");
  }

  isBootstrapped(): boolean {
    return this.getMeta("bootstrapped") === "1";
  }

  /** Record the bootstrap (first store and region) in one transaction. */
  saveBootstrap(store: metapb.Store, region: metapb.Region | undefined): void {
    this.run("saving the bootstrap", () =>
      this.db.transaction(() => {
        this.putStore(store);
        if (region) this.putRegion(region);
        this.setMeta("bootstrapped", "1");
      })(),
    );
  }

  loadIdMark(): bigint {
    return this.getBigMeta("id_mark");
  }

  saveIdMark(mark: bigint): void {
    this.setMeta("id_mark", mark.toString());
  }

  loadTsoMark(): bigint {
    return this.getBigMeta("tso_mark");
  }

  saveTsoMark(mark: bigint): void {
    this.setMeta("tso_mark", mark.toString());
  }

  loadGcSafePoint(): bigint {
    return this.getBigMeta("gc_safe_point");
  }

  saveGcSafePoint(sp: bigint): void {
    this.setMeta("gc_safe_point", sp.toString());
  }

  putStore(store: metapb.Store): void {
    this.run(`saving store ${store.id}`, () =>
      this.db.prepare("INSERT OR REPLACE INTO stores (id, data) VALUES (?, ?)").run(store.id.toString(), Buffer.from(metapb.Store.encode(store).finish())),
    );
  }

  loadStores(): metapb.Store[] {
    const rows = this.run("reading stores", () => this.db.prepare("SELECT id, data FROM stores").all() as { id: string; data: Buffer }[]);
    return rows.map((r) => this.decode(metapb.Store, r.data, `store ${r.id}`));
  }

  putRegion(region: metapb.Region): void {
    this.run(`saving region ${region.id}`, () =>
      this.db.prepare("INSERT OR REPLACE INTO regions (id, data) VALUES (?, ?)").run(region.id.toString(), Buffer.from(metapb.Region.encode(region).finish())),
    );
  }

  /** Save `region` and delete the regions it replaced, in one transaction. */
  replaceRegions(region: metapb.Region, removedIds: bigint[]): void {
    this.run(`saving region ${region.id}`, () =>
      this.db.transaction(() => {
        const del = this.db.prepare("DELETE FROM regions WHERE id = ?");
        for (const id of removedIds) del.run(id.toString());
        this.putRegion(region);
      })(),
    );
  }

  loadRegions(): metapb.Region[] {
    const rows = this.run("reading regions", () => this.db.prepare("SELECT id, data FROM regions").all() as { id: string; data: Buffer }[]);
    return rows.map((r) => this.decode(metapb.Region, r.data, `region ${r.id}`));
  }

  private decode<T>(codec: { decode(input: Uint8Array): T }, bytes: Buffer, what: string): T {
    try {
      return codec.decode(bytes);
    } catch (e) {
      throw new SchedulerError("Corrupt", `${this.file}: ${what} does not decode (${e instanceof Error ? e.message : String(e)}); the file is damaged`, { cause: e });
    }
  }
}
