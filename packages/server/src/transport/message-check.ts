/**
 * What the receiving side checks of incoming raft traffic before it reaches the raftstore: the
 * envelope only — the bytes decode, the message is for this store, it names both peers, and its
 * kind belongs on the stream it came by. Raft's own rules (terms, entries, snapshot metadata) are
 * the raft core's `validateRemoteMessage`, run when the peer steps the message.
 *
 * Every problem is a value (`InputProblem`); the service logs it and ends the stream with
 * INVALID_ARGUMENT and `describeProblem` as the details.
 */
import { eraftpb, raft_serverpb } from "@regionkv/proto";

export type InputProblem =
  /** The bytes are not a protobuf message of the expected type. */
  | { kind: "undecodable"; what: "RaftMessageBatch" | "SnapshotChunk"; message: string }
  /** For a store other than this one (the sender's address cache is stale). */
  | { kind: "misaddressed"; regionId: bigint; toStore: bigint; myStore: bigint }
  /** Decodes, but a field is missing or contradicts another. */
  | { kind: "malformed"; regionId: bigint; why: string }
  /** Snapshot stream: chunks not in the order message, data, data, … */
  | { kind: "out_of_order"; why: string }
  /** Snapshot stream: more data than `maxSnapshotBytes`. */
  | { kind: "oversize"; regionId: bigint; bytes: number; limit: number };

export function describeProblem(p: InputProblem): string {
  switch (p.kind) {
    case "undecodable":
      return `undecodable ${p.what}: ${p.message}`;
    case "misaddressed":
      return `raft message for region ${p.regionId} is addressed to store ${p.toStore}, but this is store ${p.myStore}; the sender should re-resolve the address`;
    case "malformed":
      return `malformed raft message for region ${p.regionId}: ${p.why}`;
    case "out_of_order":
      return `snapshot stream out of order: ${p.why}`;
    case "oversize":
      return `snapshot of region ${p.regionId} exceeds maxSnapshotBytes (${p.limit} bytes) after ${p.bytes} bytes; raise the receiving store's transport maxSnapshotBytes or split the region`;
    default: {
      const never: never = p;
      throw new Error(`unknown input problem ${JSON.stringify(never)}`);
    }
  }
}

/** Region id of the problem, for log fields (undefined when the input never named one). */
export function problemRegionId(p: InputProblem): bigint | undefined {
  return "regionId" in p ? p.regionId : undefined;
}

/** Raft message kinds that never leave a node (etcd raft's local messages). */
const LOCAL_TYPES: ReadonlySet<number> = new Set([
  eraftpb.MessageType.MsgHup,
  eraftpb.MessageType.MsgBeat,
  eraftpb.MessageType.MsgUnreachable,
  eraftpb.MessageType.MsgSnapStatus,
  eraftpb.MessageType.MsgCheckQuorum,
]);
const MAX_TYPE = eraftpb.MessageType.MsgRequestPreVoteResponse;

export function isSnapshotMessage(msg: raft_serverpb.RaftMessage): boolean {
  return msg.message?.msgType === eraftpb.MessageType.MsgSnapshot;
}

/**
 * The envelope rules for one message arriving on `stream`. For the snapshot stream, call it on the
 * reassembled message.
 */
export function checkRaftMessage(msg: raft_serverpb.RaftMessage, myStore: bigint, stream: "raft" | "snapshot"): InputProblem | undefined {
  const regionId = msg.regionId;
  const bad = (why: string): InputProblem => ({ kind: "malformed", regionId, why });
  if (regionId === 0n) return bad("region id is 0");
  const from = msg.fromPeer;
  const to = msg.toPeer;
  if (!from || from.id === 0n || from.storeId === 0n) return bad("no sending peer (from_peer with peer and store ids)");
  if (!to || to.id === 0n) return bad("no target peer (to_peer)");
  if (to.storeId !== myStore) return { kind: "misaddressed", regionId, toStore: to.storeId, myStore };
  const m = msg.message;
  if (!m) return msg.isTombstone ? undefined : bad("no raft message and not a tombstone notice");
  const t = m.msgType as number;
  if (!Number.isInteger(t) || t < 0 || t > MAX_TYPE) return bad(`unknown raft message type ${t}`);
  if (LOCAL_TYPES.has(t)) return bad(`raft message type ${eraftpb.MessageType[t]} is local to a node`);
  if (m.to !== to.id) return bad(`message.to ${m.to} is not to_peer ${to.id}`);
  if (m.from !== from.id) return bad(`message.from ${m.from} is not from_peer ${from.id}`);
  const snap = t === eraftpb.MessageType.MsgSnapshot;
  if (stream === "raft" && snap) return bad("MsgSnapshot on the Raft stream; snapshots travel on the Snapshot stream");
  if (stream === "snapshot" && !snap) return bad(`${eraftpb.MessageType[t]} on the Snapshot stream, which carries MsgSnapshot only`);
  if (snap && !m.snapshot) return bad("MsgSnapshot without a snapshot");
  return undefined;
}

/**
 * Bytes a message takes on the wire, estimated without encoding it (payloads plus a fixed
 * allowance for the headers); used only to cut batches.
 */
export function approxMessageBytes(msg: raft_serverpb.RaftMessage): number {
  let n = 96 + msg.startKey.length + msg.endKey.length;
  const m = msg.message;
  if (m) {
    n += m.context.length;
    for (const e of m.entries) n += 32 + e.data.length;
    if (m.snapshot) n += 64 + m.snapshot.data.length;
  }
  return n;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; problem: InputProblem };

/**
 * A request as the handler gets it: raw bytes with `rawRaftTransportService` (decoded here, so a
 * failure is ours to report), or already decoded by grpc-js with the generated
 * `RaftTransportService` (whose decode failures grpc-js answers itself, with INTERNAL).
 */
export type Incoming<T> = Buffer | T;

export function decodeBatch(input: Incoming<raft_serverpb.RaftMessageBatch>): Decoded<raft_serverpb.RaftMessageBatch> {
  if (!Buffer.isBuffer(input)) return { ok: true, value: input };
  try {
    return { ok: true, value: raft_serverpb.RaftMessageBatch.decode(input) };
  } catch (e) {
    return { ok: false, problem: { kind: "undecodable", what: "RaftMessageBatch", message: e instanceof Error ? e.message : String(e) } };
  }
}

export function decodeChunk(input: Incoming<raft_serverpb.SnapshotChunk>): Decoded<raft_serverpb.SnapshotChunk> {
  if (!Buffer.isBuffer(input)) return { ok: true, value: input };
  try {
    return { ok: true, value: raft_serverpb.SnapshotChunk.decode(input) };
  } catch (e) {
    return { ok: false, problem: { kind: "undecodable", what: "SnapshotChunk", message: e instanceof Error ? e.message : String(e) } };
  }
}
