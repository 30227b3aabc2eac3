/**
 * Reads of the kv table on a given connection, shared by Engine (latest state, main connection)
 * and EngineSnapshot (a pinned read transaction on a reader connection).
 */
import type Database from "better-sqlite3";
import type { KvPair, ScanOptions } from "./snapshot.js";

type Stmt = Database.Statement;


const stmtCache = new WeakMap<Database.Database, Map<string, Stmt>>();

/** A prepared statement for `sql` on `db`, prepared once per connection. */
export function cached(db: Database.Database, sql: string): Stmt {
  let m = stmtCache.get(db);
  if (!m) {
    m = new Map();
    stmtCache.set(db, m);
  }
  let st = m.get(sql);
  if (!st) {
    st = db.prepare(sql);
    m.set(sql, st);
  }
  return st;
}

export function kvGet(db: Database.Database, cf: number, key: Uint8Array): Buffer | undefined {
  const row = cached(db, "SELECT value FROM kv WHERE cf = ? AND key = ?").get(cf, key) as { value: Buffer } | undefined;
  return row?.value;
}

export function kvScan(db: Database.Database, cf: number, start: Uint8Array, end: Uint8Array, opts: ScanOptions): KvPair[] {
  const limit = opts.limit ?? -1;
  const cols = opts.keysOnly ? "key, x'' AS value" : "key, value";
  const bound = end.byteLength === 0 ? "" : " AND key < ?";
  const order = opts.reverse ? "DESC" : "ASC";
  const sql = `SELECT ${cols} FROM kv WHERE cf = ? AND key >= ?${bound} ORDER BY key ${order} LIMIT ?`;
  const args: unknown[] = end.byteLength === 0 ? [cf, start, limit] : [cf, start, end, limit];
  return (cached(db, sql).all(...args) as { key: Buffer; value: Buffer }[]).map((r) => ({ key: r.key, value: r.value }));
}
