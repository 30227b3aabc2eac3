/**
 * RawNode: the API a caller drives. The loop, for one node:
 *
 *   on timer:      rn.tick()
 *   on message:    rn.step(m)
 *   on request:    rn.propose(data) / rn.readIndex(ctx) / rn.proposeConfChange(cc) / ...
 *   then, while rn.hasReady():
 *     const rd = rn.ready();
 *     persist rd.snapshot, rd.entries and rd.hardState (in that order, durably when rd.mustSync);
 *     send rd.messages;                                   // only after persisting
 *     apply rd.committedEntries (rn.applyConfChange for conf changes); serve rd.readStates;
 *     rn.advance(rd);
 *
 * Nothing here blocks or does I/O; errors the caller can expect come back as values.
 */
import type { RaftConfig } from "./config.js";
import { encodeConfChange } from "./conf-change-codec.js";
import { fail, type RaftResult } from "./errors.js";
import type { Progress } from "./progress.js";
import { Raft } from "./raft.js";
import {
  EntryType,
  MessageType,
  NONE,
  StateRole,
  hardStateEqual,
  isEmptyHardState,
  isResponseMessage,
  newMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Snapshot,
  type SoftState,
} from "./types.js";
import { validateRemoteMessage } from "./validate-message.js";

/** Everything the caller must act on, handed out together by `RawNode.ready()`. */
export interface Ready {
  /** Set when the leader or role changed. Not persisted. */
  softState: SoftState | undefined;
  /** Set when term, vote or commit changed: persist before sending `messages`. */
  hardState: HardState | undefined;
  /** Answers to ReadIndex requests made on this node. */
  readStates: ReadState[];
  /** Entries to append to stable storage before sending `messages`. */
  entries: Entry[];
  /** A snapshot to install in stable storage (before `entries`). */
  snapshot: Snapshot | undefined;
  /** Committed entries to apply to the state machine, in order. */
  committedEntries: Entry[];
  /** Messages to send once the above is persisted. */
  messages: Message[];
  /** Whether the writes of this Ready must be synced to disk (false when only commit moved). */
  mustSync: boolean;
}

export const SnapshotStatus = { Finish: 0, Failure: 1 } as const;
export type SnapshotStatus = (typeof SnapshotStatus)[keyof typeof SnapshotStatus];

export interface Status {
  id: number;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  leadTransferee: number;
  /** Leader only: each member's progress. */
  progress: Map<number, Progress> | undefined;
  confState: ConfState;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /** Advance the logical clock by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Start an election now instead of waiting for the timeout. */
  campaign(): RaftResult {
    return this.raft.step(newMessage({ type: MessageType.Hup, from: this.raft.id }));
  }

  /** Propose `data` for the log. Fails when this node cannot take proposals (see the error's message). */
  propose(data: Uint8Array): RaftResult {
    return this.proposeEntries([{ type: EntryType.Normal, term: 0, index: 0, data }]);
  }

  /** Propose several entries in one message (they are appended together). */
  proposeBatch(datas: readonly Uint8Array[]): RaftResult {
    return this.proposeEntries(datas.map((data) => ({ type: EntryType.Normal, term: 0, index: 0, data })));
  }

