/**
 * The options of `pnpm bench split`: parsed from the flags the bench dispatcher hands over
 * (everything but --quick and --json). Pure.
 */
import { parseDuration, positiveInt, readFlagValues } from "./kv-options.js";

export interface SplitOptions {
  /** Splits measured (each one a separate sample). */
  splits: number;
  /** Background closed-loop workers (half puts, half gets). */
  workers: number;
  /** Background keys written before the measurements (1 KiB values). */
  keys: number;
  /** Seconds of unmeasured load before the steady state. */
  warmupSec: number;
  /** Seconds of steady-state throughput measured before the splits. */
  steadySec: number;
  /** `--region-max-size` / `--region-split-size` of the stores, in KiB. */
  regionMaxKiB: number;
  regionSplitKiB: number;
  /** `--max-store-down-time` of the scheduler, in seconds. */
  maxStoreDownSec: number;
  /** Passed to the stores when given (`regionkv store --region-heartbeat-interval`, …). */
  regionHeartbeatInterval: string | undefined;
  storeHeartbeatInterval: string | undefined;
  /** Bounds of the waiting phases (seconds). */
  settleSec: number;
  splitTimeoutSec: number;
  fairShareTimeoutSec: number;
  rereplicateTimeoutSec: number;
  /** Data and logs go here and are kept (default: a temp dir removed at the end). */
  keepDir: string | undefined;
  seed: number;
  quick: boolean;
}

export const SPLIT_VALUE_FLAGS = [
  "--splits",
  "--workers",
  "--keys",
  "--steady",
  "--region-max-size-kib",
  "--region-split-size-kib",
  "--max-store-down-time",
  "--region-heartbeat-interval",
  "--store-heartbeat-interval",
  "--keep-dir",
  "--seed",
] as const;

export const SPLIT_USAGE = `pnpm bench split [--quick] [--json] [--splits 100] [--workers 32] [--keys 3000] [--steady 20s]
             [--region-max-size-kib 96] [--region-split-size-kib 64] [--max-store-down-time 20s]
             [--region-heartbeat-interval D] [--store-heartbeat-interval D] [--keep-dir DIR] [--seed 1]
  --quick       20 splits, shorter waits (a few minutes in all)
  --splits      split-latency samples (sequential appends past --region-max-size-kib)
  --region-heartbeat-interval, --store-heartbeat-interval
                passed to every store (only if \`regionkv store --help\` lists them); default: the store's
  --keep-dir    keep data and logs (scheduler.log, store-N.log) in DIR`;

export function parseSplitOptions(args: readonly string[], quick: boolean): SplitOptions {
  const values = readFlagValues(args, SPLIT_VALUE_FLAGS);
  const get = (f: (typeof SPLIT_VALUE_FLAGS)[number]): string | undefined => values.get(f);
  const regionMaxKiB = get("--region-max-size-kib") !== undefined ? positiveInt("--region-max-size-kib", get("--region-max-size-kib")!, 1 << 20) : 96;
  const regionSplitKiB = get("--region-split-size-kib") !== undefined ? positiveInt("--region-split-size-kib", get("--region-split-size-kib")!, 1 << 20) : Math.floor((regionMaxKiB * 2) / 3);
  if (regionSplitKiB > regionMaxKiB) throw new Error(`--region-split-size-kib (${regionSplitKiB}) must not exceed --region-max-size-kib (${regionMaxKiB})`);
  const interval = (f: "--region-heartbeat-interval" | "--store-heartbeat-interval"): string | undefined => {
    const v = get(f);
    if (v !== undefined && !/^\d+(ms|s|m)$/.test(v)) throw new Error(`${f}: expected a duration like 500ms, 2s or 1m, got '${v}'`);
    return v;
  };
  return {
    splits: get("--splits") !== undefined ? positiveInt("--splits", get("--splits")!, 10_000) : quick ? 20 : 100,
    workers: get("--workers") !== undefined ? positiveInt("--workers", get("--workers")!, 1024) : 32,
    keys: get("--keys") !== undefined ? positiveInt("--keys", get("--keys")!, 1_000_000) : quick ? 1_200 : 3_000,
    warmupSec: quick ? 5 : 10,
    steadySec: get("--steady") !== undefined ? parseDuration("--steady", get("--steady")!) : quick ? 10 : 20,
    regionMaxKiB,
    regionSplitKiB,
    maxStoreDownSec: get("--max-store-down-time") !== undefined ? parseDuration("--max-store-down-time", get("--max-store-down-time")!) : quick ? 15 : 20,
    regionHeartbeatInterval: interval("--region-heartbeat-interval"),
    storeHeartbeatInterval: interval("--store-heartbeat-interval"),
    settleSec: quick ? 45 : 90,
    splitTimeoutSec: quick ? 20 : 30,
    fairShareTimeoutSec: quick ? 120 : 300,
    rereplicateTimeoutSec: quick ? 120 : 240,
    keepDir: get("--keep-dir"),
    seed: get("--seed") !== undefined ? positiveInt("--seed", get("--seed")!, 2 ** 32 - 1) : 1,
    quick,
  };
}
