/**
 * Scheduling settings (`SchedulerConfig`) with PD/TinyKV's defaults, and `parseDurationMs` for the
 * CLI's duration flags (`--max-store-down-time 30m`).
 */

export interface SchedulerConfig {
  /** Replicas every region should have (`--max-replicas`). */
  maxReplicas: number;
  /** A store silent for longer than this is down: its replicas are replaced (`--max-store-down-time`). */
  maxStoreDownTimeMs: number;
  /** A store silent for longer than this receives no new replicas or leaders (it may be restarting). */
  storeDisconnectMs: number;
  /** Running balance-leader (and manual transfer-leader) operators at most. */
  leaderScheduleLimit: number;
  /** Running balance-region operators at most. */
  regionScheduleLimit: number;
  /** Running replica-checker operators at most. */
  replicaScheduleLimit: number;
  /** Running hot-region operators at most. */
  hotRegionScheduleLimit: number;
  /** Running region-moving (peer adding or removing) operators touching one store at most. */
  storeLimit: number;
  /**
   * Replicas the balancers (balance-region, hot-region) may start moving into one store per
   * minute, paced (at most 4 at once): a new store fills at this pace instead of as fast as
   * snapshots go, so foreground traffic keeps most of the machine. Repairs (the replica checker)
   * are not limited by it.
   */
  storeBalanceRatePerMin: number;
  /** A region moved by a balance or hot-region operator is not moved again by one for this long. */
  regionCooldownMs: number;
  /** Balance-leader acts only when the leader counts of two stores differ by more than this. */
  leaderTolerance: number;
  /**
   * New replicas join as learners and are promoted (AddNode on the learner) once caught up (true,
   * the default: a replica still receiving its snapshot never counts toward the quorum), or join
   * as voters directly (false, TinyKV's AddNode).
   */
  addLearnerFirst: boolean;
  /** Write rate (bytes/s) above which a region is hot. */
  hotRegionWriteBytesPerSec: number;
  /** How often the patrol walks the regions through the replica checker and times out operators. */
  patrolRegionIntervalMs: number;
  /** Regions checked per patrol tick. */
  patrolBatch: number;
  /** Scheduler run interval: starts at the minimum, grows ×1.3 up to the maximum while idle. */
  scheduleMinIntervalMs: number;
  scheduleMaxIntervalMs: number;
  /** Per-step timeouts. */
  transferLeaderTimeoutMs: number;
  changePeerTimeoutMs: number;
  splitTimeoutMs: number;
  /** An operator not started (no heartbeat from its region) within this is EXPIRED. */
  operatorExpireMs: number;
  /** Finished operators kept for GetOperator / `ctl operators`. */
  operatorHistory: number;
  /**
   * The balancing schedulers that run (the replica checker always runs: it keeps regions
   * replicated). Default all; an empty list leaves placement to the checker and manual operators.
   */
  schedulers: readonly SchedulerName[];
}

/** The balancing schedulers, in the order they run. */
export const SCHEDULER_NAMES = ["balance-leader", "balance-region", "hot-region"] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** The `--schedulers` flag: a comma-separated list of SCHEDULER_NAMES, or `none`. */
export function parseSchedulerNames(text: string): SchedulerName[] {
  const t = text.trim();
  if (t === "none") return [];
  const out: SchedulerName[] = [];
  for (const part of t.split(",").map((x) => x.trim())) {
    if (!(SCHEDULER_NAMES as readonly string[]).includes(part)) {
      throw new RangeError(`unknown scheduler ${JSON.stringify(part)}: give a comma-separated list of ${SCHEDULER_NAMES.join(", ")}, or none`);
    }
    if (!out.includes(part as SchedulerName)) out.push(part as SchedulerName);
  }
  return out;
}

export const DEFAULT_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = Object.freeze({
  maxReplicas: 3,
  maxStoreDownTimeMs: 30 * 60_000,
  storeDisconnectMs: 20_000,
  leaderScheduleLimit: 4,
  regionScheduleLimit: 64,
  replicaScheduleLimit: 64,
  hotRegionScheduleLimit: 4,
  storeLimit: 8,
  storeBalanceRatePerMin: 30,
  regionCooldownMs: 5 * 60_000,
  leaderTolerance: 1,
  addLearnerFirst: true,
  hotRegionWriteBytesPerSec: 256 * 1024,
  patrolRegionIntervalMs: 100,
  patrolBatch: 128,
  scheduleMinIntervalMs: 10,
  scheduleMaxIntervalMs: 5000,
  transferLeaderTimeoutMs: 10_000,
  changePeerTimeoutMs: 10 * 60_000,
  splitTimeoutMs: 60_000,
  operatorExpireMs: 60_000,
  operatorHistory: 1000,
  schedulers: SCHEDULER_NAMES,
});

/** Defaults overridden by `partial`; an invalid setting is an error naming it. */
export function resolveSchedulerConfig(partial: Partial<SchedulerConfig> = {}): SchedulerConfig {
  const c: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG, ...partial };
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === "number" && (!Number.isFinite(v) || v < 0)) throw new RangeError(`scheduler setting ${k} must be a non-negative number, got ${v}`);
  }
  if (!Number.isInteger(c.maxReplicas) || c.maxReplicas < 1) throw new RangeError(`--max-replicas must be a positive integer, got ${c.maxReplicas}`);
  if (c.scheduleMinIntervalMs > c.scheduleMaxIntervalMs) throw new RangeError("scheduleMinIntervalMs must not exceed scheduleMaxIntervalMs");
  return c;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration like `30s`, `5m`, `30m`, `1h`, `250ms` or `1h30m`, in milliseconds. `0` alone is
 * accepted; any other number needs a unit.
 */
export function parseDurationMs(text: string): number {
  const t = text.trim();
  if (t === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== t.length) throw new RangeError(`${JSON.stringify(text)} is not a duration: write a number with a unit, e.g. 30s, 5m, 30m, 1h or 250ms`);
  return Math.round(total);
}
