/**
 * When and where a region peer splits (the peer's side of split.ts; docs/raftstore.md "Split"):
 *
 *   writes applied → `onApplied` grows the size/key hints → crossing regionMaxSize/Keys
 *   (`afterWrites`) or the split-check tick → `scheduleCheck` queues the split-check worker →
 *   `onCheckResult` (measured size, keys for that region version) → `askSplit` queues
 *   AskBatchSplit + BatchSplit on the scheduler worker → applied (`onSplitApplied`: measure again)
 *   or failed (`onFailed`: measure again after a back-off).
 *
 * Load-based split feeds the same `askSplit` from the store's LoadSplitter, one look per load
 * window. Only the leader acts; followers keep their hints so a new leader measures at once.
 */
import type { metapb, raft_cmdpb } from "@regionkv/proto";
import type { AppliedSplit } from "./apply.js";
import { checkKeyInRegion, epochOf, userKeyOrRaw } from "./region-util.js";
import type { StoreContext } from "./store-context.js";

/** A split check or split request not answered within this long is given up (a new one may start). */
const SPLIT_IN_FLIGHT_MS = 20_000;

/** What the controller needs of its peer. */
export interface SplitPeer {
  readonly regionId: number;
  readonly peerId: number;
  readonly region: metapb.Region;
  readonly isLeader: boolean;
  readonly stopped: boolean;
  meta(): metapb.Peer;
}

export class PeerSplitter {
  /** The last measurement (undefined: never measured, e.g. a fresh split piece). */
  approximateSize: number | undefined;
  approximateKeys: number | undefined;
  /** Bytes and keys written since the last check was queued. */
  private sizeDiffHint = 0;
  private keysDiffHint = 0;
  /** When the running split check was queued (undefined: none running). */
  private checkSince: number | undefined;
  /** A scheduler asked to halve the region while another check ran: halve once that one reports. */
  private halveNext = false;
  /** A split asked of the scheduler and proposed, not yet seen applied: the version it was asked at. */
  private asked: { version: bigint; at: number } | undefined;
  /** After a failed split: when to measure again (backing off), and how many failed in a row. */
  private retry: { at: number | undefined; failures: number } = { at: undefined, failures: 0 };
  /** Ids of the other pieces of this region's last split (sent along with EpochNotMatch). */
  private siblings: number[] = [];
  /** Raft ticks since the load splitter was last asked about this region. */
  private loadTicks = 0;

  constructor(
    private readonly ctx: StoreContext,
    private readonly peer: SplitPeer,
  ) {}

  /** A command the leader serves or proposes: its keys feed the load sampler. */
  recordRequests(req: raft_cmdpb.RaftCmdRequest): void {
    const load = this.ctx.loadSplitter;
    const id = this.peer.regionId;
    // Sampled by user key: a versioned family's key is decoded (a split key is a user key).
    for (const r of req.requests) {
      if (r.get) load.recordRead(id, userKeyOrRaw(r.get.cf, r.get.key));
      else if (r.put) load.recordWrite(id, userKeyOrRaw(r.put.cf, r.put.key));
      else if (r.delete) load.recordWrite(id, userKeyOrRaw(r.delete.cf, r.delete.key));
      else if (r.compareAndSwap) load.recordWrite(id, userKeyOrRaw(r.compareAndSwap.cf, r.compareAndSwap.key));
      else if (r.deleteRange) load.recordWrite(id, r.deleteRange.startKey, r.deleteRange.endKey);
    }
  }

  /** Writes applied (every replica counts them). */
  onApplied(bytes: number, keys: number): void {
    this.sizeDiffHint += bytes;
    this.keysDiffHint += keys;
  }

  /** After an apply without a split: measure at once if the writes just crossed a limit. */
  afterWrites(): void {
    if (this.peer.isLeader && this.crossedLimits()) this.scheduleCheck("size");
  }

  /** Just elected: a region never measured (a split piece) is measured. */
  onElected(): void {
    if (this.approximateSize === undefined) this.scheduleCheck("size");
  }

  /** Every raft tick: a load window's look, and a due retry after a failed split. */
  onRaftTick(): void {
    if (!this.peer.isLeader) return;
    if (++this.loadTicks * this.ctx.cfg.raftBaseTickMs >= this.ctx.cfg.loadSplitWindowMs) {
      this.loadTicks = 0;
      const key = this.ctx.loadSplitter.maybeSplitKey(this.peer.regionId, this.ctx.clock.now(), this.peer.region);
      if (key) this.askSplit([key], epochOf(this.peer.region).version, "load");
    }
    if (this.retry.at !== undefined && this.ctx.clock.now() >= this.retry.at) {
      this.retry.at = undefined;
      this.scheduleCheck("size");
    }
  }

  onSplitCheckTick(): void {
    if (!this.peer.isLeader) return;
    const cfg = this.ctx.cfg;
    // Measured, little written since, and under the limits: nothing to do. (Over the limits, a
    // region is measured again every tick until it splits, writes or no writes.)
    const overLimits = (this.approximateSize ?? 0) > cfg.regionMaxSize || (this.approximateKeys ?? 0) > cfg.regionMaxKeys;
    if (this.approximateSize !== undefined && !overLimits && this.sizeDiffHint < cfg.regionSplitSize / 8 && this.keysDiffHint < cfg.regionSplitKeys / 8) return;
    this.scheduleCheck("size");
  }

