/**
 * The real transactional client (`TxnClient`: transaction.ts, lock-resolver.ts, the region
 * machinery) on the in-process cluster of cluster.ts, with no network between them.
 *
 *   TxnClient → RegionRequestSender → SimStoreTransport (a StoreTransport) → the store's KvService
 *   (KvService + TxnCommands + RaftTxnStorage over the harness's running RaftStore) → propose
 *   → settled when the SimDriver pumps and ticks the cluster.
 *
 * - `TxnSim` owns the pieces shared by every client: the cluster, the TSO, one KvService per
 *   running store instance (a restarted store gets a new one: latches, memory locks and max_ts
 *   are lost in a crash, as in a real store), and the calls in flight.
 * - `SimStoreTransport` (one per client; the client closes it): `connect` fails for a stopped
 *   store (connection refused: nothing was sent); a call to a store that is down, or stops while
 *   the call is out, answers UNAVAILABLE; the client's gRPC deadline and cancellation are honoured.
 *   `kill()` cuts the client off (a crashed client process). Client → store calls bypass the
 *   SimNetwork: its filters (partitions, drops) act on raft traffic between stores only.
 * - `SimRegionSource`: the client's scheduler is the MockScheduler (regions by key / id / scan as
 *   last heartbeated, stores), and its TSO is `SimTso`: physical ms = the wall clock when the sim
 *   started + the harness's simulated ms, << 18 | a logical counter, strictly increasing. Lock
 *   TTLs are therefore judged on simulated time. (The physical part starts at the wall clock only
 *   so the client's clock-skew allowance, its own Date.now() minus a start ts's physical time,
 *   stays ~0.)
 * - `SimDriver` is the only thing that advances the cluster while clients run: a background loop
 *   that pumps (serving requests without advancing time), runs actions queued with `at()` between
 *   ticks, and ticks at most `simMsPerRealMs` simulated ms per real ms (so a client whose TTLs and
 *   heartbeats are reckoned in real ms is not outrun by simulated time). Chaos and checks wait on
 *   it with `ticks()` / `until()`.
 *
 * Determinism: the cluster, its faults and every choice made from the seed are seeded, but the
 * client's timers (call deadlines, backoff, heartbeats, lock waits, `db.run` jitter) are real, and
 * the driver's pace follows the wall clock, so how client requests interleave with ticks differs
 * from run to run. Runs are seeded, not bit-for-bit replayable: a failing seed may need several
 * runs to fail again.
 */
