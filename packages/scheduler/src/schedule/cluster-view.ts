/**
 * The narrow view of the cluster that checkers and schedulers decide on: stores with their load
 * and liveness, regions with their peers, write rates, and the effect of operators already
 * running (`influence`). Policies read only this; `coreClusterView` builds it from the core,
 * tests build it by hand (`StaticClusterView`).
 */
import type { metapb } from "@regionkv/proto";
import type { RegionInfo } from "../region-tree.js";

export interface StoreView {
  id: bigint;
  state: metapb.StoreState;
  regionCount: number;
  leaderCount: number;
  pendingPeerCount: number;
  /** Sum of the (effective) sizes of its regions, bytes. */
  regionSize: number;
  leaderSize: number;
  /** Clock time of the last store heartbeat (or when the scheduler started, if none since). */
  lastHeartbeatMs: number;
  /** Free bytes as last reported; undefined if unknown. */
  available: number | undefined;
}

/** Region roles on a store, in balance-region's order of preference. */
export type RegionRole = "pending" | "follower" | "leader";

/** The in-flight effect of running operators on a store (added when they finish). */
export interface StoreInfluence {
  regionCount: number;
  regionSize: number;
  leaderCount: number;
  /** Operators adding or removing a replica on the store. */
  movingPeers: number;
}

export function emptyInfluence(): StoreInfluence {
  return { regionCount: 0, regionSize: 0, leaderCount: 0, movingPeers: 0 };
}

export interface ClusterView {
  readonly now: number;
  stores(): StoreView[];
  store(id: bigint): StoreView | undefined;
  region(id: bigint): RegionInfo | undefined;
  regions(): RegionInfo[];
  /** Regions with a peer on `storeId` in `role` (a pending peer also counts as a follower or leader). */
  regionsOn(storeId: bigint, role: RegionRole): RegionInfo[];
  /** Recent write rate of a region, bytes/s (0 if unknown). */
  writeRate(regionId: bigint): number;
}

/** Regions smaller than this count as this big, so empty regions still spread. */
export const MIN_REGION_SIZE = 1024 * 1024;

export function regionSize(r: RegionInfo): number {
  return Math.max(Number(r.approximateSize), MIN_REGION_SIZE);
}

export function regionRoleOn(r: RegionInfo, storeId: bigint): RegionRole[] {
  const peer = r.region.peers.find((p) => p.storeId === storeId);
  if (!peer) return [];
  const roles: RegionRole[] = [r.leader?.storeId === storeId ? "leader" : "follower"];
  if (r.pendingPeers.some((p) => p.id === peer.id)) roles.push("pending");
  return roles;
}

/** A view over fixed data; region statistics are derived from the regions unless given. */
export class StaticClusterView implements ClusterView {
  private readonly byStore = new Map<string, RegionInfo[]>();
  private readonly byId = new Map<bigint, RegionInfo>();

  constructor(
    readonly now: number,
    private readonly storeList: StoreView[],
    private readonly regionList: RegionInfo[],
    private readonly rates: ReadonlyMap<bigint, number> = new Map(),
  ) {
    for (const r of regionList) {
      this.byId.set(r.region.id, r);
      for (const p of r.region.peers) {
        for (const role of regionRoleOn(r, p.storeId)) {
          const k = `${p.storeId}/${role}`;
          let l = this.byStore.get(k);
          if (!l) this.byStore.set(k, (l = []));
          l.push(r);
        }
      }
    }
  }

  stores(): StoreView[] {
    return this.storeList;
  }
  store(id: bigint): StoreView | undefined {
    return this.storeList.find((s) => s.id === id);
  }
  region(id: bigint): RegionInfo | undefined {
    return this.byId.get(id);
  }
  regions(): RegionInfo[] {
    return this.regionList;
  }
  regionsOn(storeId: bigint, role: RegionRole): RegionInfo[] {
    return this.byStore.get(`${storeId}/${role}`) ?? [];
  }
  writeRate(regionId: bigint): number {
    return this.rates.get(regionId) ?? 0;
  }
}

/** Store statistics computed from `regions` (effective sizes). */
export function storeViewsFrom(
  stores: { id: bigint; state: metapb.StoreState; lastHeartbeatMs: number; available: number | undefined }[],
  regions: RegionInfo[],
): StoreView[] {
  const m = new Map<bigint, StoreView>();
  for (const s of stores) m.set(s.id, { ...s, regionCount: 0, leaderCount: 0, pendingPeerCount: 0, regionSize: 0, leaderSize: 0 });
  for (const r of regions) {
    const size = regionSize(r);
    for (const p of r.region.peers) {
      const s = m.get(p.storeId);
      if (!s) continue;
      s.regionCount++;
      s.regionSize += size;
    }
    for (const p of r.pendingPeers) {
      const s = m.get(p.storeId);
      if (s) s.pendingPeerCount++;
    }
    const l = r.leader ? m.get(r.leader.storeId) : undefined;
    if (l) {
      l.leaderCount++;
      l.leaderSize += size;
    }
  }
  return [...m.values()];
}
