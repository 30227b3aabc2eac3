import type { RaftError } from "./errors.js";
import { RaftError as RaftErrorClass } from "./errors.js";
import { EntryType, MessageType, NONE, isLocalMessage, type Message } from "./types.js";

const MAX_TYPE = MessageType.RequestPreVoteResponse;

/**
 * Check a message that arrived from the network before it reaches the state machine. Returns an
 * error naming what is wrong, or undefined. Raft's own rules (stale terms, unknown peers) are not
 * errors here: they are handled by the state machine.
 */
export function validateRemoteMessage(m: Message, self: number): RaftError | undefined {
  const bad = (why: string) => new RaftErrorClass("InvalidMessage", `invalid raft message ${m.from}->${m.to} type ${m.type}: ${why}`);
  if (!Number.isInteger(m.type) || m.type < 0 || m.type > MAX_TYPE) return bad("unknown message type");
  if (isLocalMessage(m.type)) {
    return new RaftErrorClass("StepLocalMessage", `message type ${m.type} is local to a node and cannot come from the network`);
  }
  for (const [name, v] of [
    ["from", m.from],
    ["to", m.to],
    ["term", m.term],
    ["logTerm", m.logTerm],
    ["index", m.index],
    ["commit", m.commit],
    ["rejectHint", m.rejectHint],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) return bad(`${name} must be a non-negative safe integer, got ${v}`);
  }
  if (m.from === NONE) return bad("from is 0 (no sender)");
  if (m.to !== self) return bad(`addressed to ${m.to}, but this node is ${self}`);
  if (m.term === 0 && m.type !== MessageType.Propose && m.type !== MessageType.ReadIndex && m.type !== MessageType.TransferLeader) {
    return bad("term 0 on a message between nodes");
  }
  if (m.term !== 0 && (m.type === MessageType.Propose || m.type === MessageType.ReadIndex)) {
    // Raft.send never stamps a term on these (they are forwarded as local requests); one with a
    // term would depose a leader at a higher term, or trip the send invariant when forwarded.
    return bad(`term ${m.term} on a forwarded request, which carries no term`);
  }
  if (m.entries.length > 0) {
    if (m.type !== MessageType.Append && m.type !== MessageType.Propose) return bad("entries on a message type that carries none");
    let prev = m.type === MessageType.Append ? m.index : -1;
    let prevTerm = m.type === MessageType.Append ? m.logTerm : 0;
    for (const e of m.entries) {
      if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) return bad(`entry with unknown type ${e.type}`);
      if (!(e.data instanceof Uint8Array)) return bad("entry data is not bytes");
      if (m.type === MessageType.Append) {
        if (e.index !== prev + 1) return bad(`entries not contiguous: ${e.index} after ${prev}`);
        if (e.term < prevTerm) return bad(`entry ${e.index} has term ${e.term} below the previous ${prevTerm}`);
        if (e.term > m.term) return bad(`entry ${e.index} has term ${e.term} above the message term ${m.term}`);
        prev = e.index;
        prevTerm = e.term;
      }
    }
  }
  if (m.type === MessageType.Snapshot) {
    const s = m.snapshot;
    if (!s || s.metadata.index === 0) return bad("snapshot message without a snapshot");
    if (s.metadata.term > m.term) return bad(`snapshot term ${s.metadata.term} above the message term ${m.term}`);
  }
  return undefined;
}
