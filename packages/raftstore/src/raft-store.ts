/**
 * RaftStore: the multi-raft node of one store. It owns the peers (one per region on this store),
 * the router, the raft worker, the background workers and the tick driver, and it is what the
 * server (KV service, raft transport) talks to: `propose` for client commands, `onRaftMessage`
 * for messages from other stores.
 *
 * Modes: `production` ticks on a timer and runs the raft worker whenever mail arrives;
 * `manual` does nothing by itself: a test calls `tick()`, `poll()` and `runWorkers()`.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import type { Engine } from "@regionkv/engine";
import { eraftpb, raft_serverpb, type metapb, type raft_cmdpb, type schedulerpb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import type { AppliedSplit } from "./apply.js";
import { LoadSplitter, loadSplitOptions } from "./load-split.js";
import pino, { type Logger } from "pino";
import { readStoreIdent } from "./bootstrap.js";
import { resolveRaftstoreConfig, type RaftstoreConfig } from "./config.js";
import type { PeerMsg, StoreMsg } from "./messages.js";
import { StoreTick } from "./messages.js";
import { RaftstoreMetrics } from "./metrics.js";
import { Peer } from "./peer.js";
import { proposalPromise, type ProposalResult } from "./proposal.js";
import { RaftWorker } from "./raft-worker.js";
import { Router } from "./router.js";
import type { SchedulerClient } from "./scheduler-client.js";
import { epochOf, gcMessage, isEpochStale, isVote } from "./region-util.js";
import type { Clock, StoreContext } from "./store-context.js";
import { TickDriver } from "./tick-driver.js";
import type { Transport } from "./transport.js";
import { Workers } from "./workers/workers.js";

export interface RaftStoreOptions {
  storeId: bigint;
  engine: Engine;
  transport: Transport;
  config?: Partial<RaftstoreConfig>;
  scheduler?: SchedulerClient;
  clock?: Clock;
  logger?: Logger;
  /** Seed of all randomness (election timeouts); default: random. */
  seed?: number;
  mode?: "production" | "manual";
  metrics?: RaftstoreMetrics;
}

export interface ProposeOptions {
  /** Absolute deadline in the store clock's ms; default now + proposalTimeoutMs. */
  deadline?: number;
  signal?: AbortSignal;
}

export class RaftStore {
  readonly storeId: bigint;
  readonly cfg: RaftstoreConfig;
  readonly router: Router;
  readonly peers = new Map<number, Peer>();
  readonly metrics: RaftstoreMetrics;
  readonly log: Logger;
  readonly workers: Workers;
  readonly ticker: TickDriver;
  private readonly ctx: StoreContext;
  private readonly worker: RaftWorker;
  private readonly mode: "production" | "manual";
  private polling = false;
  private stopped = false;
  private readonly startTime = Date.now();
  /** When the store statistics were last taken (their traffic counters cover the time since). */
  private lastStoreHeartbeatMs: number;
  /** Ranges of destroyed peers whose data the region worker has not deleted yet (no snapshot may land there). */
  private readonly pendingDeletes = new Map<number, { startKey: Buffer; endKey: Buffer }>();
  /**
   * Votes for regions this store does not have yet because it has not applied their split (the
   * parent here still covers the range): replayed after each split here, so the new region elects
   * at once instead of after an election timeout. Oldest dropped past PENDING_VOTES_LIMIT.
   */
  private pendingVotes: raft_serverpb.RaftMessage[] = [];

