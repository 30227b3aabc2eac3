/**
 * A deterministic in-process cluster of N stores (TinyKV's kv/test_raftstore `Cluster`): real
 * SQLite engines in a temporary directory, RaftStores in manual mode, the simulated network of
 * sim-network.ts with composable filters, the mock scheduler, one seeded RNG and driven time.
 *
 * Time: a simulated clock shared by every store. `tick()` is one base tick: every running store
 * ticks, the network is pumped until quiet, background workers run (snapshot generation, log GC,
 * heartbeats to the scheduler), and it is pumped again. Nothing sleeps; a seed replays exactly.
 *
 * Clients: `mustPut` / `mustGet` / `mustDelete` / `scan` send a `ClusterRequest` and drive the
 * cluster (act, pump, tick) until it succeeds, failing after a bounded number of ticks.
 * `drive()` runs any number of interleaved logical clients (each with at most one request in
 * flight) in a seeded order. Engine probes (`mustGetEqual`, `mustGetNone`) read a store's engine
 * directly and advance time until they hold.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CF_NAMES, Engine, type ColumnFamily, type EngineSnapshot, type KvPair } from "@regionkv/engine";
import { metapb, raft_cmdpb, type raft_serverpb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import { RaftStore, bootstrapStore, firstRegion, prepareBootstrapRegion, type ProposalResult, type RaftStoreOptions, type RaftstoreConfig } from "@regionkv/raftstore";
import { ClusterRequest, deleteCmd, getCmd, putCmd, snapCmd, type RequestHost } from "./cluster-request.js";
import type { Filter } from "./filters.js";
import { MockScheduler } from "./mock-scheduler.js";
import { SimNetwork } from "./sim-network.js";

/** TinyKV's NewTestConfig, in base ticks: election 10, heartbeat 2, log GC every 3 ticks, no GC by count. */
export const TEST_CONFIG: Partial<RaftstoreConfig> = {
  raftBaseTickMs: 100,
  raftHeartbeatTicks: 2,
  raftElectionTimeoutTicks: 10,
  raftLogGcTickInterval: 3,
  raftLogGcCountLimit: 128_000,
  splitCheckTickInterval: 10,
  regionHeartbeatTickInterval: 2,
  storeHeartbeatTickInterval: 10,
  snapGcTickInterval: 600,
  proposalTimeoutMs: 1_000,
};

export interface ClusterOptions {
  seed: number;
  /** Number of stores (default 5). */
  stores?: number;
  /** Raftstore config over TEST_CONFIG. */
  config?: Partial<RaftstoreConfig>;
  /** Simulated ms per base tick (default 100). */
  tickMs?: number;
  /** Ticks one request attempt waits before retrying elsewhere (default 10, TinyKV's 1 s at 100 ms ticks). */
  requestTimeoutTicks?: number;
  /** Ticks before a client helper gives up (default 300). */
  requestBudgetTicks?: number;
  /** Ticks before an engine probe or leader lookup gives up (default 150). */
  probeBudgetTicks?: number;
  /** Client rounds (act, pump) per tick while requests keep finishing (default 3). */
  roundsPerTick?: number;
  /** Line logger for replays: store lifecycle, filters, leader changes, request errors, raftstore warnings. */
  trace?: (line: string) => void;
}

/** Something the cluster drives between ticks: it acts (sends a request) when it can. */
export interface Actor {
  /** Send the next request if one is due. Returns whether it sent one. */
  act(): boolean;
}

export class ClusterError extends Error {
  override readonly name: string = "ClusterError";
}

interface StoreSlot {
  id: number;
  dir: string;
  engine: Engine | undefined;
  store: RaftStore | undefined;
  starts: number;
}

const MAX_PUMP_ROUNDS = 5_000;

export class Cluster implements RequestHost {
  readonly seed: number;
  readonly random: () => number;
  readonly tickMs: number;
  readonly storeIds: number[];
  readonly network: SimNetwork;
  readonly scheduler: MockScheduler;
  readonly config: Partial<RaftstoreConfig>;
  readonly root: string;
  ticks = 0;
  private clock = 0;
  private readonly slots = new Map<number, StoreSlot>();
  private readonly opts: Required<Omit<ClusterOptions, "trace" | "config" | "seed">>;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly warnings: string[] = [];
  private leaders = new Map<number, string>();
  /** "region/term" → the peer seen leading it (election safety). */
  private readonly leaderByTerm = new Map<string, number>();
  private closed = false;

