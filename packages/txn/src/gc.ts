/**
 * MVCC garbage collection of one region at a safe point (TiKV's GC rules):
 *
 * for each user key, versions newest first —
 *   - records committed above the safe point stay (readers at or after it may need them);
 *   - of the rest, the newest Put stays (it is what a reader at the safe point sees), and
 *     everything older goes; if the newest at or below the safe point is a Delete, it goes too,
 *     with everything older (nothing is visible there any more);
 *   - Rollback and Lock records at or below the safe point go wherever they are.
 * A Put's value in txn_default goes with its record.
 *
 * GC takes no latches: it only removes versions no reader at or after the safe point can see,
 * and writers only add versions above the newest. It runs in batches of at most GC_BATCH_OPS
 * deletions, each its own raft command, on a fresh view each, yielding in between, so foreground
 * commands interleave. Locks below the safe point must have been resolved first (gc-worker).
 */
import { WriteBatch } from "@regionkv/engine";
import type { errorpb, kvrpcpb } from "@regionkv/proto";
import { decodeKey, encodeBytes, encodeKey } from "./codec.js";
import { WriteKind, decodeWrite } from "./records.js";
import type { TxnScope, TxnStorage } from "./storage.js";

/** Deletions per raft command. */
export const GC_BATCH_OPS = 1024;
const SCAN_CHUNK = 512;

export interface GcStats {
  /** User keys looked at. */
  keys: number;
  /** Write records deleted (with their values). */
  deleted: number;
  /** Raft commands proposed. */
  batches: number;
}

export async function gcRegion(storage: TxnStorage, ctx: kvrpcpb.Context, safePoint: bigint, scope: TxnScope): Promise<GcStats | { regionError: errorpb.Error }> {
  const stats: GcStats = { keys: 0, deleted: 0, batches: 0 };
  let resumeFrom: Buffer | undefined;
  for (;;) {
    const s = await storage.snapshot(ctx, scope);
    if (!s.ok) return { regionError: s.regionError };
    const snap = s.snapshot;
    let batch: WriteBatch;
    let done: boolean;
    try {
      const region = snap.region;
      const end = region.endKey.length === 0 ? Buffer.alloc(0) : encodeBytes(region.endKey);
      let from = resumeFrom ?? (region.startKey.length === 0 ? Buffer.alloc(0) : encodeBytes(region.startKey));
      batch = new WriteBatch();
      let ops = 0;
      // State of the user key being walked.
      let current: Buffer | undefined;
      let keptOrRemoved = false;
      done = true;
      walk: for (;;) {
        const rows = snap.view.scan("write", from, end, { limit: SCAN_CHUNK });
        for (const r of rows) {
          const { key, ts } = decodeKey(r.key);
          if (!current || !current.equals(key)) {
            // A batch ends only between user keys, so a key's versions are judged in one view.
            if (ops >= GC_BATCH_OPS) {
              resumeFrom = r.key;
              done = false;
              break walk;
            }
            current = key;
            keptOrRemoved = false;
            stats.keys += 1;
          }
          if (ts > safePoint) continue;
          const w = decodeWrite(r.value);
          let remove: boolean;
          if (w.kind === WriteKind.Rollback || w.kind === WriteKind.Lock) remove = true;
          else if (!keptOrRemoved) {
            // The newest Put/Delete at or below the safe point: a Put stays, a Delete goes.
            keptOrRemoved = true;
            remove = w.kind === WriteKind.Delete;
          } else remove = true;
          if (!remove) continue;
          batch.delete("write", r.key);
          if (w.kind === WriteKind.Put) batch.delete("txn_default", encodeKey(key, w.startTs));
          ops += 1;
          stats.deleted += 1;
        }
        if (rows.length < SCAN_CHUNK) break;
        from = Buffer.concat([rows[rows.length - 1]!.key, Buffer.from([0])]);
      }
    } finally {
      snap.release();
    }
    if (!batch.isEmpty) {
      const w = await storage.write(ctx, snap, batch);
      if (!w.ok) return { regionError: w.regionError };
      stats.batches += 1;
    }
    if (done) return stats;
    await new Promise((r) => setImmediate(r));
  }
}
