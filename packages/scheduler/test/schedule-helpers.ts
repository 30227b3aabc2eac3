/**
 * Hand-built cluster views for checker and scheduler tests: stores with given counts and sizes,
 * regions with given peers, a context over an operator controller, a seeded rng.
 */
import assert from "node:assert/strict";
import { metapb, schedulerpb } from "@regionkv/proto";
import {
  OperatorController,
  resolveSchedulerConfig,
  StaticClusterView,
  type Operator,
  type OpStep,
  type RegionInfo,
  type ScheduleContext,
  type SchedulerConfig,
  type StoreView,
} from "../src/index.js";

export const NOW = 1_000_000_000;
export const MiB = 1024 * 1024;
/** TinyKV's tests count sizes in MB: a region is 10, a store count×10. */
export const UNIT = 10 * MiB;

export function store(id: number, regionCount: number, o: Partial<StoreView> = {}): StoreView {
  return {
    id: BigInt(id),
    state: metapb.StoreState.Up,
    regionCount,
    leaderCount: 0,
    pendingPeerCount: 0,
    regionSize: regionCount * UNIT,
    leaderSize: 0,
    lastHeartbeatMs: NOW,
    available: undefined,
    ...o,
  };
}

export function downSince(cfg: SchedulerConfig): number {
  return NOW - cfg.maxStoreDownTimeMs - 1;
}

export interface RegionOpts {
  leader?: number;
  pending?: number[];
  down?: { store: number; secs: number }[];
  learners?: number[];
  size?: number;
  version?: bigint;
  confVer?: bigint;
}

export function peerId(region: number, store: number): bigint {
  return BigInt(region * 100 + store);
}

export function region(id: number, stores: number[], o: RegionOpts = {}): RegionInfo {
  const peers: metapb.Peer[] = stores.map((s) => ({ id: peerId(id, s), storeId: BigInt(s), role: o.learners?.includes(s) ? metapb.PeerRole.Learner : metapb.PeerRole.Voter }));
  const leaderStore = o.leader ?? stores[0]!;
  return {
    region: { id: BigInt(id), startKey: Buffer.from([id]), endKey: Buffer.from([id + 1]), regionEpoch: { version: o.version ?? 5n, confVer: o.confVer ?? 5n }, peers },
    leader: peers.find((p) => p.storeId === BigInt(leaderStore)),
    pendingPeers: peers.filter((p) => o.pending?.includes(Number(p.storeId))),
    downPeers: (o.down ?? []).map((d) => schedulerpb.PeerStats.fromPartial({ peer: peers.find((p) => p.storeId === BigInt(d.store)), downSeconds: BigInt(d.secs) })),
    approximateSize: BigInt(o.size ?? UNIT),
    approximateKeys: 0n,
  };
}

/** A region changed as a heartbeat would show it. */
export function withPeers(r: RegionInfo, peers: metapb.Peer[], o: { confVer?: bigint; leaderStore?: number; pending?: bigint[] } = {}): RegionInfo {
  const leader = o.leaderStore !== undefined ? peers.find((p) => p.storeId === BigInt(o.leaderStore!)) : r.leader;
  return {
    ...r,
    region: { ...r.region, peers, regionEpoch: { version: r.region.regionEpoch!.version, confVer: o.confVer ?? r.region.regionEpoch!.confVer } },
    leader,
    pendingPeers: peers.filter((p) => o.pending?.includes(p.id)),
  };
}

/** Deterministic rng (mulberry32). */
export function seededRng(seed = 1): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestCtx extends ScheduleContext {
  controller: OperatorController;
}

export function mkCtx(stores: StoreView[], regions: RegionInfo[], cfg: Partial<SchedulerConfig> = {}, o: { rates?: Map<bigint, number>; controller?: OperatorController; now?: number } = {}): TestCtx {
  // Voter-first unless a test asks for learners (each learner-first path has its own test).
  const config = resolveSchedulerConfig({ addLearnerFirst: false, ...cfg });
  const view = new StaticClusterView(o.now ?? NOW, stores, regions, o.rates);
  const controller = o.controller ?? new OperatorController({ config });
  let nextId = 1000n;
  return {
    view,
    config,
    controller,
    influence: (id) => controller.influence((rid) => view.region(rid)).get(id) ?? { regionCount: 0, regionSize: 0, leaderCount: 0, movingPeers: 0 },
    hasOperator: (id) => controller.has(id),
    operatorPriority: (id) => controller.get(id)?.priority,
    mayBalanceInto: (id) => controller.mayBalanceInto(id, view.now, config.storeBalanceRatePerMin),
    runningCount: (k) => controller.runningCount(k),
    lastMovedAtMs: (id) => controller.lastMovedAtMs(id),
    allocPeerId: () => nextId++,
    rng: seededRng(7),
  };
}

/** The (source, target) of a peer move, from its steps. */
export function moveOf(op: Operator | undefined): { from: number; to: number; leaderMoves: boolean } {
  assert.ok(op, "expected an operator");
  const add = op.steps.find((s): s is Extract<OpStep, { kind: "addLearner" | "addVoter" }> => s.kind === "addLearner" || s.kind === "addVoter");
  const rm = op.steps.find((s): s is Extract<OpStep, { kind: "removePeer" }> => s.kind === "removePeer");
  assert.ok(add && rm, `not a move: ${op.describe()}`);
  return { from: Number(rm.storeId), to: Number(add.storeId), leaderMoves: op.steps.some((s) => s.kind === "transferLeader") };
}

export function stepKinds(op: Operator | undefined): string[] {
  assert.ok(op, "expected an operator");
  return op.steps.map((s) => s.kind);
}
