/**
 * Fixture for command-level tests: TxnCommands over LocalTxnStorage on a real engine, and a
 * builder in the style of TinyKV's commands_test.go (tinykv.md §5.7): timestamps from 99
 * upwards, prewrite primary [1], commit = start + 10, check-txn-status timestamps 0x05…/0x06… (a
 * physical gap of 4194304 ms), records written straight into the column families, and
 * assertions on exact CF contents and sizes (`assertLens(default, lock, write)`, where TinyKV's
 * "default" is our txn_default).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { Engine, WriteBatch } from "@regionkv/engine";
import { kvrpcpb } from "@regionkv/proto";
import {
  LocalTxnStorage,
  LockKind,
  TxnCommands,
  decodeLock,
  decodeWrite,
  encodeKey,
  encodeLock,
  encodeWrite,
  type Lock,
  type TxnSnapshot,
  type Write,
  type WriteResult,
} from "../src/index.js";

export const EMPTY = Buffer.alloc(0);
/** A key of raw bytes (TinyKV's tests use `[]byte{3}`-style keys). */
export const k = (...bytes: number[]) => Buffer.from(bytes);
export const s = (text: string) => Buffer.from(text);
/** The context every request carries (LocalTxnStorage serves one region, id 1). */
export const CTX: kvrpcpb.Context = { regionId: 1n, regionEpoch: { confVer: 1n, version: 1n }, peer: undefined, term: 0n, resolvedLocks: [] };
export const SCOPE = { deadline: Number.MAX_SAFE_INTEGER };
export const turn = () => new Promise<void>((r) => setImmediate(r));