  /** Propose a membership change. One may be pending at a time. */
  proposeConfChange(cc: ConfChange): RaftResult {
    if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) return fail("InvalidMessage", `conf change node id must be positive, got ${cc.nodeId}`);
    return this.proposeEntries([{ type: EntryType.ConfChange, term: 0, index: 0, data: encodeConfChange(cc) }]);
  }

  private proposeEntries(entries: Entry[]): RaftResult {
    const max = this.raft.cfg.maxEntryBytes;
    for (const e of entries) {
      if (e.data.byteLength > max) {
        return fail("EntryTooLarge", `entry of ${e.data.byteLength} bytes exceeds maxEntryBytes (${max}); split the write into smaller ones`);
      }
    }
    return this.raft.step(newMessage({ type: MessageType.Propose, from: this.raft.id, entries }));
  }

  /**
   * Apply a committed conf change (call it when applying its entry, in log order). Returns the
   * new membership, to persist with the applied state.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Step a message that arrived from another node. Malformed or local-only messages are refused. */
  step(m: Message): RaftResult {
    const invalid = validateRemoteMessage(m, this.raft.id);
    if (invalid) return { ok: false, error: invalid };
    if (isResponseMessage(m.type) && !this.raft.prs.progress.has(m.from)) {
      return fail("StepPeerNotFound", `response from ${m.from}, which is not a member of the group`);
    }
    return this.raft.step(m);
  }

  /** Ask the leader to hand leadership to `transferee` (forwarded if this node is a follower). */
  transferLeader(transferee: number): void {
    this.raft.step(newMessage({ type: MessageType.TransferLeader, from: transferee }));
  }

  /**
   * Request a read index. When a quorum confirms leadership, a ReadState with this `context`
   * appears in a Ready: reads served after applying up to its index are linearizable. Contexts
   * must be unique per outstanding request. Requests on a node that knows no leader are dropped
   * (the caller times out and retries).
   */
  readIndex(context: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.ReadIndex, from: NONE, context }));
  }

  /** The transport could not deliver to `id`: the leader stops streaming to it and probes. */
  reportUnreachable(id: number): void {
    this.raft.step(newMessage({ type: MessageType.Unreachable, from: id }));
  }

  /** The result of sending a snapshot to `id`. */
  reportSnapshot(id: number, status: SnapshotStatus): void {
    this.raft.step(newMessage({ type: MessageType.SnapStatus, from: id, reject: status === SnapshotStatus.Failure }));
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.lead !== this.prevSoftState.lead || r.state !== this.prevSoftState.raftState) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) return true;
    if (r.raftLog.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0 || r.raftLog.hasNextEntries()) return true;
    return r.readStates.length > 0;
  }

  /**
   * Everything to persist, send and apply now. Messages and read states are handed out once; the
   * rest stays until `advance(rd)` acknowledges it. Call `advance` before the next `ready`.
   */
  ready(): Ready {
    const r = this.raft;
    const soft = r.softState();
    const hard = r.hardState();
    const rd: Ready = {
      softState: soft.lead !== this.prevSoftState.lead || soft.raftState !== this.prevSoftState.raftState ? soft : undefined,
      hardState: !hardStateEqual(hard, this.prevHardState) ? hard : undefined,
      readStates: r.readStates,
      entries: r.raftLog.unstableEntries().slice(),
      snapshot: r.raftLog.hasPendingSnapshot() ? r.raftLog.unstable.snapshot : undefined,
      committedEntries: r.raftLog.nextEntries(),
      messages: r.msgs,
      mustSync: false,
    };
    // A snapshot replaces the log, and the reply to it tells the leader we hold everything up to
    // its index: like entries, it must be durable before that reply leaves.
    rd.mustSync =
      rd.entries.length > 0 ||
      rd.snapshot !== undefined ||
      (rd.hardState !== undefined && (hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote));
    r.msgs = [];
    r.readStates = [];
    // Committed entries are about to leave the uncommitted budget.
    if (rd.committedEntries.length > 0) r.reduceUncommittedSize(rd.committedEntries);
    if (rd.softState) this.prevSoftState = rd.softState;
    if (rd.hardState) this.prevHardState = rd.hardState;
    return rd;
  }

  /** Acknowledge that `rd` was persisted and its committed entries applied. */
  advance(rd: Ready): void {
    const log = this.raft.raftLog;
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.stableTo(last.index, last.term);
    if (rd.snapshot) {
      log.stableSnapTo(rd.snapshot.metadata.index);
      // Installing the snapshot applied everything up to its index (etcd's appliedCursor).
      if (rd.snapshot.metadata.index > log.applied) log.appliedTo(rd.snapshot.metadata.index);
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) log.appliedTo(lastApplied.index);
  }

  status(): Status {
    const r = this.raft;
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.raftLog.applied,
      leadTransferee: r.leadTransferee,
      progress: r.state === StateRole.Leader ? new Map(r.prs.progress) : undefined,
      confState: r.prs.confState(),
    };
  }
}