  private constructor(opts: ClusterOptions) {
    this.seed = opts.seed;
    this.random = seededRandom(opts.seed);
    this.tickMs = opts.tickMs ?? 100;
    this.opts = {
      stores: opts.stores ?? 5,
      tickMs: this.tickMs,
      requestTimeoutTicks: opts.requestTimeoutTicks ?? 10,
      requestBudgetTicks: opts.requestBudgetTicks ?? 300,
      probeBudgetTicks: opts.probeBudgetTicks ?? 150,
      roundsPerTick: opts.roundsPerTick ?? 3,
    };
    this.config = { ...TEST_CONFIG, ...opts.config };
    const out = opts.trace;
    this.trace = out ? (line) => out(`t=${this.ticks}: ${line}`) : undefined;
    this.storeIds = Array.from({ length: this.opts.stores }, (_, i) => i + 1);
    this.root = fs.mkdtempSync(path.join(clusterTmpDir(), `regionkv-cluster-${opts.seed}-`));
    this.network = new SimNetwork((id) => this.slots.get(id)?.store, this.trace);
    this.scheduler = new MockScheduler(BigInt(this.opts.stores + 1));
  }

  /**
   * Bootstrap and start a cluster: every store gets the first region (id 1, the whole key space,
   * epoch 1/1, peer i on store i) at the initial log position, as TinyKV's Cluster.Start does.
   */
  static start(opts: ClusterOptions): Cluster {
    const c = new Cluster(opts);
    try {
      const region: metapb.Region = firstRegion(c.storeIds);
      c.scheduler.bootstrap(region, c.storeIds);
      for (const id of c.storeIds) {
        const dir = path.join(c.root, `store-${id}`);
        const engine = Engine.open(dir);
        bootstrapStore(engine, 1n, BigInt(id));
        prepareBootstrapRegion(engine, region);
        engine.close();
        c.slots.set(id, { id, dir, engine: undefined, store: undefined, starts: 0 });
        c.startStore(id);
      }
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  // ---- stores -----------------------------------------------------------------------------

  private slot(id: number): StoreSlot {
    const s = this.slots.get(id);
    if (!s) throw new ClusterError(`no store ${id} in this cluster (stores ${this.storeIds.join(", ")})`);
    return s;
  }

  /** The running RaftStore with this id, or undefined while it is stopped. */
  runningStore(storeId: number): RaftStore | undefined {
    return this.slots.get(storeId)?.store;
  }

  /** Stop a store (its RaftStore stops, its engine closes); the files stay. */
  stopStore(id: number): void {
    const s = this.slot(id);
    if (!s.store) return;
    s.store.stop();
    s.engine!.close();
    s.store = undefined;
    s.engine = undefined;
    this.trace?.(`store ${id} stopped`);
  }

  /** Start a store on its files: reopen the engine, a new RaftStore, start it. */
  startStore(id: number): void {
    const s = this.slot(id);
    if (s.store) return;
    s.starts++;
    const engine = Engine.open(s.dir);
    try {
      const store = new RaftStore({
        storeId: BigInt(id),
        engine,
        transport: this.network.transportFor(id),
        scheduler: this.scheduler.clientFor(id),
        config: this.config,
        mode: "manual",
        // Each start of each store draws its own election timeouts, all fixed by the seed.
        seed: (this.seed * 7919 + id * 101 + s.starts) % 2_147_483_647 || 1,
        clock: { now: () => this.clock },
        logger: this.logger(id),
      });
      store.start();
      s.engine = engine;
      s.store = store;
    } catch (e) {
      engine.close();
      throw e;
    }
    if (s.starts > 1) this.trace?.(`store ${id} started`);
  }

  stopAll(): void {
    for (const id of this.storeIds) this.stopStore(id);
  }

  startAll(): void {
    for (const id of this.storeIds) this.startStore(id);
  }

  /** Read a store's engine, running or not (a stopped store's files are opened for the read). */
  withEngine<T>(storeId: number, read: (e: Engine) => T): T {
    const s = this.slot(storeId);
    if (s.engine) return read(s.engine);
    const e = Engine.open(s.dir, { create: false });
    try {
      return read(e);
    } finally {
      e.close();
    }
  }

  /** A store's apply state of a region (TinyKV's meta.GetApplyState). */
  applyState(storeId: number, regionId: number): raft_serverpb.RaftApplyState | undefined {
    return this.withEngine(storeId, (e) => e.getApplyState(regionId));
  }

  // ---- the network ------------------------------------------------------------------------

  addFilter(f: Filter): void {
    this.network.addFilter(f);
  }

  clearFilters(): void {
    this.network.clearFilters();
  }

  // ---- time -------------------------------------------------------------------------------

  now(): number {
    return this.clock;
  }

  /**
   * Run raft worker rounds on every running store and deliver messages until nothing moves
   * (held messages included). Synchronous: proposal promises settle afterwards (`settle()`).
   */
  pump(): void {
    for (let round = 0; ; round++) {
      if (round > MAX_PUMP_ROUNDS) {
        throw new ClusterError(`the network did not quiesce within ${MAX_PUMP_ROUNDS} rounds at tick ${this.ticks}; ${this.describeState()}`);
      }
      let busy = false;
      for (const id of this.storeIds) {
        const st = this.slots.get(id)!.store;
        if (st && st.poll()) busy = true;
      }
      const moved = this.network.deliverRound();
      if (!busy && moved === 0 && this.network.inFlight === 0) return;
    }
  }

  /** Let settled proposals' continuations run (after a setImmediate every microtask has run). */
  async settle(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Advance `n` base ticks: tick every store, pump, run background workers, pump. */
  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      if (this.closed) throw new ClusterError("the cluster is closed");
      this.ticks++;
      this.clock += this.tickMs;
      for (const id of this.storeIds) this.slots.get(id)!.store?.tick();
      this.pump();
      for (const id of this.storeIds) await this.slots.get(id)!.store?.runWorkers();
      this.pump();
      await this.settle();
      this.checkOneLeaderPerTerm();
      if (this.scheduler.violations.length > 0) {
        throw new ClusterError(`the mock scheduler saw a membership change that breaks the conf_ver rule: ${this.scheduler.violations.join("; ")}\n${this.describeState()}`);
      }
      if (this.trace) this.traceLeaders();
    }
  }

  /** Raft's election safety, checked every tick: no two peers of a region lead in the same term. */
  private checkOneLeaderPerTerm(): void {
    for (const id of this.storeIds) {
      const st = this.slots.get(id)!.store;
      if (!st) continue;
      for (const p of st.peers.values()) {
        if (!p.isLeader) continue;
        const k = `${p.regionId}/${p.raw.raft.term}`;
        const was = this.leaderByTerm.get(k);
        if (was === undefined) this.leaderByTerm.set(k, p.peerId);
        else if (was !== p.peerId) {
          throw new ClusterError(`election safety violated: region ${p.regionId} has two leaders in term ${p.raw.raft.term} (peers ${was} and ${p.peerId})\n${this.describeState()}`);
        }
      }
    }
  }

  /**
   * Drive `actors` (logical clients) until `done()`: in each step every actor may act, in a
   * seeded order; then the network is pumped and settled proposals are seen. Up to
   * `roundsPerTick` steps share one tick while actors keep acting; then time advances.
   */
  async drive(actors: readonly Actor[], done: () => boolean, budgetTicks: number, what: string): Promise<void> {
    const start = this.ticks;
    let rounds = 0;
    while (!done()) {
      if (this.ticks - start > budgetTicks) throw new ClusterError(`${what}: not done after ${budgetTicks} ticks; ${this.describeState()}`);
      let acted = false;
      for (const a of this.shuffled(actors)) if (a.act()) acted = true;
      if (acted) {
        this.pump();
        await this.settle();
        if (done()) return;
        if (++rounds < this.opts.roundsPerTick) continue;
      }
      rounds = 0;
      await this.tick();
    }
  }

  /** Run the cluster for `n` ticks while `actors` act (chaos and clients together). */
  async runFor(n: number, actors: readonly Actor[]): Promise<void> {
    const end = this.ticks + n;
    await this.drive(actors, () => this.ticks >= end, n + 1, `running for ${n} ticks`);
  }

  shuffled<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  // ---- clients ----------------------------------------------------------------------------

  regionByKey(key: Uint8Array): metapb.Region | undefined {
    return this.scheduler.regionByKey(key);
  }

  schedulerLeader(regionId: number): metapb.Peer | undefined {
    return this.scheduler.leader(regionId);
  }

  /** A request as a state machine, for callers that drive many at once. */
  request(key: Buffer, build: ConstructorParameters<typeof ClusterRequest>[2], what: string): ClusterRequest {
    return new ClusterRequest(this, key, build, what, {
      timeoutTicks: this.opts.requestTimeoutTicks,
      budgetTicks: this.opts.requestBudgetTicks,
      tolerateSnapAcrossSplit: process.env["CLUSTER_TOLERATE_SNAP_SPLIT"] === "1",
    });
  }

  private async mustRun(req: ClusterRequest): Promise<Extract<ClusterRequest["state"], { kind: "done" }>> {
    await this.drive([req], () => req.finished, this.opts.requestBudgetTicks + 1, req.what);
    const st = req.state;
    if (st.kind === "failed") throw new ClusterError(`${st.message}; ${this.describeState()}`);
    if (st.kind !== "done") throw new ClusterError(`${req.what}: unfinished`);
    return st;
  }

  async mustPut(key: string | Buffer, value: string | Buffer, cf: ColumnFamily = "default"): Promise<void> {
    const k = buf(key);
    await this.mustRun(this.request(k, putCmd(cf, k, buf(value)), `put ${show(k)} (cf ${cf})`));
  }

  async mustDelete(key: string | Buffer, cf: ColumnFamily = "default"): Promise<void> {
    const k = buf(key);
    await this.mustRun(this.request(k, deleteCmd(cf, k), `delete ${show(k)} (cf ${cf})`));
  }

  /** A linearizable Get (ReadIndex); undefined if the key has no value. */
  async mustGet(key: string | Buffer, cf: ColumnFamily = "default"): Promise<Buffer | undefined> {
    const k = buf(key);
    const st = await this.mustRun(this.request(k, getCmd(cf, k), `get ${show(k)} (cf ${cf})`));
    const v = st.response.responses[0]?.get?.value;
    return v && v.byteLength > 0 ? v : undefined;
  }

  /**
   * Every pair of `cf` in [start, end) (empty end: to the end of the key space): a Snap read per
   * region (ReadIndex, then a consistent engine snapshot), walking regions by their end keys.
   */
  async scan(start: string | Buffer, end: string | Buffer, cf: ColumnFamily = "default"): Promise<KvPair[]> {
    const out: KvPair[] = [];
    const e = buf(end);
    let key: Buffer | undefined = buf(start);
    while (key !== undefined) {
      const st = await this.mustRun(this.request(key, snapCmd(), `scan [${show(key)}, ${show(e)})`));
      const region = snapRegion(st);
      try {
        out.push(...scanSnapshotInRegion(st.snapshot, region, cf, key, e));
      } finally {
        st.snapshot?.release();
      }
      key = nextScanKey(region, e);
    }
    return out;
  }

  /**
   * Send one command straight to store `storeId`'s peer of the region holding `key`, with no
   * retry, and drive the cluster until it settles (its deadline is `timeoutTicks` away).
   */
  async proposeOnce(storeId: number, key: string | Buffer, build: ConstructorParameters<typeof ClusterRequest>[2], timeoutTicks: number): Promise<ProposalResult> {
    const k = buf(key);
    const region = this.regionByKey(k);
    if (!region) throw new ClusterError(`the scheduler knows no region holding ${show(k)}`);
    return this.proposeToRegion(storeId, region, build, timeoutTicks);
  }

  /**
   * Send one command to store `storeId`'s peer of `region` (built against `region` as given, its
   * epoch included), with no retry, and drive the cluster until it settles.
   */
  async proposeToRegion(storeId: number, region: metapb.Region, build: ConstructorParameters<typeof ClusterRequest>[2], timeoutTicks: number): Promise<ProposalResult> {
    const peer = region.peers.find((p) => Number(p.storeId) === storeId);
    const store = this.runningStore(storeId);
    if (!peer || !store) throw new ClusterError(`store ${storeId} is down or holds no peer of region ${region.id}`);
    let result: ProposalResult | undefined;
    void store.propose(build(region, peer), { deadline: this.clock + timeoutTicks * this.tickMs }).then((r) => (result = r));
    this.pump();
    await this.settle();
    await this.drive([], () => result !== undefined, timeoutTicks + 2, `a command sent to store ${storeId}`);
    return result!;
  }

  /** The region holding `key` in the scheduler's view; advances time until one has reported it. */
  async regionOf(key: string | Buffer): Promise<metapb.Region> {
    const k = buf(key);
    let region: metapb.Region | undefined;
    await this.drive([], () => (region = this.regionByKey(k)) !== undefined, this.opts.probeBudgetTicks, `finding the region of ${show(k)} in the scheduler`);
    return region!;
  }

  /** The leader of a region as the scheduler last heard it; advances time until one reported. */
  async leaderOf(regionId: number): Promise<metapb.Peer> {
    let lead: metapb.Peer | undefined;
    const budget = this.opts.probeBudgetTicks;
    await this.drive([], () => (lead = this.scheduler.leader(regionId)) !== undefined, budget, `finding the leader of region ${regionId}`);
    return lead!;
  }

  /**
   * The peer that leads the region now, from the stores themselves (the running peer that is
   * leader at the highest term), or undefined during an election.
   */
  currentLeader(regionId: number): metapb.Peer | undefined {
    let best: { term: number; peer: metapb.Peer } | undefined;
    for (const id of this.storeIds) {
      const p = this.slots.get(id)!.store?.peers.get(regionId);
      if (p && p.isLeader && (!best || p.raw.raft.term > best.term)) best = { term: p.raw.raft.term, peer: p.meta() };
    }
    return best?.peer;
  }

  // ---- engine probes ----------------------------------------------------------------------

  private async mustEventually(check: () => boolean, what: string): Promise<void> {
    await this.drive([], check, this.opts.probeBudgetTicks, what);
  }

  /** Advance time until store `storeId`'s engine holds `key` = `value` in `cf`. */
  async mustGetEqual(storeId: number, key: string | Buffer, value: string | Buffer, cf: ColumnFamily = "default"): Promise<void> {
    const k = buf(key);
    const v = buf(value);
    await this.mustEventually(
      () => this.withEngine(storeId, (e) => e.get(cf, k))?.equals(v) === true,
      `store ${storeId}'s engine never held ${show(k)} = ${show(v)} (cf ${cf}); it holds ${show(this.withEngine(storeId, (e) => e.get(cf, k)))}`,
    );
  }

  /** Advance time until store `storeId`'s engine has no `key` in `cf`. */
  async mustGetNone(storeId: number, key: string | Buffer, cf: ColumnFamily = "default"): Promise<void> {
    const k = buf(key);
    await this.mustEventually(
      () => this.withEngine(storeId, (e) => e.get(cf, k)) === undefined,
      `store ${storeId}'s engine still holds ${show(k)} (cf ${cf})`,
    );
  }

  /** What store `storeId`'s engine holds for `key` right now (no waiting). */
  engineGet(storeId: number, key: string | Buffer, cf: ColumnFamily = "default"): Buffer | undefined {
    return this.withEngine(storeId, (e) => e.get(cf, buf(key)));
  }

  /**
   * Wait until every running peer of the region has applied everything the leader committed,
   * then require their engines to hold the same data in the region's range, in every CF (the
   * replicas' state machines agree).
   */
  async mustReplicasConverge(regionId: number): Promise<void> {
    // The members as the scheduler knows them; the leader's view wins once it is found.
    const members = () => {
      const lead = this.currentLeader(regionId);
      const region = lead ? this.runningStore(Number(lead.storeId))!.peers.get(regionId)!.region : this.scheduler.region(regionId);
      return (region?.peers ?? []).map((p) => Number(p.storeId));
    };
    const applied = () => {
      const lead = this.currentLeader(regionId);
      if (!lead) return false;
      const leader = this.runningStore(Number(lead.storeId))!.peers.get(regionId)!;
      const commit = leader.raw.raft.raftLog.committed;
      return members().every((id) => {
        const p = this.runningStore(id)?.peers.get(regionId);
        return !this.runningStore(id) || p?.storage.applyState.appliedIndex === commit;
      });
    };
    await this.drive([], applied, this.opts.probeBudgetTicks, `waiting for every replica of region ${regionId} to apply what the leader committed`);
    // The range as the leader has it now (the scheduler's may predate a split).
    const lead = this.currentLeader(regionId);
    const region = lead ? this.runningStore(Number(lead.storeId))!.peers.get(regionId)!.region : this.scheduler.region(regionId);
    if (!region) throw new ClusterError(`region ${regionId} is unknown to the scheduler`);
    const running = members().filter((id) => this.runningStore(id));
    for (const cf of CF_NAMES) {
      const dump = (id: number) => this.withEngine(id, (e) => e.scan(cf, region.startKey, region.endKey)).map((p) => `${show(p.key)}=${show(p.value)}`);
      const base = dump(running[0]!);
      for (const id of running.slice(1)) {
        const other = dump(id);
        let i = 0;
        while (i < base.length && i < other.length && base[i] === other[i]) i++;
        if (i < base.length || i < other.length) {
          throw new ClusterError(
            `replicas of region ${regionId} diverge at the same applied index: cf ${cf}, store ${running[0]} has ${base.length} pairs, store ${id} has ${other.length}; first difference at #${i}: ${base[i] ?? "(end)"} vs ${other[i] ?? "(end)"}\n${this.describeState()}`,
          );
        }
      }
    }
  }

  // ---- membership (the mock scheduler's operators) ---------------------------------------

  /** A new peer on `storeId` with a fresh id (TinyKV's AllocPeer). */
  allocPeer(storeId: number): metapb.Peer {
    return { id: this.scheduler.allocId(), storeId: BigInt(storeId), role: metapb.PeerRole.Voter };
  }

  /** Queue AddPeer and advance time until the scheduler shows the peer in the region. */
  async mustAddPeer(regionId: number, peer: metapb.Peer, budgetTicks = this.opts.probeBudgetTicks): Promise<void> {
    this.note(`operator: add peer ${peer.id} on store ${peer.storeId} to region ${regionId}`);
    this.scheduler.addOperator(regionId, { kind: "addPeer", peer });
    await this.drive([], () => this.scheduler.region(regionId)?.peers.some((p) => p.id === peer.id && p.storeId === peer.storeId) === true, budgetTicks, `adding peer ${peer.id} on store ${peer.storeId} to region ${regionId}`);
  }

  /** Queue RemovePeer and advance time until the scheduler no longer shows the peer. */
  async mustRemovePeer(regionId: number, peer: metapb.Peer, budgetTicks = this.opts.probeBudgetTicks): Promise<void> {
    this.note(`operator: remove peer ${peer.id} on store ${peer.storeId} from region ${regionId}`);
    this.scheduler.addOperator(regionId, { kind: "removePeer", peer });
    await this.drive([], () => this.scheduler.region(regionId)?.peers.some((p) => p.id === peer.id) !== true, budgetTicks, `removing peer ${peer.id} on store ${peer.storeId} from region ${regionId}`);
  }

  /**
   * Send TransferLeader (an admin command, not an operator) to the region's leader until the
   * scheduler reports `peer` as leader (TinyKV's MustTransferLeader).
   */
  async mustTransferLeader(regionId: number, peer: metapb.Peer): Promise<void> {
    const start = this.ticks;
    while (this.scheduler.leader(regionId)?.id !== peer.id) {
      if (this.ticks - start > this.opts.probeBudgetTicks) throw new ClusterError(`leadership of region ${regionId} never moved to peer ${peer.id}; ${this.describeState()}`);
      const lead = this.currentLeader(regionId);
      const region = this.scheduler.region(regionId);
      const store = lead ? this.runningStore(Number(lead.storeId)) : undefined;
      if (lead && region && store && lead.id !== peer.id) {
        const local = store.peers.get(regionId)!.region;
        void store.propose({
          header: { regionId: BigInt(regionId), peer: lead, readQuorum: false, regionEpoch: local.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
          requests: [],
          adminRequest: { cmdType: raft_cmdpb.AdminCmdType.TransferLeader, transferLeader: { peer } },
        });
      }
      await this.tick(2);
    }
  }

  /** Stores whose engine still holds data of a range they no longer host are checked by callers. */
  storesHosting(regionId: number): number[] {
    return this.storeIds.filter((id) => this.runningStore(id)?.peers.has(regionId));
  }

  // ---- diagnostics ------------------------------------------------------------------------

  /** A line in the replay trace (no-op unless tracing). */
  note(line: string): void {
    this.trace?.(line);
  }

  /** One line per store: running, and each peer's role, term, commit, applied and truncated index. */
  describeState(): string {
    const lines = [`seed ${this.seed}, tick ${this.ticks}, filters: ${this.network.describeFilters()}`];
    for (const id of this.storeIds) {
      const st = this.slots.get(id)!.store;
      if (!st) {
        lines.push(`  store ${id}: down`);
        continue;
      }
      const peers = [...st.peers.values()].map((p) => {
        const a = p.storage.applyState;
        return `region ${p.regionId} peer ${p.peerId} ${p.isLeader ? "leader" : `follower(lead ${p.leaderId})`} term ${p.raw.raft.term} commit ${p.raw.raft.raftLog.committed} applied ${a.appliedIndex} truncated ${a.truncatedIndex} last ${p.storage.lastIndex()}`;
      });
      lines.push(`  store ${id}: ${peers.join("; ") || "no peers"}`);
    }
    if (this.warnings.length > 0) lines.push(`  last raftstore warnings: ${this.warnings.slice(-5).join(" | ")}`);
    return lines.join("\n");
  }

  private traceLeaders(): void {
    for (const regionId of this.scheduler.regionIds()) {
      const l = this.currentLeader(regionId);
      const now = l ? `peer ${l.id} on store ${l.storeId}` : "none";
      if (this.leaders.get(regionId) !== now) {
        this.leaders.set(regionId, now);
        this.trace!(`region ${regionId} leader: ${now}`);
      }
    }
  }

  /** A pino-shaped logger that keeps warnings (for failure messages) and traces them in replays. */
  private logger(storeId: number): NonNullable<RaftStoreOptions["logger"]> {
    const keep = (level: string) => (fields: unknown, msg?: string) => {
      const line = `store ${storeId} ${level}: ${msg ?? ""} ${safeJson(fields)}`;
      this.warnings.push(line);
      if (this.warnings.length > 50) this.warnings.shift();
      this.trace?.(line);
    };
    const quiet = () => {};
    const log = { debug: quiet, trace: quiet, info: quiet, warn: keep("warn"), error: keep("error"), fatal: keep("fatal"), child: () => log, level: "warn" };
    // The raftstore only calls child/debug/info/warn/error/fatal; pino itself is not a dependency of test/.
    return log as unknown as NonNullable<RaftStoreOptions["logger"]>;
  }

  /** Stop every store, close engines and delete the cluster's directory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots.values()) {
      s.store?.stop();
      s.engine?.close();
      s.store = undefined;
      s.engine = undefined;
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * The region a Snap read was served for: the one its response names (the peer's region when it
 * read), else the one it was routed by. (`ClusterRequest` already failed a Snap whose region does
 * not hold the routing key.)
 */
export function snapRegion(st: Extract<ClusterRequest["state"], { kind: "done" }>): metapb.Region {
  return st.response.responses[0]?.snap?.region ?? st.region;
}

/** The pairs of `cf` in [start, end) ∩ the region's range, from a Snap read's engine snapshot. */
export function scanSnapshotInRegion(snap: EngineSnapshot | undefined, region: metapb.Region, cf: ColumnFamily, start: Buffer, end: Buffer): KvPair[] {
  if (!snap) throw new ClusterError("a Snap read answered without an engine snapshot");
  const lo = Buffer.compare(start, region.startKey) > 0 ? start : region.startKey;
  let hi = end;
  if (region.endKey.length > 0 && (hi.length === 0 || Buffer.compare(region.endKey, hi) < 0)) hi = region.endKey;
  return snap.scan(cf, lo, hi);
}

/** Where a scan of [.., end) continues after `region` (its end key), or undefined if it is done. */
export function nextScanKey(region: metapb.Region, end: Buffer): Buffer | undefined {
  if (region.endKey.length === 0 || (end.length > 0 && Buffer.compare(region.endKey, end) >= 0)) return undefined;
  return region.endKey;
}

/**
 * Where clusters keep their engines: CLUSTER_TMPDIR if set, else /dev/shm when it exists (a RAM
 * disk: the harness stops stores cleanly and never simulates power loss, so fsync buys nothing and
 * costs most of a run's wall time on a busy disk), else os.tmpdir().
 */
function clusterTmpDir(): string {
  const env = process.env["CLUSTER_TMPDIR"];
  if (env) return env;
  try {
    fs.accessSync("/dev/shm", fs.constants.W_OK);
    return "/dev/shm";
  } catch {
    return os.tmpdir();
  }
}

export function buf(x: string | Buffer): Buffer {
  return typeof x === "string" ? Buffer.from(x) : x;
}

function show(b: Buffer | undefined): string {
  if (b === undefined) return "nothing";
  return /^[\x20-\x7e]*$/.test(b.toString("latin1")) ? JSON.stringify(b.toString("latin1")) : `0x${b.toString("hex")}`;
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
  } catch {
    return String(x);
  }
}
