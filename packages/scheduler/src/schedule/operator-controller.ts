/**
 * OperatorController: the running operators (at most one per region) and the recently finished
 * ones. It decides nothing about *what* to do — checkers and schedulers do — only carries plans
 * out:
 *
 *   add(op) → replaces a lower-priority operator of the region, else refused if one runs
 *   onHeartbeat(region) → checkProgress → done: SUCCESS | stale: CANCELED | step too old: TIMEOUT
 *     | running: STARTED, and the current step as a response body (re-sent on every heartbeat
 *     until the heartbeat shows it done)
 *   checkTimeouts(now) → operators whose region stopped heartbeating: TIMEOUT / EXPIRED
 *
 * Finished operators go to a bounded history (GetOperator, `ctl operators`) and, for balance and
 * hot-region replica moves that succeeded or timed out, to the per-region move times that the
 * cooldown reads.
 */
import type { schedulerpb } from "@regionkv/proto";
import type { RegionInfo } from "../region-tree.js";
import { emptyInfluence, regionSize, type StoreInfluence } from "./cluster-view.js";
import type { SchedulerConfig } from "./config.js";
import { checkProgress, stepResponse, stepTimeoutMs, type OpKind, type OpStatus, type Operator } from "./operator.js";

export type AddResult = { ok: true } | { ok: false; reason: string };

/** Balancing additions into one store that may start together (the rest are paced). */
const BALANCE_BURST = 4;

export interface OperatorControllerOptions {
  config: SchedulerConfig;
  /** Called when an operator reaches a final status (for logs and metrics). */
  onFinish?: (op: Operator) => void;
}

export class OperatorController {
  private readonly running = new Map<bigint, Operator>();
  /** Finished operators, oldest first, at most config.operatorHistory. */
  private readonly history: Operator[] = [];
  /** Latest finished operator per region (bounded with the history). */
  private readonly lastFinished = new Map<bigint, Operator>();
  private readonly movedAt = new Map<bigint, number>();
  /** Per store: when balancing operators adding a replica there were taken on (the last minute). */
  private readonly balanceAdds = new Map<bigint, number[]>();
  private seq = 0;

  constructor(private readonly opts: OperatorControllerOptions) {}

  /** Take `op` on; a running operator of the region is replaced if `op` has a higher priority. */
  add(op: Operator, now: number): AddResult {
    const cur = this.running.get(op.regionId);
    if (cur) {
      if (op.priority <= cur.priority) return { ok: false, reason: `region ${op.regionId} already has a running operator: ${cur.describe()}` };
      this.finish(cur, "REPLACED", now, `replaced by ${op.kind} (${op.desc})`);
    }
    op.seq = ++this.seq;
    this.running.set(op.regionId, op);
    if (op.kind === "balance-region" || op.kind === "hot-region") {
      for (const s of op.steps) {
        if (s.kind === "addLearner" || s.kind === "addVoter") this.balanceAdds.set(s.storeId, [...this.recentBalanceAdds(s.storeId, now), now]);
      }
    }
    return { ok: true };
  }

  /** Balancing replica additions into `storeId` taken on in the minute before `now`. */
  recentBalanceAdds(storeId: bigint, now: number): number[] {
    return (this.balanceAdds.get(storeId) ?? []).filter((t) => now - t < 60_000);
  }

  /**
   * Whether one more balancing addition into `storeId` keeps within `perMinute`, paced: at most
   * BALANCE_BURST in any BALANCE_BURST/perMinute of a minute (so 30/min is 4 per 8 s, not 30 at once).
   */
  mayBalanceInto(storeId: bigint, now: number, perMinute: number): boolean {
    const burst = Math.min(BALANCE_BURST, perMinute);
    const windowMs = (burst * 60_000) / perMinute;
    return this.recentBalanceAdds(storeId, now).filter((t) => now - t < windowMs).length < burst;
  }

  get(regionId: bigint): Operator | undefined {
    return this.running.get(regionId);
  }

  has(regionId: bigint): boolean {
    return this.running.has(regionId);
  }

  /** The running operator of the region, else the last finished one. */
  latest(regionId: bigint): Operator | undefined {
    return this.running.get(regionId) ?? this.lastFinished.get(regionId);
  }

  runningOperators(): Operator[] {
    return [...this.running.values()];
  }

  finishedOperators(): Operator[] {
    return [...this.history];
  }

  runningCount(kind: OpKind): number {
    let n = 0;
    for (const op of this.running.values()) if (op.kind === kind) n++;
    return n;
  }

  lastMovedAtMs(regionId: bigint): number | undefined {
    return this.movedAt.get(regionId);
  }

  /** Cancel the region's running operator, if any. */
  cancel(regionId: bigint, now: number, reason: string): boolean {
    const op = this.running.get(regionId);
    if (!op) return false;
    this.finish(op, "CANCELED", now, reason);
    return true;
  }

