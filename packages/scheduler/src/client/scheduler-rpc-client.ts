/**
 * The gRPC client stores and clients use to reach the scheduler.
 *
 *   connect: GetMembers on the endpoints (retrying within the timeout) → cluster id
 *   unary calls: header {cluster_id} → UnaryCaller (deadline, UNAVAILABLE retried with backoff)
 *   getTimestamp: TsoBatcher (one Tso stream, concurrent callers batched)
 *   regionHeartbeat: RegionHeartbeatSender (one RegionHeartbeat stream, reopened on failure)
 *
 * Imports nothing of the scheduler core at runtime (no better-sqlite3): the client package and
 * stores load this file tree on its own.
 */
import pino, { type Logger } from "pino";
import type { metapb, schedulerpb } from "@regionkv/proto";
import type { RegionHeartbeat, SchedulerClient } from "@regionkv/raftstore";
import { DEFAULT_TIMEOUT_MS } from "./channel-options.js";
import { Endpoints } from "./endpoints.js";
import { RegionHeartbeatSender } from "./region-heartbeat-sender.js";
import { SchedulerRpcError } from "./scheduler-rpc-error.js";
import { TsoBatcher } from "./tso-batcher.js";
import { UnaryCaller, type UnaryStart } from "./unary-caller.js";

export interface SchedulerRpcClientOptions {
  /** "host:port" of the scheduler, or several (tried in turn). */
  endpoints: string | string[];
  /** Per-call deadline in ms, retries included; default 5000. */
  timeoutMs?: number;
  /** Structured logger; default pino at warn. */
  logger?: Logger;
}

/** A manual operator (`regionkv ctl add-peer/remove-peer/transfer-leader/split`). */
export type ManualOperatorRequest =
  | { kind: "add-peer" | "remove-peer" | "transfer-leader"; storeId: bigint }
  | { kind: "split"; keys: Uint8Array[] };

/** A region as the scheduler knows it, with the leader of its last heartbeat. */
export interface RegionWithLeader {
  region: metapb.Region;
  leader: metapb.Peer | undefined;
  /** From the leader's last heartbeat (scanRegions only). */
  approximateSize?: bigint;
  approximateKeys?: bigint;
}

type Response = { header?: schedulerpb.ResponseHeader | undefined };

export class SchedulerRpcClient implements SchedulerClient {
  private readonly tso: TsoBatcher;
  private readonly heartbeats: RegionHeartbeatSender;
  private closed = false;

  private constructor(
    private readonly endpoints: Endpoints,
    private readonly caller: UnaryCaller,
    /** The cluster the scheduler serves (learned from GetMembers); sent in every request header. */
    readonly clusterId: bigint,
    log: Logger,
  ) {
    this.tso = new TsoBatcher({ endpoints, clusterId, timeoutMs: caller.timeoutMs, log });
    this.heartbeats = new RegionHeartbeatSender({ endpoints, timeoutMs: caller.timeoutMs, log });
  }

  /**
   * Resolves once a scheduler answered GetMembers (learns the cluster id); rejects with a
   * SchedulerRpcError naming the address(es) if none answered within timeoutMs.
   */
  static async connect(opts: SchedulerRpcClientOptions): Promise<SchedulerRpcClient> {
    const addresses = typeof opts.endpoints === "string" ? [opts.endpoints] : [...opts.endpoints];
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new SchedulerRpcError("INVALID_ARGUMENT", `timeoutMs must be > 0, got ${timeoutMs}`);
    if (addresses.length === 0) throw new SchedulerRpcError("INVALID_ARGUMENT", 'no scheduler endpoint given; pass e.g. endpoints: "127.0.0.1:2379"');
    const log = (opts.logger ?? pino({ level: "warn" })).child({ component: "scheduler-client" });
    const endpoints = new Endpoints(addresses);
    const caller = new UnaryCaller(endpoints, timeoutMs, log);
    try {
      const resp = await caller.call<schedulerpb.GetMembersResponse>("GetMembers", (c, md, o, done) => c.getMembers({ header: { clusterId: 0n } }, md, o, done));
      const clusterId = resp.header?.clusterId ?? 0n;
      log.debug({ clusterId: String(clusterId), leader: resp.leader?.name, endpoints: addresses }, "connected to the scheduler");
      return new SchedulerRpcClient(endpoints, caller, clusterId, log);
    } catch (e) {
      caller.close();
      endpoints.closeAll();
      throw e;
    }
  }

  private header(): schedulerpb.RequestHeader {
    return { clusterId: this.clusterId };
  }

  private call<Res extends Response>(method: string, start: UnaryStart<Res>): Promise<Res> {
    if (this.closed) return Promise.reject(UnaryCaller.closedError(method));
    return this.caller.call(method, start);
  }

  async isBootstrapped(): Promise<boolean> {
    const r = await this.call<schedulerpb.IsBootstrappedResponse>("IsBootstrapped", (c, md, o, done) => c.isBootstrapped({ header: this.header() }, md, o, done));
    return r.bootstrapped;
  }

