/**
 * The raft core's types ⇄ the wire's eraftpb types. The core uses numbers for terms, indexes
 * and ids; the wire uses uint64 (bigint). Conversions check that values stay safe integers.
 */
import type { eraftpb } from "@regionkv/proto";
import type { ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot } from "@regionkv/raft";

export function toNum(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < 0n) throw new RangeError(`${what} ${v} is outside the safe integer range`);
  return Number(v);
}

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function entryToPb(e: Entry): eraftpb.Entry {
  return { entryType: e.type as number as eraftpb.EntryType, term: BigInt(e.term), index: BigInt(e.index), data: asBuffer(e.data) };
}

export function entryFromPb(e: eraftpb.Entry): Entry {
  return { type: e.entryType as number as EntryType, term: toNum(e.term, "entry term"), index: toNum(e.index, "entry index"), data: e.data };
}

export function confStateToPb(cs: ConfState): eraftpb.ConfState {
  return { voters: cs.voters.map(BigInt), learners: cs.learners.map(BigInt) };
}

export function confStateFromPb(cs: eraftpb.ConfState | undefined): ConfState {
  return { voters: (cs?.voters ?? []).map((v) => toNum(v, "voter id")), learners: (cs?.learners ?? []).map((v) => toNum(v, "learner id")) };
}

export function snapshotToPb(s: Snapshot): eraftpb.Snapshot {
  return {
    data: asBuffer(s.data),
    metadata: { confState: confStateToPb(s.metadata.confState), index: BigInt(s.metadata.index), term: BigInt(s.metadata.term) },
  };
}

export function snapshotFromPb(s: eraftpb.Snapshot): Snapshot {
  const m = s.metadata;
  return {
    data: s.data,
    metadata: { confState: confStateFromPb(m?.confState), index: toNum(m?.index ?? 0n, "snapshot index"), term: toNum(m?.term ?? 0n, "snapshot term") },
  };
}

export function hardStateToPb(hs: HardState): eraftpb.HardState {
  return { term: BigInt(hs.term), vote: BigInt(hs.vote), commit: BigInt(hs.commit) };
}

export function hardStateFromPb(hs: eraftpb.HardState | undefined): HardState {
  return { term: toNum(hs?.term ?? 0n, "term"), vote: toNum(hs?.vote ?? 0n, "vote"), commit: toNum(hs?.commit ?? 0n, "commit") };
}

export function messageToPb(m: Message): eraftpb.Message {
  return {
    msgType: m.type as number as eraftpb.MessageType,
    to: BigInt(m.to),
    from: BigInt(m.from),
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map(entryToPb),
    commit: BigInt(m.commit),
    snapshot: m.snapshot ? snapshotToPb(m.snapshot) : undefined,
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    context: asBuffer(m.context),
  };
}

/** Throws RangeError on values outside the safe integer range (a malformed message). */
export function messageFromPb(m: eraftpb.Message): Message {
  return {
    type: m.msgType as number as MessageType,
    to: toNum(m.to, "to"),
    from: toNum(m.from, "from"),
    term: toNum(m.term, "term"),
    logTerm: toNum(m.logTerm, "log term"),
    index: toNum(m.index, "index"),
    entries: m.entries.map(entryFromPb),
    commit: toNum(m.commit, "commit"),
    snapshot: m.snapshot ? snapshotFromPb(m.snapshot) : undefined,
    reject: m.reject,
    rejectHint: toNum(m.rejectHint, "reject hint"),
    context: m.context,
  };
}
