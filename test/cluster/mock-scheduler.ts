/**
 * A fake scheduler for the cluster harness (TinyKV's MockSchedulerClient): it implements the
 * raftstore's `SchedulerClient` and keeps just enough of a cluster map for tests to route
 * requests: regions ordered by start key, each with the leader that last reported it.
 *
 * Region heartbeats with a stale epoch (lower version or conf_ver than what is known) are
 * ignored, as the real scheduler does; a fresher one replaces the region and its leader. Ids for
 * splits come from one allocator. No operators are issued (membership change comes later).
 */
import { metapb, type schedulerpb } from "@regionkv/proto";
import { isEpochStale, keyInRegion, type RegionHeartbeat, type SchedulerClient } from "@regionkv/raftstore";

interface RegionEntry {
  region: metapb.Region;
  leader: metapb.Peer | undefined;
}

export class MockScheduler implements SchedulerClient {
  private readonly regions = new Map<number, RegionEntry>();
  private readonly stores = new Map<number, metapb.Store>();
  private readonly storeStats = new Map<number, schedulerpb.StoreStats>();
  private nextId: bigint;
  /** Heartbeats received, for tests. */
  regionHeartbeats = 0;
  storeHeartbeats = 0;

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

  regionHeartbeat(hb: RegionHeartbeat): Promise<void> {
    this.regionHeartbeats++;
    const id = Number(hb.region.id);
    const known = this.regions.get(id);
    const epoch = hb.region.regionEpoch ?? { confVer: 0n, version: 0n };
    if (known?.region.regionEpoch && isEpochStale(epoch, known.region.regionEpoch)) return Promise.resolve();
    // A region whose range grew over others (after a merge) replaces them.
    for (const [otherId, other] of this.regions) {
      if (otherId !== id && overlaps(other.region, hb.region) && !isEpochStale(epoch, other.region.regionEpoch ?? epoch)) this.regions.delete(otherId);
    }
    this.regions.set(id, { region: hb.region, leader: hb.leader });
    return Promise.resolve();
  }

  storeHeartbeat(stats: schedulerpb.StoreStats): Promise<void> {
    this.storeHeartbeats++;
    this.storeStats.set(Number(stats.storeId), stats);
    return Promise.resolve();
  }

  askBatchSplit(region: metapb.Region, count: number): Promise<schedulerpb.SplitID[]> {
    const out: schedulerpb.SplitID[] = [];
    for (let i = 0; i < count; i++) out.push({ newRegionId: this.allocId(), newPeerIds: region.peers.map(() => this.allocId()) });
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

  lastStoreStats(storeId: number): schedulerpb.StoreStats | undefined {
    return this.storeStats.get(storeId);
  }
}

function overlaps(a: metapb.Region, b: metapb.Region): boolean {
  const aEndsAfterBStarts = a.endKey.length === 0 || Buffer.compare(a.endKey, b.startKey) > 0;
  const bEndsAfterAStarts = b.endKey.length === 0 || Buffer.compare(b.endKey, a.startKey) > 0;
  return aEndsAfterBStarts && bEndsAfterAStarts;
}
