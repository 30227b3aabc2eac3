/**
 * balance-leader: move leadership from stores leading many regions to stores leading few.
 *
 *   usable stores by leader count (with running operators' influence)
 *   → source: most leaders; target: fewest, among stores that can receive
 *   → act only if source − target > leaderTolerance (≥ 1, so one transfer never flips the order)
 *   → a region led by the source with a healthy voter on the target (not pending, not down,
 *     no operator); else the next target, then the next source
 */
import { metapb } from "@regionkv/proto";
import type { RegionInfo } from "../region-tree.js";
import { newOperator } from "./operator-builder.js";
import { PRIORITY, type Operator } from "./operator.js";
import { canStoreReceive, compareBigint, influencedLeaderCount, isStoreUsable, pickRandom, type ScheduleContext } from "./schedule-context.js";

export function scheduleBalanceLeader(ctx: ScheduleContext): Operator | undefined {
  if (ctx.runningCount("balance-leader") >= ctx.config.leaderScheduleLimit) return undefined;
  const usable = ctx.view.stores().filter((s) => isStoreUsable(s, ctx));
  const desc = [...usable].sort((a, b) => influencedLeaderCount(b, ctx) - influencedLeaderCount(a, ctx) || compareBigint(a.id, b.id));
  const asc = usable.filter((s) => canStoreReceive(s, ctx)).sort((a, b) => influencedLeaderCount(a, ctx) - influencedLeaderCount(b, ctx) || compareBigint(a.id, b.id));
  const tolerance = Math.max(1, ctx.config.leaderTolerance);
  for (const source of desc) {
    for (const target of asc) {
      if (influencedLeaderCount(source, ctx) - influencedLeaderCount(target, ctx) <= tolerance) break;
      const candidates = ctx.view.regionsOn(source.id, "leader").filter((r) => !ctx.hasOperator(r.region.id) && healthyVoterOn(r, target.id));
      const region = pickRandom(candidates, ctx.rng);
      if (!region) continue;
      return newOperator(region, "balance-leader", `balance-leader ${source.id}→${target.id}`, [{ kind: "transferLeader", fromStore: source.id, toStore: target.id }], PRIORITY.low, ctx.view.now);
    }
  }
  return undefined;
}

export function healthyVoterOn(r: RegionInfo, storeId: bigint): boolean {
  const p = r.region.peers.find((x) => x.storeId === storeId);
  if (!p || p.role !== metapb.PeerRole.Voter) return false;
  if (r.pendingPeers.some((x) => x.id === p.id)) return false;
  return !r.downPeers.some((d) => d.peer?.id === p.id);
}
