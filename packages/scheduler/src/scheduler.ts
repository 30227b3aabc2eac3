/**
 * SchedulerCore: the operations the scheduler's gRPC service exposes, over the region tree, the
 * id allocator, the TSO and the SQLite store. Single-threaded: each call runs to completion, so
 * concurrent heartbeats are serialized by the event loop.
 *
 * Region heartbeat flow: validate → checkRegionHeartbeat (stale → error value) → tree.put (drops
 * overlapped regions, updates store statistics) → persist the region if its meta changed.
 */
import { composeTs, metapb, physicalMs, type schedulerpb } from "@regionkv/proto";
import { SchedulerError, type Result } from "./errors.js";
import { IdAllocator } from "./id-allocator.js";
import { checkRegionHeartbeat } from "./region-heartbeat.js";
import { RegionTree, type RegionInfo, type StoreRegionStats } from "./region-tree.js";
import { SchedulerStore, type SchedulerStoreOptions } from "./scheduler-store.js";
import { Tso } from "./tso.js";

export interface SchedulerCoreOptions extends SchedulerStoreOptions {
  /** Wall clock in ms; default Date.now. */
  now?: () => number;
}

/** A store with what the scheduler learned from heartbeats. */
export interface StoreInfo extends StoreRegionStats {
  store: metapb.Store;
  /** The last reported statistics, if any. */
  stats: schedulerpb.StoreStats | undefined;
  /** Clock time (ms) of the last store heartbeat, 0 if none. */
  lastHeartbeatMs: number;
}

export class SchedulerCore {
  private readonly tree = new RegionTree();
  private readonly stores = new Map<bigint, { store: metapb.Store; stats: schedulerpb.StoreStats | undefined; lastHeartbeatMs: number }>();
  private readonly ids: IdAllocator;
  private readonly tsoOracle: Tso;
  private gcSafePoint: bigint;
  /** Clock time the core was opened: the liveness baseline of stores not heard from since. */
  readonly openedAtMs: number;

  private constructor(
    private readonly db: SchedulerStore,
    /** The injected wall clock (ms). */
    readonly now: () => number,
  ) {
    this.openedAtMs = now();
    this.ids = new IdAllocator(db);
    this.tsoOracle = new Tso(db, now);
    this.gcSafePoint = db.loadGcSafePoint();
    for (const s of db.loadStores()) this.stores.set(s.id, { store: s, stats: undefined, lastHeartbeatMs: 0 });
    for (const r of db.loadRegions()) this.tree.put({ region: r, leader: undefined, pendingPeers: [], downPeers: [], approximateSize: 0n, approximateKeys: 0n });
  }

  /** Open the scheduler's state in `dir` (created if needed). */
  static open(dir: string, options: SchedulerCoreOptions = {}): SchedulerCore {
    return new SchedulerCore(SchedulerStore.open(dir, options), options.now ?? Date.now);
  }

  close(): void {
    this.db.close();
  }

  get clusterId(): bigint {
    return this.db.clusterId();
  }

  isBootstrapped(): boolean {
    return this.db.isBootstrapped();
  }

  private mustBeBootstrapped(): void {
    if (!this.isBootstrapped()) throw new SchedulerError("NotBootstrapped", "the cluster is not bootstrapped yet; bootstrap it with its first store first");
  }

  /** Record the first store and (optionally) the first region. A second call fails with AlreadyBootstrapped. */
  bootstrap(store: metapb.Store, region?: metapb.Region): void {
    if (this.isBootstrapped()) throw new SchedulerError("AlreadyBootstrapped", `cluster ${this.clusterId} is already bootstrapped`);
    validateStore(store);
    if (region) validateRegion(region);
    this.db.saveBootstrap(store, region);
    this.stores.set(store.id, { store, stats: undefined, lastHeartbeatMs: 0 });
    if (region) this.tree.put({ region, leader: undefined, pendingPeers: [], downPeers: [], approximateSize: 0n, approximateKeys: 0n });
  }

  /** A new cluster-unique id (allowed before bootstrap: stores need ids to bootstrap). */
  allocId(): bigint {
    return this.ids.alloc();
  }

  /**
   * Add or update a store. A tombstone may not come back. Allowed before bootstrap: stores
   * register while the cluster waits for its initial stores (the first region gets a replica on
   * each of them).
   */
  putStore(store: metapb.Store): void {
    validateStore(store);
    const old = this.stores.get(store.id);
    if (old && old.store.state === metapb.StoreState.Tombstone && store.state !== metapb.StoreState.Tombstone) {
      throw new SchedulerError("StoreTombstone", `store ${store.id} is a tombstone and may not rejoin; start the store with a new data directory`);
    }
    this.db.putStore(store);
    this.stores.set(store.id, { store, stats: old?.stats, lastHeartbeatMs: old?.lastHeartbeatMs ?? 0 });
  }

  getStore(id: bigint): metapb.Store | undefined {
    return this.stores.get(id)?.store;
  }

