/**
 * Replica checker: keeps every region at max-replicas healthy replicas. Sub-checks in priority
 * order; the first that has something to do decides:
 *
 *   1. a replica on a bad store (down past max-store-down-time, reported down by the leader for
 *      that long, offline = being drained, or a tombstone): remove it if the region has more
 *      replicas than needed, else replace it: add on the best store, then remove — except a
 *      *down* replica when new replicas join as voters: it is removed first, because a voter
 *      being caught up next to a dead one would leave the region without a live quorum
 *      (3 peers, 1 dead: adding makes 4 needing 3, with only 2 live until the snapshot lands);
 *   2. fewer replicas than max-replicas: add one on the best store;
 *   3. more than max-replicas: remove the one on the worst store (a pending one, if any; none
 *      while every follower is pending, as right after an election);
 *   4. a stray learner (left by a cancelled operator): promote it if voters are missing and
 *      learners are in use (addLearnerFirst), else remove it.
 *
 * Pending peers block every removal except of a pending peer itself or of a dead one: removing a
 * healthy replica while another is still catching up could leave the region without a quorum.
 * Best store: usable, heard from recently, not holding the region; fewest regions, then least
 * data, then most free space. Worst store: most regions, then most data.
 */
import { metapb } from "@regionkv/proto";
import type { RegionInfo } from "../region-tree.js";
import type { StoreView } from "./cluster-view.js";
import { addPeerSteps, newOperator, removePeerSteps } from "./operator-builder.js";
import { PRIORITY, type OpStep, type Operator } from "./operator.js";
import {
  canStoreReceive,
  compareBigint,
  influencedRegionCount,
  influencedRegionSize,
  isStoreDown,
  type ScheduleContext,
} from "./schedule-context.js";

/** Why a replica must go. */
type BadReason = "down" | "offline" | "tombstone";

export function checkReplicas(ctx: ScheduleContext, region: RegionInfo): Operator | undefined {
  // A running operator blocks the checker unless the checker's answer outranks it: a replica
  // lost with a dead store (high) does not wait for a balancing move to finish or time out.
  const running = ctx.operatorPriority(region.region.id);
  if (running !== undefined && running >= PRIORITY.high) return undefined;
  if (ctx.runningCount("replica") >= ctx.config.replicaScheduleLimit) return undefined;
  const op = checkBadReplica(ctx, region) ?? checkMissingReplica(ctx, region) ?? checkExtraReplica(ctx, region) ?? checkStrayLearner(ctx, region);
  // Only a high-priority answer (a lost or missing replica) preempts: trimming the extra replica
  // of a move in progress would undo the move.
  return op && (running === undefined || (op.priority >= PRIORITY.high && op.priority > running)) ? op : undefined;
}

function badReason(ctx: ScheduleContext, region: RegionInfo, peer: metapb.Peer): BadReason | undefined {
  const s = ctx.view.store(peer.storeId);
  if (!s) return undefined; // not registered (yet): nothing known against it
  if (s.state === metapb.StoreState.Tombstone) return "tombstone";
  if (s.state === metapb.StoreState.Offline) return "offline";
  if (isStoreDown(s, ctx)) return "down";
  const d = region.downPeers.find((x) => x.peer?.id === peer.id);
  if (d && Number(d.downSeconds) * 1000 > ctx.config.maxStoreDownTimeMs) return "down";
  return undefined;
}

function isPendingPeer(region: RegionInfo, peer: metapb.Peer): boolean {
  return region.pendingPeers.some((p) => p.id === peer.id);
}

function checkBadReplica(ctx: ScheduleContext, region: RegionInfo): Operator | undefined {
  for (const peer of region.region.peers) {
    const why = badReason(ctx, region, peer);
    if (!why) continue;
    const othersPending = region.pendingPeers.some((p) => p.id !== peer.id);
    if (region.region.peers.length > ctx.config.maxReplicas) {
      // A dead replica contributes nothing to the quorum: removing it only helps, pending or not.
      if (othersPending && why !== "down") continue;
      const steps = removePeerSteps(region, peer.storeId);
      if (!steps) continue;
      return newOperator(region, "replica", `remove-${why}-replica`, steps, PRIORITY.high, ctx.view.now);
    }
    const target = bestStoreFor(ctx, region);
    if (target === undefined) continue;
    const remove = removePeerSteps(region, peer.storeId);
    if (!remove) continue;
    const add = addPeerSteps(target.id, ctx.allocPeerId(), ctx.config.addLearnerFirst);
    const steps: OpStep[] = why === "down" && !ctx.config.addLearnerFirst && region.region.peers.length > 1 ? [...remove, ...add] : [...add, ...remove];
    return newOperator(region, "replica", `replace-${why}-replica`, steps, PRIORITY.high, ctx.view.now);
  }
  return undefined;
}

