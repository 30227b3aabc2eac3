/**
 * Operators: a plan of steps for one region, made against one region epoch, carried out by the
 * region's leader one step at a time.
 *
 *   created by a checker / scheduler / admin → controller delivers the current step in the
 *   response to each heartbeat of the region (re-sent until the heartbeat shows it done)
 *   → each heartbeat: advance past every step whose goal the region shows → all done: SUCCESS
 *
 * Adding a replica: by default it joins as a voter directly (AddNode, as in TinyKV; the store
 * side supports AddNode / RemoveNode / AddLearnerNode but not yet promoting a learner), and the
 * step is done once the leader no longer reports it pending. With `addLearnerFirst` it joins as
 * a learner (AddLearnerNode) and is promoted (AddNode on the learner) only once caught up, so a
 * replica still being caught up by snapshot never counts toward the quorum.
 *
 * Status transitions (anything else is a bug and throws):
 *
 *   CREATED → STARTED   first step delivered
 *   CREATED → CANCELED | REPLACED | EXPIRED (never started within operatorExpireMs)
 *   STARTED → SUCCESS | CANCELED | TIMEOUT | REPLACED
 *   SUCCESS, CANCELED, TIMEOUT, REPLACED, EXPIRED are final.
 */
import { eraftpb, metapb, schedulerpb } from "@regionkv/proto";
import type { RegionInfo } from "../region-tree.js";
import type { SchedulerConfig } from "./config.js";

export type OpStep =
  | { kind: "transferLeader"; fromStore: bigint; toStore: bigint }
  | { kind: "addLearner"; storeId: bigint; peerId: bigint }
  | { kind: "promoteLearner"; storeId: bigint; peerId: bigint }
  | { kind: "addVoter"; storeId: bigint; peerId: bigint }
  | { kind: "removePeer"; storeId: bigint }
  | { kind: "split"; policy: schedulerpb.CheckPolicy; keys: Buffer[] };

export type OpKind = "replica" | "balance-leader" | "balance-region" | "hot-region" | "admin";

export type OpStatus = "CREATED" | "STARTED" | "SUCCESS" | "CANCELED" | "TIMEOUT" | "REPLACED" | "EXPIRED";

/** Higher replaces lower for the same region. */
export type OpPriority = 0 | 1 | 2 | 3;
/** balance: low; hot-region and tidying replicas: normal; restoring replicas: high; manual: admin. */
export const PRIORITY = { low: 0, normal: 1, high: 2, admin: 3 } as const;

const TRANSITIONS: Readonly<Record<OpStatus, readonly OpStatus[]>> = {
  CREATED: ["STARTED", "CANCELED", "REPLACED", "EXPIRED"],
  STARTED: ["SUCCESS", "CANCELED", "TIMEOUT", "REPLACED"],
  SUCCESS: [],
  CANCELED: [],
  TIMEOUT: [],
  REPLACED: [],
  EXPIRED: [],
};

