/**
 * hot-region: spread the write load of hot regions. The proto has no per-store write rate by
 * region, but every region heartbeat carries `bytes_written` over its `interval`; the coordinator
 * turns that into a per-region rate (`ClusterView.writeRate`, bytes/s) and this scheduler sums it
 * per store: a leader's write load (the leader proposes and fans out every write) and a replica's
 * (every replica applies it).
 *
 *   hot regions: write rate ≥ hotRegionWriteBytesPerSec
 *   → busiest store by leader write load: transfer the leader of its hottest region to the
 *     follower store with the least leader write load, if after the move that store carries no
 *     more than the source (so one move cannot invert the two and invite a move back; a single
 *     hot region is left where it is — moving it would only move the hot spot);
 *   → else, by replica write load: move the hottest replica on the busiest store to the coolest
 *     store not holding the region, under the same condition.
 * Regions with an operator or moved recently (regionCooldownMs) are left alone.
 */
import type { RegionInfo } from "../region-tree.js";
import { healthyVoterOn } from "./balance-leader.js";
import { buildMovePeer, newOperator } from "./operator-builder.js";
import { PRIORITY, type Operator } from "./operator.js";
import { canStoreReceive, compareBigint, isStoreUsable, type ScheduleContext } from "./schedule-context.js";

export function scheduleHotRegion(ctx: ScheduleContext): Operator | undefined {
  if (ctx.runningCount("hot-region") >= ctx.config.hotRegionScheduleLimit) return undefined;
  const hot = ctx.view.regions().filter((r) => ctx.view.writeRate(r.region.id) >= ctx.config.hotRegionWriteBytesPerSec);
  if (hot.length === 0) return undefined;
  const usable = ctx.view.stores().filter((s) => isStoreUsable(s, ctx));
  const leaderLoad = new Map<bigint, number>(usable.map((s) => [s.id, 0]));
  const peerLoad = new Map<bigint, number>(usable.map((s) => [s.id, 0]));
  for (const r of ctx.view.regions()) {
    const rate = ctx.view.writeRate(r.region.id);
    if (rate === 0) continue;
    if (r.leader && leaderLoad.has(r.leader.storeId)) leaderLoad.set(r.leader.storeId, leaderLoad.get(r.leader.storeId)! + rate);
    for (const p of r.region.peers) if (peerLoad.has(p.storeId)) peerLoad.set(p.storeId, peerLoad.get(p.storeId)! + rate);
  }
  const free = (r: RegionInfo): boolean => {
    if (ctx.hasOperator(r.region.id)) return false;
    const moved = ctx.lastMovedAtMs(r.region.id);
    return moved === undefined || ctx.view.now - moved >= ctx.config.regionCooldownMs;
  };
  const byRate = (a: RegionInfo, b: RegionInfo): number => ctx.view.writeRate(b.region.id) - ctx.view.writeRate(a.region.id) || compareBigint(a.region.id, b.region.id);
  const receivers = usable.filter((s) => canStoreReceive(s, ctx));

  // 1. leaders
  const busiestLeader = [...leaderLoad.entries()].sort((a, b) => b[1] - a[1] || compareBigint(a[0], b[0]))[0];
  if (busiestLeader) {
    const [source, load] = busiestLeader;
    for (const r of hot.filter((x) => x.leader?.storeId === source && free(x)).sort(byRate)) {
      const rate = ctx.view.writeRate(r.region.id);
      const target = receivers
        .filter((s) => s.id !== source && healthyVoterOn(r, s.id))
        .sort((a, b) => leaderLoad.get(a.id)! - leaderLoad.get(b.id)! || compareBigint(a.id, b.id))[0];
      if (target && leaderLoad.get(target.id)! + rate <= load - rate) {
        return newOperator(r, "hot-region", `hot-region leader ${source}→${target.id}`, [{ kind: "transferLeader", fromStore: source, toStore: target.id }], PRIORITY.normal, ctx.view.now);
      }
    }
  }

  // 2. replicas
  const busiestPeer = [...peerLoad.entries()].sort((a, b) => b[1] - a[1] || compareBigint(a[0], b[0]))[0];
  if (!busiestPeer) return undefined;
  const [source, load] = busiestPeer;
  if (ctx.influence(source).movingPeers >= ctx.config.storeLimit) return undefined;
  for (const r of hot.filter((x) => x.region.peers.some((p) => p.storeId === source) && free(x) && x.region.peers.length === ctx.config.maxReplicas).sort(byRate)) {
    const rate = ctx.view.writeRate(r.region.id);
    const holding = new Set(r.region.peers.map((p) => p.storeId));
    const target = receivers
      .filter((s) => !holding.has(s.id) && ctx.influence(s.id).movingPeers < ctx.config.storeLimit && ctx.mayBalanceInto(s.id))
      .sort((a, b) => peerLoad.get(a.id)! - peerLoad.get(b.id)! || compareBigint(a.id, b.id))[0];
    if (target && peerLoad.get(target.id)! + rate <= load - rate) {
      return buildMovePeer(r, "hot-region", `hot-region peer ${source}→${target.id}`, source, target.id, ctx.allocPeerId(), { now: ctx.view.now, addLearnerFirst: ctx.config.addLearnerFirst }, PRIORITY.normal);
    }
  }
  return undefined;
}