  /** Initialize the cluster; ALREADY_BOOTSTRAPPED if it was. */
  async bootstrap(store: metapb.Store, region: metapb.Region): Promise<void> {
    await this.call<schedulerpb.BootstrapResponse>("Bootstrap", (c, md, o, done) => c.bootstrap({ header: this.header(), store, region }, md, o, done));
  }

  async allocId(): Promise<bigint> {
    const r = await this.call<schedulerpb.AllocIDResponse>("AllocID", (c, md, o, done) => c.allocId({ header: this.header() }, md, o, done));
    return r.id;
  }

  async putStore(store: metapb.Store): Promise<void> {
    await this.call<schedulerpb.PutStoreResponse>("PutStore", (c, md, o, done) => c.putStore({ header: this.header(), store }, md, o, done));
  }

  /** The store, or undefined if the scheduler does not know it. */
  async getStore(storeId: bigint): Promise<metapb.Store | undefined> {
    try {
      const r = await this.call<schedulerpb.GetStoreResponse>("GetStore", (c, md, o, done) => c.getStore({ header: this.header(), storeId }, md, o, done));
      return r.store;
    } catch (e) {
      // The wire has no STORE_NOT_FOUND; the scheduler answers an unknown store (and only that,
      // for GetStore) with the header error UNKNOWN.
      if (e instanceof SchedulerRpcError && e.code === "UNKNOWN") return undefined;
      throw e;
    }
  }

  async getAllStores(opts: { excludeTombstones?: boolean } = {}): Promise<metapb.Store[]> {
    const r = await this.call<schedulerpb.GetAllStoresResponse>("GetAllStores", (c, md, o, done) =>
      c.getAllStores({ header: this.header(), excludeTombstoneStores: opts.excludeTombstones ?? false }, md, o, done),
    );
    return r.stores;
  }

  async storeHeartbeat(stats: schedulerpb.StoreStats): Promise<void> {
    await this.call<schedulerpb.StoreHeartbeatResponse>("StoreHeartbeat", (c, md, o, done) => c.storeHeartbeat({ header: this.header(), stats }, md, o, done));
  }

  /** Report a region over the long-lived RegionHeartbeat stream (reopened on failure). */
  async regionHeartbeat(hb: RegionHeartbeat): Promise<void> {
    await this.heartbeats.send({
      header: this.header(),
      region: hb.region,
      leader: hb.leader,
      downPeers: hb.downPeers ?? [],
      pendingPeers: hb.pendingPeers,
      bytesWritten: toU64(hb.bytesWritten ?? 0),
      bytesRead: 0n,
      keysWritten: toU64(hb.keysWritten ?? 0),
      keysRead: toU64(hb.keysRead ?? 0),
      approximateSize: toU64(hb.approximateSize),
      interval:
        hb.intervalStartSec !== undefined && hb.intervalEndSec !== undefined
          ? { startTimestamp: toU64(hb.intervalStartSec), endTimestamp: toU64(hb.intervalEndSec) }
          : undefined,
      approximateKeys: toU64(hb.approximateKeys),
      term: toU64(hb.term ?? 0),
    });
  }

  /** Call `cb` with every response on the RegionHeartbeat stream (operators; error headers). */
  onRegionHeartbeatResponse(cb: (resp: schedulerpb.RegionHeartbeatResponse) => void): void {
    this.heartbeats.onResponse(cb);
  }

  /** Ids for splitting `region` into `count + 1` regions. */
  async askBatchSplit(region: metapb.Region, count: number): Promise<schedulerpb.SplitID[]> {
    const r = await this.call<schedulerpb.AskBatchSplitResponse>("AskBatchSplit", (c, md, o, done) =>
      c.askBatchSplit({ header: this.header(), region, splitCount: count }, md, o, done),
    );
    return r.ids;
  }

  /** The region containing `key`, or undefined if none is known. */
  async getRegion(key: Uint8Array): Promise<RegionWithLeader | undefined> {
    return this.regionCall("GetRegion", (c, md, o, done) => c.getRegion({ header: this.header(), regionKey: toBuffer(key) }, md, o, done));
  }

  /** A region by id, or undefined if unknown. */
  async getRegionById(regionId: bigint): Promise<RegionWithLeader | undefined> {
    return this.regionCall("GetRegionByID", (c, md, o, done) => c.getRegionById({ header: this.header(), regionId }, md, o, done));
  }

  /** Every region the scheduler knows, in key order, fetched in pages of `pageSize`. */
  async allRegions(pageSize = 1_000): Promise<RegionWithLeader[]> {
    const out: RegionWithLeader[] = [];
    for await (const page of regionPages((s, e, n) => this.scanRegions(s, e, n), pageSize)) out.push(...page);
    return out;
  }

