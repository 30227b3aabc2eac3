/**
 * Region worker: builds a region snapshot from a consistent engine read and posts it back to the
 * peer (`snapshotGenerated`). The snapshot is the region's data in every column family plus the
 * region meta, taken at the applied index of the same read transaction, so data and index agree.
 *
 * Received snapshots are installed by the peer storage in the raft worker's group commit (data,
 * region state and raft state in one transaction), so there is no half-installed state to recover.
 */
import { CF_NAMES, WriteBatch, cfKeyRange, type Engine } from "@regionkv/engine";
import { raft_serverpb } from "@regionkv/proto";
import type { Snapshot } from "@regionkv/raft";
import { confStateOfRegion } from "../peer-storage.js";
import type { Router } from "../router.js";
import type { RaftstoreMetrics } from "../metrics.js";

const CHUNK = 4096;

export async function generateSnapshot(engine: Engine, router: Router, metrics: RaftstoreMetrics, regionId: number, yieldNow: () => Promise<void>): Promise<void> {
  let snapshot: Snapshot | undefined;
  let error: string | undefined;
  const view = engine.snapshot();
  try {
    const rs = view.regionState(regionId);
    const as = view.applyState(regionId);
    if (!rs?.region || rs.state !== raft_serverpb.PeerState.Normal || !as) throw new Error(`region ${regionId} is not in a state that can be snapshotted`);
    const region = rs.region;
    const index = Number(as.appliedIndex);
    const truncated = as.truncatedState;
    const term = truncated && Number(truncated.index) === index ? Number(truncated.term) : engine.logTerm(regionId, index);
    if (term === undefined) throw new Error(`region ${regionId}: no term for applied index ${index}`);
    const data: raft_serverpb.KeyValue[] = [];
    let bytes = 0;
    for (const cf of CF_NAMES) {
      const range = cfKeyRange(cf, region.startKey, region.endKey);
      let start: Buffer = range.start;
      for (;;) {
        const rows = view.scan(cf, start, range.end, { limit: CHUNK });
        for (const r of rows) {
          data.push({ key: r.key, value: r.value, cf });
          bytes += r.key.byteLength + r.value.byteLength;
        }
        if (rows.length < CHUNK) break;
        start = Buffer.concat([rows[rows.length - 1]!.key, Buffer.from([0])]);
        await yieldNow();
      }
    }
    const payload = raft_serverpb.RaftSnapshotData.encode({ region, fileSize: BigInt(bytes), data, meta: undefined }).finish();
    snapshot = { data: payload, metadata: { index, term, confState: confStateOfRegion(region) } };
    metrics.snapshots.inc({ kind: "generate", result: "ok" });
    metrics.snapshotBytes.inc({ kind: "generate" }, payload.byteLength);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    metrics.snapshots.inc({ kind: "generate", result: "error" });
  } finally {
    view.release();
  }
  router.send(regionId, { type: "snapshotGenerated", snapshot, error });
}

/** Delete a destroyed peer's user data in [startKey, endKey) in every column family. */
export function destroyRegionData(engine: Engine, startKey: Buffer, endKey: Buffer): void {
  const wb = new WriteBatch();
  for (const cf of CF_NAMES) {
    const range = cfKeyRange(cf, startKey, endKey);
    wb.deleteRange(cf, range.start, range.end);
  }
  engine.write(wb, { sync: false });
}
