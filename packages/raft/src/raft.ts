/**
 * The raft state machine of one node. The flow of a proposal:
 *
 *   RawNode.propose → step(Propose) → stepLeader: appendEntry (unstable log) → bcastAppend
 *   → followers: handleAppendEntries → AppendResponse → stepLeader: Progress.maybeUpdate
 *   → maybeCommit (a quorum's match, current term only) → RawNode.ready().committedEntries.
 *
 * This file holds the state, role changes (becomeX), the term rules every message goes through
 * (`step`), elections, and the send helpers. What each role does with a message is in
 * step-leader.ts, step-candidate.ts and step-follower.ts. Nothing here does I/O: outgoing
 * messages collect in `msgs` and leave through a Ready.
 */
import { resolveConfig, type RaftConfig, type RaftLogger, type ResolvedRaftConfig } from "./config.js";
import { OK, fail, invariant, isStorageError, type RaftResult } from "./errors.js";
import { ProgressState } from "./progress.js";
import { ProgressTracker } from "./progress-tracker.js";
import { VoteResult } from "./quorum.js";
import { RaftLog } from "./raft-log.js";
import { ReadOnly, ReadOnlyOption, type ReadIndexStatus } from "./read-only.js";
import { stepCandidate } from "./step-candidate.js";
import { stepFollower } from "./step-follower.js";
import { stepLeader } from "./step-leader.js";
import {
  EMPTY_BYTES,
  EntryType,
  MessageType,
  NONE,
  StateRole,
  assertNever,
  isEmptySnapshot,
  newMessage,
  payloadSize,
  voteResponseType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Snapshot,
  type SoftState,
} from "./types.js";

/** The context a campaign started by TimeoutNow carries: voters grant it even inside a leader lease. */
export const CAMPAIGN_TRANSFER: Uint8Array = new TextEncoder().encode("CampaignTransfer");

/** Why a node campaigns: pre-election (pre-vote), a normal election, or a leader transfer. */
export const CampaignType = { PreElection: 0, Election: 1, Transfer: 2 } as const;
export type CampaignType = (typeof CampaignType)[keyof typeof CampaignType];

export class Raft {
  readonly id: number;
  readonly cfg: ResolvedRaftConfig;
  readonly log: RaftLogger;

  term = 0;
  vote = NONE;
  state: StateRole = StateRole.Follower;
  /** The leader this node follows (itself when leader), or NONE. */
  lead = NONE;

  readonly raftLog: RaftLog;
  readonly prs: ProgressTracker;

  /** Messages to send; taken by the next Ready. */
  msgs: Message[] = [];
  /** ReadIndex answers for local requests; taken by the next Ready. */
  readStates: ReadState[] = [];

  /** Leader: the node leadership is being transferred to, or NONE. Proposals are refused meanwhile. */
  leadTransferee = NONE;
  /**
   * Leader: index of the latest conf-change entry proposed. A new conf change is refused while it
   * is above the applied index (one membership change at a time).
   */
  pendingConfIndex = 0;
  /** Leader: payload bytes proposed but not yet committed (for maxUncommittedEntriesSize). */
  uncommittedSize = 0;

  readOnly: ReadOnly;
  /** Leader: ReadIndex requests that arrived before an entry of this term committed. */
  pendingReadIndexMessages: Message[] = [];