  /** Whether the last measured size plus what was written since just crossed a split limit. */
  private crossedLimits(): boolean {
    const cfg = this.ctx.cfg;
    const size = this.approximateSize ?? 0;
    const keys = this.approximateKeys ?? 0;
    // Only on crossing: a region measured over the limit that yielded no key waits for the tick.
    return (size <= cfg.regionMaxSize && size + this.sizeDiffHint > cfg.regionMaxSize) || (keys <= cfg.regionMaxKeys && keys + this.keysDiffHint > cfg.regionMaxKeys);
  }

  /**
   * Queue a split check of the region as it is now, unless one is running or a split is in
   * flight. `half`: find the key that halves the region (a scheduler's split operator without keys).
   */
  scheduleCheck(policy: "size" | "half"): void {
    const now = this.ctx.clock.now();
    if (this.checkSince !== undefined && now - this.checkSince < SPLIT_IN_FLIGHT_MS) {
      if (policy === "half") this.halveNext = true;
      return;
    }
    if (this.inFlight(now)) return;
    if (policy === "half") this.halveNext = false;
    this.checkSince = now;
    this.sizeDiffHint = 0;
    this.keysDiffHint = 0;
    this.ctx.schedule({ worker: "splitCheck", regionId: this.peer.regionId, region: this.peer.region, policy });
  }

  private inFlight(now: number): boolean {
    const a = this.asked;
    return a !== undefined && a.version === epochOf(this.peer.region).version && now - a.at < SPLIT_IN_FLIGHT_MS;
  }

  /** The split checker's measurement: remember the size, and split if it found keys for this version of the region. */
  onCheckResult(bytes: number, keys: number, splitKeys: Buffer[], version: bigint, reason: string): void {
    this.checkSince = undefined;
    this.approximateSize = bytes;
    this.approximateKeys = keys;
    if (splitKeys.length > 0) this.askSplit(splitKeys, version, reason);
    else {
      this.retry.at = undefined;
      if (this.halveNext && this.peer.isLeader) this.scheduleCheck("half");
    }
  }

  /**
   * Split at `splitKeys` (found against region version `version`): the scheduler worker asks for
   * ids and proposes the BatchSplit to this peer with that epoch; a split made meanwhile makes
   * the proposal fail its epoch check, so keys found for an older range are never used.
   */
  askSplit(splitKeys: Buffer[], version: bigint, reason: string): void {
    const { peer } = this;
    if (!peer.isLeader || peer.stopped) return;
    const now = this.ctx.clock.now();
    const region = peer.region;
    if (version !== epochOf(region).version || this.inFlight(now)) return;
    const keys = splitKeys.filter((k) => checkKeyInRegion(k, region) === undefined && Buffer.compare(k, region.startKey) > 0);
    if (keys.length === 0) return;
    this.asked = { version, at: now };
    this.ctx.log.info({ regionId: peer.regionId, peerId: peer.peerId, reason, keys: keys.length, version: String(version) }, "asking the scheduler to split the region");
    this.ctx.schedule({ worker: "scheduler", kind: "askBatchSplit", region, leader: peer.meta(), splitKeys: keys, reason });
  }

  /**
   * The split asked at `version` was not made (the scheduler did not know the region yet, a
   * membership change raced the proposal, leadership moved): measure again after a back-off
   * (1 s, doubling up to 30 s) instead of waiting for more writes — a region past its limit
   * that nobody writes to would otherwise stay unsplit.
   */
  onFailed(version: bigint, why: string): void {
    if (this.asked?.version !== version) return;
    this.asked = undefined;
    const failures = this.retry.failures + 1;
    const backoff = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
    this.retry = { at: this.ctx.clock.now() + backoff, failures };
    this.ctx.log.info({ regionId: this.peer.regionId, peerId: this.peer.peerId, why, retryInMs: backoff }, "split failed; measuring again later");
  }

  /** A split applied here: its pieces are remembered (for EpochNotMatch), every size is measured anew. */
  onSplitApplied(split: AppliedSplit): void {
    this.asked = undefined;
    this.retry = { at: undefined, failures: 0 };
    this.siblings = split.regions.map((r) => Number(r.id)).filter((id) => id !== this.peer.regionId);
    this.approximateSize = undefined;
    this.approximateKeys = undefined;
    this.sizeDiffHint = 0;
    this.keysDiffHint = 0;
    for (const r of split.regions) this.ctx.loadSplitter.forget(Number(r.id));
  }

  /** The other pieces of the last split, as this store has them now. */
  siblingRegions(): metapb.Region[] {
    const out: metapb.Region[] = [];
    for (const id of this.siblings) {
      const r = this.ctx.meta.regionOf(id);
      if (r) out.push(r);
    }
    return out;
  }
}
