/**
 * `processRegionHeartbeat` (TinyKV 3C), as a pure check over the region tree:
 *   heartbeat → checkRegionHeartbeat (stale? what changed?) → caller applies with tree.put
 *   (overlapped regions removed, store statistics updated) and persists when the meta changed.
 *
 * Rules:
 * 1. Stale if the stored region with the same id has a higher version or a higher conf_ver.
 * 2. Stale if any overlapping region (by range) has a higher version or a higher conf_ver; equal is fine.
 * 3. The update is skipped only when nothing changed; never when the epoch grew, the leader, the
 *    pending or down peers, the approximate size or the peer set changed.
 */
import type { metapb } from "@regionkv/proto";
import { SchedulerError, type Result } from "./errors.js";
import type { RegionInfo, RegionTree } from "./region-tree.js";

export interface HeartbeatChange {
  /** Anything changed: the tree must be updated. */
  changed: boolean;
  /** Range, epoch or peers changed: the persisted region must be rewritten. */
  metaChanged: boolean;
}

function epochOf(r: metapb.Region): { version: bigint; confVer: bigint } {
  return { version: r.regionEpoch?.version ?? 0n, confVer: r.regionEpoch?.confVer ?? 0n };
}

function describeRegion(r: metapb.Region): string {
  const e = epochOf(r);
  return `region ${r.id} [${r.startKey.toString("hex")}, ${r.endKey.toString("hex")}) epoch (conf_ver ${e.confVer}, version ${e.version})`;
}

function samePeers(a: metapb.Peer[], b: metapb.Peer[]): boolean {
  if (a.length !== b.length) return false;
  const key = (p: metapb.Peer): string => `${p.id}/${p.storeId}/${p.role}`;
  const set = new Set(a.map(key));
  return b.every((p) => set.has(key(p)));
}

/** Check a heartbeat against the tree: a stale one is an error, otherwise what changed. */
export function checkRegionHeartbeat(tree: RegionTree, hb: RegionInfo): Result<HeartbeatChange> {
  const region = hb.region;
  const epoch = epochOf(region);
  const stale = (other: metapb.Region): Result<HeartbeatChange> => ({
    ok: false,
    error: new SchedulerError("StaleEpoch", `stale region heartbeat: ${describeRegion(region)} is older than the scheduler's ${describeRegion(other)}`),
  });
  const old = tree.getById(region.id);
  if (old) {
    const o = epochOf(old.region);
    if (epoch.version < o.version || epoch.confVer < o.confVer) return stale(old.region);
  }
  for (const other of tree.overlaps(region)) {
    if (other.region.id === region.id) continue;
    const o = epochOf(other.region);
    if (epoch.version < o.version || epoch.confVer < o.confVer) return stale(other.region);
  }
  if (!old) return { ok: true, value: { changed: true, metaChanged: true } };
  const o = epochOf(old.region);
  const metaChanged =
    epoch.version !== o.version ||
    epoch.confVer !== o.confVer ||
    !region.startKey.equals(old.region.startKey) ||
    !region.endKey.equals(old.region.endKey) ||
    !samePeers(region.peers, old.region.peers);
  const changed =
    metaChanged ||
    hb.leader?.id !== old.leader?.id ||
    hb.leader?.storeId !== old.leader?.storeId ||
    !samePeers(hb.pendingPeers, old.pendingPeers) ||
    !samePeers(hb.downPeers.flatMap((d) => (d.peer ? [d.peer] : [])), old.downPeers.flatMap((d) => (d.peer ? [d.peer] : []))) ||
    hb.approximateSize !== old.approximateSize ||
    hb.approximateKeys !== old.approximateKeys;
  return { ok: true, value: { changed, metaChanged } };
}