  /**
   * A heartbeat of `region` arrived (already applied to the region tree): advance its operator and
   * return the response body to send to the leader, if any.
   */
  onHeartbeat(region: RegionInfo, now: number): schedulerpb.RegionHeartbeatResponse | undefined {
    const op = this.running.get(region.region.id);
    if (!op) return undefined;
    return this.dispatch(op, region, now);
  }

  /** Judge `op` against `region` and produce the step to send now. */
  dispatch(op: Operator, region: RegionInfo, now: number): schedulerpb.RegionHeartbeatResponse | undefined {
    const before = op.currentStep;
    const p = checkProgress(op, region);
    switch (p.kind) {
      case "done":
        if (op.status === "CREATED") op.setStatus("STARTED", now);
        this.finish(op, "SUCCESS", now);
        return undefined;
      case "stale":
        this.finish(op, "CANCELED", now, p.reason);
        return undefined;
      case "running": {
        if (op.status === "STARTED" && op.currentStep === before && op.stepStartedAtMs > 0 && now - op.stepStartedAtMs > stepTimeoutMs(p.step, this.opts.config)) {
          this.finish(op, "TIMEOUT", now, `step ${op.currentStep} did not finish within ${stepTimeoutMs(p.step, this.opts.config)} ms`);
          return undefined;
        }
        if (op.status === "CREATED") op.setStatus("STARTED", now);
        if (op.stepStartedAtMs === 0) op.stepStartedAtMs = now;
        return stepResponse(p.step, region);
      }
      default: {
        const never: never = p;
        throw new Error(`unknown progress ${JSON.stringify(never)}`);
      }
    }
  }

  /** Time out operators whose step ran too long and expire those never started. */
  checkTimeouts(now: number): Operator[] {
    const ended: Operator[] = [];
    for (const op of this.running.values()) {
      if (op.status === "CREATED" && now - op.createdAtMs > this.opts.config.operatorExpireMs) {
        this.finish(op, "EXPIRED", now, `not started within ${this.opts.config.operatorExpireMs} ms (no heartbeat from the region)`);
        ended.push(op);
        continue;
      }
      const step = op.steps[op.currentStep];
      if (op.status === "STARTED" && step && op.stepStartedAtMs > 0 && now - op.stepStartedAtMs > stepTimeoutMs(step, this.opts.config)) {
        this.finish(op, "TIMEOUT", now, `step ${op.currentStep} did not finish within ${stepTimeoutMs(step, this.opts.config)} ms`);
        ended.push(op);
      }
    }
    return ended;
  }

  /**
   * The effect running operators will have on each store once done (PD's operator influence):
   * the remaining add steps count +1 region / +size on their store, removals −1, leader
   * transfers move one leader.
   */
  influence(regionOf: (id: bigint) => RegionInfo | undefined): Map<bigint, StoreInfluence> {
    const m = new Map<bigint, StoreInfluence>();
    const get = (id: bigint): StoreInfluence => {
      let s = m.get(id);
      if (!s) m.set(id, (s = emptyInfluence()));
      return s;
    };
    for (const op of this.running.values()) {
      const r = regionOf(op.regionId);
      const size = r ? regionSize(r) : 0;
      for (const step of op.remainingSteps()) {
        switch (step.kind) {
          case "addLearner":
          case "addVoter": {
            const s = get(step.storeId);
            s.regionCount++;
            s.regionSize += size;
            s.movingPeers++;
            break;
          }
          case "removePeer": {
            const s = get(step.storeId);
            s.regionCount--;
            s.regionSize -= size;
            s.movingPeers++;
            break;
          }
          case "transferLeader":
            get(step.fromStore).leaderCount--;
            get(step.toStore).leaderCount++;
            break;
          case "promoteLearner":
          case "split":
            break;
          default: {
            const never: never = step;
            throw new Error(`unknown step ${JSON.stringify(never)}`);
          }
        }
      }
    }
    return m;
  }

  private finish(op: Operator, status: OpStatus, now: number, reason = ""): void {
    op.setStatus(status, now, reason);
    if (this.running.get(op.regionId) === op) this.running.delete(op.regionId);
    // A move that succeeded — or timed out, so a move that keeps failing is not retried at once.
    if ((status === "SUCCESS" || status === "TIMEOUT") && (op.kind === "balance-region" || op.kind === "hot-region") && op.steps.some((s) => s.kind === "addLearner" || s.kind === "addVoter")) {
      this.movedAt.delete(op.regionId); // keep the map in time order for the pruning below
      this.movedAt.set(op.regionId, now);
    }
    this.history.push(op);
    this.lastFinished.set(op.regionId, op);
    while (this.history.length > this.opts.config.operatorHistory) {
      const old = this.history.shift()!;
      if (this.lastFinished.get(old.regionId) === old) this.lastFinished.delete(old.regionId);
    }
    for (const [id, t] of this.movedAt) {
      if (now - t < this.opts.config.regionCooldownMs) break;
      this.movedAt.delete(id);
    }
    this.opts.onFinish?.(op);
  }
}
