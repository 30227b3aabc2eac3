/**
 * A region peer: one raft node of one region on this store. Flow of a write:
 *
 *   router mailbox → `onRaftCmd` (checks: leader, epoch, keys, size) → accepted into the round's
 *   batch → raft worker: `collectReady` proposes the batch at once (`flushProposals`: one
 *   RawNode.proposeBatch, so one append per follower), each Proposal queued at (index, term), and
 *   adds the Ready's log writes to the group-commit batch → commit (fsync) → `sendMessages` →
 *   `applyCommitted` adds effects + applied index to the apply batch → commit → `afterApply`
 *   settles proposals by (index, term), serves reads whose read index is applied, runs side
 *   effects → `advance`.
 *
 * Reads never enter the log: `onRaftCmd` queues them for a ReadIndex round (one round serves
 * every read queued before it was issued); once the read index is applied they run on a
 * consistent engine snapshot. Only the leader serves: a follower or a deposed leader answers
 * NotLeader, so a stale node never answers from stale state.
 */
import { WriteBatch } from "@regionkv/engine";
import { eraftpb, metapb, raft_cmdpb, raft_serverpb, schedulerpb } from "@regionkv/proto";
import { RawNode, SnapshotStatus, StateRole, decodeConfChange, type Entry, type Ready } from "@regionkv/raft";
import { applyEntries, errorResponse, okResponse, type AppliedSplit, type ApplyOutput, type ConfChangeOutcome } from "./apply.js";
import { changedRegion, checkChangePeer, raftChangeType } from "./conf-change.js";
import type { PeerMsg } from "./messages.js";
import { PeerTick } from "./messages.js";
import { PeerStorage } from "./peer-storage.js";
import { Proposal, type ProposalCallback } from "./proposal.js";
import { messageFromPb, messageToPb } from "./raft-codec.js";
import { ReadQueue } from "./read-queue.js";
import type { ProposalFailure, RegionError } from "./region-error.js";
import { PeerSplitter } from "./peer-split.js";
import { PeerStats } from "./peer-stats.js";
import { checkProposedKeys, checkRegionEpoch, epochOf, gcMessage, isEpochStale, isVote } from "./region-util.js";
import { MAX_SPLIT_KEYS, batchSplitOf, checkBatchSplit } from "./split.js";
import type { StoreContext } from "./store-context.js";

/** Election timeouts of silence after which an uninitialized peer destroys itself. */
const UNINITIALIZED_SILENCE_TIMEOUTS = 3;
/** A transfer target further behind the leader's log than this is not handed leadership (it could not serve soon). */
const TRANSFER_LEADER_MAX_LAG = 128;

/** A Ready taken from raft, waiting for the group commit, the apply and advance. */
export interface PendingReady {
  rd: Ready;
}

export class Peer {
  readonly regionId: number;
  readonly peerId: number;
  readonly storage: PeerStorage;
  readonly raw: RawNode;
  private readonly ctx: StoreContext;
  /** Proposals in index order. */
  private proposals: Proposal[] = [];
  /** Writes accepted this round, not yet appended (see `flushProposals`). */
  private batch: Array<{ data: Uint8Array; proposal: Proposal; fail: (e: ProposalFailure) => void; kind: "admin" | "write" }> = [];
  private readonly reads: ReadQueue;
  /** Peer id → peer meta, for addressing raft messages and leader hints. */
  private readonly peerCache = new Map<number, metapb.Peer>();
  stopped = false;
  /** Destroyed (tombstone written): the store takes it out once it reads `peerDestroyed`. */
  destroyed = false;
  /** Raft ticks since a message for this peer arrived (an uninitialized peer nobody talks to is stale). */
  private silentTicks = 0;
  /** When this peer last heard from a leader of its region (or led it); the stale-peer check's clock. */
  private leaderContactMs: number;
  /** When the scheduler was last asked whether this peer is still a member. */
  private staleCheckMs = 0;
  /** Size measurement, split checks and split requests (peer-split.ts). */
  private readonly splitter: PeerSplitter;
  /** Last-heard times and traffic for the region heartbeats (peer-stats.ts). */
  private readonly stats: PeerStats;
  /** Log GC: everything below this is physically deleted or queued for deletion. */
  private lastCompactedIndex: number;