  /** Regions in key order from the one containing `startKey`, before `endKey` (empty = +inf); limit <= 0 = no limit. */
  async scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): Promise<RegionWithLeader[]> {
    const r = await this.call<schedulerpb.ScanRegionsResponse>("ScanRegions", (c, md, o, done) =>
      c.scanRegions({ header: this.header(), startKey: toBuffer(startKey), endKey: toBuffer(endKey), limit }, md, o, done),
    );
    const out: RegionWithLeader[] = [];
    for (const info of r.regions) {
      if (info.region) out.push({ region: info.region, leader: info.leader, approximateSize: info.approximateSize, approximateKeys: info.approximateKeys });
    }
    return out;
  }

  /** A timestamp from the scheduler's TSO; concurrent callers share one request. */
  getTimestamp(): Promise<bigint> {
    if (this.closed) return Promise.reject(UnaryCaller.closedError("Tso"));
    return this.tso.get();
  }

  async getGcSafePoint(): Promise<bigint> {
    const r = await this.call<schedulerpb.GetGCSafePointResponse>("GetGCSafePoint", (c, md, o, done) => c.getGcSafePoint({ header: this.header() }, md, o, done));
    return r.safePoint;
  }

  /** Raise the GC safe point; returns the one now in force (max(old, requested)). */
  async updateGcSafePoint(safePoint: bigint): Promise<bigint> {
    const r = await this.call<schedulerpb.UpdateGCSafePointResponse>("UpdateGCSafePoint", (c, md, o, done) =>
      c.updateGcSafePoint({ header: this.header(), safePoint }, md, o, done),
    );
    return r.newSafePoint;
  }

  /** Ask for a manual operator on a region; rejects with the scheduler's reason if refused. */
  async addOperator(regionId: bigint, op: ManualOperatorRequest): Promise<schedulerpb.OperatorInfo | undefined> {
    let wire: schedulerpb.AddOperatorRequest["op"];
    if (op.kind === "split") wire = { $case: "split", value: { keys: op.keys.map(toBuffer) } };
    else if (op.kind === "add-peer") wire = { $case: "addPeerStoreId", value: op.storeId };
    else if (op.kind === "remove-peer") wire = { $case: "removePeerStoreId", value: op.storeId };
    else wire = { $case: "transferLeaderStoreId", value: op.storeId };
    const r = await this.call<schedulerpb.AddOperatorResponse>("AddOperator", (c, md, o, done) => c.addOperator({ header: this.header(), regionId, op: wire }, md, o, done));
    return r.operator;
  }

  /** Running operators, and up to `finishedLimit` recently finished ones (newest first). */
  async listOperators(finishedLimit = 0): Promise<{ running: schedulerpb.OperatorInfo[]; finished: schedulerpb.OperatorInfo[] }> {
    const r = await this.call<schedulerpb.ListOperatorsResponse>("ListOperators", (c, md, o, done) => c.listOperators({ header: this.header(), finishedLimit }, md, o, done));
    return { running: r.running, finished: r.finished };
  }

  /** Drain a store (Offline now, Tombstone once its replicas moved away). */
  async removeStore(storeId: bigint): Promise<metapb.Store | undefined> {
    const r = await this.call<schedulerpb.RemoveStoreResponse>("RemoveStore", (c, md, o, done) => c.removeStore({ header: this.header(), storeId }, md, o, done));
    return r.store;
  }

  /** Cancel everything in flight (callers get CLOSED) and close the channels. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tso.close();
    this.heartbeats.close();
    this.caller.close();
    this.endpoints.closeAll();
  }

  private async regionCall(
    method: string,
    start: UnaryStart<schedulerpb.GetRegionResponse>,
  ): Promise<RegionWithLeader | undefined> {
    try {
      const r = await this.call(method, start);
      return r.region ? { region: r.region, leader: r.leader } : undefined;
    } catch (e) {
      if (e instanceof SchedulerRpcError && e.code === "REGION_NOT_FOUND") return undefined;
      throw e;
    }
  }
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function toU64(n: number): bigint {
  return Number.isFinite(n) && n > 0 ? BigInt(Math.floor(n)) : 0n;
}

/**
 * Every region in key order, a page of `pageSize` at a time, through a `scanRegions` (a
 * SchedulerRpcClient's, or any region source's with the same contract).
 */
export async function* regionPages<R extends { region: { endKey: Uint8Array } }>(
  scanRegions: (startKey: Uint8Array, endKey: Uint8Array, limit: number) => Promise<R[]>,
  pageSize: number,
): AsyncGenerator<R[]> {
  let start: Uint8Array = Buffer.alloc(0);
  for (;;) {
    const page = await scanRegions(start, Buffer.alloc(0), pageSize);
    if (page.length > 0) yield page;
    const last = page[page.length - 1];
    if (page.length < pageSize || !last || last.region.endKey.length === 0) return;
    start = Buffer.from(last.region.endKey);
  }
}
