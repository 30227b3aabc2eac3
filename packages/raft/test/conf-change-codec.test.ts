/**
 * The conf-change codec: the bytes of a conf-change entry are the protobuf encoding of
 * eraftpb.ConfChange, written by hand in the raft core (which depends on nothing). Checked by
 * round trips and against the generated proto code in both directions.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eraftpb } from "@regionkv/proto";
import { ConfChangeType, RaftError, decodeConfChange, encodeConfChange, type ConfChange } from "../src/index.js";
import { bytes } from "./harness.js";

const longContext = Uint8Array.from({ length: 300 }, (_, i) => i % 256);

const samples: [string, ConfChange][] = [
  ["AddNode 1, no context", { type: ConfChangeType.AddNode, nodeId: 1, context: new Uint8Array(0) }],
  ["RemoveNode 127 (largest one-byte varint)", { type: ConfChangeType.RemoveNode, nodeId: 127, context: bytes("peer") }],
  ["AddLearnerNode 128 (smallest two-byte varint)", { type: ConfChangeType.AddLearnerNode, nodeId: 128, context: bytes("x") }],
  ["AddNode 300 with a 300-byte context (two-byte length)", { type: ConfChangeType.AddNode, nodeId: 300, context: longContext }],
  ["RemoveNode 2^32", { type: ConfChangeType.RemoveNode, nodeId: 2 ** 32, context: new Uint8Array(0) }],
  ["AddNode 2^53-1 (largest safe id)", { type: ConfChangeType.AddNode, nodeId: Number.MAX_SAFE_INTEGER, context: bytes("max") }],
  ["all defaults (AddNode of node 0)", { type: ConfChangeType.AddNode, nodeId: 0, context: new Uint8Array(0) }],
];

function toProto(cc: ConfChange): eraftpb.ConfChange {
  return { changeType: cc.type as number as eraftpb.ConfChangeType, nodeId: BigInt(cc.nodeId), context: Buffer.from(cc.context) };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function mustRejectBytes(data: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeConfChange(data),
    (e: unknown) => e instanceof RaftError && e.code === "InvalidMessage" && pattern.test(e.message),
  );
}

describe("conf-change codec round trip", () => {
  for (const [name, cc] of samples) {
    test(`decode(encode(cc)) gives back cc: ${name}`, () => {
      const back = decodeConfChange(encodeConfChange(cc));
      assert.equal(back.type, cc.type);
      assert.equal(back.nodeId, cc.nodeId);
      assert.deepEqual(Array.from(back.context), Array.from(cc.context));
    });
  }

  test("an all-default conf change encodes to no bytes at all (proto3 omits default fields)", () => {
    assert.equal(encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 0, context: new Uint8Array(0) }).length, 0);
  });

  test("the decoded context is a copy, not a view of the entry data", () => {
    const data = encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 2, context: bytes("abc") });
    const cc = decodeConfChange(data);
    data.fill(0);
    assert.deepEqual(cc.context, bytes("abc"));
  });
});

describe("conf-change codec compatibility with the generated eraftpb.ConfChange", () => {
  for (const [name, cc] of samples) {
    test(`our encoding decodes with eraftpb.ConfChange to the same change: ${name}`, () => {
      const decoded = eraftpb.ConfChange.decode(encodeConfChange(cc));
      assert.equal(decoded.changeType, cc.type);
      assert.equal(decoded.nodeId, BigInt(cc.nodeId));
      assert.deepEqual(Array.from(decoded.context), Array.from(cc.context));
    });

    test(`eraftpb.ConfChange's encoding decodes with ours to the same change: ${name}`, () => {
      const wire = eraftpb.ConfChange.encode(toProto(cc)).finish();
      const decoded = decodeConfChange(wire);
      assert.equal(decoded.type, cc.type);
      assert.equal(decoded.nodeId, cc.nodeId);
      assert.deepEqual(Array.from(decoded.context), Array.from(cc.context));
    });

    test(`both encoders produce identical bytes: ${name}`, () => {
      assert.deepEqual(Array.from(encodeConfChange(cc)), Array.from(eraftpb.ConfChange.encode(toProto(cc)).finish()));
    });
  }
});

describe("conf-change decoding of unusual and malformed input", () => {
  test("unknown fields of every wire type (and etcd's reserved id, field 1) are skipped, as protobuf requires", () => {
    const base = encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 5, context: bytes("c") });
    const extra = Uint8Array.from([
      ...[0x08, 0x96, 0x01], // field 1, varint 150
      ...[0x2a, 0x02, 0x68, 0x69], // field 5, bytes "hi"
      ...[0x31, 1, 2, 3, 4, 5, 6, 7, 8], // field 6, fixed64
      ...[0x3d, 1, 2, 3, 4], // field 7, fixed32
    ]);
    for (const data of [concat(extra, base), concat(base, extra)]) {
      const cc = decodeConfChange(data);
      assert.deepEqual({ type: cc.type, nodeId: cc.nodeId, context: Array.from(cc.context) }, { type: ConfChangeType.RemoveNode, nodeId: 5, context: Array.from(bytes("c")) });
      const gen = eraftpb.ConfChange.decode(data);
      assert.deepEqual({ type: gen.changeType, nodeId: gen.nodeId }, { type: eraftpb.ConfChangeType.RemoveNode, nodeId: 5n }, "the generated decoder agrees");
    }
  });

  test("an unknown field longer than the data is refused as InvalidMessage", () => {
    mustRejectBytes(Uint8Array.from([0x2a, 0x05, 0x61]), /truncated field 5/);
    mustRejectBytes(Uint8Array.from([0x31, 1, 2]), /truncated field 6/);
  });

  test("fields may come in any order, and a repeated field takes the last value", () => {
    const data = Uint8Array.from([0x18, 0x09, 0x22, 0x01, 0x7a, 0x10, 0x01, 0x18, 0x0b]); // node 9, ctx "z", RemoveNode, node 11
    const cc = decodeConfChange(data);
    assert.equal(cc.type, ConfChangeType.RemoveNode);
    assert.equal(cc.nodeId, 11);
    assert.deepEqual(cc.context, bytes("z"));
    const gen = eraftpb.ConfChange.decode(data);
    assert.equal(gen.nodeId, 11n, "the generated decoder agrees");
  });

  test("a truncated varint is refused as InvalidMessage", () => {
    mustRejectBytes(Uint8Array.from([0x18, 0x96]), /truncated varint/);
  });

  test("a context longer than the data is refused as InvalidMessage", () => {
    mustRejectBytes(Uint8Array.from([0x22, 0x05, 0x61, 0x62]), /truncated context/);
  });

  test("an unknown change type is refused as InvalidMessage", () => {
    mustRejectBytes(Uint8Array.from([0x10, 0x07, 0x18, 0x01]), /unknown change type 7/);
  });

  test("a node id beyond 2^53 is refused as InvalidMessage rather than rounded", () => {
    const wire = eraftpb.ConfChange.encode({ changeType: eraftpb.ConfChangeType.AddNode, nodeId: 2n ** 53n + 1n, context: Buffer.alloc(0) }).finish();
    mustRejectBytes(wire, /2\^53|too long/);
  });
});