  constructor(ctx: StoreContext, region: metapb.Region, peerId: number) {
    this.ctx = ctx;
    this.regionId = Number(region.id);
    this.peerId = peerId;
    this.storage = new PeerStorage(
      ctx.engine,
      region,
      peerId,
      (regionId) => ctx.schedule({ worker: "region", kind: "generate", regionId }),
      ctx.cfg.entryCacheLimit,
    );
    const seedRandom = ctx.random;
    this.raw = new RawNode({
      id: peerId,
      electionTick: ctx.cfg.raftElectionTimeoutTicks,
      heartbeatTick: ctx.cfg.raftHeartbeatTicks,
      storage: this.storage,
      applied: this.storage.applyState.appliedIndex,
      maxSizePerMsg: ctx.cfg.raftMaxSizePerMsg,
      maxInflightMsgs: ctx.cfg.raftMaxInflightMsgs,
      maxEntryBytes: ctx.cfg.maxRaftEntryBytes,
      checkQuorum: true,
      preVote: true,
      random: seedRandom,
      logger: {
        debug: (f, m) => ctx.log.debug({ regionId: this.regionId, peerId, ...f }, m),
        info: (f, m) => ctx.log.info({ regionId: this.regionId, peerId, ...f }, m),
        warn: (f, m) => ctx.log.warn({ regionId: this.regionId, peerId, ...f }, m),
      },
    });
    this.reads = new ReadQueue(this.regionId);
    this.splitter = new PeerSplitter(ctx, this);
    // From 0, not the first index: deletions queued before a restart were lost with the process,
    // so the first GC after start also removes whatever log rows they left behind.
    this.lastCompactedIndex = 0;
    for (const p of region.peers) this.peerCache.set(Number(p.id), p);
    this.stats = new PeerStats(ctx.clock.now());
    this.leaderContactMs = ctx.clock.now();
  }

  get region(): metapb.Region {
    return this.storage.region;
  }

  get isLeader(): boolean {
    return this.raw.raft.state === StateRole.Leader;
  }

  get leaderId(): number {
    return this.raw.raft.lead;
  }

  meta(): metapb.Peer {
    return this.peerCache.get(this.peerId) ?? { id: BigInt(this.peerId), storeId: this.ctx.storeId, role: metapb.PeerRole.Voter };
  }

  // ---- messages from the router ---------------------------------------------------------

