/**
 * The raft core's types ⇄ eraftpb: messages (with entries, snapshots, contexts) survive the
 * conversion and the wire encoding unchanged; values outside the safe integer range are refused.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { eraftpb } from "@regionkv/proto";
import { MessageType, newMessage, type Message } from "@regionkv/raft";
import { asBuffer, hardStateFromPb, hardStateToPb, messageFromPb, messageToPb, snapshotFromPb, snapshotToPb, toNum } from "../src/raft-codec.js";
import { b } from "./helpers.js";

/** The message with its byte arrays as hex (the codec may hand back Buffers for Uint8Arrays). */
function norm(m: Message): unknown {
  const hex = (u: Uint8Array) => Buffer.from(u).toString("hex");
  return {
    ...m,
    context: hex(m.context),
    entries: m.entries.map((e) => ({ ...e, data: hex(e.data) })),
    snapshot: m.snapshot && { ...m.snapshot, data: hex(m.snapshot.data) },
  };
}

function wire(m: Message): Message {
  return messageFromPb(eraftpb.Message.decode(eraftpb.Message.encode(messageToPb(m)).finish()));
}

describe("raft codec", () => {
  test("an append with entries of both types round trips field for field", () => {
    const m = newMessage({
      type: MessageType.Append,
      from: 1,
      to: 2,
      term: 9,
      logTerm: 8,
      index: 100,
      commit: 99,
      entries: [
        { type: 0, term: 9, index: 101, data: b("put k v") },
        { type: 1, term: 9, index: 102, data: new Uint8Array([1, 2, 3]) },
        { type: 0, term: 9, index: 103, data: new Uint8Array(0) },
      ],
    });
    assert.deepEqual(norm(messageFromPb(messageToPb(m))), norm(m));
    assert.deepEqual(norm(wire(m)), norm(m));
  });

  test("a rejection with a hint and a heartbeat with a ReadIndex context round trip", () => {
    const rej = newMessage({ type: MessageType.AppendResponse, from: 3, to: 1, term: 4, index: 50, reject: true, rejectHint: 42, logTerm: 3 });
    assert.deepEqual(norm(wire(rej)), norm(rej));
    const hb = newMessage({ type: MessageType.Heartbeat, from: 1, to: 3, term: 4, commit: 40, context: b("read-ctx-1") });
    assert.deepEqual(norm(wire(hb)), norm(hb));
  });

  test("a snapshot message keeps its data, index, term and membership", () => {
    const m = newMessage({
      type: MessageType.Snapshot,
      from: 1,
      to: 4,
      term: 7,
      snapshot: { data: b("region image"), metadata: { index: 500, term: 6, confState: { voters: [1, 2, 3], learners: [4] } } },
    });
    const back = wire(m);
    assert.deepEqual(norm(back), norm(m));
    assert.deepEqual(back.snapshot?.metadata, { index: 500, term: 6, confState: { voters: [1, 2, 3], learners: [4] } });
    const s = m.snapshot!;
    assert.deepEqual(snapshotFromPb(eraftpb.Snapshot.decode(eraftpb.Snapshot.encode(snapshotToPb(s)).finish())).metadata, s.metadata);
  });

  test("a hard state round trips, and a missing one reads as zero", () => {
    const hs = { term: 12, vote: 3, commit: 1000 };
    assert.deepEqual(hardStateFromPb(eraftpb.HardState.decode(eraftpb.HardState.encode(hardStateToPb(hs)).finish())), hs);
    assert.deepEqual(hardStateFromPb(undefined), { term: 0, vote: 0, commit: 0 });
  });

  test("a value beyond the safe integer range is refused with a RangeError naming the field", () => {
    assert.equal(toNum(BigInt(Number.MAX_SAFE_INTEGER), "x"), Number.MAX_SAFE_INTEGER);
    assert.throws(() => toNum(BigInt(Number.MAX_SAFE_INTEGER) + 1n, "commit"), /commit .* outside the safe integer range/);
    const pb = messageToPb(newMessage({ type: MessageType.Append, from: 1, to: 2 }));
    pb.commit = 2n ** 63n;
    assert.throws(() => messageFromPb(pb), RangeError);
  });

  test("asBuffer views a Uint8Array slice without copying or losing its offset", () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const slice = backing.subarray(2, 5);
    const buf = asBuffer(slice);
    assert.ok(Buffer.isBuffer(buf));
    assert.deepEqual([...buf], [1, 2, 3]);
    backing[3] = 7;
    assert.equal(buf[1], 7, "same memory");
    const already = b("x");
    assert.equal(asBuffer(already), already);
  });
});
