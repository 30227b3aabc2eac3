/**
 * An in-process fake of a regionkv cluster for the raw client's tests: N stores, each a real gRPC
 * server on 127.0.0.1 (port 0) serving the raw methods of `regionkvpb.Kv`, over one shared
 * key-value map, plus a fake scheduler (`FakeRegionSource`).
 *
 * Each store checks a request the way a real one does, in this order: the region has a peer on
 * this store (RegionNotFound), the context's peer is on this store (StoreNotMatch), the epoch
 * matches (EpochNotMatch with the region's current pieces), this peer leads (NotLeader with the
 * leader as hint, unless `hideLeaderHint`), every key is in the region (KeyNotInRegion). Tests
 * change the cluster (split, move a leader, stop a store) and inject failures with `hook`.
 *
 * Stores serve BatchCommands too (unless started with `batchCommands: false`, then it answers
 * UNIMPLEMENTED as an older store would): each request of a message runs through the same handler
 * as its unary RPC (so `requests`, `hook` and `sent` see it alike), and the answers completed
 * within one turn of the event loop go back as one message. `batchMessages` records each message
 * received; `streamHook` can break a stream when a message arrives.
 */
import * as grpc from "@grpc/grpc-js";
import { type errorpb, kvrpcpb, metapb, regionkvpb } from "@regionkv/proto";
import type { RegionSource, RegionWithLeader } from "../../src/region-source.js";

const b = (s: string | Buffer): Buffer => (typeof s === "string" ? Buffer.from(s) : s);
const id = (k: Buffer): string => k.toString("latin1");

/** What a hook may do with a request instead of (or before) the store serving it. */
export type HookResult =
  | { kind: "regionError"; error: errorpb.Error }
  | { kind: "status"; code: grpc.status; details: string }
  | { kind: "responseError"; error: string }
  /** Never answer (the client's deadline or cancellation ends the call). */
  | { kind: "hang" }
  /** Serve normally after `ms`. */
  | { kind: "delay"; ms: number };

export interface RequestEvent {
  storeId: bigint;
  method: string;
  regionId: bigint;
  peerId: bigint;
  /** Keys (batch), key (single), or [start, end] (scan, delete-range), as latin1 strings. */
  keys: string[];
}

export type Hook = (ev: RequestEvent, request: { context?: kvrpcpb.Context | undefined }) => HookResult | undefined;

/** A BatchCommands message as a store received it. */
export interface BatchMessageEvent {
  storeId: bigint;
  /** The commands' kinds, in order. */
  commands: string[];
}

/** End the stream with this status on receiving the message, serving none of its requests. */
export type StreamHookResult = { kind: "failStream"; code: grpc.status; details: string };

export type StreamHook = (ev: BatchMessageEvent) => StreamHookResult | undefined;

/** The raw BatchCommands cases (this fake serves the raw API only). */
type BatchCase = Extract<NonNullable<regionkvpb.BatchCommandsRequest_Request["cmd"]>["$case"], `raw${string}`>;

/** A request handler of the fake: answers `reply` once (or never, for "hang"). */
type FakeHandler = (req: never, reply: (err: { code: grpc.status; details: string } | null, res?: unknown) => void) => void;

interface RegionState {
  region: metapb.Region;
  leaderStoreId: bigint | undefined;
  /** The regions a split of this region produced (for EpochNotMatch). */
  pieces: bigint[];
}

export class FakeStore {
  server: grpc.Server | undefined;
  address = "";

  constructor(
    readonly storeId: bigint,
    private readonly cluster: FakeCluster,
    /** Serve BatchCommands (else it answers UNIMPLEMENTED); read at start. */
    public batchCommands = true,
  ) {}

  async start(port = 0): Promise<void> {
    const server = new grpc.Server();
    const service = this.cluster.serviceFor(this.storeId);
    if (!this.batchCommands) delete service.batchCommands;
    server.addService(regionkvpb.KvService, service as regionkvpb.KvServer);
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    this.address = `127.0.0.1:${bound}`;
  }

