/**
 * Reading and writing MVCC data (tinykv.md §4.2): `MvccReader` over a consistent engine view,
 * `MvccTxn` = a reader at one start timestamp + the writes of one command, buffered in a
 * WriteBatch that the command proposes as one raft command.
 *
 * Lookups (the write CF holds encodeKey(key, commitTs) → Write, newest first per key):
 * - value at ts: the newest Put/Delete committed at or before ts (rollback and lock records are
 *   skipped), its value read from the default CF at encodeKey(key, write.startTs);
 * - the write of transaction T on a key: among the writes committed at or after T's start
 *   (commit ≥ start always), the one whose startTs is T's;
 * - the most recent write: the first record of the key.
 */
import { WriteBatch, type EngineSnapshot } from "@regionkv/engine";
import { TS_MAX, encodeBytes, encodeKey, decodeKey } from "./codec.js";
import { WriteKind, decodeLock, decodeWrite, encodeLock, encodeWrite, type Lock, type Write } from "./records.js";

/** The reads the MVCC layer needs from an engine snapshot. */
export type MvccView = Pick<EngineSnapshot, "get" | "scan">;

/** A write record with the commit timestamp it sits at. */
export interface CommittedWrite {
  write: Write;
  commitTs: bigint;
}

/** The smallest key after every version of `key` in the write/txn_default CFs. */
export function afterAllVersions(key: Uint8Array): Buffer {
  return Buffer.concat([encodeBytes(key), Buffer.alloc(8, 0xff), Buffer.from([0])]);
}

export class MvccReader {
  constructor(readonly view: MvccView) {}

  getLock(key: Uint8Array): Lock | undefined {
    const v = this.view.get("lock", key);
    return v ? decodeLock(v) : undefined;
  }

  /** Writes of `key` committed in [lowTs, highTs], newest first. */
  private writes(key: Uint8Array, highTs: bigint, lowTs: bigint, limit?: number): CommittedWrite[] {
    const end = lowTs === 0n ? afterAllVersions(key) : encodeKey(key, lowTs - 1n);
    const rows = this.view.scan("write", encodeKey(key, highTs), end, limit !== undefined ? { limit } : {});
    return rows.map((r) => ({ write: decodeWrite(r.value), commitTs: decodeKey(r.key).ts }));
  }

  /** The value of `key` as of `ts`: undefined if none, or if the newest visible write deletes it. */
  getValue(key: Uint8Array, ts: bigint): Buffer | undefined {
    const end = afterAllVersions(key);
    let from = encodeKey(key, ts);
    for (;;) {
      const rows = this.view.scan("write", from, end, { limit: 16 });
      for (const r of rows) {
        const w = decodeWrite(r.value);
        if (w.kind === WriteKind.Put) {
          const v = this.view.get("txn_default", encodeKey(key, w.startTs));
          if (v === undefined) throw new Error(`MVCC data missing: key ${Buffer.from(key).toString("hex")} has a Put write at ${decodeKey(r.key).ts} for start ts ${w.startTs} but no value`);
          return v;
        }
        if (w.kind === WriteKind.Delete) return undefined;
        // Rollback and Lock records carry no value: look further back.
      }
      if (rows.length < 16) return undefined;
      from = Buffer.concat([rows[rows.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** The write transaction `startTs` left on `key` (commit or rollback), if any. */
  currentWrite(key: Uint8Array, startTs: bigint): CommittedWrite | undefined {
    // A rollback may also be a flag on another transaction's commit record at startTs (records.ts).
    return this.writes(key, TS_MAX, startTs).find((w) => w.write.startTs === startTs || (w.commitTs === startTs && w.write.overlappedRollback === true));
  }

  /** The write record at exactly (key, ts), if any. */
  writeAt(key: Uint8Array, ts: bigint): Write | undefined {
    const v = this.view.get("write", encodeKey(key, ts));
    return v ? decodeWrite(v) : undefined;
  }

  /** The newest write of `key`, whatever its timestamp. */
  mostRecentWrite(key: Uint8Array): CommittedWrite | undefined {
    return this.writes(key, TS_MAX, 0n, 1)[0];
  }
}

/** One command's view and writes at `startTs`. */
export class MvccTxn {
  readonly reader: MvccReader;
  readonly writes = new WriteBatch();

  constructor(
    view: MvccView,
    readonly startTs: bigint,
  ) {
    this.reader = new MvccReader(view);
  }

  putLock(key: Uint8Array, lock: Lock): void {
    this.writes.put("lock", key, encodeLock(lock));
  }

  deleteLock(key: Uint8Array): void {
    this.writes.delete("lock", key);
  }

  putValue(key: Uint8Array, value: Uint8Array): void {
    this.writes.put("txn_default", encodeKey(key, this.startTs), value);
  }

  deleteValue(key: Uint8Array): void {
    this.writes.delete("txn_default", encodeKey(key, this.startTs));
  }

  putWrite(key: Uint8Array, commitTs: bigint, write: Write): void {
    this.writes.put("write", encodeKey(key, commitTs), encodeWrite(write));
  }

  getValue(key: Uint8Array): Buffer | undefined {
    return this.reader.getValue(key, this.startTs);
  }

  currentWrite(key: Uint8Array): CommittedWrite | undefined {
    return this.reader.currentWrite(key, this.startTs);
  }

  mostRecentWrite(key: Uint8Array): CommittedWrite | undefined {
    return this.reader.mostRecentWrite(key);
  }
}