export function openEngine(t: TestContext): Engine {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-txncmd-"));
  const e = Engine.open(dir);
  t.after(() => {
    e.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return e;
}

/**
 * LocalTxnStorage whose writes can be held: while `hold()` is in force, a write waits (after
 * announcing itself through `writeStarted`) until `release()`; it applies afterwards. With
 * `fixedTso` set, the TSO answers that (so small test timestamps stay above it).
 */
export class GatedStorage extends LocalTxnStorage {
  fixedTso: bigint | undefined;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private started: (() => void) | undefined;
  /** Resolves when a write reaches the gate. */
  writeStarted: Promise<void> = Promise.resolve();

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
    this.writeStarted = new Promise((r) => (this.started = r));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async tso(): Promise<bigint> {
    return this.fixedTso ?? super.tso();
  }

  override async write(ctx: kvrpcpb.Context, snap: TxnSnapshot, batch: WriteBatch): Promise<WriteResult> {
    if (this.gate) {
      this.started?.();
      await this.gate;
    }
    return super.write(ctx, snap, batch);
  }
}

export function lock(primary: Buffer, startTs: bigint, ttlMs = 0n, kind: LockKind = LockKind.Put, extra: Partial<Lock> = {}): Lock {
  return { kind, primary, startTs, ttlMs, minCommitTs: 0n, secondaries: undefined, ...extra };
}

export function mutation(key: Buffer, value: Buffer | undefined, op: kvrpcpb.Op): kvrpcpb.Mutation {
  return { op, key, value: value ?? EMPTY };
}

/** A row of one column family; `ts` defaults to the builder's current timestamp. */
export type Row =
  | { cf: "default"; key: Buffer; ts?: bigint; value?: Buffer }
  | { cf: "write"; key: Buffer; ts?: bigint; value?: Write }
  | { cf: "lock"; key: Buffer; value?: Lock };

const cfName = (cf: Row["cf"]) => (cf === "default" ? "txn_default" : cf);

export class TestBuilder {
  readonly storage: LocalTxnStorage;
  readonly cmds: TxnCommands;
  /** TinyKV's prevTs. */
  prevTs = 99n;
  private readonly initial = new Map<string, Buffer>();

  constructor(
    readonly engine: Engine,
    storage?: LocalTxnStorage,
  ) {
    this.storage = storage ?? new LocalTxnStorage(engine);
    this.cmds = new TxnCommands({ storage: this.storage });
  }

  static open(t: TestContext, makeStorage?: (e: Engine) => LocalTxnStorage): TestBuilder {
    const e = openEngine(t);
    return new TestBuilder(e, makeStorage?.(e));
  }

  nextTs(): bigint {
    this.prevTs += 1n;
    return this.prevTs;
  }

  /** The most recent timestamp handed out. */
  ts(): bigint {
    return this.prevTs;
  }

  // ---- requests (TinyKV's builder) ----------------------------------------------------------

  prewriteRequest(...mutations: kvrpcpb.Mutation[]): kvrpcpb.PrewriteRequest {
    return kvrpcpb.PrewriteRequest.fromPartial({ context: CTX, primaryLock: k(1), startVersion: this.nextTs(), mutations });
  }

  commitRequest(...keys: Buffer[]): kvrpcpb.CommitRequest {
    const start = this.nextTs();
    return kvrpcpb.CommitRequest.fromPartial({ context: CTX, startVersion: start, commitVersion: start + 10n, keys });
  }

  rollbackRequest(...keys: Buffer[]): kvrpcpb.BatchRollbackRequest {
    return kvrpcpb.BatchRollbackRequest.fromPartial({ context: CTX, startVersion: this.nextTs(), keys });
  }

  /** lock_ts = 0x0000_05_00000000_xx, current_ts = 0x0000_06_00000000_xx: 4194304 ms apart. */
  checkTxnStatusRequest(primary: Buffer): kvrpcpb.CheckTxnStatusRequest {
    const x = this.nextTs() & 0xffn;
    // TinyKV rolls back a transaction found neither locked nor written: rollback_if_not_exist.
    return kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: primary, lockTs: (5n << 40n) | x, currentTs: (6n << 40n) | x, rollbackIfNotExist: true });
  }

  resolveRequest(startVersion: bigint, commitVersion: bigint, keys: Buffer[] = []): kvrpcpb.ResolveLockRequest {
    return kvrpcpb.ResolveLockRequest.fromPartial({ context: CTX, startVersion, commitVersion, keys });
  }

  scanRequest(startKey: Buffer, limit: number): kvrpcpb.ScanRequest {
    return kvrpcpb.ScanRequest.fromPartial({ context: CTX, startKey, limit, version: this.nextTs() });
  }

  getRequest(key: Buffer, version: bigint, resolvedLocks: bigint[] = []): kvrpcpb.GetRequest {
    return kvrpcpb.GetRequest.fromPartial({ context: { ...CTX, resolvedLocks }, key, version });
  }

  // ---- data ----------------------------------------------------------------------------------

  private engineKey(row: Row): Buffer {
    return row.cf === "lock" ? row.key : encodeKey(row.key, row.ts ?? this.prevTs);
  }

  /** Write `rows` straight into the column families (TinyKV's builder.init). */
  init(rows: Row[]): void {
    const batch = new WriteBatch();
    for (const row of rows) {
      if (row.value === undefined) throw new Error("init rows need a value");
      const value = row.cf === "default" ? row.value : row.cf === "write" ? encodeWrite(row.value) : encodeLock(row.value);
      const key = this.engineKey(row);
      batch.put(cfName(row.cf), key, value);
      this.initial.set(`${row.cf}/${key.toString("hex")}`, value);
    }
    this.engine.write(batch, { sync: false });
  }

  /** Each row is present with the given value, or (no value) unchanged since init. */
  assert(rows: Row[]): void {
    for (const row of rows) {
      const key = this.engineKey(row);
      const got = this.engine.get(cfName(row.cf), key);
      const what = `${row.cf} ${row.key.toString("hex")}${row.cf === "lock" ? "" : `@${row.ts ?? this.prevTs}`}`;
      assert.ok(got !== undefined, `${what} is missing`);
      if (row.value === undefined) {
        assert.deepEqual(got, this.initial.get(`${row.cf}/${key.toString("hex")}`), `${what} changed since init`);
      } else if (row.cf === "default") assert.deepEqual(got, row.value, what);
      else if (row.cf === "write") assert.deepEqual(decodeWrite(got), row.value, what);
      else assert.deepEqual(decodeLock(got), row.value, what);
    }
  }

  assertAbsent(rows: Array<{ cf: Row["cf"]; key: Buffer; ts?: bigint }>): void {
    for (const row of rows) {
      const key = row.cf === "lock" ? row.key : encodeKey(row.key, row.ts ?? this.prevTs);
      assert.equal(this.engine.get(cfName(row.cf), key), undefined, `${row.cf} ${row.key.toString("hex")} should be absent`);
    }
  }

  len(cf: Row["cf"]): number {
    return this.engine.scan(cfName(cf), EMPTY, EMPTY).length;
  }

  /** Sizes of txn_default (TinyKV's default), lock and write. */
  assertLens(def: number, lockN: number, write: number): void {
    assert.deepEqual({ default: this.len("default"), lock: this.len("lock"), write: this.len("write") }, { default: def, lock: lockN, write });
  }

  lockOf(key: Buffer): Lock | undefined {
    const v = this.engine.get("lock", key);
    return v ? decodeLock(v) : undefined;
  }

  writeAt(key: Buffer, ts: bigint): Write | undefined {
    const v = this.engine.get("write", encodeKey(key, ts));
    return v ? decodeWrite(v) : undefined;
  }
}

/** The `$case` of a key error (or undefined), for short assertions. */
export function errCase(e: kvrpcpb.KeyError | undefined): string | undefined {
  return e?.kind?.$case;
}

/** The lock info of a Locked key error; fails the test otherwise. */
export function mustLocked(e: kvrpcpb.KeyError | undefined): kvrpcpb.LockInfo {
  assert.equal(e?.kind?.$case, "locked", `expected a Locked error, got ${JSON.stringify(e?.kind?.$case)}`);
  return (e!.kind as { $case: "locked"; value: kvrpcpb.LockInfo }).value;
}
