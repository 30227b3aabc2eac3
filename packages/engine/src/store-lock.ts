/**
 * One process per data directory. The lock is an exclusive SQLite lock on `<dir>/LOCK`, held for
 * as long as the process keeps the connection open; the operating system drops it when the
 * process dies (even by SIGKILL), so a crashed store never leaves a stale lock behind.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { EngineError } from "./errors.js";

export class StoreLock {
  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {}

  static acquire(dir: string): StoreLock {
    const file = path.join(dir, "LOCK");
    const infoFile = path.join(dir, "LOCK.owner");
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: 0 });
      db.pragma("locking_mode = EXCLUSIVE");
      db.exec("CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL)");
      // The first write takes the exclusive lock; in EXCLUSIVE mode it is kept until close.
      db.prepare("INSERT OR REPLACE INTO owner (id, pid) VALUES (1, ?)").run(process.pid);
    } catch (e) {
      db?.close();
      let owner = "";
      try {
        owner = ` (held by pid ${fs.readFileSync(infoFile, "utf8").trim()})`;
      } catch {
        /* no owner info */
      }
      throw new EngineError(
        "Locked",
        `data directory ${dir} is in use by another process${owner}: could not lock ${file}. Stop the other store, or start this one with another --data directory.`,
        { cause: e },
      );
    }
    fs.writeFileSync(infoFile, `${process.pid}\n`);
    return new StoreLock(db, file);
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}