  /** Stop the way a store process does on SIGTERM: new calls are refused, open ones may finish. */
  shutdownGracefully(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    return new Promise((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
  }

  /** Stop accepting connections and drop the open ones (a crashed store). */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }
}

export interface FakeClusterOptions {
  storeCount?: number;
  splitKeys?: string[];
  leaders?: bigint[];
  /** Stores serve BatchCommands (default true). */
  batchCommands?: boolean;
}

export class FakeCluster {
  readonly data = new Map<string, { key: Buffer; value: Buffer }>();
  readonly stores = new Map<bigint, FakeStore>();
  readonly requests: RequestEvent[] = [];
  /** Every BatchCommands message the stores received. */
  readonly batchMessages: BatchMessageEvent[] = [];
  /** BatchCommands streams opened, per store. */
  readonly batchStreams = new Map<bigint, number>();
  private readonly regions = new Map<bigint, RegionState>();
  private nextId = 1000n;
  hook: Hook | undefined;
  streamHook: StreamHook | undefined;
  /** Answer NotLeader without naming the leader. */
  hideLeaderHint = false;

  /**
   * `storeCount` stores; regions split at `splitKeys`, each with a peer on every store, led by
   * store 1 unless `leaders` says otherwise (one store id per region).
   */
  static async start(opts: FakeClusterOptions = {}): Promise<FakeCluster> {
    const c = new FakeCluster();
    const storeCount = opts.storeCount ?? 3;
    for (let s = 1n; s <= BigInt(storeCount); s++) {
      const store = new FakeStore(s, c, opts.batchCommands ?? true);
      await store.start();
      c.stores.set(s, store);
    }
    const bounds = ["", ...(opts.splitKeys ?? []), ""];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const rid = BigInt(i + 1);
      const region: metapb.Region = {
        id: rid,
        startKey: b(bounds[i]!),
        endKey: b(bounds[i + 1]!),
        regionEpoch: { confVer: 1n, version: 1n },
        peers: [...c.stores.keys()].map((s) => ({ id: rid * 100n + s, storeId: s, role: metapb.PeerRole.Voter })),
      };
      c.regions.set(rid, { region, leaderStoreId: opts.leaders?.[i] ?? 1n, pieces: [] });
    }
    return c;
  }

  close(): void {
    for (const s of this.stores.values()) s.stop();
  }

  store(storeId: bigint): FakeStore {
    return this.stores.get(storeId)!;
  }

  region(regionId: bigint): metapb.Region {
    return this.regions.get(regionId)!.region;
  }

  allRegions(): metapb.Region[] {
    return [...this.regions.values()].map((r) => r.region).sort((x, y) => Buffer.compare(x.startKey, y.startKey));
  }

  regionOf(key: Buffer): RegionState | undefined {
    for (const r of this.regions.values()) if (contains(r.region, key)) return r;
    return undefined;
  }

  leaderOf(regionId: bigint): metapb.Peer | undefined {
    const r = this.regions.get(regionId)!;
    return r.region.peers.find((p) => p.storeId === r.leaderStoreId);
  }

  setLeader(regionId: bigint, storeId: bigint | undefined): void {
    this.regions.get(regionId)!.leaderStoreId = storeId;
  }

  /** Split a region at `key`: the left part keeps the id, both get version + 1; returns the new right region's id. */
  split(regionId: bigint, key: string): bigint {
    const st = this.regions.get(regionId)!;
    const r = st.region;
    const version = (r.regionEpoch?.version ?? 1n) + 1n;
    const rid = this.nextId++;
    const right: metapb.Region = {
      id: rid,
      startKey: b(key),
      endKey: r.endKey,
      regionEpoch: { confVer: r.regionEpoch?.confVer ?? 1n, version },
      peers: r.peers.map((p) => ({ ...p, id: rid * 100n + p.storeId })),
    };
    st.region = { ...r, endKey: b(key), regionEpoch: { confVer: r.regionEpoch?.confVer ?? 1n, version } };
    st.pieces = [regionId, rid];
    this.regions.set(rid, { region: right, leaderStoreId: st.leaderStoreId, pieces: [] });
    return rid;
  }

