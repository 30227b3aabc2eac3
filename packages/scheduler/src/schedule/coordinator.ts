/**
 * Coordinator: where the pure policies meet the running scheduler.
 *
 *   region heartbeat → core (staleness, region tree) → write rates → operator controller (advance
 *   the region's operator) → no operator (left): replica checker for the region → response body
 *   for the leader (the current step of the region's operator, if any)
 *   patrol tick (patrolRegionIntervalMs) → time out operators → replica checker over the next
 *   batch of regions (catches regions whose heartbeats are rare)
 *   schedule tick (10 ms growing ×1.3 to 5 s while idle) → balance-leader, balance-region,
 *   hot-region → new operators
 *   manual operators (add-peer, remove-peer, transfer-leader, split) → admin priority
 *   removeStore → Offline → replica checker drains it → patrol: no regions left → Tombstone
 *
 * An operator created outside a heartbeat is pushed at once to the stream of the region leader's
 * store (`HeartbeatSink`), so it need not wait for the region's next heartbeat.
 * Timers live only here (`start` / `stop`); everything else is callable step by step in tests.
 */
import type { Logger } from "pino";
import { metapb, schedulerpb } from "@regionkv/proto";
import { SchedulerError, type Result } from "../errors.js";
import type { RegionInfo } from "../region-tree.js";
import type { SchedulerCore } from "../scheduler.js";
import { scheduleBalanceLeader } from "./balance-leader.js";
import { scheduleBalanceRegion } from "./balance-region.js";
import { emptyInfluence, StaticClusterView, storeViewsFrom, type ClusterView, type StoreInfluence } from "./cluster-view.js";
import { resolveSchedulerConfig, type SchedulerConfig, type SchedulerName } from "./config.js";
import { scheduleHotRegion } from "./hot-region.js";
import { addPeerSteps, newOperator, removePeerSteps } from "./operator-builder.js";
import { OperatorController } from "./operator-controller.js";
import { PRIORITY, type Operator } from "./operator.js";
import { checkReplicas } from "./replica-checker.js";
import type { ScheduleContext } from "./schedule-context.js";
import { WriteRateStats } from "./write-rate.js";

/** Delivers a response body to the open heartbeat stream of a store; false if there is none. */
export interface HeartbeatSink {
  send(storeId: bigint, resp: schedulerpb.RegionHeartbeatResponse): boolean;
}

export interface CoordinatorOptions {
  core: SchedulerCore;
  config?: Partial<SchedulerConfig>;
  log: Logger;
  /** Uniform in [0, 1); default Math.random (inject a seeded one in tests). */
  rng?: () => number;
}

/** A manual operator request (`regionkv ctl`). */
export type ManualOperator =
  | { kind: "add-peer"; regionId: bigint; storeId: bigint }
  | { kind: "remove-peer"; regionId: bigint; storeId: bigint }
  | { kind: "transfer-leader"; regionId: bigint; storeId: bigint }
  | { kind: "split"; regionId: bigint; keys: Buffer[] };



export class Coordinator {
  readonly config: SchedulerConfig;
  readonly operators: OperatorController;
  readonly writeRates = new WriteRateStats();
  private readonly core: SchedulerCore;
  private readonly log: Logger;
  private readonly rng: () => number;
  private sink: HeartbeatSink | undefined;
  private cachedView: ClusterView | undefined;
  private patrolKey: Buffer = Buffer.alloc(0);
  private timers: { patrol?: NodeJS.Timeout; schedule?: NodeJS.Timeout } = {};
  private scheduleIntervalMs: number;

  constructor(opts: CoordinatorOptions) {
    this.core = opts.core;
    this.config = resolveSchedulerConfig(opts.config);
    this.log = opts.log;
    this.rng = opts.rng ?? Math.random;
    this.scheduleIntervalMs = this.config.scheduleMinIntervalMs;
    this.operators = new OperatorController({
      config: this.config,
      onFinish: (op) => this.log.info({ regionId: String(op.regionId), kind: op.kind, status: op.status, reason: op.reason || undefined, op: op.describe() }, "operator finished"),
    });
  }

  setSink(sink: HeartbeatSink | undefined): void {
    this.sink = sink;
  }

