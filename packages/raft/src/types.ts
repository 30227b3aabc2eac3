/**
 * The raft core's data types. They mirror `eraftpb` in proto/ field for field (the raftstore
 * converts at its edge), with one deliberate difference: terms, indexes and ids are JS numbers,
 * not bigints. They are safe integers (< 2^53), which no realistic log reaches, and numbers keep
 * the hot path free of BigInt arithmetic.
 */

/** The id that means "nobody": no leader, no vote. Node ids are always > 0. */
export const NONE = 0;

/** Message types, numbered as in etcd's raftpb and our eraftpb.MessageType. */
export const MessageType = {
  /** Local: start an election (or pre-election). */
  Hup: 0,
  /** Local: the leader should broadcast heartbeats. */
  Beat: 1,
  /** Propose entries; local, or forwarded from a follower to the leader. */
  Propose: 2,
  Append: 3,
  AppendResponse: 4,
  RequestVote: 5,
  RequestVoteResponse: 6,
  Snapshot: 7,
  Heartbeat: 8,
  HeartbeatResponse: 9,
  /** Local: the transport could not reach `from`. */
  Unreachable: 10,
  /** Local: the result of sending a snapshot to `from` (`reject` = failed). */
  SnapStatus: 11,
  /** Local: the leader checks that a quorum was active during the last election timeout. */
  CheckQuorum: 12,
  /** Ask the leader to hand leadership to `from`. Local, or forwarded to the leader. */
  TransferLeader: 13,
  /** Leader → transferee: campaign now, without waiting for the election timeout. */
  TimeoutNow: 14,
  /** Ask for a read index; `context` identifies the request. Local, or forwarded to the leader. */
  ReadIndex: 15,
  ReadIndexResp: 16,
  RequestPreVote: 17,
  RequestPreVoteResponse: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. Invariant: within a log, indexes are contiguous and terms never decrease. */
export interface Entry {
  type: EntryType;
  term: number;
  index: number;
  /** Opaque to raft for normal entries; an encoded ConfChange for conf-change entries. */
  data: Uint8Array;
}

/** What must be on stable storage before any message of the same Ready leaves the process. */
export interface HardState {
  term: number;
  /** The node this node voted for in `term`, or NONE. */
  vote: number;
  /** Highest index known committed. Never decreases. */
  commit: number;
}

/** Group membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  voters: number[];
  learners: number[];
}

export interface SnapshotMetadata {
  confState: ConfState;
  /** The index and term of the last entry the snapshot covers. */
  index: number;
  term: number;
}

export interface Snapshot {
  /** Opaque to raft (the state machine's image). */
  data: Uint8Array;
  metadata: SnapshotMetadata;
}

export const ConfChangeType = { AddNode: 0, RemoveNode: 1, AddLearnerNode: 2 } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-step membership change: one node added, promoted or removed per entry. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: number;
  /** Opaque to raft; the raftstore puts the peer (with its store id) here. */
  context: Uint8Array;
}

/**
 * A raft message. One flat shape for every type (as on the wire); fields a type does not use are
 * zero / empty. Which fields each type uses:
 * - Append: term, logTerm + index (the entry before `entries`), entries, commit.
 * - AppendResponse: term, index (last matching index, or the probed index on reject), reject,
 *   rejectHint + logTerm (the follower's hint for the next probe when rejecting).
 * - RequestVote / RequestPreVote: term, logTerm + index (the candidate's last entry), context
 *   (CAMPAIGN_TRANSFER when the vote comes from a leader transfer).
 * - *VoteResponse: term, reject.
 * - Snapshot: term, snapshot.
 * - Heartbeat: term, commit (never above what the follower is known to have), context.
 * - HeartbeatResponse: term, context (echoed, for ReadIndex).
 * - ReadIndex / ReadIndexResp: context (the request id), index (the read index, in the response).
 */
export interface Message {
  type: MessageType;
  to: number;
  from: number;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot: Snapshot | undefined;
  reject: boolean;
  rejectHint: number;
  context: Uint8Array;
}

export const StateRole = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const;
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

/** Volatile state that is useful for logging and for the caller's routing; never persisted. */
export interface SoftState {
  lead: number;
  raftState: StateRole;
}

/**
 * The answer to a ReadIndex request: once the state machine has applied up to `index`, a read
 * made then is linearizable with respect to the request identified by `requestCtx`.
 */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** A message with every field at its zero value except those given. */
export function newMessage(fields: Partial<Message> & { type: MessageType }): Message {
  return {
    type: fields.type,
    to: fields.to ?? NONE,
    from: fields.from ?? NONE,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    snapshot: fields.snapshot,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? EMPTY_BYTES,
  };
}

export function emptyHardState(): HardState {
  return { term: 0, vote: NONE, commit: 0 };
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function emptySnapshot(): Snapshot {
  return { data: EMPTY_BYTES, metadata: { confState: { voters: [], learners: [] }, index: 0, term: 0 } };
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

/** Messages that only ever come from the node's own caller, never from the network. */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.Unreachable ||
    t === MessageType.SnapStatus ||
    t === MessageType.CheckQuorum
  );
}

/** Responses: stepping one from a node that is not in the group is refused. */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.AppendResponse ||
    t === MessageType.RequestVoteResponse ||
    t === MessageType.HeartbeatResponse ||
    t === MessageType.Unreachable ||
    t === MessageType.RequestPreVoteResponse
  );
}

/** The response type that answers a vote request of type `t`. */
export function voteResponseType(t: MessageType): MessageType {
  switch (t) {
    case MessageType.RequestVote:
      return MessageType.RequestVoteResponse;
    case MessageType.RequestPreVote:
      return MessageType.RequestPreVoteResponse;
    default:
      throw new Error(`not a vote message: ${t}`);
  }
}

/** Bytes an entry counts for message and Ready size limits: payload plus a fixed header. */
export const ENTRY_OVERHEAD_BYTES = 24;
export function entrySize(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Bytes an entry counts against the uncommitted-size limit: payload only. */
export function payloadSize(e: Entry): number {
  return e.data.byteLength;
}

/**
 * The longest prefix of `ents` within `maxSize` bytes, but always at least one entry, so a
 * single oversized entry still makes progress.
 */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxSize) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/** For `switch` statements over unions: a compile error when a case is missing. */
export function assertNever(x: never, what: string): never {
  throw new Error(`unexpected ${what}: ${String(x)}`);
}
