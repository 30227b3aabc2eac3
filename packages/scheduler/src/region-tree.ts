/**
 * The scheduler's view of the key space: every known region with its leader and statistics,
 * ordered by start key, plus per-store statistics derived from it.
 *
 * Invariants:
 * - `sorted` holds non-overlapping regions in strictly increasing start-key order (an empty end
 *   key is +infinity, so only the last region may have one).
 * - `byId` holds exactly the regions of `sorted`.
 * - Stored `RegionInfo`s are never mutated (callers build a new one per update).
 * - `stores` is the sum over the regions in the tree of each region's contribution
 *   (`contribute`): it is updated on every insert and removal, never recomputed.
 */
import type { metapb, schedulerpb } from "@regionkv/proto";

/** One region as the scheduler knows it: the last accepted heartbeat. */
export interface RegionInfo {
  region: metapb.Region;
  /** The reporting leader; undefined for a region known only from bootstrap or persistence. */
  leader: metapb.Peer | undefined;
  pendingPeers: metapb.Peer[];
  /** Peers the leader has not heard from recently (as of the last heartbeat). */
  downPeers: schedulerpb.PeerStats[];
  approximateSize: bigint;
  approximateKeys: bigint;
}

/** Per-store statistics derived from the region tree. */
export interface StoreRegionStats {
  leaderCount: number;
  regionCount: number;
  pendingPeerCount: number;
  leaderSize: bigint;
  regionSize: bigint;
}

export function emptyStoreRegionStats(): StoreRegionStats {
  return { leaderCount: 0, regionCount: 0, pendingPeerCount: 0, leaderSize: 0n, regionSize: 0n };
}

export class RegionTree {
  private readonly sorted: RegionInfo[] = [];
  private readonly byId = new Map<bigint, RegionInfo>();
  private readonly stores = new Map<bigint, StoreRegionStats>();

  get size(): number {
    return this.sorted.length;
  }

  getById(id: bigint): RegionInfo | undefined {
    return this.byId.get(id);
  }

  /** Index of the last region whose start key is <= key, or -1. */
  private floorIndex(key: Buffer): number {
    let lo = 0;
    let hi = this.sorted.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.sorted[mid]!.region.startKey, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** The region containing `key`, if one is known. */
  getByKey(key: Buffer): RegionInfo | undefined {
    const i = this.floorIndex(key);
    if (i < 0) return undefined;
    const info = this.sorted[i]!;
    const end = info.region.endKey;
    return end.length === 0 || Buffer.compare(key, end) < 0 ? info : undefined;
  }

  /** The region before (in key order) the region containing `key`; if no region contains it, the last one starting before it. */
  getPrevByKey(key: Buffer): RegionInfo | undefined {
    const cur = this.getByKey(key);
    const i = cur ? this.floorIndex(cur.region.startKey) - 1 : this.floorIndex(key);
    if (i < 0) return undefined;
    return this.sorted[i];
  }

  /** Regions in key order that overlap [startKey, endKey), starting with the one containing startKey; limit <= 0 = no limit. */
  scan(startKey: Buffer, endKey: Buffer, limit: number): RegionInfo[] {
    const out: RegionInfo[] = [];
    let i = this.floorIndex(startKey);
    if (i < 0) {
      i = 0;
    } else {
      const r = this.sorted[i]!.region;
      if (r.endKey.length !== 0 && Buffer.compare(r.endKey, startKey) <= 0) i++;
    }
    for (; i < this.sorted.length; i++) {
      if (limit > 0 && out.length >= limit) break;
      const info = this.sorted[i]!;
      if (endKey.length !== 0 && Buffer.compare(info.region.startKey, endKey) >= 0) break;
      out.push(info);
    }
    return out;
  }

  /** All regions in the tree whose range overlaps `region`'s. */
  overlaps(region: metapb.Region): RegionInfo[] {
    return this.scan(region.startKey, region.endKey, 0);
  }

  /**
   * Insert or replace `info`: the stored region with the same id and every region overlapping the
   * new range are removed first. Returns the removed regions (other than the same id).
   */
  put(info: RegionInfo): RegionInfo[] {
    const old = this.byId.get(info.region.id);
    if (old) this.remove(old);
    const removed = this.overlaps(info.region);
    for (const r of removed) this.remove(r);
    const i = this.floorIndex(info.region.startKey) + 1;
    this.sorted.splice(i, 0, info);
    this.byId.set(info.region.id, info);
    this.contribute(info, 1);
    return removed;
  }

  /** Remove `info` (by id) from the tree. */
  remove(info: RegionInfo): void {
    const cur = this.byId.get(info.region.id);
    if (!cur) return;
    const i = this.floorIndex(cur.region.startKey);
    if (i < 0 || this.sorted[i] !== cur) throw new Error(`region tree invariant broken: region ${cur.region.id} is not at its start key`);
    this.sorted.splice(i, 1);
    this.byId.delete(cur.region.id);
    this.contribute(cur, -1);
  }

  all(): RegionInfo[] {
    return [...this.sorted];
  }

  /** Statistics of one store (zeros if it holds nothing). */
  storeStats(storeId: bigint): StoreRegionStats {
    return { ...(this.stores.get(storeId) ?? emptyStoreRegionStats()) };
  }

  private contribute(info: RegionInfo, sign: 1 | -1): void {
    const size = info.approximateSize * BigInt(sign);
    const get = (storeId: bigint): StoreRegionStats => {
      let s = this.stores.get(storeId);
      if (!s) {
        s = emptyStoreRegionStats();
        this.stores.set(storeId, s);
      }
      return s;
    };
    for (const p of info.region.peers) {
      const s = get(p.storeId);
      s.regionCount += sign;
      s.regionSize += size;
    }
    for (const p of info.pendingPeers) get(p.storeId).pendingPeerCount += sign;
    if (info.leader) {
      const s = get(info.leader.storeId);
      s.leaderCount += sign;
      s.leaderSize += size;
    }
  }
}
