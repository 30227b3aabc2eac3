/**
 * Ids for a split (AskSplit / AskBatchSplit): the region must be known and the request's epoch
 * not older than the scheduler's (PD's ValidRequestRegion); then each new region gets a fresh
 * region id and one fresh peer id per peer of the region, in the order of `region.peers`.
 */
import type { metapb, schedulerpb } from "@regionkv/proto";
import { SchedulerError } from "./errors.js";
import type { SchedulerCore } from "./scheduler.js";

/** The most new regions one AskBatchSplit may ask for. */
export const MAX_SPLIT_COUNT = 1000;

/** Check `region` against the scheduler's view, then allocate ids for `count` new regions. */
export function allocSplitIds(core: SchedulerCore, region: metapb.Region, count: number): schedulerpb.SplitID[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SPLIT_COUNT) {
    throw new SchedulerError("InvalidArgument", `split_count must be in [1, ${MAX_SPLIT_COUNT}] (MAX_SPLIT_COUNT), got ${count}; split in several steps`);
  }
  if (region.peers.length === 0) throw new SchedulerError("InvalidArgument", `region ${region.id} to split has no peers`);
  const known = core.getRegionById(region.id);
  if (!known) {
    throw new SchedulerError("RegionNotFound", `region ${region.id} is unknown to the scheduler; ask again after its leader has sent a region heartbeat`);
  }
  const have = known.region.regionEpoch;
  const asked = region.regionEpoch;
  const version = asked?.version ?? 0n;
  const confVer = asked?.confVer ?? 0n;
  if (version < (have?.version ?? 0n) || confVer < (have?.confVer ?? 0n)) {
    throw new SchedulerError(
      "StaleEpoch",
      `region ${region.id} epoch (conf_ver ${confVer}, version ${version}) is older than the scheduler's (conf_ver ${have?.confVer ?? 0n}, version ${have?.version ?? 0n}); the split is based on stale metadata`,
    );
  }
  const out: schedulerpb.SplitID[] = [];
  for (let i = 0; i < count; i++) {
    const newRegionId = core.allocId();
    out.push({ newRegionId, newPeerIds: region.peers.map(() => core.allocId()) });
  }
  return out;
}
