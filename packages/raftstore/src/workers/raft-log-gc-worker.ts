/**
 * Raft-log GC worker: physically deletes a region's log entries [lo, hi) after a CompactLog
 * applied (the truncated state was already written with the apply batch; this only frees space).
 */
import { WriteBatch, type Engine } from "@regionkv/engine";
import type { Router } from "../router.js";

export function gcRaftLog(engine: Engine, router: Router, regionId: number, lo: number, hi: number): void {
  engine.write(new WriteBatch().deleteLogRange(regionId, lo, hi), { sync: false });
  router.send(regionId, { type: "raftLogGcDone", index: hi - 1 });
}