  /** Leader: ticks since the last election-timeout boundary. Others: ticks since hearing from a leader. */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  private stepFn: (r: Raft, m: Message) => RaftResult = stepFollower;
  private tickFn: () => void = () => this.tickElection();

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.log = this.cfg.logger;
    this.raftLog = new RaftLog(this.cfg.storage, this.cfg.maxCommittedSizePerReady);
    this.prs = new ProgressTracker(this.cfg.maxInflightMsgs);
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);

    const { hardState, confState } = this.cfg.storage.initialState();
    this.prs.reset(confState, this.raftLog.lastIndex() + 1);
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (this.cfg.applied > 0) this.raftLog.appliedTo(this.cfg.applied);
    this.becomeFollower(this.term, NONE);
    this.log.info(
      { raftId: this.id, term: this.term, commit: this.raftLog.committed, applied: this.raftLog.applied, lastIndex: this.raftLog.lastIndex(), voters: this.prs.voters, learners: this.prs.learners },
      "raft node started",
    );
  }

  // ---- state ------------------------------------------------------------------------------

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  private loadState(hs: HardState): void {
    invariant(
      hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      () => `raft ${this.id}: stored commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
    );
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** A node can campaign if it is a voter of the current configuration. */
  promotable(): boolean {
    return this.prs.isVoter(this.id);
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private resetRandomizedElectionTimeout(): void {
    const et = this.cfg.electionTick;
    this.randomizedElectionTimeout = et + Math.floor(this.cfg.random() * et);
  }

  // ---- role changes -----------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.prs.progress) {
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.state = ProgressState.Probe;
      pr.probeSent = false;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.inflights.reset();
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: number): void {
    this.stepFn = stepFollower;
    this.reset(term);
    this.tickFn = () => this.tickElection();
    this.lead = lead;
    this.state = StateRole.Follower;
    this.log.debug({ raftId: this.id, term, lead }, "became follower");
  }

  becomePreCandidate(): void {
    invariant(this.state !== StateRole.Leader, () => `raft ${this.id}: invalid transition [leader -> pre-candidate]`);
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.stepFn = stepCandidate;
    this.prs.resetVotes();
    this.tickFn = () => this.tickElection();
    this.lead = NONE;
    this.state = StateRole.PreCandidate;
    this.log.debug({ raftId: this.id, term: this.term }, "became pre-candidate");
  }

  becomeCandidate(): void {
    invariant(this.state !== StateRole.Leader, () => `raft ${this.id}: invalid transition [leader -> candidate]`);
    this.stepFn = stepCandidate;
    this.reset(this.term + 1);
    this.tickFn = () => this.tickElection();
    this.vote = this.id;
    this.state = StateRole.Candidate;
    this.log.debug({ raftId: this.id, term: this.term }, "became candidate");
  }

  becomeLeader(): void {
    invariant(this.state !== StateRole.Follower, () => `raft ${this.id}: invalid transition [follower -> leader]`);
    this.stepFn = stepLeader;
    this.reset(this.term);
    this.tickFn = () => this.tickHeartbeat();
    this.lead = this.id;
    this.state = StateRole.Leader;
    const self = this.prs.progress.get(this.id);
    // The leader's own progress is always Replicate and active.
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conservatively treat every entry of the old log as possibly holding a pending conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The empty entry of the new term: committing it commits everything before it (§5.4.2).
    const appended = this.appendEntry([{ type: EntryType.Normal, term: 0, index: 0, data: EMPTY_BYTES }]);
    invariant(appended, () => "empty entry was dropped");
    // The empty entry does not count against the uncommitted-size limit.
    this.log.info({ raftId: this.id, term: this.term }, "became leader");
  }

  // ---- ticks ------------------------------------------------------------------------------

  tick(): void {
    this.tickFn();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(newMessage({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateRole.Leader && this.leadTransferee !== NONE) {
        this.log.info({ raftId: this.id, term: this.term, transferee: this.leadTransferee }, "leader transfer timed out; aborting");
        this.abortLeaderTransfer();
      }
    }
    if (this.state !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- step: the term rules every message goes through -------------------------------------

  step(m: Message): RaftResult {
    if (m.term === 0) {
      // Local message (or a forwarded proposal / read index, which carries no term).
    } else if (m.term > this.term) {
      if (m.type === MessageType.RequestVote || m.type === MessageType.RequestPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTick;
        if (!force && inLease) {
          // We heard from a leader within the minimum election timeout: ignore the vote, so a
          // node that was partitioned away cannot depose a healthy leader (§6 of the thesis).
          this.log.debug({ raftId: this.id, term: this.term, from: m.from, msgTerm: m.term, remaining: this.cfg.electionTick - this.electionElapsed }, "ignored vote request inside leader lease");
          return OK;
        }
      }
      if (m.type === MessageType.RequestPreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.RequestPreVoteResponse && !m.reject) {
        // A granted pre-vote carries the future term; our term rises when we win the pre-election.
      } else {
        this.log.debug({ raftId: this.id, term: this.term, from: m.from, msgTerm: m.term, type: m.type }, "received a message with a higher term");
        if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, NONE);
        }
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.Append)) {
        // A stale leader (for example one just back from a partition) would otherwise never learn
        // the new term: with check-quorum or pre-vote nobody sends it a higher-term vote request.
        this.send(newMessage({ to: m.from, type: MessageType.AppendResponse }));
      } else if (m.type === MessageType.RequestPreVote) {
        // Reject with our term so the pre-candidate learns it is behind.
        this.send(newMessage({ to: m.from, term: this.term, type: MessageType.RequestPreVoteResponse, reject: true }));
      }
      // Any other stale message is ignored.
      return OK;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? CampaignType.PreElection : CampaignType.Election);
        return OK;
      case MessageType.RequestVote:
      case MessageType.RequestPreVote:
        this.handleVoteRequest(m);
        return OK;
      default:
        return this.stepFn(this, m);
    }
  }

  private handleVoteRequest(m: Message): void {
    // We can vote if: we already voted for this candidate (a repeated request), or we have not
    // voted and know no leader in this term, or it is a pre-vote for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.RequestPreVote && m.term > this.term);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      // Answer with the request's term: for a pre-vote it is the future term the candidate will use.
      this.send(newMessage({ to: m.from, term: m.term, type: voteResponseType(m.type) }));
      if (m.type === MessageType.RequestVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(newMessage({ to: m.from, term: this.term, type: voteResponseType(m.type), reject: true }));
    }
  }

  // ---- elections --------------------------------------------------------------------------

  private hup(t: CampaignType): void {
    if (this.state === StateRole.Leader) return;
    if (!this.promotable()) {
      this.log.warn({ raftId: this.id, term: this.term }, "not a voter of the current configuration; cannot campaign");
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      // The configuration we would campaign in may be out of date: wait until it is applied.
      this.log.warn({ raftId: this.id, term: this.term }, "cannot campaign: committed configuration changes are not applied yet");
      return;
    }
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    // Entries below the first index were compacted into a restored snapshot, whose membership is
    // already in force: only the entries after it can hold an unapplied change.
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex());
    if (lo > this.raftLog.committed) return false;
    const ents = this.raftLog.slice(lo, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER);
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  /** Start a (pre-)election: vote for ourselves and ask every other voter. */
  campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.RequestPreVote;
      term = this.term + 1; // the term we would campaign in
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.RequestVote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // A single-voter group wins at once.
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    const context = t === CampaignType.Transfer ? CAMPAIGN_TRANSFER : EMPTY_BYTES;
    for (const id of this.prs.voters) {
      if (id === this.id) continue;
      this.send(newMessage({ to: id, term, type: voteMsg, index: lastIndex, logTerm: lastTerm, context }));
    }
  }

  /** Record a vote and return the election's outcome so far. */
  poll(id: number, granted: boolean): VoteResult {
    this.prs.recordVote(id, granted);
    return this.prs.tallyVotes().result;
  }

  /** TimeoutNow from the leader: campaign at once, skipping pre-vote and the leader lease. */
  campaignForTransfer(): void {
    if (!this.promotable()) return;
    this.hup(CampaignType.Transfer);
  }

  // ---- log appending (leader) -------------------------------------------------------------

  /** Append proposed entries to the leader's log. Returns false if the uncommitted limit refuses them. */
  appendEntry(es: Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    for (const e of es) {
      e.term = this.term;
      e.index = ++li;
    }
    if (!this.increaseUncommittedSize(es)) {
      this.log.warn({ raftId: this.id, term: this.term, uncommitted: this.uncommittedSize }, "appending new entries would exceed the uncommitted entry size limit; dropping proposal");
      return false;
    }
    li = this.raftLog.append(es);
    this.prs.progress.get(this.id)?.maybeUpdate(li);
    // A single-voter group commits at once.
    this.maybeCommit();
    return true;
  }

  private increaseUncommittedSize(es: Entry[]): boolean {
    let s = 0;
    for (const e of es) s += payloadSize(e);
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.cfg.maxUncommittedEntriesSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(es: Entry[]): void {
    if (this.uncommittedSize === 0) return;
    let s = 0;
    for (const e of es) s += payloadSize(e);
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /** Advance commit to what a quorum has matched, if that entry is from our term. */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.prs.committed(), this.term);
  }

  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTermOnCompacted(this.raftLog.committed) === this.term;
  }

  // ---- sending ----------------------------------------------------------------------------

  /** Queue `m` for sending, stamping our id and (for non-vote messages) our term. */
  send(m: Message): void {
    // A forwarded message keeps its sender: the transferee of a TransferLeader, the node that
    // asked for a read index (so the answer goes back to it).
    if (m.from === NONE) m.from = this.id;
    if (
      m.type === MessageType.RequestVote ||
      m.type === MessageType.RequestVoteResponse ||
      m.type === MessageType.RequestPreVote ||
      m.type === MessageType.RequestPreVoteResponse
    ) {
      // Vote messages carry the term they are about, which the caller set: the campaign term for
      // requests, the request's term (granted) or ours (rejected) for responses.
      invariant(m.term !== 0, () => `term should be set when sending ${m.type}`);
    } else {
      invariant(m.term === 0, () => `term should not be set when sending ${m.type} (was ${m.term})`);
      // Proposals and read-index requests forwarded to the leader carry no term: they are local
      // to the leader, and a term would make it treat them as coming from a stale or newer node.
      if (m.type !== MessageType.Propose && m.type !== MessageType.ReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Send an append (or a snapshot) to `to` if flow control allows and there is something to send. */
  sendAppend(to: number): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Send entries after `pr.next - 1` to `to`; if the leader no longer has them, send a snapshot.
   * With `sendIfEmpty` false, nothing is sent when there are no new entries. Returns whether a
   * message was sent.
   */
  maybeSendAppend(to: number, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const m = newMessage({ to, type: MessageType.Append });

    let term = 0;
    let ents: Entry[] = [];
    let compacted = false;
    try {
      term = this.raftLog.term(pr.next - 1);
      ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (e) {
      if (!isStorageError(e, "Compacted") && !isStorageError(e, "Unavailable")) throw e;
      compacted = true;
    }
    if (!compacted && ents.length === 0 && !sendIfEmpty) return false;

    if (compacted) {
      // The follower needs entries we have compacted: send a snapshot.
      if (!pr.recentActive) {
        this.log.debug({ raftId: this.id, to }, "not sending a snapshot to an inactive follower");
        return false;
      }
      let snapshot: Snapshot;
      try {
        snapshot = this.raftLog.snapshot();
      } catch (e) {
        if (isStorageError(e, "SnapshotTemporarilyUnavailable")) {
          this.log.debug({ raftId: this.id, to }, "snapshot temporarily unavailable; will retry");
          return false;
        }
        throw e;
      }
      invariant(!isEmptySnapshot(snapshot), () => "need a non-empty snapshot");
      m.type = MessageType.Snapshot;
      m.snapshot = snapshot;
      pr.becomeSnapshot(snapshot.metadata.index);
      this.log.debug({ raftId: this.id, to, index: snapshot.metadata.index, term: snapshot.metadata.term }, "sending snapshot");
    } else {
      m.index = pr.next - 1;
      m.logTerm = term;
      m.entries = ents;
      m.commit = this.raftLog.committed;
      const n = ents.length;
      if (n !== 0) {
        switch (pr.state) {
          case ProgressState.Replicate: {
            const last = ents[n - 1]!.index;
            pr.optimisticUpdate(last);
            pr.inflights.add(last);
            break;
          }
          case ProgressState.Probe:
            pr.probeSent = true;
            break;
          case ProgressState.Snapshot:
            invariant(false, () => `raft ${this.id}: sending append to ${to} in snapshot state`);
            break;
          default:
            assertNever(pr.state, "progress state");
        }
      }
    }
    this.send(m);
    return true;
  }

  /** A heartbeat never claims a commit beyond what the follower is known to have. */
  sendHeartbeat(to: number, ctx: Uint8Array): void {
    const pr = this.prs.progress.get(to);
    const commit = Math.min(pr ? pr.match : 0, this.raftLog.committed);
    this.send(newMessage({ to, type: MessageType.Heartbeat, commit, context: ctx }));
  }

  bcastAppend(): void {
    for (const id of this.prs.progress.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx() ?? EMPTY_BYTES);
  }

  bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    for (const id of this.prs.progress.keys()) {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    }
  }

  // ---- follower-side handlers ------------------------------------------------------------

  handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit matches by definition; tell the leader where we are.
      this.send(newMessage({ to: m.from, type: MessageType.AppendResponse, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ to: m.from, type: MessageType.AppendResponse, index: lastNew }));
      return;
    }
    // Reject, with a hint: the largest index ≤ m.index whose term is ≤ m.logTerm. The leader
    // probes there next, skipping whole terms of divergent entries at once.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.log.debug({ raftId: this.id, term: this.term, from: m.from, index: m.index, logTerm: m.logTerm, hintIndex: hint.index, hintTerm: hint.term }, "rejected append");
    this.send(newMessage({ to: m.from, type: MessageType.AppendResponse, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }));
  }

  handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(newMessage({ to: m.from, type: MessageType.HeartbeatResponse, context: m.context }));
  }

  handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.restore(s)) {
      this.log.info({ raftId: this.id, term: this.term, index: s.metadata.index, snapTerm: s.metadata.term }, "restored snapshot");
      this.send(newMessage({ to: m.from, type: MessageType.AppendResponse, index: this.raftLog.lastIndex() }));
    } else {
      this.log.debug({ raftId: this.id, term: this.term, index: s.metadata.index, committed: this.raftLog.committed }, "ignored snapshot");
      this.send(newMessage({ to: m.from, type: MessageType.AppendResponse, index: this.raftLog.committed }));
    }
  }

  /** Install snapshot `s` as the log's new base. Returns false if it was ignored (stale or redundant). */
  restore(s: Snapshot): boolean {
    const meta = s.metadata;
    if (meta.index <= this.raftLog.committed) return false;
    if (this.state !== StateRole.Follower) {
      // Only a follower receives snapshots; be defensive and never let a leader restore one.
      this.log.warn({ raftId: this.id, term: this.term }, "non-follower attempted to restore snapshot; stepping down");
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = meta.confState;
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id)) {
      this.log.warn({ raftId: this.id, index: meta.index }, "snapshot does not include this node in its configuration; ignored");
      return false;
    }
    if (this.raftLog.matchTerm(meta.index, meta.term)) {
      // We already have the entry the snapshot ends with: just fast-forward the commit.
      this.raftLog.commitTo(meta.index);
      return false;
    }
    this.raftLog.restore(s);
    this.prs.reset(cs, this.raftLog.lastIndex() + 1);
    const self = this.prs.progress.get(this.id);
    if (self) self.maybeUpdate(this.raftLog.lastIndex());
    return true;
  }

  // ---- ReadIndex --------------------------------------------------------------------------

  /** Answer a read-index request (local or forwarded) now that the leader may do so. */
  handleReadIndexOnLeader(m: Message): void {
    if (this.prs.voters.length === 1 && this.prs.voters[0] === this.id) {
      // The only voter needs nobody to confirm its leadership.
      this.respondToReadIndex(m, this.raftLog.committed);
      return;
    }
    switch (this.readOnly.option) {
      case ReadOnlyOption.Safe:
        this.readOnly.addRequest(this.raftLog.committed, m);
        // The leader acks its own request.
        this.readOnly.recvAck(this.id, m.context);
        this.bcastHeartbeatWithCtx(m.context);
        return;
      case ReadOnlyOption.LeaseBased:
        this.respondToReadIndex(m, this.raftLog.committed);
        return;
      default:
        assertNever(this.readOnly.option, "read-only option");
    }
  }

  respondToReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.context });
    } else {
      this.send(newMessage({ to: req.from, type: MessageType.ReadIndexResp, index, context: req.context }));
    }
  }

  respondToReadIndexStatuses(statuses: ReadIndexStatus[]): void {
    for (const rs of statuses) this.respondToReadIndex(rs.req, rs.index);
  }

  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.handleReadIndexOnLeader(m);
  }

  // ---- leader transfer --------------------------------------------------------------------

  sendTimeoutNow(to: number): void {
    this.send(newMessage({ to, type: MessageType.TimeoutNow }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---- membership -------------------------------------------------------------------------

  /**
   * Apply a committed conf change (the caller calls this when it applies the entry). Returns the
   * new configuration.
   */
  applyConfChange(cc: ConfChange): ConfState {
    // A new member starts at the last index (as in etcd), so the leader probes it at once with the
    // last entry instead of waiting for a heartbeat response or the next proposal.
    const next = Math.max(this.raftLog.lastIndex(), 1);
    switch (cc.type) {
      case 0 /* AddNode */:
        this.prs.addVoter(cc.nodeId, next);
        break;
      case 2 /* AddLearnerNode */:
        if (!this.prs.addLearner(cc.nodeId, next)) {
          this.log.warn({ raftId: this.id, node: cc.nodeId }, "ignored AddLearnerNode for a voter: demotion is not a single-step change");
        }
        break;
      case 1 /* RemoveNode */:
        this.prs.remove(cc.nodeId);
        break;
      default:
        assertNever(cc.type, "conf change type");
    }
    this.onConfigChanged(cc);
    return this.prs.confState();
  }

  private onConfigChanged(cc: ConfChange): void {
    if (this.state !== StateRole.Leader) return;
    if (cc.type === 1 && cc.nodeId === this.leadTransferee) this.abortLeaderTransfer();
    if (!this.prs.isVoter(this.id)) {
      // The leader was removed (or is no longer a voter). Share the commit index so the others
      // learn the change committed, hand leadership to the most up-to-date voter, and step down.
      this.bcastAppend();
      let best = NONE;
      let bestMatch = -1;
      for (const id of this.prs.voters) {
        const pr = this.prs.progress.get(id)!;
        if (pr.match > bestMatch) {
          best = id;
          bestMatch = pr.match;
        }
      }
      if (best !== NONE && bestMatch === this.raftLog.lastIndex()) this.sendTimeoutNow(best);
      this.log.info({ raftId: this.id, term: this.term, successor: best }, "leader removed from the configuration; stepping down");
      this.becomeFollower(this.term, NONE);
      return;
    }
    // A smaller quorum may commit entries the old one could not; a new member needs the log.
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else {
      for (const id of this.prs.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
  }

  /** Whether a proposal entry list may be accepted given the pending conf change rule. */
  checkConfChangeProposal(es: Entry[], local: boolean): RaftResult {
    // Recorded only once the whole proposal passes: a refused local batch must leave nothing pending.
    let pending = this.pendingConfIndex;
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      let refused: string | undefined;
      if (pending > this.raftLog.applied) {
        refused = `a membership change is already pending (index ${pending}, applied ${this.raftLog.applied}); propose again after it applies`;
      } else if (es.slice(0, i).some((x) => x.type === EntryType.ConfChange)) {
        refused = "one membership change per proposal";
      }
      if (refused !== undefined) {
        if (local) return fail("ProposalDropped", refused);
        // A forwarded batch keeps its other entries: the refused change becomes an empty entry.
        es[i] = { type: EntryType.Normal, term: 0, index: 0, data: EMPTY_BYTES };
        this.log.info({ raftId: this.id, term: this.term }, `ignoring forwarded conf change: ${refused}`);
      } else {
        pending = this.raftLog.lastIndex() + i + 1;
      }
    }
    this.pendingConfIndex = pending;
    return OK;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