  /** Values in key order (latin1 key → utf8 value), for assertions. */
  dump(): Record<string, string> {
    const out: Record<string, string> = {};
    const rows = [...this.data.values()].sort((x, y) => Buffer.compare(x.key, y.key));
    for (const r of rows) out[r.key.toString("latin1")] = r.value.toString("utf8");
    return out;
  }

  /** The requests of `method` (all if omitted). */
  sent(method?: string): RequestEvent[] {
    return method === undefined ? this.requests : this.requests.filter((r) => r.method === method);
  }

  // ------------------------------------------------------------------------------------------

  /** The store's Kv service (raw methods and BatchCommands; the rest answer UNIMPLEMENTED). */
  serviceFor(storeId: bigint): Partial<regionkvpb.KvServer> {
    const h = this.handlers(storeId);
    return {
      rawGet: unary(h.rawGet),
      rawBatchGet: unary(h.rawBatchGet),
      rawPut: unary(h.rawPut),
      rawBatchPut: unary(h.rawBatchPut),
      rawDelete: unary(h.rawDelete),
      rawDeleteRange: unary(h.rawDeleteRange),
      rawScan: unary(h.rawScan),
      rawCompareAndSwap: unary(h.rawCas),
      batchCommands: (call) => this.batchCommands(storeId, h, call),
    };
  }

  /** The request handlers of a store, by BatchCommands case (each also serves its unary RPC). */
  private handlers(storeId: bigint): Record<BatchCase, FakeHandler> {
    return {
      rawGet: this.handler(storeId, "RawGet", kvrpcpb.RawGetResponse.fromPartial({}), (r: kvrpcpb.RawGetRequest) => [r.key], (r: kvrpcpb.RawGetRequest) => {
        const v = this.data.get(id(r.key));
        return { regionError: undefined, error: "", value: v ? v.value : Buffer.alloc(0), notFound: !v };
      }),
      rawBatchGet: this.handler(storeId, "RawBatchGet", kvrpcpb.RawBatchGetResponse.fromPartial({}), (r: kvrpcpb.RawBatchGetRequest) => r.keys, (r: kvrpcpb.RawBatchGetRequest) => ({
        regionError: undefined,
        error: "",
        pairs: r.keys.flatMap((k) => {
          const v = this.data.get(id(k));
          return v ? [{ error: undefined, key: k, value: v.value }] : [];
        }),
      })),
      rawPut: this.handler(storeId, "RawPut", kvrpcpb.RawPutResponse.fromPartial({}), (r: kvrpcpb.RawPutRequest) => [r.key], (r: kvrpcpb.RawPutRequest) => {
        this.data.set(id(r.key), { key: r.key, value: r.value });
        return { regionError: undefined, error: "" };
      }),
      rawBatchPut: this.handler(storeId, "RawBatchPut", kvrpcpb.RawBatchPutResponse.fromPartial({}), (r: kvrpcpb.RawBatchPutRequest) => r.pairs.map((p) => p.key), (r: kvrpcpb.RawBatchPutRequest) => {
        for (const p of r.pairs) this.data.set(id(p.key), { key: p.key, value: p.value });
        return { regionError: undefined, error: "" };
      }),
      rawDelete: this.handler(storeId, "RawDelete", kvrpcpb.RawDeleteResponse.fromPartial({}), (r: kvrpcpb.RawDeleteRequest) => [r.key], (r: kvrpcpb.RawDeleteRequest) => {
        this.data.delete(id(r.key));
        return { regionError: undefined, error: "" };
      }),
      rawBatchDelete: this.handler(storeId, "RawBatchDelete", kvrpcpb.RawBatchDeleteResponse.fromPartial({}), (r: kvrpcpb.RawBatchDeleteRequest) => r.keys, (r: kvrpcpb.RawBatchDeleteRequest) => {
        for (const k of r.keys) this.data.delete(id(k));
        return { regionError: undefined, error: "" };
      }),
      rawDeleteRange: this.handler(storeId, "RawDeleteRange", kvrpcpb.RawDeleteRangeResponse.fromPartial({}), (r: kvrpcpb.RawDeleteRangeRequest) => [r.startKey, r.endKey], (r: kvrpcpb.RawDeleteRangeRequest, region) => {
        const [lo, hi] = clamp(region, r.startKey, r.endKey);
        for (const [k, v] of [...this.data]) if (inRange(v.key, lo, hi)) this.data.delete(k);
        return { regionError: undefined, error: "" };
      }),
      rawScan: this.handler(storeId, "RawScan", kvrpcpb.RawScanResponse.fromPartial({}), (r: kvrpcpb.RawScanRequest) => [r.startKey, r.endKey], (r: kvrpcpb.RawScanRequest, region) => {
        const [lo, hi] = r.reverse ? clamp(region, r.endKey, r.startKey) : clamp(region, r.startKey, r.endKey);
        const rows = [...this.data.values()].filter((v) => inRange(v.key, lo, hi)).sort((x, y) => Buffer.compare(x.key, y.key));
        if (r.reverse) rows.reverse();
        return {
          regionError: undefined,
          error: "",
          kvs: rows.slice(0, r.limit).map((v) => ({ error: undefined, key: v.key, value: r.keyOnly ? Buffer.alloc(0) : v.value })),
        };
      }),
      rawCas: this.handler(storeId, "RawCompareAndSwap", kvrpcpb.RawCASResponse.fromPartial({}), (r: kvrpcpb.RawCASRequest) => [r.key], (r: kvrpcpb.RawCASRequest) => {
        const cur = this.data.get(id(r.key));
        const ok = r.previousNotExist ? cur === undefined : cur !== undefined && cur.value.equals(r.previousValue);
        if (ok) this.data.set(id(r.key), { key: r.key, value: r.value });
        return { regionError: undefined, error: "", succeed: ok, previousNotExist: cur === undefined, previousValue: cur ? cur.value : Buffer.alloc(0) };
      }),
    };
  }