export function canTransition(from: OpStatus, to: OpStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isFinalStatus(s: OpStatus): boolean {
  return TRANSITIONS[s].length === 0;
}

export class Operator {
  /** Assigned by the controller when the operator is accepted (unique per controller), for logs. */
  seq = 0;
  status: OpStatus = "CREATED";
  /** Index of the first step not yet seen done. */
  currentStep = 0;
  /** Clock time the current step was first delivered (0: not yet). */
  stepStartedAtMs = 0;
  finishedAtMs = 0;
  /** Why the operator was cancelled / timed out / replaced. */
  reason = "";

  constructor(
    readonly regionId: bigint,
    /** The epoch the plan was made against. */
    readonly epoch: { version: bigint; confVer: bigint },
    readonly kind: OpKind,
    readonly desc: string,
    readonly steps: readonly OpStep[],
    readonly priority: OpPriority,
    readonly createdAtMs: number,
  ) {
    if (steps.length === 0) throw new Error(`operator ${desc} for region ${regionId} has no steps`);
  }

  /** Move to `to`; an illegal transition is a bug. */
  setStatus(to: OpStatus, now: number, reason = ""): void {
    if (!canTransition(this.status, to)) throw new Error(`operator ${this.describe()}: illegal status change ${this.status} → ${to}`);
    this.status = to;
    if (reason) this.reason = reason;
    if (isFinalStatus(to)) this.finishedAtMs = now;
  }

  isFinished(): boolean {
    return isFinalStatus(this.status);
  }

  /** Steps not yet done. */
  remainingSteps(): readonly OpStep[] {
    return this.steps.slice(this.currentStep);
  }

  /** Stable text for logs and `ctl operators`. */
  describe(): string {
    return `${this.kind} region ${this.regionId} (${this.desc}): ${this.steps.map(describeStep).join(", ")} [${this.status}, step ${this.currentStep}/${this.steps.length}]`;
  }
}

/** A plain, JSON-friendly summary (for `regionkv ctl operators --json` and logs). */
export interface OperatorSummary {
  regionId: string;
  kind: OpKind;
  desc: string;
  status: OpStatus;
  /** Index of the current step (= steps.length when all are done). */
  step: number;
  steps: string[];
  createdAtMs: number;
  finishedAtMs: number;
  reason: string;
}

export function summarizeOperator(op: Operator): OperatorSummary {
  return {
    regionId: String(op.regionId),
    kind: op.kind,
    desc: op.desc,
    status: op.status,
    step: op.currentStep,
    steps: op.steps.map(describeStep),
    createdAtMs: op.createdAtMs,
    finishedAtMs: op.finishedAtMs,
    reason: op.reason,
  };
}

export function describeStep(s: OpStep): string {
  switch (s.kind) {
    case "transferLeader":
      return `transfer leader ${s.fromStore}→${s.toStore}`;
    case "addLearner":
      return `add learner ${s.peerId} on store ${s.storeId}`;
    case "promoteLearner":
      return `promote learner ${s.peerId} on store ${s.storeId}`;
    case "addVoter":
      return `add voter ${s.peerId} on store ${s.storeId}`;
    case "removePeer":
      return `remove peer on store ${s.storeId}`;
    case "split":
      return `split (${schedulerpb.CheckPolicy[s.policy] ?? s.policy}${s.keys.length ? ` at ${s.keys.map((k) => k.toString("hex")).join(",")}` : ""})`;
    default: {
      const never: never = s;
      throw new Error(`unknown step ${JSON.stringify(never)}`);
    }
  }
}

/** Steps of a conf change (each applied one raises conf_ver by one). */
export function isConfChangeStep(s: OpStep): boolean {
  return s.kind === "addLearner" || s.kind === "promoteLearner" || s.kind === "addVoter" || s.kind === "removePeer";
}

function peerOnStore(region: RegionInfo, storeId: bigint): metapb.Peer | undefined {
  return region.region.peers.find((p) => p.storeId === storeId);
}

function isPending(region: RegionInfo, peerId: bigint): boolean {
  return region.pendingPeers.some((p) => p.id === peerId);
}

/** Does the region show the step's goal? */
export function isStepDone(step: OpStep, region: RegionInfo, op: Operator): boolean {
  switch (step.kind) {
    case "transferLeader":
      return region.leader?.storeId === step.toStore;
    case "addLearner": {
      const p = peerOnStore(region, step.storeId);
      return p !== undefined && p.id === step.peerId && !isPending(region, p.id);
    }
    case "promoteLearner":
    case "addVoter": {
      const p = peerOnStore(region, step.storeId);
      return p !== undefined && p.id === step.peerId && p.role === metapb.PeerRole.Voter && !isPending(region, p.id);
    }
    case "removePeer":
      return peerOnStore(region, step.storeId) === undefined;
    case "split":
      return (region.region.regionEpoch?.version ?? 0n) > op.epoch.version;
    default: {
      const never: never = step;
      throw new Error(`unknown step ${JSON.stringify(never)}`);
    }
  }
}

export function stepTimeoutMs(step: OpStep, cfg: SchedulerConfig): number {
  switch (step.kind) {
    case "transferLeader":
      return cfg.transferLeaderTimeoutMs;
    case "split":
      return cfg.splitTimeoutMs;
    case "addLearner":
    case "promoteLearner":
    case "addVoter":
    case "removePeer":
      return cfg.changePeerTimeoutMs;
    default: {
      const never: never = step;
      throw new Error(`unknown step ${JSON.stringify(never)}`);
    }
  }
}

/** What a heartbeat says about a running operator. */
export type Progress =
  | { kind: "done" }
  | { kind: "running"; step: OpStep }
  | { kind: "stale"; reason: string };

/**
 * Advance `op` past the steps the region shows done, and judge it: done, running (with the step to
 * deliver) or stale (the region changed in a way its plan did not foresee).
 */
export function checkProgress(op: Operator, region: RegionInfo): Progress {
  const epoch = region.region.regionEpoch ?? { version: 0n, confVer: 0n };
  const isSplit = op.steps.some((s) => s.kind === "split");
  if (!isSplit && epoch.version !== op.epoch.version) return { kind: "stale", reason: `region version changed ${op.epoch.version} → ${epoch.version} (split or merge)` };
  while (op.currentStep < op.steps.length && isStepDone(op.steps[op.currentStep]!, region, op)) {
    op.currentStep++;
    op.stepStartedAtMs = 0;
  }
  const confStepsDone = op.steps.slice(0, op.currentStep).filter(isConfChangeStep).length;
  if (epoch.confVer > op.epoch.confVer + BigInt(confStepsDone) + (op.currentStep < op.steps.length && isConfChangeStep(op.steps[op.currentStep]!) ? 1n : 0n)) {
    return { kind: "stale", reason: `region conf_ver ${epoch.confVer} grew past what the operator explains (made at ${op.epoch.confVer}, ${confStepsDone} changes done)` };
  }
  if (op.currentStep >= op.steps.length) return { kind: "done" };
  const step = op.steps[op.currentStep]!;
  if (step.kind === "transferLeader" && !peerOnStore(region, step.toStore)) return { kind: "stale", reason: `transfer-leader target store ${step.toStore} holds no peer of the region` };
  if (step.kind === "promoteLearner" && !peerOnStore(region, step.storeId)) return { kind: "stale", reason: `learner on store ${step.storeId} to promote is gone` };
  if (step.kind === "addLearner" || step.kind === "addVoter") {
    // Another peer of the region already sits on the target store (left by an earlier operator
    // the scheduler had not yet seen applied): the store would refuse this add for good.
    const other = peerOnStore(region, step.storeId);
    if (other && other.id !== step.peerId) return { kind: "stale", reason: `store ${step.storeId} already holds peer ${other.id} of the region` };
  }
  if (step.kind === "removePeer" && region.leader?.storeId === step.storeId && region.region.peers.length > 1) {
    return { kind: "stale", reason: `the leader is on store ${step.storeId}, whose peer is to be removed; the plan moves leaders away first` };
  }
  return { kind: "running", step };
}

/**
 * The response body delivering `step` to the region's leader (no header), or undefined when there
 * is nothing to send now (a peer already added and being caught up).
 */
export function stepResponse(step: OpStep, region: RegionInfo): schedulerpb.RegionHeartbeatResponse | undefined {
  const base = schedulerpb.RegionHeartbeatResponse.fromPartial({
    regionId: region.region.id,
    regionEpoch: region.region.regionEpoch,
    targetPeer: region.leader,
  });
  switch (step.kind) {
    case "transferLeader": {
      const to = peerOnStore(region, step.toStore);
      return to ? { ...base, transferLeader: { peer: to } } : undefined;
    }
    case "addLearner":
    case "addVoter": {
      const existing = peerOnStore(region, step.storeId);
      if (existing?.id === step.peerId) return undefined; // added; waiting for it to catch up
      const learner = step.kind === "addLearner";
      return {
        ...base,
        changePeer: {
          peer: { id: step.peerId, storeId: step.storeId, role: learner ? metapb.PeerRole.Learner : metapb.PeerRole.Voter },
          changeType: learner ? eraftpb.ConfChangeType.AddLearnerNode : eraftpb.ConfChangeType.AddNode,
        },
      };
    }
    case "promoteLearner": {
      const p = peerOnStore(region, step.storeId);
      if (p && isPending(region, p.id)) return undefined; // not caught up yet
      return { ...base, changePeer: { peer: { id: step.peerId, storeId: step.storeId, role: metapb.PeerRole.Voter }, changeType: eraftpb.ConfChangeType.AddNode } };
    }
    case "removePeer": {
      const p = peerOnStore(region, step.storeId);
      return p ? { ...base, changePeer: { peer: p, changeType: eraftpb.ConfChangeType.RemoveNode } } : undefined;
    }
    case "split":
      return { ...base, splitRegion: { policy: step.policy, keys: step.keys } };
    default: {
      const never: never = step;
      throw new Error(`unknown step ${JSON.stringify(never)}`);
    }
  }
}