  /**
   * Apply a region heartbeat and answer it: the body of the response to send (no header), or
   * undefined when there is nothing to say. A stale or invalid heartbeat is an error value.
   */
  onRegionHeartbeat(req: schedulerpb.RegionHeartbeatRequest): Result<{ changed: boolean; response: schedulerpb.RegionHeartbeatResponse | undefined }> {
    const res = this.core.regionHeartbeat(req);
    if (!res.ok) return res;
    const now = this.core.now();
    this.writeRates.observe(req, now);
    const region = this.core.getRegionById(req.region!.id);
    if (!region) return { ok: true, value: { changed: res.value.changed, response: undefined } };
    // The running operator first: if this heartbeat finishes it, the checker may go on at once.
    let response = this.operators.onHeartbeat(region, now);
    const op = checkReplicas(this.context(), region);
    if (op && this.accept(op, now)) response = this.operators.onHeartbeat(region, now);
    return { ok: true, value: { changed: res.value.changed, response } };
  }

  /** One patrol tick: operator timeouts, then the replica checker over the next batch of regions. */
  patrol(): void {
    const now = this.core.now();
    this.operators.checkTimeouts(now);
    if (!this.core.isBootstrapped()) return;
    this.buryDrainedStores();
    const batch = this.core.scanRegions(this.patrolKey, Buffer.alloc(0), this.config.patrolBatch);
    const last = batch[batch.length - 1];
    this.patrolKey = !last || last.region.endKey.length === 0 || batch.length < this.config.patrolBatch ? Buffer.alloc(0) : last.region.endKey;
    const view = this.buildView();
    this.cancelStepsToLostStores(view, now);
    for (const region of batch) {
      // A context per region: its influence must include the operators added for earlier ones.
      const op = checkReplicas(this.contextOver(view), region);
      if (op && this.accept(op, now)) this.push(op);
    }
  }

  /**
   * An operator whose current step sends a replica or leadership to a store that stopped
   * heartbeating cannot finish until its step times out (minutes for a replica): cancel it now,
   * so the checkers can plan around the lost store.
   */
  private cancelStepsToLostStores(view: ClusterView, now: number): void {
    const stores = new Map(view.stores().map((s) => [s.id, s]));
    for (const op of this.operators.runningOperators()) {
      const step = op.steps[op.currentStep];
      if (!step) continue;
      const target = step.kind === "transferLeader" ? step.toStore : step.kind === "addLearner" || step.kind === "addVoter" || step.kind === "promoteLearner" ? step.storeId : undefined;
      if (target === undefined) continue;
      const s = stores.get(target);
      const silentMs = s ? view.now - s.lastHeartbeatMs : Infinity;
      if (s && s.state === metapb.StoreState.Up && silentMs <= this.config.storeDisconnectMs) continue;
      const why = !s ? "is unknown" : s.state !== metapb.StoreState.Up ? `is ${metapb.StoreState[s.state] ?? s.state}` : `has not heartbeated for ${Math.round(silentMs / 1000)} s`;
      if (this.operators.cancel(op.regionId, now, `target store ${target} ${why}`)) {
        this.log.info({ regionId: String(op.regionId), op: op.describe(), store: String(target) }, "operator cancelled: its target store is lost");
      }
    }
  }

  /** Run each scheduler once; returns the operators added. */
  runSchedulers(only?: SchedulerName[]): Operator[] {
    if (!this.core.isBootstrapped()) return [];
    const now = this.core.now();
    const added: Operator[] = [];
    const schedulers: [SchedulerName, (ctx: ScheduleContext) => Operator | undefined][] = [
      ["balance-leader", scheduleBalanceLeader],
      ["balance-region", scheduleBalanceRegion],
      ["hot-region", scheduleHotRegion],
    ];
    const view = this.buildView();
    for (const [name, schedule] of schedulers) {
      if (only ? !only.includes(name) : !this.config.schedulers.includes(name)) continue;
      // One view per run; a new context per scheduler so the influence includes the operators just added.
      const op = schedule(this.contextOver(view));
      if (op && this.accept(op, now)) {
        added.push(op);
        this.push(op);
      }
    }
    return added;
  }

  /** Queue a manual operator; it replaces any non-manual operator of the region. */
  addManualOperator(m: ManualOperator): Result<Operator> {
    try {
      const op = this.buildManual(m);
      const now = this.core.now();
      const res = this.operators.add(op, now);
      if (!res.ok) return { ok: false, error: new SchedulerError("OperatorRejected", `${res.reason}; wait for it to finish`) };
      this.log.info({ regionId: String(op.regionId), op: op.describe() }, "manual operator added");
      this.push(op);
      return { ok: true, value: op };
    } catch (e) {
      if (e instanceof SchedulerError) return { ok: false, error: e };
      throw e;
    }
  }