  private handler<Req extends { context?: kvrpcpb.Context | undefined }, Res>(
    storeId: bigint,
    method: string,
    /** The response with every field at its default, for region errors. */
    empty: Res,
    keysOf: (req: Req) => Buffer[],
    serve: (req: Req, region: metapb.Region) => Res,
  ): FakeHandler {
    return ((req: Req, reply: (err: { code: grpc.status; details: string } | null, res?: Res) => void) => {
      const keys = keysOf(req);
      const ev: RequestEvent = {
        storeId,
        method,
        regionId: req.context?.regionId ?? 0n,
        peerId: req.context?.peer?.id ?? 0n,
        keys: keys.map((k) => k.toString("latin1")),
      };
      this.requests.push(ev);
      const go = () => {
        const checked = this.check(storeId, req.context, method === "RawScan" || method === "RawDeleteRange" ? [] : keys);
        if (checked.kind === "error") {
          reply(null, { ...empty, regionError: checked.error });
          return;
        }
        reply(null, serve(req, checked.region));
      };
      const h = this.hook?.(ev, req);
      if (h === undefined) return go();
      switch (h.kind) {
        case "regionError":
          reply(null, { ...empty, regionError: h.error });
          return;
        case "status":
          reply({ code: h.code, details: h.details });
          return;
        case "responseError":
          reply(null, { ...empty, error: h.error });
          return;
        case "hang":
          return;
        case "delay":
          setTimeout(go, h.ms);
          return;
      }
    }) as FakeHandler;
  }

