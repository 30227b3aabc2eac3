/**
 * balance-region: move replicas from the store with the most data to the one with the least.
 * TinyKV 3C's algorithm:
 *
 *   suitable stores (Up, not down) by region size, largest first
 *   → source: the first store yielding a region — a pending one, else a follower, else a leader
 *   → region must have max-replicas peers
 *   → target: the suitable store with the smallest region size not holding the region
 *   → move only if source size − target size > 2 × region size (so the move cannot flip the
 *     imbalance and invite a move back)
 *
 * plus protection against moving the same region back and forth and against piling up:
 * - sizes count the running operators' influence (a move in flight is already "done");
 * - a region moved by a balance operator rests for regionCooldownMs; regions with an operator, or
 *   with a replica count the replica checker still has to fix, are skipped;
 * - a store takes part in at most storeLimit peer-moving operators at once;
 * - a target must have been heard from recently.
 * Several candidate regions of a source are tried (randomly, with the injected rng) before the
 * next source.
 */
import type { RegionInfo } from "../region-tree.js";
import type { RegionRole, StoreView } from "./cluster-view.js";
import { regionSize } from "./cluster-view.js";
import { buildMovePeer } from "./operator-builder.js";
import { PRIORITY, type Operator } from "./operator.js";
import { canStoreReceive, compareBigint, influencedRegionSize, isStoreUsable, pickRandom, type ScheduleContext } from "./schedule-context.js";

const ROLES: readonly RegionRole[] = ["pending", "follower", "leader"];
/** Candidate regions tried per source store and role. */
const TRIES_PER_ROLE = 8;

export function scheduleBalanceRegion(ctx: ScheduleContext): Operator | undefined {
  if (ctx.runningCount("balance-region") >= ctx.config.regionScheduleLimit) return undefined;
  const suitable = ctx.view.stores().filter((s) => isStoreUsable(s, ctx));
  const bySize = [...suitable].sort((a, b) => influencedRegionSize(b, ctx) - influencedRegionSize(a, ctx) || compareBigint(a.id, b.id));
  for (const source of bySize) {
    if (ctx.influence(source.id).movingPeers >= ctx.config.storeLimit) continue;
    for (const role of ROLES) {
      const candidates = ctx.view.regionsOn(source.id, role).filter((r) => movable(ctx, r));
      for (let i = 0; i < TRIES_PER_ROLE && candidates.length > 0; i++) {
        const region = pickRandom(candidates, ctx.rng)!;
        candidates.splice(candidates.indexOf(region), 1);
        const op = tryMove(ctx, region, source, suitable);
        if (op) return op;
      }
    }
  }
  return undefined;
}

function movable(ctx: ScheduleContext, r: RegionInfo): boolean {
  if (r.region.peers.length !== ctx.config.maxReplicas) return false;
  if (ctx.hasOperator(r.region.id)) return false;
  const moved = ctx.lastMovedAtMs(r.region.id);
  return moved === undefined || ctx.view.now - moved >= ctx.config.regionCooldownMs;
}

function tryMove(ctx: ScheduleContext, region: RegionInfo, source: StoreView, suitable: StoreView[]): Operator | undefined {
  const holding = new Set(region.region.peers.map((p) => p.storeId));
  const targets = suitable
    .filter((s) => !holding.has(s.id) && canStoreReceive(s, ctx) && ctx.influence(s.id).movingPeers < ctx.config.storeLimit && ctx.mayBalanceInto(s.id))
    .sort((a, b) => influencedRegionSize(a, ctx) - influencedRegionSize(b, ctx) || compareBigint(a.id, b.id));
  const target = targets[0];
  if (!target) return undefined;
  const size = regionSize(region);
  if (influencedRegionSize(source, ctx) - influencedRegionSize(target, ctx) <= 2 * size) return undefined;
  return buildMovePeer(region, "balance-region", `balance-region ${source.id}→${target.id}`, source.id, target.id, ctx.allocPeerId(), { now: ctx.view.now, addLearnerFirst: ctx.config.addLearnerFirst }, PRIORITY.low);
}