import { Metadata, status as GrpcStatus, type CallOptions, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { TxnClient, type CallScope, type ConnectResult, type RegionSource, type RegionWithLeader, type StoreAddress, type StoreTransport, type TxnClientInternalOptions } from "@regionkv/client";
import { MAX_LOGICAL, composeTs, physicalMs, raft_cmdpb, type errorpb, type kvrpcpb, type metapb, type regionkvpb } from "@regionkv/proto";
import { keyInRegion, type RaftStore } from "@regionkv/raftstore";
import { KvService, type KvMethod, type KvRequestScope, type KvServiceOptions } from "@regionkv/server";
import { RaftTxnStorage, TxnCommands } from "@regionkv/txn";
import { ClusterError, type Cluster } from "./cluster.js";

/** The cluster's timestamp oracle on simulated time; see the file comment. */
export class SimTso {
  private readonly base = BigInt(Date.now());
  private physical = 0n;
  private logical = 0n;

  constructor(private readonly cluster: Cluster) {}

  /** The next timestamp, strictly above every one handed out before. */
  next(): bigint {
    const now = this.base + BigInt(this.cluster.now());
    if (now > this.physical) {
      this.physical = now;
      this.logical = 0n;
    } else if (++this.logical >= MAX_LOGICAL) {
      this.physical += 1n;
      this.logical = 0n;
    }
    return composeTs(this.physical, this.logical);
  }

  /** The physical part of `ts` (ms on this TSO's clock). */
  static physical(ts: bigint): bigint {
    return physicalMs(ts);
  }

  /** The physical time now (ms on this TSO's clock), without handing out a timestamp. */
  nowPhysical(): bigint {
    return this.base + BigInt(this.cluster.now());
  }
}

/** Counts of what the stores were asked, for tests that check a commit mode was really used. */
export interface SimStats {
  calls: Map<string, number>;
  /** Prewrite responses to requests that asked for 1PC / that 1PC committed. */
  onePcAsked: number;
  onePcCommitted: number;
  /** Prewrite responses to async-commit requests / with a min commit ts (async commit kept). */
  asyncPrewrites: number;
  asyncAccepted: number;
}

interface InFlight {
  storeId: number;
  store: RaftStore;
  fail(code: GrpcStatus, details: string): void;
}

export interface TxnSimOptions {
  /** Most simulated ms per real ms (default 10). */
  simMsPerRealMs?: number;
}

export class TxnSim {
  readonly tso: SimTso;
  readonly driver: SimDriver;
  readonly stats: SimStats = { calls: new Map(), onePcAsked: 0, onePcCommitted: 0, asyncPrewrites: 0, asyncAccepted: 0 };
  /** Store-side failures that are not region errors or statuses (KvService logged them as errors), from running stores. */
  readonly storeErrors: string[] = [];
  private readonly services = new Map<number, { store: RaftStore; service: KvService }>();
  private readonly inFlight = new Map<symbol, InFlight>();
  private readonly transports = new Set<SimStoreTransport>();

  constructor(
    readonly cluster: Cluster,
    opts: TxnSimOptions = {},
  ) {
    this.tso = new SimTso(cluster);
    this.driver = new SimDriver(cluster, this, opts.simMsPerRealMs ?? 10);
  }

  /** A TxnClient on this cluster (its own transport and region source). Close it when done. */
  client(options: Omit<TxnClientInternalOptions, "transport"> = {}): { db: TxnClient; transport: SimStoreTransport } {
    const transport = new SimStoreTransport(this);
    this.transports.add(transport);
    const db = TxnClient.withSource(new SimRegionSource(this), { timeoutMs: 10_000, ...options, transport });
    return { db, transport };
  }

  /** Start counting afresh (e.g. after a setup phase). */
  resetStats(): void {
    this.stats.calls.clear();
    this.stats.onePcAsked = this.stats.onePcCommitted = this.stats.asyncPrewrites = this.stats.asyncAccepted = 0;
  }

  /** The KvService of store `storeId`'s running instance (a new one after each restart), or undefined if it is down. */
  service(storeId: number): { store: RaftStore; service: KvService } | undefined {
    const store = this.cluster.runningStore(storeId);
    if (!store) return undefined;
    const known = this.services.get(storeId);
    if (known?.store === store) return known;
    const tso = () => Promise.resolve(this.tso.next());
    const service = new KvService({ store, logger: this.storeLogger(storeId, store), txn: new TxnCommands({ storage: new RaftTxnStorage({ store, tso }) }) });
    const entry = { store, service };
    this.services.set(storeId, entry);
    return entry;
  }

  /**
   * One unary call of `method` to store `storeId`: served by the store's KvService, answered
   * through `done` exactly once (the response, its status, UNAVAILABLE if the store is or goes
   * down, DEADLINE_EXCEEDED at the client's deadline, CANCELLED when the client cancels).
   * `route.holdTicks` > 0 keeps the request on the wire that many ticks first: it reaches the
   * store even if the client has given up on it meanwhile (the store never hears of that).
   */
  call<Req, Res extends { regionError?: errorpb.Error | undefined }>(
    storeId: number,
    method: KvMethod,
    run: (s: KvService, req: Req, scope: KvRequestScope) => Promise<Res>,
    request: Req,
    options: Partial<CallOptions>,
    done: (err: ServiceError | null, response?: Res) => void,
    route: { cut: boolean; holdTicks: number },
  ): { cancel(): void } {
    this.stats.calls.set(method, (this.stats.calls.get(method) ?? 0) + 1);
    const ac = new AbortController();
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const id = Symbol(method);
    const finish = (err: ServiceError | null, response?: Res) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.inFlight.delete(id);
      done(err, response);
    };
    const fail = (code: GrpcStatus, details: string) => {
      ac.abort();
      finish(statusError(code, details));
    };
    const target = route.cut ? undefined : this.service(storeId);
    if (!target) {
      queueMicrotask(() => fail(GrpcStatus.UNAVAILABLE, route.cut ? "the client is cut off" : `store ${storeId} is down (connection refused)`));
      return { cancel: () => fail(GrpcStatus.CANCELLED, "cancelled by the client") };
    }
    this.inFlight.set(id, { storeId, store: target.store, fail });
    const deadline = options.deadline;
    if (deadline !== undefined) {
      const ms = (deadline instanceof Date ? deadline.getTime() : Number(deadline)) - Date.now();
      if (Number.isFinite(ms)) timer = setTimeout(() => fail(GrpcStatus.DEADLINE_EXCEEDED, "the client's deadline passed"), Math.max(0, ms));
    }
    const { service, store } = target;
    const dispatch = () => {
      if (this.cluster.runningStore(storeId) !== store) return fail(GrpcStatus.UNAVAILABLE, `store ${storeId} stopped while the request was in flight`);
      // The store's own proposal timeout, on the store's (simulated) clock. A held request does
      // not hear that its client gave up.
      const signal = route.holdTicks > 0 ? new AbortController().signal : ac.signal;
      const scope: KvRequestScope = { deadline: this.cluster.now() + (this.cluster.config.proposalTimeoutMs ?? 1_000), signal };
      void service.handle(method, () => run(service, request, scope)).then((o) => {
        // An answer from a store that has stopped since never reaches the client.
        if (this.cluster.runningStore(storeId) !== store) return fail(GrpcStatus.UNAVAILABLE, `store ${storeId} stopped while the request was in flight`);
        this.count(method, request, o.ok ? o.response : undefined);
        if (o.ok) finish(null, o.response);
        else finish(statusError(o.code, o.message));
      });
    };
    if (route.holdTicks > 0) void this.driver.ticks(route.holdTicks).then(dispatch, (e: unknown) => fail(GrpcStatus.UNAVAILABLE, String(e)));
    else dispatch();
    return { cancel: () => fail(GrpcStatus.CANCELLED, "cancelled by the client") };
  }

  /** Fail the calls out to a store instance that is no longer running (the driver calls this after every step). */
  sweep(): void {
    for (const c of [...this.inFlight.values()]) {
      if (this.cluster.runningStore(c.storeId) !== c.store) c.fail(GrpcStatus.UNAVAILABLE, `store ${c.storeId} stopped while the request was in flight`);
    }
  }

  /** Cut every client off and fail every call (the driver failed: nothing will be served). */
  killAll(): void {
    for (const t of this.transports) t.kill();
    for (const c of [...this.inFlight.values()]) c.fail(GrpcStatus.UNAVAILABLE, "the simulation stopped");
  }

  forget(t: SimStoreTransport): void {
    this.transports.delete(t);
  }

  private count(method: KvMethod, request: unknown, response: unknown): void {
    if (method !== "KvPrewrite") return;
    const req = request as kvrpcpb.PrewriteRequest;
    const res = response as kvrpcpb.PrewriteResponse | undefined;
    if (req.tryOnePc) {
      this.stats.onePcAsked++;
      if (res && res.onePcCommitTs > 0n) this.stats.onePcCommitted++;
    }
    if (req.useAsyncCommit) {
      this.stats.asyncPrewrites++;
      if (res && res.minCommitTs > 0n) this.stats.asyncAccepted++;
    }
  }

  /** KvService's logger: errors (a request that failed inside a running store) are kept. */
  private storeLogger(storeId: number, store: RaftStore): KvServiceOptions["logger"] {
    const keep = (fields: unknown, msg?: string) => {
      if (this.cluster.runningStore(storeId) !== store) return; // a store stopping under a request
      const err = (fields as { err?: unknown } | undefined)?.err;
      this.storeErrors.push(`store ${storeId} at tick ${this.cluster.ticks}: ${msg ?? ""} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    };
    const quiet = () => {};
    const log = { debug: quiet, trace: quiet, info: quiet, warn: quiet, error: keep, fatal: keep, child: () => log, level: "error" };
    // KvService calls only debug/error; pino is not a dependency of test/.
    return log as unknown as KvServiceOptions["logger"];
  }

  // ---- cluster operations for chaos (run through the driver, between ticks) ---------------

  /**
   * Split the region holding `key` at `key` (BatchSplit proposed to its leader with ids from the
   * mock scheduler) and wait until the scheduler shows a region starting there.
   */
  async mustSplit(key: Buffer, budgetTicks = 150): Promise<void> {
    const c = this.cluster;
    const start = c.ticks;
    for (;;) {
      const known = c.regionByKey(key);
      if (known?.startKey.equals(key)) return;
      if (c.ticks - start > budgetTicks) throw new ClusterError(`the region holding ${JSON.stringify(key.toString("latin1"))} did not split there within ${budgetTicks} ticks\n${c.describeState()}`);
      if (known) await this.driver.at(() => proposeSplit(c, Number(known.id), key));
      await this.driver.ticks(5);
    }
  }
}

/** Propose a BatchSplit of `regionId` at `key` to its current leader (no-op if it has none, or the key is a bound already). */
async function proposeSplit(c: Cluster, regionId: number, key: Buffer): Promise<void> {
  const lead = c.currentLeader(regionId);
  const store = lead ? c.runningStore(Number(lead.storeId)) : undefined;
  const local = store?.peers.get(regionId)?.region;
  if (!lead || !store || !local || !keyInRegion(key, local) || local.startKey.equals(key)) return;
  let ids;
  try {
    ids = await c.scheduler.askBatchSplit(local, 1);
  } catch {
    return; // the scheduler has not heard of this epoch yet: the next attempt asks again
  }
  void store.propose({
    header: { regionId: BigInt(regionId), peer: lead, readQuorum: false, regionEpoch: local.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
    requests: [],
    adminRequest: {
      cmdType: raft_cmdpb.AdminCmdType.BatchSplit,
      splits: { requests: [{ splitKey: key, newRegionId: ids[0]!.newRegionId, newPeerIds: ids[0]!.newPeerIds }], rightDerive: false },
    },
  });
}

function statusError(code: GrpcStatus, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${GrpcStatus[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

/** A KvClient method as RawRpc.invoke calls it: (request, metadata, options, callback). */
type UnaryFn<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, done: (err: ServiceError | null, response?: Res) => void) => ClientUnaryCall;

/**
 * A per-store KvClient over `TxnSim.call`: the transactional methods the client invokes. Only the
 * four-argument form RawRpc.invoke uses is provided, so it is cast to the generated class's type.
 */
function simKvClient(sim: TxnSim, storeId: number, route: (method: KvMethod, request: unknown) => { cut: boolean; holdTicks: number }): regionkvpb.KvClient {
  const m = <Req, Res extends { regionError?: errorpb.Error | undefined }>(method: KvMethod, run: (s: KvService, req: Req, scope: KvRequestScope) => Promise<Res>): UnaryFn<Req, Res> =>
    (request, _metadata, options, done) => sim.call(storeId, method, run, request, options, done, route(method, request)) as unknown as ClientUnaryCall;
  const client = {
    kvGet: m("KvGet", (s, r: kvrpcpb.GetRequest, c) => s.kvGet(r, c)),
    kvBatchGet: m("KvBatchGet", (s, r: kvrpcpb.BatchGetRequest, c) => s.kvBatchGet(r, c)),
    kvScan: m("KvScan", (s, r: kvrpcpb.ScanRequest, c) => s.kvScan(r, c)),
    kvPrewrite: m("KvPrewrite", (s, r: kvrpcpb.PrewriteRequest, c) => s.kvPrewrite(r, c)),
    kvCommit: m("KvCommit", (s, r: kvrpcpb.CommitRequest, c) => s.kvCommit(r, c)),
    kvBatchRollback: m("KvBatchRollback", (s, r: kvrpcpb.BatchRollbackRequest, c) => s.kvBatchRollback(r, c)),
    kvCheckTxnStatus: m("KvCheckTxnStatus", (s, r: kvrpcpb.CheckTxnStatusRequest, c) => s.kvCheckTxnStatus(r, c)),
    kvCheckSecondaryLocks: m("KvCheckSecondaryLocks", (s, r: kvrpcpb.CheckSecondaryLocksRequest, c) => s.kvCheckSecondaryLocks(r, c)),
    kvResolveLock: m("KvResolveLock", (s, r: kvrpcpb.ResolveLockRequest, c) => s.kvResolveLock(r, c)),
    kvTxnHeartBeat: m("KvTxnHeartBeat", (s, r: kvrpcpb.TxnHeartBeatRequest, c) => s.kvTxnHeartBeat(r, c)),
    kvScanLock: m("KvScanLock", (s, r: kvrpcpb.ScanLockRequest, c) => s.kvScanLock(r, c)),
    kvGc: m("KvGC", (s, r: kvrpcpb.GCRequest, c) => s.kvGc(r, c)),
  };
  return client as unknown as regionkvpb.KvClient;
}

/** One client's way to the stores; see the file comment. */
export class SimStoreTransport implements StoreTransport {
  private readonly clients = new Map<string, regionkvpb.KvClient>();
  private cut = false;
  private closed = false;
  /** Test hook: ticks a request spends on the wire before it reaches the store (0: none). */
  hold: ((method: KvMethod, request: unknown) => number) | undefined;

  constructor(private readonly sim: TxnSim) {}

  /** Cut this client off for good: nothing it sends reaches a store any more (a crashed client). */
  kill(): void {
    this.cut = true;
  }

  async resolve(storeId: bigint, scope: CallScope): Promise<StoreAddress> {
    scope.throwIfAborted();
    const store = await this.sim.cluster.scheduler.getStore(storeId);
    if (!store) return { ok: false, reason: `the mock scheduler knows no store ${storeId}` };
    return { ok: true, address: store.address };
  }

  connect(address: string, scope: CallScope): Promise<ConnectResult> {
    scope.throwIfAborted();
    if (this.cut || this.closed) return Promise.resolve("failed");
    return Promise.resolve(this.sim.cluster.runningStore(storeIdOf(address)) ? "ready" : "failed");
  }

  client(address: string): regionkvpb.KvClient {
    let c = this.clients.get(address);
    if (!c) {
      c = simKvClient(this.sim, storeIdOf(address), (method, request) => ({ cut: this.cut || this.closed, holdTicks: this.hold?.(method, request) ?? 0 }));
      this.clients.set(address, c);
    }
    return c;
  }

  batchStream(): undefined {
    return undefined;
  }

  onStoreFailure(): void {}

  forgetAddress(): void {}

  close(): void {
    this.closed = true;
    this.sim.forget(this);
  }
}

/** The MockScheduler's addresses are "store-<id>". */
function storeIdOf(address: string): number {
  const m = /^store-(\d+)$/.exec(address);
  if (!m) throw new ClusterError(`not a simulated store address: ${address}`);
  return Number(m[1]);
}

/** The client's scheduler: the mock scheduler's map, and the sim's TSO. */
export class SimRegionSource implements RegionSource {
  constructor(private readonly sim: TxnSim) {}

  getStore(storeId: bigint): Promise<metapb.Store | undefined> {
    return this.sim.cluster.scheduler.getStore(storeId);
  }

  getRegion(key: Uint8Array): Promise<RegionWithLeader | undefined> {
    const region = this.sim.cluster.scheduler.regionByKey(key);
    return Promise.resolve(region ? this.withLeader(region) : undefined);
  }

  getRegionById(regionId: bigint): Promise<RegionWithLeader | undefined> {
    const region = this.sim.cluster.scheduler.region(Number(regionId));
    return Promise.resolve(region ? this.withLeader(region) : undefined);
  }

  scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): Promise<RegionWithLeader[]> {
    const out: RegionWithLeader[] = [];
    for (const r of this.sim.cluster.scheduler.regionsByStartKey()) {
      if (out.length >= limit) break;
      const endsAfterStart = r.endKey.length === 0 || Buffer.compare(r.endKey, startKey) > 0;
      const startsBeforeEnd = endKey.length === 0 || Buffer.compare(r.startKey, endKey) < 0;
      if (endsAfterStart && startsBeforeEnd) out.push(this.withLeader(r));
    }
    return Promise.resolve(out);
  }

  getTimestamp(): Promise<bigint> {
    return Promise.resolve(this.sim.tso.next());
  }

  close(): void {}

  private withLeader(region: metapb.Region): RegionWithLeader {
    return { region, leader: this.sim.cluster.scheduler.leader(Number(region.id)) };
  }
}

interface Waiter {
  check: () => boolean;
  untilTick: number;
  what: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface QueuedAction {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Pump rounds between two ticks while requests are being served. */
const PUMP_ROUNDS = 3;
/** Ticks the driver may run back to back to catch up with its pace. */
const MAX_CATCH_UP_TICKS = 5;

/**
 * The background loop that advances the cluster while clients run; see the file comment. A
 * failed tick (election safety, the conf_ver rule, a pump that never quiesces) stops it: every
 * waiter rejects with that error and every client is cut off.
 */
export class SimDriver {
  private readonly actions: QueuedAction[] = [];
  private readonly waiters = new Set<Waiter>();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private nextTickAt = 0;
  /** Why the driver stopped on its own, if it did. */
  failure: Error | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly sim: TxnSim,
    private readonly simMsPerRealMs: number,
  ) {}

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.nextTickAt = Date.now();
    this.loop = this.run();
  }

  /** Stop the loop (after its current step); rethrows the failure that stopped it, if any. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.loop = undefined;
    if (this.failure) throw this.failure;
  }

  /** Run `fn` between two ticks (it may tick the cluster itself: the loop waits for it). */
  at<T>(fn: () => T | Promise<T>): Promise<Awaited<T>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Awaited<T>>((resolve, reject) => this.actions.push({ run: fn, resolve: resolve as (v: unknown) => void, reject }));
  }

  /** Resolve once `check()` holds (looked at after every step), or reject after `budgetTicks` ticks. */
  until(check: () => boolean, budgetTicks: number, what: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.add({ check, untilTick: this.cluster.ticks + budgetTicks, what, resolve, reject }));
  }

  /** Resolve after `n` more ticks. */
  ticks(n: number): Promise<void> {
    const target = this.cluster.ticks + n;
    return this.until(() => this.cluster.ticks >= target, n + 1, `${n} ticks`);
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopping) {
        await this.runActions();
        for (let r = 0; r < PUMP_ROUNDS; r++) {
          this.cluster.pump();
          await this.cluster.settle();
        }
        this.afterStep();
        const now = Date.now();
        if (now < this.nextTickAt) {
          await new Promise((r) => setTimeout(r, Math.min(2, this.nextTickAt - now)));
          continue;
        }
        const every = this.cluster.tickMs / this.simMsPerRealMs;
        this.nextTickAt = Math.max(this.nextTickAt + every, now - MAX_CATCH_UP_TICKS * every);
        await this.cluster.tick();
        this.afterStep();
      }
      await this.runActions();
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      for (const w of this.waiters) w.reject(this.failure);
      this.waiters.clear();
      for (const a of this.actions.splice(0)) a.reject(this.failure);
      this.sim.killAll();
    }
  }

  private async runActions(): Promise<void> {
    while (this.actions.length > 0) {
      const a = this.actions.shift()!;
      try {
        a.resolve(await a.run());
      } catch (e) {
        a.reject(e);
      }
      this.afterStep();
    }
  }

  private afterStep(): void {
    this.sim.sweep();
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters.delete(w);
        w.resolve();
      } else if (this.cluster.ticks > w.untilTick) {
        this.waiters.delete(w);
        w.reject(new ClusterError(`${w.what}: not done by tick ${w.untilTick}\n${this.cluster.describeState()}`));
      }
    }
  }
}

/** How many locks store `storeId`'s engine holds (its lock CF), running or not. */
export function lockCount(c: Cluster, storeId: number): number {
  return c.withEngine(storeId, (e) => e.scan("lock", Buffer.alloc(0), Buffer.alloc(0)).length);
}
