/**
 * The client's region cache: which region holds a key, its epoch, its peers and the leader to
 * send to. Filled from the scheduler (`GetRegion`, `ScanRegions`) and corrected by region errors:
 *
 * - NotLeader with a hint → switch the region's leader to the hinted peer;
 * - NotLeader without a hint, RegionNotFound, a store that cannot be reached → try the next peer,
 *   and after every peer was tried, drop the region (the next lookup asks the scheduler);
 * - EpochNotMatch with current regions → replace the stale entries with the regions the store sent;
 * - KeyNotInRegion → drop the region.
 *
 * Regions never overlap in the cache: inserting one removes every cached region it overlaps, so a
 * split or merge reported by a store or the scheduler replaces the old view at once.
 */
import type { metapb } from "@regionkv/proto";

export interface CachedRegion {
  region: metapb.Region;
  /** The peer requests go to: the known leader, or the peer being tried. */
  leader: metapb.Peer | undefined;
  /** Peers tried since the last success (to stop after each peer was tried once). */
  tried: Set<bigint>;
}

function cmp(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Whether `key` is in [start, end) (empty end = +∞). */
export function regionContains(region: metapb.Region, key: Uint8Array): boolean {
  return cmp(key, region.startKey) >= 0 && (region.endKey.length === 0 || cmp(key, region.endKey) < 0);
}

function overlaps(a: metapb.Region, b: metapb.Region): boolean {
  const aEndsBeforeB = a.endKey.length > 0 && cmp(a.endKey, b.startKey) <= 0;
  const bEndsBeforeA = b.endKey.length > 0 && cmp(b.endKey, a.startKey) <= 0;
  return !aEndsBeforeB && !bEndsBeforeA;
}

export class RegionCache {
  /** Sorted by start key; never overlapping. */
  private entries: CachedRegion[] = [];

  get size(): number {
    return this.entries.length;
  }

  /** The cached region holding `key`, if any. */
  lookup(key: Uint8Array): CachedRegion | undefined {
    // The last entry whose start key is ≤ key.
    let lo = 0;
    let hi = this.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(this.entries[mid]!.region.startKey, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const e = found >= 0 ? this.entries[found] : undefined;
    return e && regionContains(e.region, key) ? e : undefined;
  }

  /**
   * The cached region holding the keys just below `endKey` (start < endKey ≤ end), i.e. the region
   * a reverse walk reaches from `endKey`; for an empty `endKey` (+∞), the last region (empty end).
   */
  lookupBefore(endKey: Uint8Array): CachedRegion | undefined {
    // The last entry whose start key is < endKey (any entry, for +∞).
    let lo = 0;
    let hi = this.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (endKey.length === 0 || cmp(this.entries[mid]!.region.startKey, endKey) < 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const e = found >= 0 ? this.entries[found] : undefined;
    if (!e) return undefined;
    if (e.region.endKey.length === 0) return e;
    return endKey.length > 0 && cmp(e.region.endKey, endKey) >= 0 ? e : undefined;
  }

  byId(regionId: bigint): CachedRegion | undefined {
    return this.entries.find((e) => e.region.id === regionId);
  }

  /** Insert (or replace) a region and its leader; overlapped cached regions are dropped. */
  insert(region: metapb.Region, leader: metapb.Peer | undefined): CachedRegion {
    const entry: CachedRegion = { region, leader: leader ?? region.peers[0], tried: new Set() };
    this.entries = this.entries.filter((e) => !overlaps(e.region, region));
    let i = 0;
    while (i < this.entries.length && cmp(this.entries[i]!.region.startKey, region.startKey) < 0) i++;
    this.entries.splice(i, 0, entry);
    return entry;
  }

  /**
   * Insert a region learned from the scheduler unless the cache already holds a newer view of its
   * range (an overlapping region with a higher version, or the same region with a higher
   * conf_ver): the scheduler hears of splits and membership changes a heartbeat after the stores.
   * Returns the new entry, or undefined if the region was stale and skipped.
   */
  maybeInsert(region: metapb.Region, leader: metapb.Peer | undefined): CachedRegion | undefined {
    const v = region.regionEpoch?.version ?? 0n;
    const c = region.regionEpoch?.confVer ?? 0n;
    for (const e of this.entries) {
      if (!overlaps(e.region, region)) continue;
      const ev = e.region.regionEpoch?.version ?? 0n;
      if (ev > v) return undefined;
      if (e.region.id === region.id && ev === v && (e.region.regionEpoch?.confVer ?? 0n) > c) return undefined;
    }
    return this.insert(region, leader);
  }

  /** Forget a region (the next lookup of its keys goes to the scheduler). */
  invalidate(regionId: bigint): void {
    this.entries = this.entries.filter((e) => e.region.id !== regionId);
  }

  /** A request succeeded on `peer`: it is the leader; the try set starts over. */
  onSuccess(regionId: bigint, peer: metapb.Peer): void {
    const e = this.byId(regionId);
    if (!e) return;
    e.leader = peer;
    e.tried.clear();
  }

  /**
   * NotLeader. With a hint that is a member of the cached region, follow it; otherwise move on to
   * the next untried peer. Returns false when every peer was tried (the region is dropped).
   */
  onNotLeader(regionId: bigint, hint: metapb.Peer | undefined): boolean {
    const e = this.byId(regionId);
    if (!e) return false;
    if (e.leader) e.tried.add(e.leader.id);
    if (hint && hint.id !== 0n) {
      const member = e.region.peers.find((p) => p.id === hint.id);
      if (member) {
        e.leader = member;
        return true;
      }
      // A leader we do not know as a member: our view of the region is stale.
      this.invalidate(regionId);
      return false;
    }
    return this.tryNextPeer(e);
  }

  /** The peer could not be reached (or has no such region): try another one. */
  onPeerFailure(regionId: bigint): boolean {
    const e = this.byId(regionId);
    if (!e) return false;
    if (e.leader) e.tried.add(e.leader.id);
    return this.tryNextPeer(e);
  }

  private tryNextPeer(e: CachedRegion): boolean {
    const next = e.region.peers.find((p) => !e.tried.has(p.id));
    if (!next) {
      this.invalidate(e.region.id);
      return false;
    }
    e.leader = next;
    return true;
  }

  /**
   * EpochNotMatch: the store's current regions replace our stale view. Each keeps its cached
   * leader if that is still a member; otherwise the peer on the stale region's leader store is
   * tried first (after a split, that store's peers are the likely leaders of both halves).
   */
  onEpochNotMatch(regionId: bigint, currentRegions: metapb.Region[]): void {
    const leaderStore = this.byId(regionId)?.leader?.storeId;
    const previous = new Map(currentRegions.map((r) => [r.id, this.byId(r.id)?.leader] as const));
    this.invalidate(regionId);
    for (const r of currentRegions) {
      const prev = previous.get(r.id);
      const keep = prev ? r.peers.find((p) => p.id === prev.id) : undefined;
      this.insert(r, keep ?? r.peers.find((p) => p.storeId === leaderStore));
    }
  }

  /** Every cached region overlapping [start, end) in key order (empty end = +∞). */
  overlapping(start: Uint8Array, end: Uint8Array): CachedRegion[] {
    const probe = { id: 0n, startKey: Buffer.from(start), endKey: Buffer.from(end), peers: [], regionEpoch: undefined } as metapb.Region;
    return this.entries.filter((e) => overlaps(e.region, probe));
  }
}
