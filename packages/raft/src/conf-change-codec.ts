import { RaftError } from "./errors.js";
import { EMPTY_BYTES, ConfChangeType, type ConfChange } from "./types.js";

/**
 * ConfChange ⇄ the bytes of a conf-change entry, in protobuf wire format compatible with
 * `eraftpb.ConfChange` (field 2 change_type varint, 3 node_id varint, 4 context bytes; field 1 is
 * reserved, as in etcd), so any
 * tool that reads the log with the generated proto code sees the same change. Hand-written because
 * the raft core depends on nothing.
 */

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out: number[] = [];
  if (cc.type !== 0) {
    out.push(0x10);
    pushVarint(out, cc.type);
  }
  if (cc.nodeId !== 0) {
    out.push(0x18);
    pushVarint(out, cc.nodeId);
  }
  const head = Uint8Array.from(out);
  if (cc.context.length === 0) return head;
  const lenBytes: number[] = [0x22];
  pushVarint(lenBytes, cc.context.length);
  const buf = new Uint8Array(head.length + lenBytes.length + cc.context.length);
  buf.set(head, 0);
  buf.set(lenBytes, head.length);
  buf.set(cc.context, head.length + lenBytes.length);
  return buf;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let type = 0;
  let nodeId = 0;
  let context: Uint8Array = EMPTY_BYTES;
  let pos = 0;
  const bad = (why: string): never => {
    throw new RaftError("InvalidMessage", `malformed conf change entry: ${why}`);
  };
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (pos >= data.length) bad("truncated varint");
      const b = data[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) bad("varint exceeds 2^53");
        return result;
      }
      mul *= 128;
    }
    return bad("varint too long");
  };
  while (pos < data.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 2 && wire === 0) type = varint();
    else if (field === 3 && wire === 0) nodeId = varint();
    else if (field === 4 && wire === 2) {
      const len = varint();
      if (pos + len > data.length) bad("truncated context");
      context = data.slice(pos, pos + len);
      pos += len;
    } else if (wire === 0) varint();
    else if (wire === 1 || wire === 2 || wire === 5) {
      // Skip an unknown field. Read the length first: `pos += varint()` would add it to the
      // position before the length prefix was consumed.
      const len = wire === 1 ? 8 : wire === 5 ? 4 : varint();
      if (pos + len > data.length) bad(`truncated field ${field}`);
      pos += len;
    } else bad(`unsupported wire type ${wire} for field ${field}`);
  }
  if (type !== ConfChangeType.AddNode && type !== ConfChangeType.RemoveNode && type !== ConfChangeType.AddLearnerNode) {
    bad(`unknown change type ${type}`);
  }
  return { type: type as ConfChangeType, nodeId, context };
}

function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}