  handle(msg: PeerMsg): void {
    if (this.stopped) {
      if (msg.type === "raftCmd") msg.callback({ ok: false, error: { kind: "RegionNotFound", regionId: BigInt(this.regionId) } });
      return;
    }
    switch (msg.type) {
      case "raftMessage":
        this.onRaftMessage(msg.msg);
        return;
      case "raftCmd":
        this.onRaftCmd(msg.request, msg.callback, msg.deadline);
        return;
      case "tick":
        this.onTick(msg.tick);
        return;
      case "start":
        // A region whose only voter is this peer needs no election timeout to start serving; nor
        // does a split piece whose parent led here (its peers elsewhere have no leader to wait for).
        if ((this.region.peers.length === 1 && Number(this.region.peers[0]!.id) === this.peerId) || msg.campaign) this.raw.campaign();
        return;
      case "snapshotGenerated":
        this.storage.onSnapshotGenerated(msg.snapshot);
        if (!msg.snapshot) this.ctx.log.warn({ regionId: this.regionId, peerId: this.peerId, err: msg.error }, "snapshot generation failed; raft will ask again");
        return;
      case "regionApproximateSize":
        this.splitter.onCheckResult(msg.bytes, msg.keys, msg.splitKeys, msg.version, msg.reason);
        return;
      case "splitFailed":
        this.splitter.onFailed(msg.version, msg.why);
        return;
      case "stalePeer":
        // Only if still cut off: a leader heard from since proves membership.
        if (!this.isLeader && this.ctx.clock.now() - this.leaderContactMs > this.ctx.cfg.maxLeaderMissingMs) this.destroy(msg.why);
        return;
      case "snapshotStatus":
        this.raw.reportSnapshot(msg.toPeerId, msg.ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
        this.ctx.metrics.snapshots.inc({ kind: "send", result: msg.ok ? "ok" : "error" });
        return;
      case "raftLogGcDone":
        return;
      case "heartbeatResponse":
        this.onHeartbeatResponse(msg.resp);
        return;
      default: {
        const never: never = msg;
        throw new Error(`unknown peer message ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * A raft message from another store. Stale traffic is sorted out first (tinykv.md §1.8):
   * - a GC message (`isTombstone`) with a newer epoch addressed to this peer: destroy;
   * - from a peer that is not in the region, with an older epoch: drop (a vote also gets a GC
   *   message back, so a removed peer that never learned it was removed destroys itself);
   * - for a lower peer id than ours: drop; for a higher one: this peer is stale — destroy it and
   *   hand the message to the store, which creates the newer peer;
   * - a snapshot that does not name this peer, or whose range another region here holds: drop.
   */
  private onRaftMessage(m: raft_serverpb.RaftMessage): void {
    const toId = Number(m.toPeer?.id ?? 0n);
    if (m.isTombstone) {
      if (toId === this.peerId && m.regionEpoch && isEpochStale(epochOf(this.region), m.regionEpoch)) {
        this.destroy("a newer member of the region says this peer was removed");
      }
      return;
    }
    if (!m.message) return;
    const fromId = m.fromPeer?.id ?? 0n;
    const inRegion = this.region.peers.some((p) => p.id === fromId);
    if (this.isInitialized && !inRegion && m.regionEpoch && isEpochStale(m.regionEpoch, epochOf(this.region))) {
      // Tell a removed peer that campaigns with an old epoch that it is no longer a member.
      if (isVote(m.message) && m.fromPeer) this.ctx.transport.send(gcMessage(this.region, this.meta(), m.fromPeer));
      return;
    }
    if (toId !== this.peerId) {
      if (toId > this.peerId) {
        this.destroy(`a message for peer ${toId} of this region arrived: this peer (${this.peerId}) is stale`);
        this.ctx.router.sendStore({ type: "raftMessage", msg: m });
      }
      return;
    }
    this.silentTicks = 0;
    if (fromId !== 0n) this.stats.heard(Number(fromId), this.ctx.clock.now());
    const t = m.message.msgType;
    if (t === eraftpb.MessageType.MsgAppend || t === eraftpb.MessageType.MsgHeartbeat || t === eraftpb.MessageType.MsgSnapshot) this.leaderContactMs = this.ctx.clock.now();
    if (m.message.msgType === eraftpb.MessageType.MsgSnapshot && !this.acceptSnapshot(m)) return;
    if (m.fromPeer) this.peerCache.set(Number(m.fromPeer.id), m.fromPeer);
    let raftMsg;
    try {
      raftMsg = messageFromPb(m.message);
    } catch (e) {
      this.ctx.log.warn({ regionId: this.regionId, peerId: this.peerId, err: String(e) }, "malformed raft message; dropped");
      return;
    }
    const r = this.raw.step(raftMsg);
    if (!r.ok && r.error.code !== "StepPeerNotFound") {
      this.ctx.log.debug({ regionId: this.regionId, peerId: this.peerId, err: r.error.message }, "raft message refused");
    }
  }

  get isInitialized(): boolean {
    return this.storage.isInitialized;
  }

  /** Whether a snapshot may be installed here: it names this peer and its range is free on this store. */
  private acceptSnapshot(m: raft_serverpb.RaftMessage): boolean {
    let region: metapb.Region | undefined;
    try {
      region = raft_serverpb.RaftSnapshotData.decode(m.message!.snapshot?.data ?? Buffer.alloc(0)).region;
    } catch {
      region = undefined;
    }
    const drop = (why: string) => {
      this.ctx.log.info({ regionId: this.regionId, peerId: this.peerId }, `snapshot dropped: ${why}`);
      return false;
    };
    if (!region) return drop("it carries no region");
    if (!region.peers.some((p) => Number(p.id) === this.peerId)) return drop("its region does not include this peer");
    if (this.isInitialized && isEpochStale(epochOf(region), epochOf(this.region))) return drop("its region epoch is older than ours");
    const conflict = this.ctx.meta.rangeConflict(this.regionId, region.startKey, region.endKey);
    if (conflict) return drop(conflict);
    return true;
  }

  private onTick(tick: PeerTick): void {
    switch (tick) {
      case PeerTick.Raft:
        this.raw.tick();
        this.expireProposals();
        this.splitter.onRaftTick();
        this.maybeCheckStale();
        // A new replica that caught up (snapshot applied) ends the scheduler's add step: report
        // it now rather than at the next periodic heartbeat.
        if (this.isLeader && this.stats.reportedPending > 0 && this.pendingPeers().length < this.stats.reportedPending) this.onHeartbeatTick();
        // A peer created by a message and then removed before its snapshot arrived hears from
        // nobody again (it is in no one's configuration and cannot campaign): it goes. If it is
        // still wanted, the leader's next heartbeat creates it again.
        if (!this.isInitialized && ++this.silentTicks > UNINITIALIZED_SILENCE_TIMEOUTS * this.ctx.cfg.raftElectionTimeoutTicks) {
          this.destroy(`uninitialized and unheard of for ${this.silentTicks} ticks`);
        }
        return;
      case PeerTick.RaftLogGc:
        this.onRaftLogGcTick();
        return;
      case PeerTick.SplitCheck:
        this.splitter.onSplitCheckTick();
        return;
      case PeerTick.SchedulerHeartbeat:
        this.onHeartbeatTick();
        return;
      default: {
        const never: never = tick;
        throw new Error(`unknown tick ${String(never)}`);
      }
    }
  }

  // ---- proposals and reads --------------------------------------------------------------

  private notLeader(): RegionError {
    const lead = this.raw.raft.lead;
    return { kind: "NotLeader", regionId: BigInt(this.regionId), leader: lead !== 0 ? this.peerCache.get(lead) : undefined };
  }

  private onRaftCmd(req: raft_cmdpb.RaftCmdRequest, callback: ProposalCallback, deadline: number): void {
    const fail = (error: ProposalFailure) => {
      this.ctx.metrics.proposals.inc({ kind: req.adminRequest ? "admin" : "write", result: error.kind });
      callback({ ok: false, error });
    };
    const header = req.header;
    if (header?.peer && header.peer.storeId !== 0n && header.peer.storeId !== this.ctx.storeId) {
      return fail({ kind: "StoreNotMatch", requestStoreId: header.peer.storeId, actualStoreId: this.ctx.storeId });
    }
    if (!this.isLeader) return fail(this.notLeader());
    if (header && header.term !== 0n && BigInt(this.raw.raft.term) > header.term + 1n) {
      return fail({ kind: "StaleCommand" });
    }
    // A client with a stale epoch gets the pieces of the last split too, so its cache covers
    // the whole old range again without asking the scheduler.
    const epochErr = checkRegionEpoch(req, this.region, this.splitter.siblingRegions());
    if (epochErr) return fail(epochErr);

    if (req.adminRequest) return this.proposeAdmin(req, callback, deadline, fail);

    const isRead = req.requests.length > 0 && req.requests.every((r) => r.cmdType === raft_cmdpb.CmdType.Get || r.cmdType === raft_cmdpb.CmdType.Snap);
    const isWrite = req.requests.every(
      (r) =>
        r.cmdType === raft_cmdpb.CmdType.Put ||
        r.cmdType === raft_cmdpb.CmdType.Delete ||
        r.cmdType === raft_cmdpb.CmdType.DeleteRange ||
        r.cmdType === raft_cmdpb.CmdType.CompareAndSwap,
    );
    if (req.requests.length === 0 || (!isRead && !isWrite)) {
      return fail({ kind: "InvalidRequest", message: "a raft command must hold only reads (Get/Snap) or only writes (Put/Delete/DeleteRange/CompareAndSwap), and at least one" });
    }
    const keyErr = checkProposedKeys(req, this.region);
    if (keyErr) return fail(keyErr);
    this.splitter.recordRequests(req);
    if (isRead) {
      this.stats.countReads(req.requests.length);
      this.reads.push(req, callback, deadline);
      return;
    }
    if (this.proposals.length + this.batch.length >= this.ctx.cfg.maxPendingProposalsPerPeer) {
      return fail({ kind: "ServerIsBusy", reason: `region ${this.regionId} has ${this.proposals.length + this.batch.length} proposals in flight`, backoffMs: 50n });
    }
    this.propose(req, callback, deadline, fail);
  }

  private proposeAdmin(req: raft_cmdpb.RaftCmdRequest, callback: ProposalCallback, deadline: number, fail: (e: ProposalFailure) => void): void {
    const admin = req.adminRequest!;
    switch (admin.cmdType) {
      case raft_cmdpb.AdminCmdType.TransferLeader: {
        // Not a log entry: the leader starts the transfer and answers at once.
        const to = admin.transferLeader?.peer;
        if (!to) return fail({ kind: "InvalidRequest", message: "TransferLeader without a target peer" });
        // Never to a peer that is unreachable or far behind: raft would block proposals for an
        // election timeout waiting for it, and a scheduler re-sending the step would do it again.
        const refusal = this.transferRefusal(Number(to.id));
        if (refusal) return fail({ kind: "ServerIsBusy", reason: `region ${this.regionId}: not transferring leadership to peer ${to.id}: ${refusal}`, backoffMs: 100n });
        // Writes accepted before the transfer go first.
        this.flushProposals();
        this.raw.transferLeader(Number(to.id));
        callback({
          ok: true,
          response: { header: { error: undefined, uuid: Buffer.alloc(0), currentTerm: BigInt(this.raw.raft.term) }, responses: [], adminResponse: { cmdType: admin.cmdType, transferLeader: {} } },
        });
        return;
      }
      case raft_cmdpb.AdminCmdType.CompactLog:
        this.propose(req, callback, deadline, fail);
        return;
      case raft_cmdpb.AdminCmdType.ChangePeer:
        this.proposeChangePeer(req, callback, deadline, fail);
        return;
      case raft_cmdpb.AdminCmdType.Split:
      case raft_cmdpb.AdminCmdType.BatchSplit: {
        const err = checkBatchSplit(this.region, batchSplitOf(admin), MAX_SPLIT_KEYS);
        if (err) return fail(err);
        this.propose(req, callback, deadline, fail);
        return;
      }
      default:
        return fail({ kind: "InvalidRequest", message: `admin command ${admin.cmdType} is not supported` });
    }
  }

  /**
   * Propose a ChangePeer as a raft conf change whose context is the whole request. A leader asked
   * to remove itself hands leadership to the most up-to-date other voter first and answers
   * NotLeader with that hint: the new leader then removes it as a follower, so a removed leader
   * never has to tell the others that its own removal committed (the two-peer wedge).
   */
  private proposeChangePeer(req: raft_cmdpb.RaftCmdRequest, callback: ProposalCallback, deadline: number, fail: (e: ProposalFailure) => void): void {
    const cp = req.adminRequest!.changePeer;
    const err = checkChangePeer(this.region, cp);
    if (err) return fail(err);
    const target = cp!.peer!;
    if (cp!.changeType === eraftpb.ConfChangeType.RemoveNode && Number(target.id) === this.peerId) {
      let best = 0;
      let bestMatch = -1;
      for (const [id, pr] of this.raw.raft.prs.progress) {
        if (id !== this.peerId && this.raw.raft.prs.isVoter(id) && pr.match > bestMatch) {
          best = id;
          bestMatch = pr.match;
        }
      }
      if (best === 0) return fail({ kind: "InvalidRequest", message: `region ${this.regionId}: cannot remove the leader, it has no other voter` });
      this.flushProposals();
      this.raw.transferLeader(best);
      return fail({ kind: "NotLeader", regionId: BigInt(this.regionId), leader: this.peerCache.get(best) });
    }
    const data = raft_cmdpb.RaftCmdRequest.encode(req).finish();
    // Writes accepted earlier this round go first (proposals stay in index order).
    this.flushProposals();
    const before = this.raw.raft.raftLog.lastIndex();
    const r = this.raw.proposeConfChange({ type: raftChangeType(cp!.changeType), nodeId: Number(target.id), context: data });
    if (!r.ok) return fail({ kind: "ServerIsBusy", reason: r.error.message, backoffMs: 50n });
    if (this.raw.raft.raftLog.lastIndex() !== before + 1) throw new Error(`region ${this.regionId}: a conf change was accepted but not appended at ${before + 1}`);
    const proposal = new Proposal(callback, deadline);
    proposal.index = before + 1;
    proposal.term = this.raw.raft.term;
    proposal.proposedAt = this.ctx.clock.now();
    this.proposals.push(proposal);
    this.ctx.metrics.proposals.inc({ kind: "admin", result: "proposed" });
  }

  /**
   * Accept a write for this round. The round's writes are appended together by `flushProposals`,
   * so raft sends each follower one append for all of them rather than one per write.
   */
  private propose(req: raft_cmdpb.RaftCmdRequest, callback: ProposalCallback, deadline: number, fail: (e: ProposalFailure) => void): void {
    const data = raft_cmdpb.RaftCmdRequest.encode(req).finish();
    if (data.byteLength > this.ctx.cfg.maxRaftEntryBytes) {
      return fail({ kind: "RaftEntryTooLarge", regionId: BigInt(this.regionId), entrySize: BigInt(data.byteLength) });
    }
    this.batch.push({ data, proposal: new Proposal(callback, deadline), fail, kind: req.adminRequest ? "admin" : "write" });
  }

  /** Append the writes accepted this round as one raft proposal and queue them at their (index, term). */
  private flushProposals(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    // A message handled later in the round may have deposed us (raft would forward the entries).
    if (!this.isLeader) {
      for (const b of batch) b.fail(this.notLeader());
      return;
    }
    const before = this.raw.raft.raftLog.lastIndex();
    const r = this.raw.proposeBatch(batch.map((b) => b.data));
    if (!r.ok) {
      // Dropped: a leader transfer in progress, or flow control.
      for (const b of batch) b.fail({ kind: "ServerIsBusy", reason: r.error.message, backoffMs: 20n });
      return;
    }
    const last = this.raw.raft.raftLog.lastIndex();
    if (last !== before + batch.length) throw new Error(`region ${this.regionId}: ${batch.length} proposals appended up to ${last}, expected ${before + batch.length}`);
    const term = this.raw.raft.term;
    const now = this.ctx.clock.now();
    batch.forEach((b, i) => {
      b.proposal.index = before + 1 + i;
      b.proposal.term = term;
      this.proposals.push(b.proposal);
      b.proposal.proposedAt = now;
      this.ctx.metrics.proposals.inc({ kind: b.kind, result: "proposed" });
    });
  }

  private expireProposals(): void {
    const now = this.ctx.clock.now();
    // Deadlines are per proposal, not in index order: look at every one.
    if (this.proposals.some((p) => p.deadline <= now)) {
      // Settled as timed out; the entry may still apply later (the client must not assume either).
      for (const p of this.proposals) {
        if (p.deadline <= now) {
          p.fail({ kind: "Timeout", message: `region ${this.regionId}: proposal at index ${p.index} not applied before its deadline; it may still apply` });
        }
      }
      this.proposals = this.proposals.filter((p) => !p.isSettled);
    }
    this.reads.expire(now);
  }

  // ---- the Ready cycle (called by the raft worker) ---------------------------------------

  /** Take a Ready if there is one: its log writes go into the group-commit batch `wb`. */
  collectReady(wb: WriteBatch): PendingReady | undefined {
    this.flushProposals();
    // Reads queued this round share one ReadIndex request.
    if (this.reads.hasUnsent()) {
      if (this.isLeader) this.raw.readIndex(this.reads.issue());
      else this.reads.failAll(this.notLeader());
    }
    if (!this.raw.hasReady()) return undefined;
    const rd = this.raw.ready();
    if (rd.softState && rd.softState.raftState !== StateRole.Leader) {
      // No longer leader: queued reads can never be confirmed by us.
      this.reads.failAll(this.notLeader());
    } else if (rd.softState) {
      // Just elected: the scheduler (and through it the clients) learns the new leader at once,
      // and a region never measured (a split piece) is measured. Every peer counts as just heard
      // from (down time is measured from here).
      this.stats.elected(this.region.peers, this.ctx.clock.now());
      this.onHeartbeatTick();
      this.splitter.onElected();
    }
    const { snapshotRegion } = this.storage.saveReadyState(rd, wb);
    if (snapshotRegion) for (const p of snapshotRegion.peers) this.peerCache.set(Number(p.id), p);
    return { rd };
  }

  /** After the group commit: the messages may leave. */
  sendMessages(p: PendingReady): void {
    for (const m of p.rd.messages) {
      const to = this.peerCache.get(m.to);
      if (!to) {
        this.ctx.log.debug({ regionId: this.regionId, peerId: this.peerId, to: m.to }, "no address for raft peer; message dropped");
        continue;
      }
      const msg: raft_serverpb.RaftMessage = {
        regionId: BigInt(this.regionId),
        fromPeer: this.meta(),
        toPeer: to,
        message: messageToPb(m),
        regionEpoch: this.region.regionEpoch,
        isTombstone: false,
        startKey: this.region.startKey,
        endKey: this.region.endKey,
      };
      if (!this.ctx.transport.send(msg)) {
        this.ctx.metrics.messagesDropped.inc();
        this.raw.reportUnreachable(m.to);
      }
    }
  }

  /** Apply the Ready's committed entries into the shared apply batch. */
  applyCommitted(p: PendingReady, wb: WriteBatch): ApplyOutput | undefined {
    const rd = p.rd;
    for (const rs of rd.readStates) this.reads.onReadState(rs.index, rs.requestCtx);
    if (rd.committedEntries.length === 0) return undefined;
    return applyEntries(this.storage, rd.committedEntries, wb, (e, b) => this.applyConfChange(e, b));
  }

  /** Apply a committed conf change (see conf-change.ts): re-check, new region in `wb`, raft, peer cache. */
  private applyConfChange(e: Entry, wb: WriteBatch): ConfChangeOutcome {
    const cc = decodeConfChange(e.data);
    const refused = (message: string): ConfChangeOutcome => ({
      response: errorResponse({ kind: "EpochNotMatch", message, currentRegions: [this.region] }, e.term),
      changed: false,
      removedSelf: false,
    });
    let req: raft_cmdpb.RaftCmdRequest;
    try {
      req = raft_cmdpb.RaftCmdRequest.decode(cc.context);
    } catch (err) {
      throw new Error(`region ${this.regionId}: committed conf change ${e.index} has a context that does not decode: ${String(err)}`, { cause: err });
    }
    const epochErr = checkRegionEpoch(req, this.region);
    if (epochErr) return refused(epochErr.kind === "EpochNotMatch" ? epochErr.message : `region ${this.regionId}: conf change refused at apply`);
    const cp = req.adminRequest?.changePeer;
    const err = checkChangePeer(this.region, cp);
    if (err) return refused(`region ${this.regionId}: conf change at ${e.index} not applied: ${err.kind === "EpochNotMatch" || err.kind === "InvalidRequest" ? err.message : err.kind}`);
    const region = changedRegion(this.region, cp!);
    this.storage.region = region;
    wb.setRegionState(this.regionId, { state: raft_serverpb.PeerState.Normal, region });
    const target = cp!.peer!;
    if (cp!.changeType === eraftpb.ConfChangeType.RemoveNode) this.peerCache.delete(Number(target.id));
    else this.peerCache.set(Number(target.id), region.peers.find((p) => p.id === target.id)!);
    this.raw.applyConfChange(cc);
    this.ctx.log.info({ regionId: this.regionId, peerId: this.peerId, change: cp!.changeType, peer: String(target.id), store: String(target.storeId), confVer: String(region.regionEpoch!.confVer) }, "membership changed");
    const response = okResponse(e.term);
    response.adminResponse = { cmdType: raft_cmdpb.AdminCmdType.ChangePeer, changePeer: { region } };
    return { response, changed: true, removedSelf: cp!.changeType === eraftpb.ConfChangeType.RemoveNode && Number(target.id) === this.peerId };
  }

  /** After the apply batch is committed: settle proposals, serve reads, side effects, advance. */
  afterApply(p: PendingReady, out: ApplyOutput | undefined): void {
    if (out) {
      const now = this.ctx.clock.now();
      for (const res of out.results) this.settleAt(res.index, res.term, res.response, now);
      this.splitter.onApplied(out.writtenBytes, out.writtenKeys);
      this.stats.countWrites(out.writtenBytes, out.writtenKeys);
      this.ctx.traffic.bytesWritten += out.writtenBytes;
      this.ctx.traffic.keysWritten += out.writtenKeys;
      for (const se of out.sideEffects) {
        if (se.kind === "compactLog") {
          // The log below the compact index is no longer needed: delete it in the background.
          const lo = this.lastCompactedIndex;
          const hi = se.compactIndex + 1;
          if (hi > lo) this.ctx.schedule({ worker: "raftLogGc", regionId: this.regionId, lo, hi });
          this.lastCompactedIndex = hi;
        }
      }
    }
    this.raw.advance(p.rd);
    // New pieces first (before a removal in the same batch destroys this peer, and so that reads
    // refused by a split can name them).
    for (const split of out?.splits ?? []) this.onSplitApplied(split);
    if (out?.removedSelf) {
      // A removed leader has just shared the commit and handed leadership on (raft's step-down):
      // those messages must leave before the peer goes, or a two-peer group could wedge.
      if (this.raw.hasReady()) this.sendMessages({ rd: this.raw.ready() });
      this.ctx.transport.flush();
      this.destroy("removed from the region");
      return;
    }
    this.reads.serveApplied(this.storage.applyState.appliedIndex, this.ctx.engine, this.ctx.metrics, this.region, () => this.splitter.siblingRegions(), this.raw.raft.term);
    // The scheduler learns a new membership or range at once (its operator finishes, clients re-route).
    if (out?.confChanged || (out && out.splits.length > 0)) this.onHeartbeatTick();
    else if (out) this.splitter.afterWrites();
  }

  /**
   * A split applied: this peer now holds the derived piece; the store creates peers for the new
   * pieces (they campaign at once where this peer led, so the halves serve without waiting for an
   * election timeout). Sizes are measured again: the pieces of a region far past the limit are
   * split further by the next check.
   */
  private onSplitApplied(split: AppliedSplit): void {
    this.splitter.onSplitApplied(split);
    this.ctx.metrics.splits.inc();
    this.ctx.log.info(
      { regionId: this.regionId, peerId: this.peerId, version: String(epochOf(this.region).version), regions: split.regions.map((r) => String(r.id)), leader: this.isLeader },
      "region split",
    );
    this.ctx.meta.splitApplied(this.regionId, split, this.isLeader);
    if (this.isLeader) this.splitter.scheduleCheck("size");
  }

  /**
   * Destroy this peer: pending proposals fail (RegionNotFound), the raft log and states go and the
   * region state becomes Tombstone in one synced write, the data range is deleted by the region
   * worker (only if the peer ever held data), and the store takes the peer out of its router.
   */
  destroy(why: string): void {
    if (this.destroyed) return;
    this.ctx.log.info({ regionId: this.regionId, peerId: this.peerId, why }, "destroying peer");
    // An uninitialized peer has no data, log or region state, only its hard state: that stays,
    // so a vote it cast is remembered by whichever peer of the region this store gets next.
    if (this.isInitialized) {
      const wb = new WriteBatch();
      wb.clearRaftMeta(this.regionId);
      wb.setRegionState(this.regionId, { state: raft_serverpb.PeerState.Tombstone, region: this.region });
      this.ctx.engine.write(wb, { sync: true });
      this.ctx.schedule({ worker: "region", kind: "destroy", regionId: this.regionId, startKey: this.region.startKey, endKey: this.region.endKey });
    }
    this.stop();
    this.destroyed = true;
    this.ctx.router.sendStore({ type: "peerDestroyed", regionId: this.regionId, peerId: this.peerId });
  }

  /**
   * The scheduler's answer to a heartbeat: an operator step to carry out, with the epoch it was
   * computed against. The scheduler re-sends a step until it sees the result, so a step that
   * already happened must be harmless: the epoch check (ChangePeer: conf_ver) or `checkChangePeer`
   * refuses it.
   */
  private onHeartbeatResponse(resp: schedulerpb.RegionHeartbeatResponse): void {
    if (!this.isLeader) return;
    if (resp.splitRegion) {
      // A split step: with keys, split there; otherwise find the middle key first. Only against
      // the epoch the scheduler saw (a re-sent step after the split is a no-op).
      const version = resp.regionEpoch?.version ?? epochOf(this.region).version;
      if (version !== epochOf(this.region).version) return;
      if (resp.splitRegion.policy === schedulerpb.CheckPolicy.USEKEY) this.splitter.askSplit(resp.splitRegion.keys, version, "scheduler");
      else this.splitter.scheduleCheck("half");
      return;
    }
    let admin: raft_cmdpb.AdminRequest | undefined;
    if (resp.changePeer?.peer) {
      admin = { cmdType: raft_cmdpb.AdminCmdType.ChangePeer, changePeer: { changeType: resp.changePeer.changeType, peer: resp.changePeer.peer } };
    } else if (resp.transferLeader?.peer) {
      if (Number(resp.transferLeader.peer.id) === this.peerId) return;
      admin = { cmdType: raft_cmdpb.AdminCmdType.TransferLeader, transferLeader: { peer: resp.transferLeader.peer } };
    }
    if (!admin) return;
    const req: raft_cmdpb.RaftCmdRequest = {
      header: { regionId: BigInt(this.regionId), peer: this.meta(), readQuorum: false, regionEpoch: resp.regionEpoch ?? this.region.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
      requests: [],
      adminRequest: admin,
    };
    this.onRaftCmd(req, (r) => {
      if (!r.ok) this.ctx.log.debug({ regionId: this.regionId, err: r.error.kind }, "scheduler operator step not carried out");
    }, this.ctx.clock.now() + this.ctx.cfg.proposalTimeoutMs);
  }

  /** Why leadership should not go to `peerId` now, or undefined if it may. */
  private transferRefusal(peerId: number): string | undefined {
    if (peerId === this.peerId) return undefined;
    const pr = this.raw.raft.prs.progress.get(peerId);
    if (!pr || !this.raw.raft.prs.isVoter(peerId)) return "it is not a voter of the region";
    const now = this.ctx.clock.now();
    const heard = this.stats.lastHeardAt(peerId);
    const window = this.ctx.cfg.raftElectionTimeoutTicks * this.ctx.cfg.raftBaseTickMs;
    if (heard === undefined || now - heard > window) return `nothing heard from it for ${heard === undefined ? "ever" : `${now - heard} ms`}`;
    const lag = this.raw.raft.raftLog.lastIndex() - pr.match;
    if (lag > TRANSFER_LEADER_MAX_LAG) return `it is ${lag} entries behind`;
    return undefined;
  }

  /** Settle the proposals up to `index`: the one at (index, term) with `resp`, older ones stale. */
  private settleAt(index: number, term: number, resp: raft_cmdpb.RaftCmdResponse, now: number): void {
    while (this.proposals.length > 0) {
      const p = this.proposals[0]!;
      if (p.index > index) return;
      this.proposals.shift();
      if (p.index === index && p.term === term) {
        this.ctx.metrics.applyLatency.observe((now - p.proposedAt) / 1000);
        p.settle({ ok: true, response: resp });
        return;
      }
      // Its entry was overwritten by another leader's (or never committed): superseded.
      p.fail({ kind: "StaleCommand" });
    }
  }

  // ---- ticks with background work -------------------------------------------------------

  private onRaftLogGcTick(): void {
    if (!this.isLeader) return;
    const applied = this.storage.applyState.appliedIndex;
    const first = this.storage.firstIndex();
    // Compact when the log holds too many entries or too many bytes.
    const tooLong = applied - first >= this.ctx.cfg.raftLogGcCountLimit;
    const tooBig = this.storage.logSizeHint >= this.ctx.cfg.raftLogGcSizeLimit;
    if (applied <= first || (!tooLong && !tooBig)) return;
    // Compact below the slowest follower that is still replicating, but never hold the log
    // beyond the count limit for a follower that is far behind (it will get a snapshot).
    let compactIndex = applied - 1;
    const prs = this.raw.raft.prs.progress;
    for (const [id, pr] of prs) {
      if (id === this.peerId) continue;
      if (pr.match >= first && applied - pr.match < this.ctx.cfg.raftLogGcCountLimit) compactIndex = Math.min(compactIndex, pr.match);
    }
    if (compactIndex < first) return;
    const term = this.raw.raft.raftLog.zeroTermOnCompacted(compactIndex);
    const req: raft_cmdpb.RaftCmdRequest = {
      header: { regionId: BigInt(this.regionId), peer: this.meta(), readQuorum: false, regionEpoch: this.region.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
      requests: [],
      adminRequest: { cmdType: raft_cmdpb.AdminCmdType.CompactLog, compactLog: { compactIndex: BigInt(compactIndex), compactTerm: BigInt(term) } },
    };
    this.propose(req, () => {}, this.ctx.clock.now() + this.ctx.cfg.proposalTimeoutMs, () => {});
  }

  /**
   * A peer that has heard from no leader for maxLeaderMissingMs may have been removed while cut
   * off (a learner never campaigns, so no GC reply would ever come): ask the scheduler, at most
   * once per maxLeaderMissingMs. TiKV's max_leader_missing_duration check.
   */
  private maybeCheckStale(): void {
    const now = this.ctx.clock.now();
    if (this.isLeader) {
      this.leaderContactMs = now;
      return;
    }
    if (!this.isInitialized) return;
    const limit = this.ctx.cfg.maxLeaderMissingMs;
    if (now - this.leaderContactMs <= limit || now - this.staleCheckMs <= limit) return;
    this.staleCheckMs = now;
    this.ctx.schedule({ worker: "scheduler", kind: "checkStalePeer", regionId: this.regionId, peerId: this.peerId, epoch: epochOf(this.region) });
  }

  private onHeartbeatTick(): void {
    if (!this.isLeader) return;
    const now = this.ctx.clock.now();
    const pendingPeers = this.pendingPeers();
    this.stats.reportedPending = pendingPeers.length;
    this.ctx.schedule({
      worker: "scheduler",
      kind: "regionHeartbeat",
      heartbeat: {
        region: this.region,
        leader: this.meta(),
        approximateSize: this.splitter.approximateSize ?? 0,
        approximateKeys: this.splitter.approximateKeys ?? 0,
        pendingPeers,
        downPeers: this.stats.downPeers(this.region, this.peerId, now, this.ctx.cfg.maxPeerDownMs),
        ...this.stats.takeTraffic(now),
        term: this.raw.raft.term,
      },
    });
  }

  /** Followers whose log is behind the leader's first index (they need a snapshot). */
  pendingPeers(): metapb.Peer[] {
    const out: metapb.Peer[] = [];
    const first = this.storage.firstIndex();
    for (const [id, pr] of this.raw.raft.prs.progress) {
      if (id !== this.peerId && pr.match < first - 1) {
        const p = this.peerCache.get(id);
        if (p) out.push(p);
      }
    }
    return out;
  }

  /** Stop: every waiting proposal and read fails with RegionNotFound. */
  stop(): void {
    this.stopped = true;
    const err: RegionError = { kind: "RegionNotFound", regionId: BigInt(this.regionId) };
    for (const p of this.proposals) p.fail(err);
    this.proposals = [];
    for (const b of this.batch) b.fail(err);
    this.batch = [];
    this.reads.failAll(err);
  }
}
