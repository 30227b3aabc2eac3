/**
 * The values of the lock and write column families (tinykv.md §4.1, extended for async commit).
 *
 * Lock (lock CF, at the raw user key), format 1:
 *   0x01 | kind u8 | startTs u64 | ttlMs u64 | minCommitTs u64 | flags u8 | primary (uvarint len, bytes)
 *   | if flags & ASYNC_COMMIT: secondaries (uvarint count, each uvarint len + bytes)
 * Write (write CF, at encodeKey(key, commitTs); a rollback at encodeKey(key, startTs)), format 1:
 *   0x01 | kind u8 | startTs u64 [| flags u8]
 *   flags OVERLAPPED_ROLLBACK: a rollback of the transaction that started at this record's commit
 *   ts landed on this commit record (with async commit and 1PC a commit ts need not come from the
 *   TSO, so it can equal another transaction's start ts); the record stands for both.
 * Integers are big-endian. A value that does not decode exactly (unknown format or kind, short or
 * trailing bytes) is refused with MvccCodecError: a corrupt record is never read as a default.
 */
import { MvccCodecError, TS_MAX } from "./codec.js";

const FORMAT = 1;
const ASYNC_COMMIT = 0x01;

/** What a lock protects: a write of a value, a deletion, or only a read-for-update. */
export const LockKind = { Put: 1, Delete: 2, Lock: 3 } as const;
export type LockKind = (typeof LockKind)[keyof typeof LockKind];

export const WriteKind = { Put: 1, Delete: 2, Rollback: 3, Lock: 4 } as const;
export type WriteKind = (typeof WriteKind)[keyof typeof WriteKind];

export interface Lock {
  kind: LockKind;
  /** The primary key of the transaction (its status lives there). */
  primary: Buffer;
  startTs: bigint;
  /** Milliseconds after the physical part of startTs until the lock may be rolled back. */
  ttlMs: bigint;
  /** Async commit / 1PC: the lowest commit ts the transaction may get (0: none). */
  minCommitTs: bigint;
  /** Async commit: every secondary key (on the primary's lock only); undefined: not async. */
  secondaries: Buffer[] | undefined;
}

export interface Write {
  kind: WriteKind;
  startTs: bigint;
  /** This commit record also marks the rollback of the transaction that started at its commit ts. */
  overlappedRollback?: boolean;
}

const OVERLAPPED_ROLLBACK = 0x01;

function isKind<T extends Record<string, number>>(kinds: T, v: number): v is T[keyof T] {
  return Object.values(kinds).includes(v);
}

function uvarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

class Reader {
  private off = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new MvccCodecError(`${this.what} record truncated: ${this.buf.length} bytes`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }
  uvarint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new MvccCodecError(`${this.what} record has a length that does not fit 32 bits`);
  }
  bytes(): Buffer {
    const n = this.uvarint();
    this.need(n);
    const b = Buffer.from(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return b;
  }
  atEnd(): boolean {
    return this.off === this.buf.length;
  }
  end(): void {
    if (this.off !== this.buf.length) throw new MvccCodecError(`${this.what} record has ${this.buf.length - this.off} trailing bytes`);
  }
}

function u64(v: bigint, what: string): Buffer {
  if (v < 0n || v > TS_MAX) throw new MvccCodecError(`${what} ${v} does not fit an unsigned 64-bit integer`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
}

export function encodeLock(l: Lock): Buffer {
  if (!isKind(LockKind, l.kind)) throw new MvccCodecError(`unknown lock kind ${String(l.kind)}`);
  if (l.primary.length === 0) throw new MvccCodecError("a lock needs its transaction's primary key");
  const parts = [Buffer.from([FORMAT, l.kind]), u64(l.startTs, "lock start ts"), u64(l.ttlMs, "lock ttl"), u64(l.minCommitTs, "lock min commit ts"), Buffer.from([l.secondaries ? ASYNC_COMMIT : 0]), uvarint(l.primary.length), l.primary];
  if (l.secondaries) {
    parts.push(uvarint(l.secondaries.length));
    for (const s of l.secondaries) parts.push(uvarint(s.length), s);
  }
  return Buffer.concat(parts);
}

export function decodeLock(value: Uint8Array): Lock {
  const r = new Reader(Buffer.from(value.buffer, value.byteOffset, value.byteLength), "lock");
  const format = r.u8();
  if (format !== FORMAT) throw new MvccCodecError(`lock record has unknown format ${format}`);
  const kind = r.u8();
  if (!isKind(LockKind, kind)) throw new MvccCodecError(`lock record has unknown kind ${kind}`);
  const startTs = r.u64();
  const ttlMs = r.u64();
  const minCommitTs = r.u64();
  const flags = r.u8();
  if ((flags & ~ASYNC_COMMIT) !== 0) throw new MvccCodecError(`lock record has unknown flags ${flags}`);
  const primary = r.bytes();
  let secondaries: Buffer[] | undefined;
  if (flags & ASYNC_COMMIT) {
    const n = r.uvarint();
    secondaries = [];
    for (let i = 0; i < n; i++) secondaries.push(r.bytes());
  }
  r.end();
  return { kind, primary, startTs, ttlMs, minCommitTs, secondaries };
}

export function encodeWrite(w: Write): Buffer {
  if (!isKind(WriteKind, w.kind)) throw new MvccCodecError(`unknown write kind ${String(w.kind)}`);
  const parts = [Buffer.from([FORMAT, w.kind]), u64(w.startTs, "write start ts")];
  if (w.overlappedRollback) parts.push(Buffer.from([OVERLAPPED_ROLLBACK]));
  return Buffer.concat(parts);
}

export function decodeWrite(value: Uint8Array): Write {
  const r = new Reader(Buffer.from(value.buffer, value.byteOffset, value.byteLength), "write");
  const format = r.u8();
  if (format !== FORMAT) throw new MvccCodecError(`write record has unknown format ${format}`);
  const kind = r.u8();
  if (!isKind(WriteKind, kind)) throw new MvccCodecError(`write record has unknown kind ${kind}`);
  const startTs = r.u64();
  if (r.atEnd()) return { kind, startTs };
  const flags = r.u8();
  if (flags !== OVERLAPPED_ROLLBACK) throw new MvccCodecError(`write record has unknown flags ${flags}`);
  r.end();
  return { kind, startTs, overlappedRollback: true };
}

/**
 * Whether `lock` blocks a reader at `readTs` (tinykv.md §4.1): only locks at or below the read's
 * timestamp; a reader at TS_MAX (read the latest) is blocked only by a primary's lock. A Lock-kind
 * lock (a key read under the transaction, nothing written) never blocks, nor does a lock whose
 * transaction cannot commit at or below readTs (its min commit ts is above it).
 */
export function isLockedFor(lock: Lock, key: Uint8Array, readTs: bigint): boolean {
  if (lock.startTs > readTs) return false;
  if (lock.kind === LockKind.Lock) return false;
  if (lock.minCommitTs > readTs) return false;
  if (readTs === TS_MAX) return Buffer.compare(lock.primary, key) === 0;
  return true;
}
