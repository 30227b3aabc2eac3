/**
 * The region split flags of `regionkv store` (and `regionkv cluster`, which passes them on):
 * `--region-max-size 96MiB --region-split-size 64MiB --region-max-keys N --region-split-keys N`.
 * When only the max is given, the split target follows it at TiKV's 2/3 ratio, so lowering one
 * flag never trips the "split ≤ max" check by surprise.
 */
import { InvalidArgumentError } from "commander";
import { parseSize, resolveRaftstoreConfig, type RaftstoreConfig } from "@regionkv/raftstore";

export interface RegionLimitFlags {
  regionMaxSize?: string;
  regionSplitSize?: string;
  regionMaxKeys?: string;
  regionSplitKeys?: string;
}

function count(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError(`${flag} ${JSON.stringify(text)} must be a whole number of keys ≥ 1`);
  return Number(text);
}

/** Raftstore config from the flags; only what was given (and what follows from it). */
export function regionLimitsConfig(f: RegionLimitFlags): Partial<RaftstoreConfig> {
  const cfg: Partial<RaftstoreConfig> = {};
  if (f.regionMaxSize !== undefined) cfg.regionMaxSize = parseSize(f.regionMaxSize, "--region-max-size");
  if (f.regionSplitSize !== undefined) cfg.regionSplitSize = parseSize(f.regionSplitSize, "--region-split-size");
  else if (cfg.regionMaxSize !== undefined) cfg.regionSplitSize = Math.max(1, Math.floor((cfg.regionMaxSize * 2) / 3));
  if (f.regionMaxKeys !== undefined) cfg.regionMaxKeys = count(f.regionMaxKeys, "--region-max-keys");
  if (f.regionSplitKeys !== undefined) cfg.regionSplitKeys = count(f.regionSplitKeys, "--region-split-keys");
  else if (cfg.regionMaxKeys !== undefined) cfg.regionSplitKeys = Math.max(1, Math.floor((cfg.regionMaxKeys * 2) / 3));
  resolveRaftstoreConfig(cfg); // throws naming the flag (e.g. split size over max size)
  return cfg;
}

/** The flags as arguments again (for `cluster` → `store`). */
export function regionLimitArgs(f: RegionLimitFlags): string[] {
  const out: string[] = [];
  if (f.regionMaxSize !== undefined) out.push("--region-max-size", f.regionMaxSize);
  if (f.regionSplitSize !== undefined) out.push("--region-split-size", f.regionSplitSize);
  if (f.regionMaxKeys !== undefined) out.push("--region-max-keys", f.regionMaxKeys);
  if (f.regionSplitKeys !== undefined) out.push("--region-split-keys", f.regionSplitKeys);
  return out;
}
