/**
 * A fake scheduler for the cluster harness (TinyKV's MockSchedulerClient): it implements the
 * raftstore's `SchedulerClient` and keeps just enough of a cluster map for tests to route
 * requests: regions ordered by start key, each with the leader that last reported it.
 *
 * Region heartbeats (tinykv.md §2.1, `handleHeartbeatVersion`):
 *   - one with a stale epoch for its region id (lower version or conf_ver than known) is ignored;
 *   - one whose range overlaps OTHER known regions replaces them only if its version is strictly
 *     higher than each of theirs (a split or merge happened after they were recorded); otherwise it
 *     is the stale report of a region that has since split (an old leader) and is ignored;
 *   - so after a split the parent's record shrinks when the parent reports, and the new region's
 *     range stays unknown (no region for its keys) until the new region itself reports.
 * Ids for splits and new peers come from one allocator; `askBatchSplit` refuses a region it does
 * not know or knows at a newer epoch, as TinyKV's AskSplit does.
 *
 * Operators (tinykv.md §2.1): at most one per region (a new one replaces the old). Its step goes
 * back in the response to EVERY heartbeat of the region, to the leader's store, until the
 * heartbeats show the goal: AddPeer until the peer is in the region and no longer pending,
 * RemovePeer until it is gone, TransferLeader until it leads. So the raftstore must take re-sent
 * steps as harmless.
 *
 * Sanity rule of §1.9, as an assertion: a heartbeat with the same conf_ver must show the same peer
 * stores; a higher conf_ver may differ by at most one peer per step. A violation is recorded
 * (`violations`), and the cluster fails the run on its next tick.
 */
import { eraftpb, metapb, type schedulerpb } from "@regionkv/proto";
import { isEpochStale, keyInRegion, type RegionHeartbeat, type SchedulerClient } from "@regionkv/raftstore";

interface RegionEntry {
  region: metapb.Region;
  leader: metapb.Peer | undefined;
}

export type Operator =
  | { kind: "addPeer"; peer: metapb.Peer }
  | { kind: "removePeer"; peer: metapb.Peer }
  | { kind: "transferLeader"; peer: metapb.Peer };

type ResponseHandler = (resp: schedulerpb.RegionHeartbeatResponse) => void;

export class MockScheduler implements SchedulerClient {
  private readonly regions = new Map<number, RegionEntry>();
  private readonly stores = new Map<number, metapb.Store>();
  private readonly storeStats = new Map<number, schedulerpb.StoreStats>();
  private nextId: bigint;
  /** Heartbeats received, for tests. */
  regionHeartbeats = 0;
  /** Heartbeats ignored because a newer region (by version) already covers part of their range. */
  staleHeartbeats = 0;
  storeHeartbeats = 0;
  /** Operator steps sent back in heartbeat responses. */
  stepsSent = 0;
  /** Split ids handed out (one per split key). */
  splitsAsked = 0;
  /** Broken sanity rules (conf_ver vs peer list), for the cluster to fail on. */
  readonly violations: string[] = [];
  private readonly operators = new Map<number, Operator>();
  private readonly pendingPeers = new Set<bigint>();
  /** Per store: the handler its RaftStore registered (the latest start wins). */
  private readonly handlers = new Map<number, ResponseHandler>();

  constructor(firstFreeId: bigint) {
    this.nextId = firstFreeId;
  }

  /** The cluster's first region, known before any heartbeat (TinyKV's Bootstrap). */
  bootstrap(region: metapb.Region, storeIds: readonly number[]): void {
    this.regions.set(Number(region.id), { region, leader: undefined });
    for (const id of storeIds) {
      this.stores.set(id, { id: BigInt(id), address: `store-${id}`, state: metapb.StoreState.Up, labels: [], version: "0.1.0", statusAddress: "", startTimestamp: 0n });
    }
  }

  allocId(): bigint {
    return this.nextId++;
  }

  /** The client a store uses: its heartbeat responses go to the handler it registers. */
  clientFor(storeId: number): SchedulerClient {
    return {
      regionHeartbeat: (hb) => this.regionHeartbeat(hb),
      storeHeartbeat: (st) => this.storeHeartbeat(st),
      askBatchSplit: (r, n) => this.askBatchSplit(r, n),
      getStore: (id) => this.getStore(id),
      onRegionHeartbeatResponse: (cb) => {
        this.handlers.set(storeId, cb);
      },
    };
  }

