import { raft_serverpb } from "@regionkv/proto";
import { CF_IDS, type ColumnFamily } from "./column-family.js";

/** A raft log entry as the engine stores it (the raft core's Entry, minus nothing). */
export interface LogEntry {
  index: number;
  term: number;
  /** EntryType: 0 normal, 1 conf change. */
  type: number;
  data: Uint8Array;
}

/** One operation of a write batch. Applied in order, all in one SQLite transaction. */
export type WriteOp =
  | { kind: "put"; cf: number; key: Uint8Array; value: Uint8Array }
  | { kind: "delete"; cf: number; key: Uint8Array }
  /** Delete keys in [start, end); an empty `end` means no upper bound. */
  | { kind: "deleteRange"; cf: number; start: Uint8Array; end: Uint8Array }
  | { kind: "appendLog"; regionId: number; entries: readonly LogEntry[] }
  /** Delete log entries with index ≥ from (a conflicting suffix being replaced). */
  | { kind: "truncateLogFrom"; regionId: number; from: number }
  /** Delete log entries in [lo, hi) (raft-log GC). */
  | { kind: "deleteLogRange"; regionId: number; lo: number; hi: number }
  | { kind: "setRaftState"; regionId: number; state: Uint8Array }
  | { kind: "setApplyState"; regionId: number; state: Uint8Array }
  | { kind: "setRegionState"; regionId: number; state: Uint8Array }
  /** Remove a region's raft log, raft state and apply state (its region state is written separately). */
  | { kind: "clearRaftMeta"; regionId: number }
  | { kind: "setMeta"; key: string; value: Uint8Array };

/**
 * Writes collected to commit atomically with `Engine.write`. Nothing touches the database until
 * then; a batch may be reused after `clear()`.
 */
export class WriteBatch {
  readonly ops: WriteOp[] = [];
  /** Approximate payload bytes (keys, values, entry data), for metrics and size limits. */
  bytes = 0;

  get isEmpty(): boolean {
    return this.ops.length === 0;
  }

  put(cf: ColumnFamily, key: Uint8Array, value: Uint8Array): this {
    this.ops.push({ kind: "put", cf: CF_IDS[cf], key, value });
    this.bytes += key.byteLength + value.byteLength;
    return this;
  }

  delete(cf: ColumnFamily, key: Uint8Array): this {
    this.ops.push({ kind: "delete", cf: CF_IDS[cf], key });
    this.bytes += key.byteLength;
    return this;
  }

  deleteRange(cf: ColumnFamily, start: Uint8Array, end: Uint8Array): this {
    this.ops.push({ kind: "deleteRange", cf: CF_IDS[cf], start, end });
    this.bytes += start.byteLength + end.byteLength;
    return this;
  }

  appendLog(regionId: number, entries: readonly LogEntry[]): this {
    if (entries.length === 0) return this;
    this.ops.push({ kind: "appendLog", regionId, entries });
    for (const e of entries) this.bytes += e.data.byteLength + 16;
    return this;
  }

  truncateLogFrom(regionId: number, from: number): this {
    this.ops.push({ kind: "truncateLogFrom", regionId, from });
    return this;
  }

  deleteLogRange(regionId: number, lo: number, hi: number): this {
    if (hi > lo) this.ops.push({ kind: "deleteLogRange", regionId, lo, hi });
    return this;
  }

  setRaftState(regionId: number, state: raft_serverpb.RaftLocalState): this {
    const bytes = raft_serverpb.RaftLocalState.encode(state).finish();
    this.ops.push({ kind: "setRaftState", regionId, state: bytes });
    this.bytes += bytes.byteLength;
    return this;
  }

  setApplyState(regionId: number, state: raft_serverpb.RaftApplyState): this {
    const bytes = raft_serverpb.RaftApplyState.encode(state).finish();
    this.ops.push({ kind: "setApplyState", regionId, state: bytes });
    this.bytes += bytes.byteLength;
    return this;
  }

  setRegionState(regionId: number, state: raft_serverpb.RegionLocalState): this {
    const bytes = raft_serverpb.RegionLocalState.encode(state).finish();
    this.ops.push({ kind: "setRegionState", regionId, state: bytes });
    this.bytes += bytes.byteLength;
    return this;
  }

  clearRaftMeta(regionId: number): this {
    this.ops.push({ kind: "clearRaftMeta", regionId });
    return this;
  }

  setMeta(key: string, value: Uint8Array): this {
    this.ops.push({ kind: "setMeta", key, value });
    this.bytes += key.length + value.byteLength;
    return this;
  }

  /**
   * What this batch will leave at `key` in `cf` once committed, judging by its own ops only:
   * `{ value }` (undefined = deleted) if a put, delete or covering range delete in the batch
   * decides it, `undefined` if the batch does not touch the key (the engine's value stands).
   * Lets a command applied later in the same batch read the writes made before it (compare-and-
   * swap). Linear in the batch's ops, newest first.
   */
  lookup(cf: ColumnFamily, key: Uint8Array): { value: Uint8Array | undefined } | undefined {
    const id = CF_IDS[cf];
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const op = this.ops[i]!;
      if (op.kind === "put") {
        if (op.cf === id && Buffer.compare(op.key, key) === 0) return { value: op.value };
      } else if (op.kind === "delete") {
        if (op.cf === id && Buffer.compare(op.key, key) === 0) return { value: undefined };
      } else if (op.kind === "deleteRange") {
        if (op.cf === id && Buffer.compare(key, op.start) >= 0 && (op.end.byteLength === 0 || Buffer.compare(key, op.end) < 0)) {
          return { value: undefined };
        }
      }
    }
    return undefined;
  }

  /** Append every op of `other` (used to merge the Readies of many peers into one commit). */
  merge(other: WriteBatch): this {
    for (const op of other.ops) this.ops.push(op);
    this.bytes += other.bytes;
    return this;
  }

  clear(): void {
    this.ops.length = 0;
    this.bytes = 0;
  }
}