function voters(region: RegionInfo): metapb.Peer[] {
  return region.region.peers.filter((p) => p.role === metapb.PeerRole.Voter);
}

function checkMissingReplica(ctx: ScheduleContext, region: RegionInfo): Operator | undefined {
  if (region.region.peers.length >= ctx.config.maxReplicas) return undefined;
  const target = bestStoreFor(ctx, region);
  if (target === undefined) return undefined;
  const steps = addPeerSteps(target.id, ctx.allocPeerId(), ctx.config.addLearnerFirst);
  return newOperator(region, "replica", "make-up-replica", steps, PRIORITY.high, ctx.view.now);
}

function checkExtraReplica(ctx: ScheduleContext, region: RegionInfo): Operator | undefined {
  // Extra *voters* only: a learner beyond max-replicas is a move in progress (or a leftover, see
  // checkStrayLearner). Removing a voter for it would leave two voters and a learner, and losing
  // one more store would then leave the region without a quorum (seen end to end).
  const vs = voters(region);
  if (vs.length <= ctx.config.maxReplicas) return undefined;
  // Every follower pending is what a leader reports just after its election (or a split): it has
  // not heard from anyone yet, so the report cannot tell a replica that will never catch up from
  // healthy ones. Wait for the next heartbeat rather than remove a healthy replica by chance
  // (seen end to end: the piece of a split kept a replica its store never created, the checker
  // removed a healthy one instead, and losing one more store left the region without a quorum).
  const followers = region.region.peers.filter((p) => p.id !== region.leader?.id);
  if (followers.length > 1 && followers.every((p) => isPendingPeer(region, p))) return undefined;
  // With peers still catching up only one of them may go (e.g. left by a timed-out add).
  const pendingVoters = vs.filter((p) => isPendingPeer(region, p));
  const candidates = pendingVoters.length > 0 ? pendingVoters : vs;
  const worst = [...candidates].sort((a, b) => compareWorst(ctx, a, b))[0];
  if (!worst) return undefined;
  const steps = removePeerSteps(region, worst.storeId);
  if (!steps) return undefined;
  return newOperator(region, "replica", "remove-extra-replica", steps, PRIORITY.normal, ctx.view.now);
}

function checkStrayLearner(ctx: ScheduleContext, region: RegionInfo): Operator | undefined {
  const learner = region.region.peers.find((p) => p.role === metapb.PeerRole.Learner);
  if (!learner) return undefined;
  const enoughVoters = voters(region).length >= ctx.config.maxReplicas;
  // A learner still catching up is left alone while it may be needed; once there are enough
  // voters it is a leftover (e.g. of a timed-out or cancelled move) and goes, caught up or not.
  if (isPendingPeer(region, learner) && !enoughVoters) return undefined;
  if (ctx.config.addLearnerFirst && !enoughVoters) {
    return newOperator(region, "replica", "promote-learner", [{ kind: "promoteLearner", storeId: learner.storeId, peerId: learner.id }], PRIORITY.normal, ctx.view.now);
  }
  return newOperator(region, "replica", "remove-stray-learner", [{ kind: "removePeer", storeId: learner.storeId }], PRIORITY.normal, ctx.view.now);
}

/** Most regions first, then most data, then the higher store id. */
function compareWorst(ctx: ScheduleContext, a: metapb.Peer, b: metapb.Peer): number {
  const sa = ctx.view.store(a.storeId);
  const sb = ctx.view.store(b.storeId);
  if (!sa || !sb) return sa ? 1 : sb ? -1 : 0;
  return influencedRegionCount(sb, ctx) - influencedRegionCount(sa, ctx) || influencedRegionSize(sb, ctx) - influencedRegionSize(sa, ctx) || compareBigint(b.id, a.id);
}

/** The store a new replica of `region` should go to, if any. */
export function bestStoreFor(ctx: ScheduleContext, region: RegionInfo): StoreView | undefined {
  const holding = new Set(region.region.peers.map((p) => p.storeId));
  const candidates = ctx.view
    .stores()
    .filter((s) => !holding.has(s.id) && canStoreReceive(s, ctx) && ctx.influence(s.id).movingPeers < ctx.config.storeLimit * 4);
  candidates.sort(
    (a, b) =>
      influencedRegionCount(a, ctx) - influencedRegionCount(b, ctx) ||
      influencedRegionSize(a, ctx) - influencedRegionSize(b, ctx) ||
      (b.available ?? 0) - (a.available ?? 0) ||
      compareBigint(a.id, b.id),
  );
  return candidates[0];
}