  regionHeartbeat(hb: RegionHeartbeat): Promise<void> {
    this.regionHeartbeats++;
    const id = Number(hb.region.id);
    for (const p of hb.region.peers) this.pendingPeers.delete(p.id);
    for (const p of hb.pendingPeers) this.pendingPeers.add(p.id);
    const known = this.regions.get(id);
    const epoch = hb.region.regionEpoch ?? { confVer: 0n, version: 0n };
    if (known?.region.regionEpoch && isEpochStale(epoch, known.region.regionEpoch)) return Promise.resolve();
    // Other regions over this range: only versions compare across region ids (conf_ver counts
    // each region's own membership changes).
    const overlapped: number[] = [];
    for (const [otherId, other] of this.regions) {
      if (otherId === id || !overlaps(other.region, hb.region)) continue;
      if ((other.region.regionEpoch?.version ?? 0n) >= epoch.version) {
        this.staleHeartbeats++;
        return Promise.resolve();
      }
      overlapped.push(otherId);
    }
    if (known?.region.regionEpoch) this.checkConfVer(known.region, hb.region);
    for (const otherId of overlapped) this.regions.delete(otherId);
    this.regions.set(id, { region: hb.region, leader: hb.leader });
    this.respond(hb);
    return Promise.resolve();
  }

  /** §1.9: same conf_ver → same peer stores; a higher conf_ver → at most one peer changed per step. */
  private checkConfVer(known: metapb.Region, now: metapb.Region): void {
    const a = new Set(known.peers.map((p) => `${p.id}@${p.storeId}`));
    const b = new Set(now.peers.map((p) => `${p.id}@${p.storeId}`));
    let diff = 0;
    for (const x of a) if (!b.has(x)) diff++;
    for (const x of b) if (!a.has(x)) diff++;
    const steps = Number(now.regionEpoch!.confVer - known.regionEpoch!.confVer);
    if (steps === 0 && diff !== 0) {
      this.violations.push(`region ${now.id}: conf_ver ${now.regionEpoch!.confVer} unchanged but peers changed from [${[...a].join(", ")}] to [${[...b].join(", ")}]`);
    } else if (steps > 0 && (diff === 0 || diff > steps)) {
      this.violations.push(`region ${now.id}: conf_ver ${known.regionEpoch!.confVer} → ${now.regionEpoch!.confVer} but peers changed by ${diff} from [${[...a].join(", ")}] to [${[...b].join(", ")}]`);
    }
  }

  /** The operator's step for the leader that sent `hb`, unless the operator is done. */
  private respond(hb: RegionHeartbeat): void {
    const id = Number(hb.region.id);
    const op = this.operators.get(id);
    if (!op) return;
    if (this.operatorDone(op, hb.region, hb.leader)) {
      this.operators.delete(id);
      return;
    }
    const resp: schedulerpb.RegionHeartbeatResponse = { header: undefined, regionId: hb.region.id, regionEpoch: hb.region.regionEpoch, targetPeer: hb.leader, changePeer: undefined, transferLeader: undefined, splitRegion: undefined };
    switch (op.kind) {
      case "addPeer":
        if (hb.region.peers.some((p) => p.id === op.peer.id)) return; // added, waiting for it to catch up
        resp.changePeer = { changeType: eraftpb.ConfChangeType.AddNode, peer: op.peer };
        break;
      case "removePeer":
        resp.changePeer = { changeType: eraftpb.ConfChangeType.RemoveNode, peer: op.peer };
        break;
      case "transferLeader":
        resp.transferLeader = { peer: op.peer };
        break;
      default: {
        const never: never = op;
        throw new Error(`unknown operator ${JSON.stringify(never)}`);
      }
    }
    const handler = this.handlers.get(Number(hb.leader.storeId));
    if (!handler) return;
    this.stepsSent++;
    handler(resp);
  }