  constructor(opts: RaftStoreOptions) {
    this.storeId = opts.storeId;
    this.cfg = resolveRaftstoreConfig(opts.config);
    this.mode = opts.mode ?? "production";
    this.log = (opts.logger ?? pino({ level: "warn" })).child({ storeId: String(opts.storeId) });
    this.metrics = opts.metrics ?? new RaftstoreMetrics({ store: String(opts.storeId) });
    this.router = new Router();
    const seed = opts.seed ?? crypto.randomInt(1, 2 ** 31);
    const random = seededRandom(seed);
    const clock = opts.clock ?? { now: () => Date.now() };
    this.workers = new Workers(
      {
        engine: opts.engine,
        router: this.router,
        cfg: this.cfg,
        metrics: this.metrics,
        log: this.log,
        scheduler: opts.scheduler,
        storeStats: () => this.storeStats(),
        clock,
      },
      this.mode === "manual" ? "manual" : "async",
    );
    this.ctx = {
      storeId: opts.storeId,
      cfg: this.cfg,
      engine: opts.engine,
      transport: opts.transport,
      router: this.router,
      clock,
      log: this.log,
      metrics: this.metrics,
      random,
      schedule: (t) => {
        if (t.worker === "region" && t.kind === "destroy") this.pendingDeletes.set(t.regionId, { startKey: t.startKey, endKey: t.endKey });
        this.workers.schedule(t);
      },
      meta: {
        rangeConflict: (regionId, startKey, endKey) => this.rangeConflict(regionId, startKey, endKey),
        splitApplied: (regionId, split, parentWasLeader) => this.onSplitApplied(regionId, split, parentWasLeader),
        regionOf: (regionId) => {
          const p = this.peers.get(regionId);
          return p && !p.destroyed && p.isInitialized ? p.region : undefined;
        },
      },
      loadSplitter: new LoadSplitter(loadSplitOptions(this.cfg), clock, seededRandom(seed ^ 0x5bd1e995)),
      traffic: { bytesWritten: 0, keysWritten: 0 },
    };
    this.lastStoreHeartbeatMs = clock.now();
    this.worker = new RaftWorker(this.ctx, this.peers, (regionId, msgs) => this.onUnknownRegion(regionId, msgs));
    this.ticker = new TickDriver(this.cfg, this.router);
    const ident = readStoreIdent(opts.engine);
    if (!ident) throw new Error(`${opts.engine.file} is not bootstrapped as a store (no store identity); bootstrap it first`);
    if (ident.storeId !== opts.storeId) {
      throw new Error(`${opts.engine.file} belongs to store ${ident.storeId}, not ${opts.storeId}`);
    }
    this.loadPeers();
    // Operators from the scheduler come back on the heartbeat stream; the region's peer carries them out.
    opts.scheduler?.onRegionHeartbeatResponse?.((resp) => {
      if (!this.stopped) this.router.send(Number(resp.regionId), { type: "heartbeatResponse", resp });
    });
  }

  get engine(): Engine {
    return this.ctx.engine;
  }

  /**
   * Create a peer for every region of this store that is not a tombstone. A tombstone stays one;
   * its data range is deleted again (the deletion queued before a crash may not have run), unless
   * a live region here has taken the range since.
   */
  private loadPeers(): void {
    const tombstones: metapb.Region[] = [];
    const live: Array<{ regionId: number; region: metapb.Region; peerId: number }> = [];
    for (const [regionId, state] of this.engine.allRegionStates()) {
      if (state.state === raft_serverpb.PeerState.Tombstone) {
        if (state.region && state.region.peers.length > 0) tombstones.push(state.region);
        continue;
      }
      if (!state.region) continue;
      const me = state.region.peers.find((p) => p.storeId === this.storeId);
      if (!me) {
        this.log.warn({ regionId }, "region state has no peer on this store; skipped");
        continue;
      }
      live.push({ regionId, region: state.region, peerId: Number(me.id) });
    }
    // Ranges of live regions never overlap; if stored states do (a bug left a stale one), the
    // newer version wins and the other is not started: starting it would let a snapshot of it
    // clear its stale range, and with it the other region's data.
    live.sort((a, b) => Number((b.region.regionEpoch?.version ?? 0n) - (a.region.regionEpoch?.version ?? 0n)));
    for (const l of live) {
      const taken = this.rangeConflict(l.regionId, l.region.startKey, l.region.endKey);
      if (taken) {
        this.log.error({ regionId: l.regionId, version: String(l.region.regionEpoch?.version ?? 0n), why: taken }, "region state overlaps a newer region on this store; not started");
        continue;
      }
      this.addPeer(new Peer(this.ctx, l.region, l.peerId));
    }
    // Checked against live regions only (nothing is pending yet), then queued.
    const stale = tombstones.filter((t) => this.rangeConflict(Number(t.id), t.startKey, t.endKey) === undefined);
    for (const t of stale) this.ctx.schedule({ worker: "region", kind: "destroy", regionId: Number(t.id), startKey: t.startKey, endKey: t.endKey });
    this.metrics.regionCount.set(this.peers.size);
    this.log.info({ regions: this.peers.size }, "peers loaded");
  }

  private addPeer(p: Peer): void {
    this.peers.set(p.regionId, p);
    this.router.register(p.regionId);
  }

