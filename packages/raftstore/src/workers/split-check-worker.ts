/**
 * Split-check worker: measures a region (bytes and keys of its user data) on a consistent read
 * and reports the size to the peer; when the region is larger than regionMaxSize it also finds
 * the split key: the first key at which the running size exceeds regionSplitSize.
 */
import type { Engine } from "@regionkv/engine";
import type { metapb } from "@regionkv/proto";
import type { Router } from "../router.js";

export function checkSplit(engine: Engine, router: Router, region: metapb.Region, maxSize: number, splitSize: number): void {
  const view = engine.snapshot();
  try {
    let bytes = 0;
    let keys = 0;
    for (const cf of ["default", "write", "lock"] as const) {
      const s = view.approximateSize(cf, region.startKey, region.endKey);
      bytes += s.bytes;
      keys += s.keys;
    }
    let splitKey: Buffer | undefined;
    if (bytes > maxSize) {
      let running = 0;
      let start: Buffer = region.startKey;
      outer: for (;;) {
        const rows = view.scan("default", start, region.endKey, { limit: 1024 });
        for (const r of rows) {
          running += r.key.byteLength + r.value.byteLength;
          if (running > splitSize) {
            splitKey = r.key;
            break outer;
          }
        }
        if (rows.length < 1024) break;
        start = Buffer.concat([rows[rows.length - 1]!.key, Buffer.from([0])]);
      }
    }
    router.send(Number(region.id), { type: "regionApproximateSize", bytes, keys, splitKey });
  } finally {
    view.release();
  }
}