  private operatorDone(op: Operator, region: metapb.Region, leader: metapb.Peer | undefined): boolean {
    switch (op.kind) {
      case "addPeer":
        return region.peers.some((p) => p.id === op.peer.id && p.storeId === op.peer.storeId) && !this.pendingPeers.has(op.peer.id);
      case "removePeer":
        return !region.peers.some((p) => p.id === op.peer.id);
      case "transferLeader":
        return leader?.id === op.peer.id;
      default: {
        const never: never = op;
        throw new Error(`unknown operator ${JSON.stringify(never)}`);
      }
    }
  }

  /** Queue an operator for a region (replacing any other). */
  addOperator(regionId: number, op: Operator): void {
    this.operators.set(regionId, op);
  }

  /** The region's operator, if it is not done yet (as of the last heartbeat). */
  operator(regionId: number): Operator | undefined {
    return this.operators.get(regionId);
  }

  cancelOperator(regionId: number): void {
    this.operators.delete(regionId);
  }

  isPending(peerId: bigint): boolean {
    return this.pendingPeers.has(peerId);
  }

  storeHeartbeat(stats: schedulerpb.StoreStats): Promise<void> {
    this.storeHeartbeats++;
    this.storeStats.set(Number(stats.storeId), stats);
    return Promise.resolve();
  }

  askBatchSplit(region: metapb.Region, count: number): Promise<schedulerpb.SplitID[]> {
    const known = this.regions.get(Number(region.id));
    if (!known) return Promise.reject(new Error(`mock scheduler: region ${region.id} is unknown (it has not reported since its split)`));
    if (region.regionEpoch && known.region.regionEpoch && isEpochStale(region.regionEpoch, known.region.regionEpoch)) {
      return Promise.reject(new Error(`mock scheduler: region ${region.id} asks to split at a stale epoch`));
    }
    const out: schedulerpb.SplitID[] = [];
    for (let i = 0; i < count; i++) out.push({ newRegionId: this.allocId(), newPeerIds: region.peers.map(() => this.allocId()) });
    this.splitsAsked += count;
    return Promise.resolve(out);
  }

  getStore(storeId: bigint): Promise<metapb.Store | undefined> {
    return Promise.resolve(this.stores.get(Number(storeId)));
  }

  // ---- what tests ask ---------------------------------------------------------------------

  region(regionId: number): metapb.Region | undefined {
    return this.regions.get(regionId)?.region;
  }

  /** The region holding `key`, as last reported. */
  regionByKey(key: Uint8Array): metapb.Region | undefined {
    for (const e of this.regions.values()) if (keyInRegion(key, e.region)) return e.region;
    return undefined;
  }

  /** The leader that last reported the region, if any. */
  leader(regionId: number): metapb.Peer | undefined {
    return this.regions.get(regionId)?.leader;
  }

  regionIds(): number[] {
    return [...this.regions.keys()].sort((a, b) => a - b);
  }

  /** Every known region, ordered by start key. */
  regionsByStartKey(): metapb.Region[] {
    return [...this.regions.values()].map((e) => e.region).sort((a, b) => Buffer.compare(a.startKey, b.startKey));
  }

  /**
   * Why the known regions do not tile the key space ["", "") without gaps or overlaps, or
   * undefined if they do (right after a split a range is missing until its region reports).
   */
  describeCoverageGap(): string | undefined {
    let at: Buffer = Buffer.alloc(0);
    for (const r of this.regionsByStartKey()) {
      const cmp = Buffer.compare(r.startKey, at);
      if (cmp !== 0) return `${cmp > 0 ? "nothing covers" : "regions overlap at"} ${JSON.stringify(at.toString("latin1"))} (next region ${r.id} starts at ${JSON.stringify(r.startKey.toString("latin1"))})`;
      if (r.endKey.length === 0) return undefined;
      at = r.endKey;
    }
    return `nothing covers the key space from ${JSON.stringify(at.toString("latin1"))} on`;
  }

  lastStoreStats(storeId: number): schedulerpb.StoreStats | undefined {
    return this.storeStats.get(storeId);
  }
}

function overlaps(a: metapb.Region, b: metapb.Region): boolean {
  const aEndsAfterBStarts = a.endKey.length === 0 || Buffer.compare(a.endKey, b.startKey) > 0;
  const bEndsAfterAStarts = b.endKey.length === 0 || Buffer.compare(b.endKey, a.startKey) > 0;
  return aEndsAfterBStarts && bEndsAfterAStarts;
}