  /** A BatchCommands stream: each request through its handler; answers batched per event-loop turn. */
  private batchCommands(
    storeId: bigint,
    handlers: Record<BatchCase, FakeHandler>,
    call: grpc.ServerDuplexStream<regionkvpb.BatchCommandsRequest, regionkvpb.BatchCommandsResponse>,
  ): void {
    this.batchStreams.set(storeId, (this.batchStreams.get(storeId) ?? 0) + 1);
    let out: regionkvpb.BatchCommandsResponse = { responses: [], requestIds: [] };
    let outstanding = 0;
    let halfClosed = false;
    let over = false;
    const flush = () => {
      if (over) return;
      if (out.responses.length > 0) {
        call.write(out);
        out = { responses: [], requestIds: [] };
      }
      if (halfClosed && outstanding === 0) {
        over = true;
        call.end();
      }
    };
    const answer = (id: bigint, r: regionkvpb.BatchCommandsResponse_Response) => {
      outstanding--;
      if (out.responses.length === 0) setImmediate(flush);
      out.responses.push(r);
      out.requestIds.push(id);
    };
    call.on("data", (m: regionkvpb.BatchCommandsRequest) => {
      if (over) return;
      const ev: BatchMessageEvent = { storeId, commands: m.requests.map((r) => r.cmd?.$case ?? "none") };
      this.batchMessages.push(ev);
      const broken = this.streamHook?.(ev);
      if (broken) {
        over = true;
        call.emit("error", { code: broken.code, details: broken.details });
        return;
      }
      m.requests.forEach((r, i) => {
        const rid = m.requestIds[i]!;
        const cmd = r.cmd;
        outstanding++;
        if (!cmd) {
          answer(rid, { status: { code: grpc.status.INVALID_ARGUMENT, message: "no command" }, cmd: undefined });
          return;
        }
        if (!cmd.$case.startsWith("raw")) {
          answer(rid, { status: { code: grpc.status.UNIMPLEMENTED, message: `the fake store serves the raw API only, not ${cmd.$case}` }, cmd: undefined });
          return;
        }
        const handle = handlers[cmd.$case as BatchCase] as (req: unknown, reply: (err: { code: grpc.status; details: string } | null, res?: unknown) => void) => void;
        handle(cmd.value, (err, res) =>
          answer(rid, err ? { status: { code: err.code, message: err.details }, cmd: undefined } : { status: undefined, cmd: { $case: cmd.$case, value: res } as regionkvpb.BatchCommandsResponse_Response["cmd"] }),
        );
      });
    });
    call.on("end", () => {
      halfClosed = true;
      flush();
    });
    call.on("error", () => {
      over = true;
    });
    call.on("cancelled", () => {
      over = true;
    });
  }

  /** Messages received over BatchCommands by `storeId` (all stores if omitted). */
  batchMessagesTo(storeId?: bigint): BatchMessageEvent[] {
    return storeId === undefined ? this.batchMessages : this.batchMessages.filter((m) => m.storeId === storeId);
  }

  private check(storeId: bigint, ctx: kvrpcpb.Context | undefined, keys: Buffer[]): { kind: "ok"; region: metapb.Region } | { kind: "error"; error: errorpb.Error } {
    const regionId = ctx?.regionId ?? 0n;
    const st = this.regions.get(regionId);
    if (!st || !st.region.peers.some((p) => p.storeId === storeId)) {
      return { kind: "error", error: { message: `region ${regionId} not found`, kind: { $case: "regionNotFound", value: { regionId } } } };
    }
    if (ctx?.peer?.storeId !== storeId) {
      return {
        kind: "error",
        error: { message: "store not match", kind: { $case: "storeNotMatch", value: { requestStoreId: ctx?.peer?.storeId ?? 0n, actualStoreId: storeId } } },
      };
    }
    const r = st.region;
    if (ctx.regionEpoch?.version !== r.regionEpoch?.version || ctx.regionEpoch?.confVer !== r.regionEpoch?.confVer) {
      const current = (st.pieces.length > 0 ? st.pieces : [regionId]).map((rid) => this.regions.get(rid)!.region);
      return { kind: "error", error: { message: "epoch not match", kind: { $case: "epochNotMatch", value: { currentRegions: current } } } };
    }
    if (st.leaderStoreId !== storeId) {
      const leader = this.hideLeaderHint ? undefined : this.leaderOf(regionId);
      return { kind: "error", error: { message: "not leader", kind: { $case: "notLeader", value: { regionId, leader } } } };
    }
    for (const k of keys) {
      if (!contains(r, k)) {
        return {
          kind: "error",
          error: { message: "key not in region", kind: { $case: "keyNotInRegion", value: { key: k, regionId, startKey: r.startKey, endKey: r.endKey } } },
        };
      }
    }
    return { kind: "ok", region: r };
  }
}

