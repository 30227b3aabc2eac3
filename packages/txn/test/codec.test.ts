/**
 * The MVCC key codec: memcomparable bytes (tinykv.md §4.1 vectors), order preservation (seeded
 * random keys), versions newest first, round trips, and malformed encodings refused.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MvccCodecError, TS_MAX, composeTs, decodeBytes, decodeKey, decodeUserKey, encodeBytes, encodeKey, physicalTime } from "../src/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Deterministic xorshift for the order tests. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe("memcomparable bytes", () => {
  test("known encodings: groups of 8 with a 0xFF − pad marker; an empty key is one zero group with marker 247", () => {
    assert.equal(hex(encodeBytes(Buffer.alloc(0))), "0000000000000000f7");
    assert.equal(hex(encodeBytes(Buffer.from([1, 2, 3]))), "0102030000000000fa");
    assert.equal(hex(encodeBytes(Buffer.from([1, 2, 3, 0]))), "0102030000000000fb");
    assert.equal(hex(encodeBytes(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]))), "0102030405060708ff0000000000000000f7");
    assert.equal(hex(encodeBytes(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]))), "0102030405060708ff0900000000000000f8");
  });

  test("byte-wise order of encodings equals the order of the keys (seeded random keys, with zero bytes and shared prefixes)", () => {
    const next = rng(7);
    const keys: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(next() * 20);
      const k = Buffer.alloc(len);
      for (let j = 0; j < len; j++) k[j] = next() < 0.3 ? 0 : next() < 0.5 ? 0xff : Math.floor(next() * 256);
      keys.push(k);
      if (len > 0) keys.push(k.subarray(0, Math.floor(next() * len)));
    }
    for (let i = 1; i < keys.length; i++) {
      const a = keys[i - 1]!;
      const b = keys[i]!;
      assert.equal(Math.sign(Buffer.compare(encodeBytes(a), encodeBytes(b))), Math.sign(Buffer.compare(a, b)), `${hex(a)} vs ${hex(b)}`);
    }
  });

  test("round trip, reporting how many bytes the key took (so a suffix can follow)", () => {
    for (const k of ["", "a", "abcdefgh", "abcdefghi", "\u0000\u0000", "x".repeat(100)]) {
      const enc = Buffer.concat([encodeBytes(Buffer.from(k)), Buffer.from("tail")]);
      const { key, read } = decodeBytes(enc);
      assert.equal(key.toString(), k);
      assert.equal(enc.subarray(read).toString(), "tail");
    }
  });

  test("malformed encodings are refused with a message saying what is wrong", () => {
    assert.throws(() => decodeBytes(Buffer.from("0102", "hex")), (e: unknown) => e instanceof MvccCodecError && /truncated/.test(e.message));
    assert.throws(() => decodeBytes(Buffer.from("0102030000000000f0", "hex")), /bad marker 240/);
    assert.throws(() => decodeBytes(Buffer.from("0102030000000900fa", "hex")), /non-zero padding/);
    assert.throws(() => decodeBytes(Buffer.from("0102030405060708ff", "hex")), /truncated/);
  });
});

describe("MVCC keys", () => {
  test("versions of a key sort newest first, and all of them before the next key", () => {
    const k = Buffer.from("k");
    const enc = [encodeKey(k, 5n), encodeKey(k, 100n), encodeKey(k, 42n), encodeKey(Buffer.from("k\u0000"), TS_MAX), encodeKey(Buffer.from("j"), 0n)];
    const sorted = [...enc].sort(Buffer.compare).map((e) => {
      const d = decodeKey(e);
      return `${d.key.toString("hex")}@${d.ts}`;
    });
    assert.deepEqual(sorted, ["6a@0", "6b@100", "6b@42", "6b@5", `6b00@${TS_MAX}`]);
  });

  test("round trip of key and timestamp (0, max), and the user key alone", () => {
    for (const ts of [0n, 1n, composeTs(1_700_000_000_000n, 5n), TS_MAX]) {
      const e = encodeKey(Buffer.from("user key"), ts);
      assert.deepEqual(decodeKey(e), { key: Buffer.from("user key"), ts });
      assert.equal(decodeUserKey(e).toString(), "user key");
    }
  });

  test("a timestamp outside u64 and an encoded key without exactly 8 timestamp bytes are refused", () => {
    assert.throws(() => encodeKey(Buffer.from("k"), -1n), /not an unsigned 64-bit timestamp/);
    assert.throws(() => encodeKey(Buffer.from("k"), TS_MAX + 1n), /not an unsigned 64-bit timestamp/);
    assert.throws(() => decodeKey(encodeBytes(Buffer.from("k"))), /0 bytes after the user key, expected 8/);
    assert.throws(() => decodeKey(Buffer.concat([encodeKey(Buffer.from("k"), 1n), Buffer.from([0])])), /9 bytes after the user key/);
  });

  test("TSO timestamps: physical milliseconds above 18 logical bits", () => {
    const ts = composeTs(1234n, 77n);
    assert.equal(ts, (1234n << 18n) | 77n);
    assert.equal(physicalTime(ts), 1234n);
    assert.equal(composeTs(1n, 1n << 18n), 1n << 18n, "the logical part is masked to its 18 bits");
  });
});