  getAllStores(excludeTombstones = false): metapb.Store[] {
    const out = [...this.stores.values()].map((s) => s.store);
    return (excludeTombstones ? out.filter((s) => s.state !== metapb.StoreState.Tombstone) : out).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** A store with its heartbeat and region statistics. */
  getStoreInfo(id: bigint): StoreInfo | undefined {
    const s = this.stores.get(id);
    if (!s) return undefined;
    return { ...this.tree.storeStats(id), store: s.store, stats: s.stats, lastHeartbeatMs: s.lastHeartbeatMs };
  }

  /** Every store with its statistics, by id. */
  getAllStoreInfos(): StoreInfo[] {
    return [...this.stores.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((id) => this.getStoreInfo(id)!);
  }

  /** Record a store's statistics; an unknown store is an error. */
  storeHeartbeat(stats: schedulerpb.StoreStats): void {
    this.mustBeBootstrapped();
    const s = this.stores.get(stats.storeId);
    if (!s) throw new SchedulerError("StoreNotFound", `store ${stats.storeId} is unknown; register it with PutStore before sending heartbeats`);
    if (s.store.state === metapb.StoreState.Tombstone) throw new SchedulerError("StoreTombstone", `store ${stats.storeId} is a tombstone; it may not send heartbeats`);
    s.stats = stats;
    s.lastHeartbeatMs = this.now();
  }

  /** Apply a region heartbeat (TinyKV's processRegionHeartbeat); a stale one is returned as an error value. */
  regionHeartbeat(req: schedulerpb.RegionHeartbeatRequest): Result<{ changed: boolean }> {
    try {
      this.mustBeBootstrapped();
      if (!req.region) throw new SchedulerError("InvalidArgument", "region heartbeat without region");
      if (!req.leader) throw new SchedulerError("InvalidArgument", `region heartbeat for region ${req.region.id} without leader`);
      validateRegion(req.region);
    } catch (e) {
      if (e instanceof SchedulerError) return { ok: false, error: e };
      throw e;
    }
    const info: RegionInfo = {
      region: req.region,
      leader: req.leader,
      pendingPeers: req.pendingPeers,
      downPeers: req.downPeers,
      approximateSize: req.approximateSize,
      approximateKeys: req.approximateKeys,
    };
    const check = checkRegionHeartbeat(this.tree, info);
    if (!check.ok) return check;
    if (!check.value.changed) return { ok: true, value: { changed: false } };
    if (check.value.metaChanged) {
      const removed = this.tree.overlaps(info.region).filter((r) => r.region.id !== info.region.id);
      this.db.replaceRegions(info.region, removed.map((r) => r.region.id));
    }
    this.tree.put(info);
    return { ok: true, value: { changed: true } };
  }

  /** The region containing `key`. */
  getRegion(key: Buffer): RegionInfo | undefined {
    this.mustBeBootstrapped();
    return this.tree.getByKey(key);
  }

  getRegionById(id: bigint): RegionInfo | undefined {
    this.mustBeBootstrapped();
    return this.tree.getById(id);
  }

  /** The region before the one containing `key`. */
  getPrevRegion(key: Buffer): RegionInfo | undefined {
    this.mustBeBootstrapped();
    return this.tree.getPrevByKey(key);
  }

  /** Regions in key order from the one containing `startKey`, before `endKey` (empty = +inf); limit <= 0 = no limit. */
  scanRegions(startKey: Buffer, endKey: Buffer, limit: number): RegionInfo[] {
    this.mustBeBootstrapped();
    return this.tree.scan(startKey, endKey, limit);
  }

  /** Every known region in key order (empty before bootstrap). */
  allRegions(): RegionInfo[] {
    return this.tree.all();
  }

  /** Number of regions known. */
  regionCount(): number {
    return this.tree.size;
  }

  /** `count` timestamps; returns the last one (u64). */
  tso(count: number): bigint {
    return this.tsoOracle.allocate(count);
  }

  /**
   * The GC life time rule: raise the safe point to `now − lifeTimeMs` (no transaction may live
   * longer than that). Returns the safe point in effect.
   */
  advanceGcSafePoint(lifeTimeMs: number): bigint {
    const physical = this.now() - lifeTimeMs;
    if (physical <= 0) return this.gcSafePoint;
    return this.updateGcSafePoint(composeTs(BigInt(physical), 0n));
  }

  getGcSafePoint(): bigint {
    return this.gcSafePoint;
  }

  /**
   * Raise the GC safe point; a lower value is ignored. Returns the safe point now in effect.
   * Throws GcSafePointError for a safe point in the future (its physical time after now): data a
   * transaction starting now may still read would be collected.
   */
  updateGcSafePoint(safePoint: bigint): bigint {
    const physical = physicalMs(safePoint);
    if (physical > BigInt(this.now())) {
      throw new GcSafePointError(`GC safe point ${safePoint} is in the future (physical time ${physical} ms > now ${this.now()} ms): a safe point must be a timestamp already past`);
    }
    if (safePoint > this.gcSafePoint) {
      this.db.saveGcSafePoint(safePoint);
      this.gcSafePoint = safePoint;
    }
    return this.gcSafePoint;
  }
}

function validateStore(store: metapb.Store): void {
  if (store.id === 0n) throw new SchedulerError("InvalidArgument", "store.id must not be 0; allocate one with AllocID");
}

function validateRegion(region: metapb.Region): void {
  if (region.id === 0n) throw new SchedulerError("InvalidArgument", "region.id must not be 0");
  if (region.peers.length === 0) throw new SchedulerError("InvalidArgument", `region ${region.id} has no peers`);
  if (region.startKey.length > 0 && region.endKey.length > 0 && Buffer.compare(region.startKey, region.endKey) >= 0) {
    throw new SchedulerError("InvalidArgument", `region ${region.id}: start_key must be below end_key`);
  }
}

/** A GC safe point that cannot be accepted (in the future). */
export class GcSafePointError extends Error {
  override readonly name = "GcSafePointError";
}
