/**
 * What a checker or scheduler is given: the cluster view, the settings, the running operators as
 * far as policies care (counts, per-store influence, regions taken, recent moves), and the two
 * effects a policy may need, injected: peer id allocation and randomness.
 */
import { metapb } from "@regionkv/proto";
import type { SchedulerConfig } from "./config.js";
import type { ClusterView, StoreInfluence, StoreView } from "./cluster-view.js";
import type { OpKind } from "./operator.js";

export interface ScheduleContext {
  view: ClusterView;
  config: SchedulerConfig;
  /** Effect of the running operators on a store. */
  influence(storeId: bigint): StoreInfluence;
  /** The region already has a running operator. */
  hasOperator(regionId: bigint): boolean;
  /** Whether the balancers may start moving one more replica into `storeId` (storeBalanceRatePerMin). */
  mayBalanceInto(storeId: bigint): boolean;
  /** The priority of the region's running operator, if any. */
  operatorPriority(regionId: bigint): number | undefined;
  /** Running operators of `kind`. */
  runningCount(kind: OpKind): number;
  /** When a balance or hot-region replica move of the region last succeeded or timed out (undefined: never). */
  lastMovedAtMs(regionId: bigint): number | undefined;
  /** A fresh cluster-unique id for a new peer. */
  allocPeerId(): bigint;
  /** Uniform in [0, 1). */
  rng(): number;
}

/** Has not heartbeated for longer than max-store-down-time. */
export function isStoreDown(s: StoreView, ctx: ScheduleContext): boolean {
  return ctx.view.now - s.lastHeartbeatMs > ctx.config.maxStoreDownTimeMs;
}

/** Has not heartbeated recently (may be restarting): receives nothing new. */
export function isStoreDisconnected(s: StoreView, ctx: ScheduleContext): boolean {
  return ctx.view.now - s.lastHeartbeatMs > ctx.config.storeDisconnectMs;
}

/** Up (not offline, not a tombstone) and not down. */
export function isStoreUsable(s: StoreView, ctx: ScheduleContext): boolean {
  return s.state === metapb.StoreState.Up && !isStoreDown(s, ctx);
}

/** May receive a new replica or leader. */
export function canStoreReceive(s: StoreView, ctx: ScheduleContext): boolean {
  return isStoreUsable(s, ctx) && !isStoreDisconnected(s, ctx);
}

/** Region size on the store, counting running operators. */
export function influencedRegionSize(s: StoreView, ctx: ScheduleContext): number {
  return s.regionSize + ctx.influence(s.id).regionSize;
}

export function influencedRegionCount(s: StoreView, ctx: ScheduleContext): number {
  return s.regionCount + ctx.influence(s.id).regionCount;
}

export function influencedLeaderCount(s: StoreView, ctx: ScheduleContext): number {
  return s.leaderCount + ctx.influence(s.id).leaderCount;
}

export function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One element chosen with `rng`, or undefined for an empty list. */
export function pickRandom<T>(items: readonly T[], rng: () => number): T | undefined {
  if (items.length === 0) return undefined;
  return items[Math.min(items.length - 1, Math.floor(rng() * items.length))];
}
