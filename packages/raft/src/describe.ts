/**
 * Stable one-line descriptions of raft values, for logs and golden files. Changing the format
 * changes every golden file: regenerate them with REWRITE=1 and review the diff.
 */
import type { Ready } from "./raw-node.js";
import { decodeConfChange } from "./conf-change-codec.js";
import {
  EntryType,
  MessageType,
  StateRole,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Snapshot,
  type SoftState,
} from "./types.js";

const MESSAGE_TYPE_NAMES: Record<MessageType, string> = {
  [MessageType.Hup]: "MsgHup",
  [MessageType.Beat]: "MsgBeat",
  [MessageType.Propose]: "MsgProp",
  [MessageType.Append]: "MsgApp",
  [MessageType.AppendResponse]: "MsgAppResp",
  [MessageType.RequestVote]: "MsgVote",
  [MessageType.RequestVoteResponse]: "MsgVoteResp",
  [MessageType.Snapshot]: "MsgSnap",
  [MessageType.Heartbeat]: "MsgHeartbeat",
  [MessageType.HeartbeatResponse]: "MsgHeartbeatResp",
  [MessageType.Unreachable]: "MsgUnreachable",
  [MessageType.SnapStatus]: "MsgSnapStatus",
  [MessageType.CheckQuorum]: "MsgCheckQuorum",
  [MessageType.TransferLeader]: "MsgTransferLeader",
  [MessageType.TimeoutNow]: "MsgTimeoutNow",
  [MessageType.ReadIndex]: "MsgReadIndex",
  [MessageType.ReadIndexResp]: "MsgReadIndexResp",
  [MessageType.RequestPreVote]: "MsgPreVote",
  [MessageType.RequestPreVoteResponse]: "MsgPreVoteResp",
};

const ROLE_NAMES: Record<StateRole, string> = {
  [StateRole.Follower]: "Follower",
  [StateRole.Candidate]: "Candidate",
  [StateRole.Leader]: "Leader",
  [StateRole.PreCandidate]: "PreCandidate",
};

export function describeMessageType(t: MessageType): string {
  return MESSAGE_TYPE_NAMES[t] ?? `MsgUnknown(${t})`;
}

export function describeRole(r: StateRole): string {
  return ROLE_NAMES[r] ?? `Unknown(${r})`;
}

/** Printable bytes as a quoted string, anything else as hex. */
export function describeBytes(b: Uint8Array): string {
  let printable = true;
  for (const c of b) {
    if (c < 0x20 || c > 0x7e) {
      printable = false;
      break;
    }
  }
  if (printable) return JSON.stringify(String.fromCharCode(...b));
  return `0x${Array.from(b, (c) => c.toString(16).padStart(2, "0")).join("")}`;
}

export function describeConfChange(cc: ConfChange): string {
  const kind = cc.type === 0 ? "add" : cc.type === 1 ? "remove" : "add-learner";
  return `${kind}(${cc.nodeId})`;
}

export function describeEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    let body: string;
    try {
      body = describeConfChange(decodeConfChange(e.data));
    } catch {
      body = `corrupt ${describeBytes(e.data)}`;
    }
    return `${e.term}/${e.index} ConfChange ${body}`;
  }
  return e.data.length === 0 ? `${e.term}/${e.index} Empty` : `${e.term}/${e.index} ${describeBytes(e.data)}`;
}

export function describeEntries(es: readonly Entry[]): string {
  return es.map(describeEntry).join(", ");
}

export function describeConfState(cs: ConfState): string {
  const v = `voters=(${cs.voters.join(" ")})`;
  return cs.learners.length > 0 ? `${v} learners=(${cs.learners.join(" ")})` : v;
}

export function describeSnapshot(s: Snapshot): string {
  return `index=${s.metadata.index} term=${s.metadata.term} ${describeConfState(s.metadata.confState)}`;
}

export function describeHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote} commit=${hs.commit}`;
}

export function describeSoftState(ss: SoftState): string {
  return `lead=${ss.lead} state=${describeRole(ss.raftState)}`;
}

/**
 * `from->to type term=T` and the fields the type uses (see Message in types.ts): `log=term/index`
 * for the entry an append follows or a candidate's last entry; `index=` for what an append
 * response acknowledges or rejects (a rejection adds `hint=term/index`, the follower's guess of
 * the last matching entry) and for a read index.
 */
export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${describeMessageType(m.type)} term=${m.term}`;
  if (m.type === MessageType.AppendResponse || m.type === MessageType.ReadIndexResp) {
    s += ` index=${m.index}`;
  } else if (m.logTerm !== 0 || m.index !== 0) {
    s += ` log=${m.logTerm}/${m.index}`;
  }
  if (m.commit !== 0) s += ` commit=${m.commit}`;
  if (m.reject) s += m.type === MessageType.AppendResponse ? ` reject hint=${m.logTerm}/${m.rejectHint}` : " reject";
  if (m.context.length > 0) s += ` ctx=${describeBytes(m.context)}`;
  if (m.entries.length > 0) s += ` entries=[${describeEntries(m.entries)}]`;
  if (m.snapshot && m.snapshot.metadata.index !== 0) s += ` snapshot=[${describeSnapshot(m.snapshot)}]`;
  return s;
}

/** A multi-line description of a Ready (empty parts left out). */
export function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState) lines.push(`SoftState ${describeSoftState(rd.softState)}`);
  if (rd.hardState) lines.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.readStates.length > 0) lines.push(`ReadStates ${rd.readStates.map((s) => `${s.index}:${describeBytes(s.requestCtx)}`).join(", ")}`);
  if (rd.snapshot) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.entries.length > 0) lines.push(`Entries: ${describeEntries(rd.entries)}`);
  if (rd.committedEntries.length > 0) lines.push(`CommittedEntries: ${describeEntries(rd.committedEntries)}`);
  for (const m of rd.messages) lines.push(`Message ${describeMessage(m)}`);
  if (rd.mustSync) lines.push("MustSync");
  return lines.join("\n");
}
