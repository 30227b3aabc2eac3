/** Lock and write records: round trips (plain and async-commit locks), exact byte layout, refusals. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LockKind, TS_MAX, WriteKind, decodeLock, decodeWrite, encodeLock, encodeWrite, isLockedFor, type Lock } from "../src/index.js";

const lock = (o: Partial<Lock> = {}): Lock => ({ kind: LockKind.Put, primary: Buffer.from("pk"), startTs: 100n, ttlMs: 3000n, minCommitTs: 0n, secondaries: undefined, ...o });

describe("lock records", () => {
  test("round trip: plain, delete, async commit with secondaries (incl. an empty-key secondary and a 300-byte one)", () => {
    for (const l of [lock(), lock({ kind: LockKind.Delete, ttlMs: 0n }), lock({ kind: LockKind.Lock, minCommitTs: 150n, secondaries: [Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(300, 7)] })]) {
      assert.deepEqual(decodeLock(encodeLock(l)), l);
    }
  });

  test("byte layout of a plain lock: format, kind, start ts, ttl, min commit ts, flags, primary", () => {
    assert.equal(encodeLock(lock()).toString("hex"), "0101" + "0000000000000064" + "0000000000000bb8" + "0000000000000000" + "00" + "02" + "706b");
  });

  test("refused: unknown format/kind/flags, truncated, trailing bytes, no primary, a negative ts", () => {
    const good = encodeLock(lock());
    const bad = (mut: (b: Buffer) => Buffer, re: RegExp) => assert.throws(() => decodeLock(mut(Buffer.from(good))), re);
    bad((b) => ((b[0] = 9), b), /unknown format 9/);
    bad((b) => ((b[1] = 7), b), /unknown kind 7/);
    bad((b) => ((b[26] = 0x80), b), /unknown flags 128/);
    bad((b) => b.subarray(0, 20), /truncated/);
    bad((b) => Buffer.concat([b, Buffer.from([0])]), /1 trailing bytes/);
    assert.throws(() => encodeLock(lock({ primary: Buffer.alloc(0) })), /primary key/);
    assert.throws(() => encodeLock(lock({ startTs: -1n })), /does not fit/);
  });
});

describe("write records", () => {
  test("round trip of every kind, and the exact bytes of a put", () => {
    for (const kind of [WriteKind.Put, WriteKind.Delete, WriteKind.Rollback, WriteKind.Lock]) assert.deepEqual(decodeWrite(encodeWrite({ kind, startTs: 42n })), { kind, startTs: 42n });
    assert.equal(encodeWrite({ kind: WriteKind.Put, startTs: 42n }).toString("hex"), "0101000000000000002a");
  });

  test("refused: unknown kind, short, trailing", () => {
    assert.throws(() => decodeWrite(Buffer.from("0109000000000000002a", "hex")), /unknown kind 9/);
    assert.throws(() => decodeWrite(Buffer.from("0101", "hex")), /truncated/);
    assert.throws(() => decodeWrite(Buffer.from("0101000000000000002a00", "hex")), /unknown flags 0/);
    assert.throws(() => decodeWrite(Buffer.from("0101000000000000002a0100", "hex")), /trailing/);
    const overlapped = { kind: WriteKind.Put, startTs: 42n, overlappedRollback: true };
    assert.deepEqual(decodeWrite(encodeWrite(overlapped)), overlapped, "the overlapped-rollback flag round-trips");
  });
});

describe("isLockedFor", () => {
  test("a lock blocks readers at or above its start ts only; a TS_MAX reader only on the primary", () => {
    const l = lock({ startTs: 200n });
    assert.equal(isLockedFor(l, Buffer.from("k"), 55n), false, "a lock at 200 does not block a read at 55");
    assert.equal(isLockedFor(l, Buffer.from("k"), 200n), true);
    assert.equal(isLockedFor(l, Buffer.from("k"), 300n), true);
    assert.equal(isLockedFor(l, Buffer.from("k"), TS_MAX), false, "a secondary's lock does not block a latest read");
    assert.equal(isLockedFor(l, Buffer.from("pk"), TS_MAX), true, "the primary's does");
  });
});