/** A fake handler as a unary gRPC method. */
function unary<Req, Res>(h: FakeHandler): grpc.handleUnaryCall<Req, Res> {
  const handle = h as (req: Req, reply: (err: { code: grpc.status; details: string } | null, res?: Res) => void) => void;
  return (call, callback) => handle(call.request, (err, res) => (err ? callback(err) : callback(null, res)));
}

function contains(r: metapb.Region, key: Buffer): boolean {
  return Buffer.compare(key, r.startKey) >= 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0);
}

/** [lo, hi) ∩ the region (empty hi = +∞). */
function clamp(r: metapb.Region, lo: Buffer, hi: Buffer): [Buffer, Buffer] {
  const l = Buffer.compare(lo, r.startKey) < 0 ? r.startKey : lo;
  let h = hi;
  if (r.endKey.length > 0 && (h.length === 0 || Buffer.compare(h, r.endKey) > 0)) h = r.endKey;
  return [l, h];
}

function inRange(k: Buffer, lo: Buffer, hi: Buffer): boolean {
  return Buffer.compare(k, lo) >= 0 && (hi.length === 0 || Buffer.compare(k, hi) < 0);
}

/**
 * The fake scheduler: answers from the cluster's current map, unless a test pins a stale view
 * (`staleRegions`) or a stale leader (`leaderOverride`), or makes lookups fail (`failNext`).
 */
export class FakeRegionSource implements RegionSource {
  readonly calls: string[] = [];
  /** If set, the scheduler's (outdated) view of the regions. */
  staleRegions: metapb.Region[] | undefined;
  /** Leader store the scheduler reports, per region id (a leader that has since moved). */
  readonly leaderOverride = new Map<bigint, bigint>();
  /** Reject this many lookups before answering again. */
  failNext = 0;
  closed = 0;

  constructor(private readonly cluster: FakeCluster) {}

  private regions(): metapb.Region[] {
    return this.staleRegions ?? this.cluster.allRegions();
  }

  private withLeader(region: metapb.Region): RegionWithLeader {
    const storeId = this.leaderOverride.get(region.id);
    const leader = storeId !== undefined ? region.peers.find((p) => p.storeId === storeId) : this.cluster.leaderOf(region.id);
    return { region, leader };
  }

  private maybeFail(what: string): void {
    this.calls.push(what);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("scheduler unavailable (injected)");
    }
  }

  async getStore(storeId: bigint): Promise<metapb.Store | undefined> {
    this.maybeFail(`getStore ${storeId}`);
    const s = this.cluster.stores.get(storeId);
    if (!s) return undefined;
    return { id: storeId, address: s.address, state: metapb.StoreState.Up, labels: [], version: "test", statusAddress: "", startTimestamp: 0n };
  }

  async getRegion(key: Uint8Array): Promise<RegionWithLeader | undefined> {
    this.maybeFail(`getRegion ${Buffer.from(key).toString("latin1")}`);
    const r = this.regions().find((x) => contains(x, Buffer.from(key)));
    return r ? this.withLeader(r) : undefined;
  }

  async getRegionById(regionId: bigint): Promise<RegionWithLeader | undefined> {
    this.maybeFail(`getRegionById ${regionId}`);
    const r = this.regions().find((x) => x.id === regionId);
    return r ? this.withLeader(r) : undefined;
  }

  async scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): Promise<RegionWithLeader[]> {
    this.maybeFail(`scanRegions ${Buffer.from(startKey).toString("latin1")}`);
    const s = Buffer.from(startKey);
    const e = Buffer.from(endKey);
    const out = this.regions().filter(
      (r) => (r.endKey.length === 0 || Buffer.compare(r.endKey, s) > 0) && (e.length === 0 || Buffer.compare(r.startKey, e) < 0),
    );
    return out.slice(0, limit > 0 ? limit : undefined).map((r) => this.withLeader(r));
  }

  close(): void {
    this.closed++;
  }
}