  private buildManual(m: ManualOperator): Operator {
    const region = this.core.getRegionById(m.regionId);
    if (!region) throw new SchedulerError("RegionNotFound", `region ${m.regionId} is unknown to the scheduler; list regions with \`regionkv ctl regions\``);
    const now = this.core.now();
    const peerOn = (storeId: bigint): metapb.Peer | undefined => region.region.peers.find((p) => p.storeId === storeId);
    const mustStore = (storeId: bigint): void => {
      const s = this.core.getStore(storeId);
      if (!s) throw new SchedulerError("StoreNotFound", `store ${storeId} is unknown; list stores with \`regionkv ctl stores\``);
      if (s.state === metapb.StoreState.Tombstone) throw new SchedulerError("StoreTombstone", `store ${storeId} is a tombstone`);
    };
    switch (m.kind) {
      case "add-peer":
        mustStore(m.storeId);
        if (peerOn(m.storeId)) throw new SchedulerError("OperatorRejected", `region ${m.regionId} already has a peer on store ${m.storeId}`);
        return newOperator(region, "admin", `add-peer on store ${m.storeId}`, addPeerSteps(m.storeId, this.core.allocId(), this.config.addLearnerFirst), PRIORITY.admin, now);
      case "remove-peer": {
        if (!peerOn(m.storeId)) throw new SchedulerError("OperatorRejected", `region ${m.regionId} has no peer on store ${m.storeId}`);
        if (region.region.peers.length === 1) throw new SchedulerError("OperatorRejected", `region ${m.regionId} has only the peer on store ${m.storeId}; add another first`);
        const steps = removePeerSteps(region, m.storeId);
        if (!steps) throw new SchedulerError("OperatorRejected", `the leader of region ${m.regionId} is on store ${m.storeId} and no healthy voter can take over`);
        return newOperator(region, "admin", `remove-peer on store ${m.storeId}`, steps, PRIORITY.admin, now);
      }
      case "transfer-leader": {
        const p = peerOn(m.storeId);
        if (!p || p.role !== metapb.PeerRole.Voter) throw new SchedulerError("OperatorRejected", `region ${m.regionId} has no voter on store ${m.storeId} to lead`);
        const from = region.leader?.storeId ?? 0n;
        return newOperator(region, "admin", `transfer-leader to store ${m.storeId}`, [{ kind: "transferLeader", fromStore: from, toStore: m.storeId }], PRIORITY.admin, now);
      }
      case "split": {
        for (const k of m.keys) {
          const inside = Buffer.compare(k, region.region.startKey) > 0 && (region.region.endKey.length === 0 || Buffer.compare(k, region.region.endKey) < 0);
          if (!inside) throw new SchedulerError("InvalidArgument", `split key ${k.toString("hex")} is not strictly inside region ${m.regionId}`);
        }
        const policy = m.keys.length > 0 ? schedulerpb.CheckPolicy.USEKEY : schedulerpb.CheckPolicy.SCAN;
        return newOperator(region, "admin", "split", [{ kind: "split", policy, keys: m.keys }], PRIORITY.admin, now);
      }
      default: {
        const never: never = m;
        throw new Error(`unknown manual operator ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * `regionkv ctl store remove`: mark the store Offline; the replica checker then moves its
   * replicas (and leaders) away, and the patrol makes it a Tombstone once it holds no region.
   * Refused when the stores left Up could not hold max-replicas replicas.
   */
  removeStore(storeId: bigint): Result<metapb.Store> {
    const s = this.core.getStore(storeId);
    if (!s) return { ok: false, error: new SchedulerError("StoreNotFound", `store ${storeId} is unknown; list stores with \`regionkv ctl stores\``) };
    if (s.state === metapb.StoreState.Tombstone) return { ok: false, error: new SchedulerError("StoreTombstone", `store ${storeId} is already a tombstone`) };
    if (s.state === metapb.StoreState.Offline) return { ok: true, value: s };
    const upLeft = this.core.getAllStores(true).filter((x) => x.state === metapb.StoreState.Up && x.id !== storeId).length;
    if (upLeft < this.config.maxReplicas) {
      return { ok: false, error: new SchedulerError("OperatorRejected", `removing store ${storeId} would leave ${upLeft} stores for ${this.config.maxReplicas} replicas; add a store first (or lower --max-replicas)`) };
    }
    const offline = { ...s, state: metapb.StoreState.Offline };
    this.core.putStore(offline);
    this.cachedView = undefined;
    this.log.info({ storeId: String(storeId) }, "store is being removed: draining its replicas");
    return { ok: true, value: offline };
  }

  /** Offline stores that hold no region any more become tombstones. */
  private buryDrainedStores(): void {
    for (const info of this.core.getAllStoreInfos()) {
      if (info.store.state !== metapb.StoreState.Offline || info.regionCount > 0) continue;
      this.core.putStore({ ...info.store, state: metapb.StoreState.Tombstone });
      this.log.info({ storeId: String(info.store.id) }, "store drained: now a tombstone");
    }
  }

  /** The running operator of the region, else the last finished one. */
  getOperator(regionId: bigint): Operator | undefined {
    return this.operators.latest(regionId);
  }

  /** Begin the patrol and schedule loops. */
  start(): void {
    if (this.timers.patrol) return;
    this.timers.patrol = setInterval(() => this.guard("patrol", () => this.patrol()), this.config.patrolRegionIntervalMs);
    this.timers.patrol.unref();
    const loop = (): void => {
      const added = this.guard("schedule", () => this.runSchedulers()) ?? [];
      this.scheduleIntervalMs = added.length > 0 ? this.config.scheduleMinIntervalMs : Math.min(this.config.scheduleMaxIntervalMs, this.scheduleIntervalMs * 1.3);
      this.timers.schedule = setTimeout(loop, this.scheduleIntervalMs);
      this.timers.schedule.unref();
    };
    this.timers.schedule = setTimeout(loop, this.scheduleIntervalMs);
    this.timers.schedule.unref();
  }

  stop(): void {
    clearInterval(this.timers.patrol);
    clearTimeout(this.timers.schedule);
    this.timers = {};
  }

  private guard<T>(what: string, f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined }, `scheduler ${what} failed`);
      return undefined;
    }
  }

  private accept(op: Operator, now: number): boolean {
    const res = this.operators.add(op, now);
    if (res.ok) this.log.debug({ regionId: String(op.regionId), op: op.describe() }, "operator added");
    return res.ok;
  }

  /** Send the first step of a new operator to the leader's store now, if its stream is open. */
  private push(op: Operator): void {
    const region = this.core.getRegionById(op.regionId);
    if (!region?.leader || !this.sink) return;
    const resp = this.operators.dispatch(op, region, this.core.now());
    if (resp) this.sink.send(region.leader.storeId, resp);
  }

  /**
   * A context over a fresh view (`fresh`, for scheduling rounds) or over the view cached since the
   * last fresh one (the per-heartbeat checker: the region itself is always current).
   */
  private context(fresh = false): ScheduleContext {
    if (fresh || !this.cachedView || this.core.now() - this.cachedView.now > this.config.patrolRegionIntervalMs) this.cachedView = this.buildView();
    return this.contextOver(this.cachedView);
  }

  private contextOver(view: ClusterView): ScheduleContext {
    let influence: Map<bigint, StoreInfluence> | undefined;
    return {
      view,
      config: this.config,
      influence: (id) => (influence ??= this.operators.influence((rid) => this.core.getRegionById(rid))).get(id) ?? emptyInfluence(),
      hasOperator: (id) => this.operators.has(id),
      operatorPriority: (id) => this.operators.get(id)?.priority,
      mayBalanceInto: (id) => this.operators.mayBalanceInto(id, view.now, this.config.storeBalanceRatePerMin),
      runningCount: (kind) => this.operators.runningCount(kind),
      lastMovedAtMs: (id) => this.operators.lastMovedAtMs(id),
      allocPeerId: () => this.core.allocId(),
      rng: this.rng,
    };
  }

  private buildView(): ClusterView {
    const now = this.core.now();
    const regions: RegionInfo[] = this.core.allRegions();
    const stores = this.core.getAllStoreInfos().map((s) => ({
      id: s.store.id,
      state: s.store.state,
      lastHeartbeatMs: s.lastHeartbeatMs || this.core.openedAtMs,
      available: s.stats ? Number(s.stats.available) : undefined,
    }));
    return new StaticClusterView(now, storeViewsFrom(stores, regions), regions, this.writeRates.rates());
  }
}