  /** Start every peer; in production mode also the tick timer and the raft worker loop. */
  start(): void {
    // The scheduler counts a store as up (a target for replicas) only once it has heard its
    // statistics: report them now, not one heartbeat interval after start.
    this.workers.schedule({ worker: "scheduler", kind: "storeHeartbeat" });
    if (this.mode === "production") {
      this.router.setOnBusy(() => this.schedulePoll());
      this.ticker.start();
    }
    for (const id of this.peers.keys()) this.router.send(id, { type: "start" });
  }

  private schedulePoll(): void {
    if (this.polling || this.stopped) return;
    this.polling = true;
    setImmediate(() => {
      this.polling = false;
      if (this.stopped) return;
      try {
        this.poll();
      } catch (e) {
        // An engine write failed or an invariant broke: the store cannot go on safely.
        this.log.fatal({ err: e instanceof Error ? e.stack : String(e) }, "raft worker failed; stopping the store");
        this.stop();
        throw e;
      }
      if (this.router.hasWork()) this.schedulePoll();
    });
  }

  /** One raft worker round plus store mail. Returns whether anything was done. */
  poll(): boolean {
    const storeMail = this.router.takeStoreMail();
    for (const m of storeMail) this.onStoreMsg(m);
    return this.worker.poll() || storeMail.length > 0;
  }

  /** Manual mode: one base tick. */
  tick(): void {
    this.ticker.tick();
  }

  /** Manual mode: run queued background tasks. */
  runWorkers(): Promise<number> {
    return this.workers.runPending();
  }

  /**
   * Propose a command (or serve a read) on the region named in its header. Settles once with the
   * result; never rejects.
   */
  propose(request: raft_cmdpb.RaftCmdRequest, opts: ProposeOptions = {}): Promise<ProposalResult> {
    const regionId = Number(request.header?.regionId ?? 0n);
    const deadline = opts.deadline ?? this.ctx.clock.now() + this.cfg.proposalTimeoutMs;
    return proposalPromise((callback) => {
      if (this.stopped || !this.router.send(regionId, { type: "raftCmd", request, callback, deadline })) {
        callback({ ok: false, error: { kind: "RegionNotFound", regionId: BigInt(regionId) } });
      }
    }, opts.signal);
  }

  /** A raft message from another store. */
  onRaftMessage(msg: raft_serverpb.RaftMessage): void {
    if (this.stopped) return;
    const regionId = Number(msg.regionId);
    if (!this.router.send(regionId, { type: "raftMessage", msg })) this.router.sendStore({ type: "raftMessage", msg });
  }

  /** The transport's report on a snapshot it was asked to send. */
  reportSnapshotStatus(regionId: number, toPeerId: number, ok: boolean): void {
    this.router.send(regionId, { type: "snapshotStatus", toPeerId, ok });
  }

  private onUnknownRegion(regionId: number, msgs: PeerMsg[]): void {
    for (const m of msgs) {
      if (m.type === "raftCmd") m.callback({ ok: false, error: { kind: "RegionNotFound", regionId: BigInt(regionId) } });
    }
  }

