/**
 * Per-region write rates from region heartbeats: `bytes_written` / `keys_written` over the
 * heartbeat's `interval` (or, without one, the time since the region's previous heartbeat),
 * smoothed (each new sample weighs half). Entries not refreshed for `forgetAfterMs` are dropped.
 */
import type { schedulerpb } from "@regionkv/proto";

interface Entry {
  bytesPerSec: number;
  keysPerSec: number;
  updatedAtMs: number;
}

export class WriteRateStats {
  private readonly regions = new Map<bigint, Entry>();

  constructor(private readonly forgetAfterMs = 5 * 60_000) {}

  observe(req: schedulerpb.RegionHeartbeatRequest, now: number): void {
    const id = req.region?.id;
    if (id === undefined) return;
    const prev = this.regions.get(id);
    const iv = req.interval;
    let secs = iv && iv.endTimestamp > iv.startTimestamp ? Number(iv.endTimestamp - iv.startTimestamp) : prev ? (now - prev.updatedAtMs) / 1000 : 0;
    if (!(secs > 0)) secs = 0;
    const bytes = secs > 0 ? Number(req.bytesWritten) / secs : 0;
    const keys = secs > 0 ? Number(req.keysWritten) / secs : 0;
    this.regions.delete(id);
    this.regions.set(id, prev ? { bytesPerSec: (prev.bytesPerSec + bytes) / 2, keysPerSec: (prev.keysPerSec + keys) / 2, updatedAtMs: now } : { bytesPerSec: bytes, keysPerSec: keys, updatedAtMs: now });
    for (const [rid, e] of this.regions) {
      if (now - e.updatedAtMs <= this.forgetAfterMs) break;
      this.regions.delete(rid);
    }
  }

  /** Bytes/s written to the region recently; 0 if unknown. */
  bytesRate(regionId: bigint): number {
    return this.regions.get(regionId)?.bytesPerSec ?? 0;
  }

  keysRate(regionId: bigint): number {
    return this.regions.get(regionId)?.keysPerSec ?? 0;
  }

  rates(): Map<bigint, number> {
    return new Map([...this.regions].map(([id, e]) => [id, e.bytesPerSec]));
  }
}
