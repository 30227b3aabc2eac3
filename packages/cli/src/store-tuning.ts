/**
 * The store's timing flags (`regionkv store`, passed on by `regionkv cluster`), for tests and
 * small clusters that should react faster than production defaults:
 *   --region-heartbeat-interval 10s  how often a leader reports its region to the scheduler
 *   --store-heartbeat-interval 10s   how often the store reports its statistics
 *   --split-check-interval 10s       how often a leader measures its region for a size split
 *   --load-split-qps 3000            requests/s (3 windows of 1 s in a row) that make a region hot
 * Durations are the scheduler's (`30s`, `500ms`, `1m`) and become raftstore base ticks (100 ms):
 * a duration under one tick is refused, others are rounded to whole ticks.
 */
import { InvalidArgumentError } from "commander";
import { DEFAULT_RAFTSTORE_CONFIG, type RaftstoreConfig } from "@regionkv/raftstore";
import { parseDurationMs } from "@regionkv/scheduler";

export interface StoreTuningFlags {
  regionHeartbeatInterval?: string;
  storeHeartbeatInterval?: string;
  splitCheckInterval?: string;
  loadSplitQps?: string;
}

function ticks(text: string, flag: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch (err) {
    throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`);
  }
  const tick = DEFAULT_RAFTSTORE_CONFIG.raftBaseTickMs;
  if (ms < tick) throw new InvalidArgumentError(`${flag} ${JSON.stringify(text)} is shorter than the store's base tick (${tick}ms): give at least ${tick}ms`);
  return Math.round(ms / tick);
}

/** Raftstore config from the flags; only what was given. */
export function storeTuningConfig(f: StoreTuningFlags): Partial<RaftstoreConfig> {
  const cfg: Partial<RaftstoreConfig> = {};
  if (f.regionHeartbeatInterval !== undefined) cfg.regionHeartbeatTickInterval = ticks(f.regionHeartbeatInterval, "--region-heartbeat-interval");
  if (f.storeHeartbeatInterval !== undefined) cfg.storeHeartbeatTickInterval = ticks(f.storeHeartbeatInterval, "--store-heartbeat-interval");
  if (f.splitCheckInterval !== undefined) cfg.splitCheckTickInterval = ticks(f.splitCheckInterval, "--split-check-interval");
  if (f.loadSplitQps !== undefined) {
    if (!/^\d+$/.test(f.loadSplitQps) || Number(f.loadSplitQps) < 1) {
      throw new InvalidArgumentError(`--load-split-qps ${JSON.stringify(f.loadSplitQps)} must be a whole number of requests per second ≥ 1`);
    }
    cfg.loadSplitQpsThreshold = Number(f.loadSplitQps);
  }
  return cfg;
}

/** The flags as arguments again (for `cluster` → `store`). */
export function storeTuningArgs(f: StoreTuningFlags): string[] {
  const out: string[] = [];
  if (f.regionHeartbeatInterval !== undefined) out.push("--region-heartbeat-interval", f.regionHeartbeatInterval);
  if (f.storeHeartbeatInterval !== undefined) out.push("--store-heartbeat-interval", f.storeHeartbeatInterval);
  if (f.splitCheckInterval !== undefined) out.push("--split-check-interval", f.splitCheckInterval);
  if (f.loadSplitQps !== undefined) out.push("--load-split-qps", f.loadSplitQps);
  return out;
}