  private onStoreMsg(m: StoreMsg): void {
    switch (m.type) {
      case "raftMessage":
        this.maybeCreatePeer(m.msg);
        return;
      case "peerDestroyed": {
        const p = this.peers.get(m.regionId);
        if (p && p.peerId === m.peerId && p.destroyed) {
          this.peers.delete(m.regionId);
          this.router.unregister(m.regionId);
          this.metrics.regionCount.set(this.peers.size);
        }
        return;
      }
      case "regionDataDeleted":
        this.pendingDeletes.delete(m.regionId);
        return;
      case "tick":
        if (m.tick === StoreTick.SchedulerStoreHeartbeat) this.workers.schedule({ worker: "scheduler", kind: "storeHeartbeat" });
        return;
      case "start":
        return;
      default: {
        const never: never = m;
        throw new Error(`unknown store message ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Why region `regionId` may not take `[startKey, endKey)` here: an initialized region of this
   * store overlaps it, or a destroyed peer's data there is still being deleted.
   */
  private rangeConflict(regionId: number, startKey: Buffer, endKey: Buffer): string | undefined {
    for (const p of this.peers.values()) {
      if (p.regionId === regionId || p.destroyed || !p.isInitialized) continue;
      if (rangesOverlap(p.region.startKey, p.region.endKey, startKey, endKey)) return `region ${p.regionId} on this store overlaps the range`;
    }
    for (const [id, r] of this.pendingDeletes) {
      if (rangesOverlap(r.startKey, r.endKey, startKey, endKey)) return `the data of destroyed region ${id} in the range is still being deleted`;
    }
    return undefined;
  }

  /**
   * A raft message for a region with no peer here (tinykv.md §1.8): create an uninitialized peer
   * only for an initial message (a vote, or a heartbeat from a leader that knows nothing of us)
   * addressed to this store, when no region here overlaps the sender's range and the region is
   * not a tombstone at least as new as the message. The peer is caught up by a snapshot.
   */
  private maybeCreatePeer(msg: raft_serverpb.RaftMessage): void {
    if (this.stopped) return;
    const regionId = Number(msg.regionId);
    if (this.peers.has(regionId)) {
      // Created by an earlier message of this batch.
      this.router.send(regionId, { type: "raftMessage", msg });
      return;
    }
    const drop = (why: string) => this.log.debug({ regionId, why }, "raft message for a region with no peer here; dropped");
    const to = msg.toPeer;
    if (!to || to.storeId !== this.storeId) return drop("addressed to another store");
    if (msg.isTombstone) return drop("a GC message");
    if (!msg.regionEpoch || !msg.message) return drop("no epoch or no raft message");
    const local = this.engine.getRegionState(regionId);
    if (local?.state === raft_serverpb.PeerState.Tombstone && local.region) {
      const tomb = epochOf(local.region);
      if (msg.regionEpoch.confVer <= tomb.confVer || isEpochStale(msg.regionEpoch, tomb)) {
        if (isVote(msg.message) && msg.fromPeer && !local.region.peers.some((p) => p.id === msg.fromPeer!.id) && isEpochStale(msg.regionEpoch, tomb)) {
          this.ctx.transport.send(gcMessage(local.region, to, msg.fromPeer));
        }
        return drop("the region is a tombstone here and the message is not newer");
      }
    } else if (local) {
      // Normal state but no running peer: should not happen (a split's pieces are started once
      // applied, destroyed peers leave tombstones); start it from its persisted state rather
      // than leaving the region without its replica here.
      const me = local.region?.peers.find((p) => p.storeId === this.storeId);
      if (local.state !== raft_serverpb.PeerState.Normal || !local.region || !me) return drop("the region has state here but no running peer");
      // Never over a live region's range: a stale range started here would later be cleared
      // by a snapshot of it, taking the other region's data along.
      const taken = this.rangeConflict(regionId, local.region.startKey, local.region.endKey);
      if (taken) return drop(`the region has state here but no running peer, and ${taken}`);
      this.log.warn({ regionId }, "region had state here but no running peer; starting it from its persisted state");
      this.addPeer(new Peer(this.ctx, local.region, Number(me.id)));
      this.metrics.regionCount.set(this.peers.size);
      this.router.send(regionId, { type: "start" });
      this.router.send(regionId, { type: "raftMessage", msg });
      return;
    }
    if (!isInitialMessage(msg.message)) return drop("not an initial message");
    const conflict = this.rangeConflict(regionId, msg.startKey, msg.endKey);
    if (conflict) {
      if (this.isFromUnappliedSplit(msg) && isVote(msg.message)) {
        this.pendingVotes.push(msg);
        if (this.pendingVotes.length > PENDING_VOTES_LIMIT) this.pendingVotes.shift();
        return drop(`${conflict}; kept until a split here frees the range`);
      }
      return drop(conflict);
    }
    const region: metapb.Region = { id: msg.regionId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: 0n, version: 0n }, peers: [] };
    const peer = new Peer(this.ctx, region, Number(to.id));
    this.addPeer(peer);
    this.metrics.regionCount.set(this.peers.size);
    this.log.info({ regionId, peerId: Number(to.id) }, "peer created by a raft message");
    this.router.send(regionId, { type: "raftMessage", msg });
  }

  /** Whether `msg`'s range lies in a region here whose version is older than the message's (it has a split to apply). */
  private isFromUnappliedSplit(msg: raft_serverpb.RaftMessage): boolean {
    const version = msg.regionEpoch?.version ?? 0n;
    for (const p of this.peers.values()) {
      if (p.destroyed || !p.isInitialized) continue;
      if (!rangesOverlap(p.region.startKey, p.region.endKey, msg.startKey, msg.endKey)) continue;
      const r = p.region;
      const inside = Buffer.compare(msg.startKey, r.startKey) >= 0 && (r.endKey.length === 0 || (msg.endKey.length > 0 && Buffer.compare(msg.endKey, r.endKey) <= 0));
      return inside && epochOf(r).version < version;
    }
    return false;
  }

  /**
   * A peer here applied a split (its apply batch is committed): start peers for the new regions
   * it wrote, delete the data of pieces this store had already removed, and replay the votes that
   * were waiting for these ranges.
   */
  private onSplitApplied(parentId: number, split: AppliedSplit, parentWasLeader: boolean): void {
    for (const r of split.created) {
      const regionId = Number(r.id);
      const me = r.peers.find((p) => p.storeId === this.storeId);
      if (!me) continue;
      const existing = this.peers.get(regionId);
      if (existing) {
        if (existing.isInitialized) {
          this.log.warn({ regionId, parentId }, "split piece already has an initialized peer here; kept");
          continue;
        }
        // An uninitialized peer created by the new region's vote: the split gives it its range
        // (its vote was kept in the state written at apply).
        existing.stop();
        this.peers.delete(regionId);
      }
      const peer = new Peer(this.ctx, r, Number(me.id));
      this.addPeer(peer);
      this.router.send(regionId, { type: "start", campaign: parentWasLeader });
    }
    for (const r of split.tombstoned) {
      this.log.info({ regionId: Number(r.id), parentId }, "split piece was removed from this store before; deleting its data");
      this.ctx.schedule({ worker: "region", kind: "destroy", regionId: Number(r.id), startKey: r.startKey, endKey: r.endKey });
    }
    this.metrics.regionCount.set(this.peers.size);
    if (this.pendingVotes.length > 0) {
      const votes = this.pendingVotes;
      this.pendingVotes = [];
      for (const m of votes) this.onRaftMessage(m);
    }
  }

  /**
   * The store heartbeat's statistics: regions, disk capacity and free space of the data
   * directory's file system, used bytes, and the bytes/keys applied since the previous call (the
   * counters reset here, so call it once per heartbeat).
   */
  storeStats(): schedulerpb.StoreStats {
    const now = this.ctx.clock.now();
    const traffic = this.ctx.traffic;
    const disk = diskSpace(this.engine.dir);
    const stats: schedulerpb.StoreStats = {
      storeId: this.storeId,
      capacity: BigInt(disk.capacity),
      available: BigInt(disk.available),
      regionCount: this.peers.size,
      sendingSnapCount: 0,
      receivingSnapCount: 0,
      startTime: Math.floor(this.startTime / 1000),
      applyingSnapCount: 0,
      isBusy: false,
      usedSize: BigInt(this.engine.usedBytes()),
      bytesWritten: BigInt(traffic.bytesWritten),
      keysWritten: BigInt(traffic.keysWritten),
      bytesRead: 0n,
      keysRead: 0n,
      interval: { startTimestamp: BigInt(Math.floor(this.lastStoreHeartbeatMs / 1000)), endTimestamp: BigInt(Math.floor(now / 1000)) },
    };
    traffic.bytesWritten = 0;
    traffic.keysWritten = 0;
    this.lastStoreHeartbeatMs = now;
    let leaders = 0;
    for (const p of this.peers.values()) if (p.isLeader) leaders++;
    this.metrics.leaderRegions.set(leaders);
    return stats;
  }

  /** Stop: timers off, waiting proposals fail with RegionNotFound. The engine stays open (the caller owns it). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.ticker.stop();
    for (const p of this.peers.values()) p.stop();
  }
}

/** Size and free space of the file system holding `dir` (zeros if it cannot be read). */
function diskSpace(dir: string): { capacity: number; available: number } {
  try {
    const s = fs.statfsSync(dir);
    return { capacity: s.blocks * s.bsize, available: s.bavail * s.bsize };
  } catch {
    return { capacity: 0, available: 0 };
  }
}

/** Votes kept at most while their split is not applied here. */
const PENDING_VOTES_LIMIT = 256;

/** A vote, a pre-vote, or a heartbeat from a leader that knows nothing of the receiver (commit 0). */
function isInitialMessage(m: eraftpb.Message): boolean {
  return (
    isVote(m) || (m.msgType === eraftpb.MessageType.MsgHeartbeat && m.commit === 0n)
  );
}

/** Whether [aStart, aEnd) and [bStart, bEnd) intersect (an empty end is +∞). */
export function rangesOverlap(aStart: Buffer, aEnd: Buffer, bStart: Buffer, bEnd: Buffer): boolean {
  const aEndsAfterBStarts = aEnd.length === 0 || Buffer.compare(aEnd, bStart) > 0;
  const bEndsAfterAStarts = bEnd.length === 0 || Buffer.compare(bEnd, aStart) > 0;
  return aEndsAfterBStarts && bEndsAfterAStarts;
}
