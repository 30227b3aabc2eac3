/**
 * Building operators from intentions (add a replica, remove one, move one, move the leader).
 * The step order encodes the safety rules:
 * - a new replica is added (and promoted) before the one it replaces is removed, so the replica
 *   count never drops below the target during a move;
 * - the leader is moved away before its own peer is removed.
 */
import { metapb } from "@regionkv/proto";
import type { RegionInfo } from "../region-tree.js";
import { Operator, type OpKind, type OpPriority, type OpStep } from "./operator.js";

export interface BuildContext {
  now: number;
  addLearnerFirst: boolean;
}

function epochOf(region: RegionInfo): { version: bigint; confVer: bigint } {
  return { version: region.region.regionEpoch?.version ?? 0n, confVer: region.region.regionEpoch?.confVer ?? 0n };
}

/** Steps adding a replica with id `peerId` on `storeId`. */
export function addPeerSteps(storeId: bigint, peerId: bigint, addLearnerFirst: boolean): OpStep[] {
  return addLearnerFirst
    ? [
        { kind: "addLearner", storeId, peerId },
        { kind: "promoteLearner", storeId, peerId },
      ]
    : [{ kind: "addVoter", storeId, peerId }];
}

/**
 * Steps removing the replica on `storeId`; if it holds the leader, the leader first moves to
 * `leaderTo` (or to the first healthy voter elsewhere). Undefined if the leader has nowhere to go.
 */
export function removePeerSteps(region: RegionInfo, storeId: bigint, leaderTo?: bigint): OpStep[] | undefined {
  const steps: OpStep[] = [];
  if (region.leader?.storeId === storeId) {
    const to = leaderTo ?? pickLeaderTarget(region, [storeId]);
    if (to === undefined) return undefined;
    steps.push({ kind: "transferLeader", fromStore: storeId, toStore: to });
  }
  steps.push({ kind: "removePeer", storeId });
  return steps;
}

/** A voter, not pending and not down, outside `exclude`, to take leadership; prefers the lowest store id. */
export function pickLeaderTarget(region: RegionInfo, exclude: bigint[]): bigint | undefined {
  const bad = new Set([...region.pendingPeers.map((p) => p.id), ...region.downPeers.map((d) => d.peer?.id ?? 0n)]);
  const c = region.region.peers.filter((p: metapb.Peer) => p.role === metapb.PeerRole.Voter && !exclude.includes(p.storeId) && !bad.has(p.id));
  return c.map((p) => p.storeId).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0];
}

export function newOperator(region: RegionInfo, kind: OpKind, desc: string, steps: OpStep[], priority: OpPriority, now: number): Operator {
  return new Operator(region.region.id, epochOf(region), kind, desc, steps, priority, now);
}

/** Move the replica on `source` to `target` (new peer id `peerId`); the leader follows to the target if it was on the source. */
export function buildMovePeer(region: RegionInfo, kind: OpKind, desc: string, source: bigint, target: bigint, peerId: bigint, ctx: BuildContext, priority: OpPriority): Operator {
  const steps = addPeerSteps(target, peerId, ctx.addLearnerFirst);
  if (region.leader?.storeId === source) steps.push({ kind: "transferLeader", fromStore: source, toStore: target });
  steps.push({ kind: "removePeer", storeId: source });
  return newOperator(region, kind, desc, steps, priority, ctx.now);
}
