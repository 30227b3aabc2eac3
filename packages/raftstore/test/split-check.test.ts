/**
 * The split-key finder on a real engine: TinyKV's size rule (first key past split-size, only when
 * past max-size), key-count limits, several keys for a region far past the limit (capped, with an
 * early stop), region bounds, chunked scans that yield, the report through the router, and
 * invariants over seeded random regions.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { WriteBatch, encodeBytes, type Engine } from "@regionkv/engine";
import type { metapb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import { resolveRaftstoreConfig } from "../src/config.js";
import type { PeerMsg } from "../src/messages.js";
import { Router } from "../src/router.js";
import {
  SplitKeyFinder,
  halfSplitLimits,
  runSplitCheck,
  scanSplitKeys,
  splitCheckLimits,
  type SplitCheckLimits,
  type SplitCheckResult,
} from "../src/workers/split-check-worker.js";
import { b, makeRegion, openEngine } from "./helpers.js";

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

function limits(l: Partial<SplitCheckLimits>): SplitCheckLimits {
  return { maxSize: NO_LIMIT, splitSize: NO_LIMIT, maxKeys: NO_LIMIT, splitKeys: NO_LIMIT, batchSplitLimit: 10, scanBatch: 1024, ...l };
}

function key(i: number): string {
  return `k${String(i).padStart(2, "0")}`;
}

/** `n` rows k00, k01, … of `rowBytes` bytes each (key + value) in the default CF. */
function fillRows(engine: Engine, n: number, rowBytes: number, from = 0): void {
  const wb = new WriteBatch();
  for (let i = from; i < from + n; i++) wb.put("default", b(key(i)), Buffer.alloc(rowBytes - key(i).length, 7));
  engine.write(wb);
}

function check(engine: Engine, l: Partial<SplitCheckLimits>, region: metapb.Region = makeRegion([1])): SplitCheckResult {
  const view = engine.snapshot();
  try {
    return scanSplitKeys(view, region, limits(l));
  } finally {
    view.release();
  }
}

function keysOf(r: SplitCheckResult): string[] {
  return r.splitKeys.map((k) => k.toString());
}

describe("size rule (TinyKV's sizeSplitChecker)", () => {
  test("max 100 / split 50 on 10-byte rows: one key, where the running size first exceeds 50", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 11, 10);
    const r = check(engine, { maxSize: 100, splitSize: 50, batchSplitLimit: 1 });
    // k00..k04 are 50 bytes; k05 brings the piece to 60 > 50.
    assert.deepEqual(keysOf(r), ["k05"]);
    assert.equal(r.bytes, 110);
    assert.equal(r.keys, 11);
  });

  test("a region of exactly regionMaxSize is not split; one byte more is", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 10, 10);
    assert.deepEqual(keysOf(check(engine, { maxSize: 100, splitSize: 50 })), []);
    const wb = new WriteBatch().put("default", b("k99"), b("")); // 3 more bytes
    engine.write(wb);
    assert.deepEqual(keysOf(check(engine, { maxSize: 100, splitSize: 50 })), ["k05"]);
  });

  test("no split below the limits, and the size is reported whole", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 30, 10);
    const r = check(engine, { maxSize: 1000, splitSize: 500 });
    assert.deepEqual(r.splitKeys, []);
    assert.equal(r.bytes, 300);
    assert.equal(r.keys, 30);
    assert.equal(r.scannedToEnd, true);
  });

  test("an empty region has size 0 and no split key", (t) => {
    const engine = openEngine(t);
    assert.deepEqual(check(engine, { maxSize: 1, splitSize: 1 }), { bytes: 0, keys: 0, splitKeys: [], scannedToEnd: true });
  });

  test("every row of a user key (raw value, MVCC versions, lock) counts as one key of their summed size", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 11, 10);
    const versioned = (k: string, ts: number) => Buffer.concat([encodeBytes(b(k)), Buffer.alloc(8, ts)]);
    engine.write(
      new WriteBatch()
        .put("write", versioned("k00", 1), Buffer.alloc(500)) // 17 + 500
        .put("txn_default", versioned("k00", 2), Buffer.alloc(10)) // 17 + 10
        .put("lock", b("k01"), Buffer.alloc(500)), // 3 + 500
    );
    const r = check(engine, { maxSize: 100, splitSize: 50 });
    assert.equal(r.bytes, 110 + 517 + 27 + 503);
    assert.equal(r.keys, 11, "user keys, not rows");
    // k00 (554 bytes) is a piece; k01 (513) another; then k02…k06 (50) and k07…k10 (40), the
    // last two together within maxSize, so the last cut goes.
    assert.deepEqual(keysOf(r), ["k01", "k02"]);
  });

  test("a split key never falls between the versions of one user key, whatever the chunk size", (t) => {
    const engine = openEngine(t);
    const wb = new WriteBatch();
    for (let i = 0; i < 20; i++) for (let ts = 1; ts <= 5; ts++) wb.put("write", Buffer.concat([encodeBytes(b(key(i))), Buffer.alloc(8, ts)]), Buffer.alloc(3));
    engine.write(wb);
    for (const scanBatch of [1, 3, 7, 1024]) {
      const r = check(engine, { maxSize: 200, splitSize: 100, scanBatch, batchSplitLimit: 100 });
      assert.equal(r.keys, 20);
      assert.equal(r.bytes, 100 * 20);
      // 100 bytes a user key: every key past the first starts a piece; the last cut is dropped
      // (the last two pieces together are not past maxSize).
      assert.deepEqual(keysOf(r), Array.from({ length: 18 }, (_, i) => key(i + 1)), `scanBatch ${scanBatch}`);
    }
  });

  test("a first row larger than the split size does not make the region's start key a split key", (t) => {
    const engine = openEngine(t);
    engine.write(new WriteBatch().put("default", b("k00"), Buffer.alloc(200)));
    fillRows(engine, 10, 10, 1);
    const r = check(engine, { maxSize: 100, splitSize: 50 }, makeRegion([1], { start: "k00" }));
    // k00 (203 bytes) is a piece by itself; the next key starts the second piece.
    assert.deepEqual(keysOf(r), ["k01"]);
  });
});

describe("key-count rule", () => {
  test("regionMaxKeys / regionSplitKeys split a region of small rows the size rule would keep", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 11, 10);
    assert.deepEqual(keysOf(check(engine, { maxSize: 10_000, splitSize: 5_000, maxKeys: 10, splitKeys: 5 })), ["k05"]);
    assert.deepEqual(keysOf(check(engine, { maxSize: 10_000, splitSize: 5_000, maxKeys: 11, splitKeys: 5 })), [], "11 keys is not past maxKeys 11");
  });

  test("whichever limit fills a piece first places the key", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 40, 10);
    // Pieces of at most 70 bytes or 5 keys: the key limit binds (5 keys = 50 bytes).
    assert.deepEqual(keysOf(check(engine, { maxSize: 150, splitSize: 70, maxKeys: 1000, splitKeys: 5, batchSplitLimit: 2 })), ["k05", "k10"]);
    // Pieces of at most 30 bytes or 5 keys: the size limit binds.
    assert.deepEqual(keysOf(check(engine, { maxSize: 150, splitSize: 30, maxKeys: 1000, splitKeys: 5, batchSplitLimit: 2 })), ["k03", "k06"]);
  });
});

describe("several split keys", () => {
  test("a region far past the limit gets a key every regionSplitSize bytes", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 100, 10);
    const r = check(engine, { maxSize: 150, splitSize: 100 });
    assert.deepEqual(keysOf(r), ["k10", "k20", "k30", "k40", "k50", "k60", "k70", "k80", "k90"]);
    assert.equal(r.scannedToEnd, true);
  });

  test("the last key is dropped when the last two pieces together fit in regionMaxSize", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 25, 10);
    // Pieces would be 100, 100, 50: the last two (150) fit in max 160, so two pieces: 100 and 150.
    assert.deepEqual(keysOf(check(engine, { maxSize: 160, splitSize: 100 })), ["k10"]);
    // With max 140 they do not: three pieces.
    assert.deepEqual(keysOf(check(engine, { maxSize: 140, splitSize: 100 })), ["k10", "k20"]);
  });

  test("a huge region stops after batchSplitLimit keys, and its size is still exact", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 100, 10);
    const r = check(engine, { maxSize: 150, splitSize: 100, batchSplitLimit: 3, scanBatch: 7 });
    assert.deepEqual(keysOf(r), ["k10", "k20", "k30"]);
    assert.equal(r.scannedToEnd, false);
    assert.equal(r.bytes, 1000);
    assert.equal(r.keys, 100);
  });

  test("the early stop reads until the last key is certain to stay", () => {
    const l = limits({ maxSize: 150, splitSize: 100, batchSplitLimit: 1 });
    const f = new SplitKeyFinder(l);
    const stops: boolean[] = [];
    for (let i = 0; i < 16; i++) stops.push(f.onRow(b(key(i)), 10));
    // The key k10 is placed at row 10; the rows up to k15 make the two pieces 100 + 60 > 150.
    assert.deepEqual(stops.map((s, i) => (s ? i : -1)).filter((i) => i >= 0), [15]);
    assert.deepEqual(f.finish(false).map(String), ["k10"]);
  });
});

describe("region bounds", () => {
  test("a bounded region scans only its range", (t) => {
    const engine = openEngine(t);
    // Big rows before and after the region must not count or become keys.
    engine.write(new WriteBatch().put("default", b("a"), Buffer.alloc(5000)).put("default", b("z"), Buffer.alloc(5000)));
    fillRows(engine, 40, 10);
    const region = makeRegion([1], { start: "k10", end: "k30" });
    const r = check(engine, { maxSize: 150, splitSize: 60 }, region);
    assert.equal(r.bytes, 200);
    assert.equal(r.keys, 20);
    assert.deepEqual(keysOf(r), ["k16", "k22"]);
    for (const k of r.splitKeys) assert.ok(Buffer.compare(k, region.startKey) > 0 && Buffer.compare(k, region.endKey) < 0);
  });

  test("the region's end key is exclusive", (t) => {
    const engine = openEngine(t);
    fillRows(engine, 20, 10);
    const r = check(engine, { maxSize: 90, splitSize: 50 }, makeRegion([1], { start: "k00", end: "k10" }));
    assert.equal(r.bytes, 100);
    assert.deepEqual(keysOf(r), ["k05"]);
  });
});

describe("the worker's runners", () => {
  function router(): { router: Router; mail(): PeerMsg[] } {
    const r = new Router();
    r.register(1);
    return { router: r, mail: () => r.takeBusy().flatMap(([, msgs]) => msgs) };
  }

  test("runSplitCheck yields between chunks, reads the same as one scan, and reports the size and every key", async (t) => {
    const engine = openEngine(t);
    fillRows(engine, 100, 10);
    const { router: rt, mail } = router();
    let yields = 0;
    const l = limits({ maxSize: 150, splitSize: 100, scanBatch: 8 });
    const r = await runSplitCheck(engine, rt, makeRegion([1]), l, async () => void yields++);
    assert.deepEqual(r, check(engine, { ...l, scanBatch: 1024 }));
    assert.equal(yields, Math.ceil(100 / 8), "a yield after each chunk read");
    assert.deepEqual(mail(), [{ type: "regionApproximateSize", bytes: 1000, keys: 100, splitKeys: r!.splitKeys, version: 1n, reason: "size" }]);
    assert.deepEqual(keysOf(r!), ["k10", "k20", "k30", "k40", "k50", "k60", "k70", "k80", "k90"]);
  });

  test("runSplitCheck does not see writes made while it yields (one snapshot)", async (t) => {
    const engine = openEngine(t);
    fillRows(engine, 20, 10);
    const { router: rt } = router();
    const r = await runSplitCheck(engine, rt, makeRegion([1]), limits({ scanBatch: 5 }), async () => {
      engine.write(new WriteBatch().put("default", b("k99"), Buffer.alloc(100)));
    });
    assert.equal(r?.bytes, 200);
  });

  test("runSplitCheck stops quietly when the engine closes while it yields", async (t) => {
    const engine = openEngine(t);
    fillRows(engine, 20, 10);
    const { router: rt, mail } = router();
    const r = await runSplitCheck(engine, rt, makeRegion([1]), limits({ scanBatch: 5 }), async () => engine.close());
    assert.equal(r, undefined);
    assert.deepEqual(mail(), []);
  });

  test("the half policy cuts once, at the first row past half the region's bytes, whatever the size limits", async (t) => {
    const engine = openEngine(t);
    fillRows(engine, 30, 10);
    const { router: rt, mail } = router();
    const r = await runSplitCheck(engine, rt, makeRegion([1]), limits({ maxSize: 1e9, splitSize: 1e9 }), async () => {}, "half");
    assert.deepEqual(keysOf(r!), ["k15"]);
    assert.deepEqual(mail(), [{ type: "regionApproximateSize", bytes: 300, keys: 30, splitKeys: [b("k15")], version: 1n, reason: "half" }]);
    assert.deepEqual(halfSplitLimits(300, 64), { maxSize: 0, splitSize: 150, maxKeys: Number.MAX_SAFE_INTEGER, splitKeys: Number.MAX_SAFE_INTEGER, batchSplitLimit: 1, scanBatch: 64 });
  });

  test("the half policy finds no key in a region of one row", async (t) => {
    const engine = openEngine(t);
    fillRows(engine, 1, 10);
    const { router: rt } = router();
    const r = await runSplitCheck(engine, rt, makeRegion([1]), limits({}), async () => {}, "half");
    assert.deepEqual(keysOf(r!), []);
  });

  test("splitCheckLimits takes every limit from the config", () => {
    const cfg = resolveRaftstoreConfig({ regionMaxSize: 300, regionSplitSize: 200, regionMaxKeys: 30, regionSplitKeys: 20, batchSplitLimit: 4, splitCheckScanBatch: 64 });
    assert.deepEqual(splitCheckLimits(cfg), { maxSize: 300, splitSize: 200, maxKeys: 30, splitKeys: 20, batchSplitLimit: 4, scanBatch: 64 });
  });
});

describe("invariants over seeded random regions", () => {
  test("keys ascend strictly inside the region; every piece but the last fits the split limits; the last fits max unless capped", (t) => {
    const engine = openEngine(t);
    const rnd = seededRandom(7);
    const wb = new WriteBatch();
    const sizes = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const k = `r${Math.floor(rnd() * 1e6).toString(36)}`;
      const v = Buffer.alloc(Math.floor(rnd() * 60));
      wb.put("default", b(k), v);
      sizes.set(k, k.length + v.length);
    }
    engine.write(wb);
    const all = [...sizes.keys()].sort();
    const seen = { split: 0, none: 0, capped: 0 };
    for (let round = 0; round < 40; round++) {
      const splitSize = 50 + Math.floor(rnd() * 2000);
      const maxSize = splitSize + Math.floor(rnd() * 2000);
      const splitKeys = 2 + Math.floor(rnd() * 100);
      const maxKeys = splitKeys + Math.floor(rnd() * 100);
      const batchSplitLimit = 1 + Math.floor(rnd() * 12);
      const lo = Math.floor(rnd() * all.length);
      const hi = lo + Math.floor(rnd() * (all.length - lo));
      const region = makeRegion([1], { start: all[lo]!, end: hi < all.length && hi > lo ? all[hi]! : "" });
      const inRegion = all.filter((k) => k >= region.startKey.toString() && (region.endKey.length === 0 || k < region.endKey.toString()));
      const l = limits({ maxSize, splitSize, maxKeys, splitKeys, batchSplitLimit, scanBatch: 1 + Math.floor(rnd() * 50) });
      const r = check(engine, l, region);
      const what = JSON.stringify({ round, ...l });
      const total = inRegion.reduce((s, k) => s + sizes.get(k)!, 0);
      assert.equal(r.bytes, total, what);
      assert.equal(r.keys, inRegion.length, what);
      const ks = keysOf(r);
      seen[r.scannedToEnd ? (ks.length > 0 ? "split" : "none") : "capped"]++;
      assert.ok(ks.length <= batchSplitLimit, what);
      if (total <= maxSize && inRegion.length <= maxKeys) assert.deepEqual(ks, [], what);
      else if (inRegion.length > 1) assert.ok(ks.length >= 1, what);
      // Pieces: [start, k1), [k1, k2), …, [kn, end).
      const bounds = [region.startKey.toString(), ...ks];
      for (let i = 0; i < ks.length; i++) assert.ok(bounds[i]! < ks[i]!, what);
      if (region.endKey.length > 0) for (const k of ks) assert.ok(k < region.endKey.toString(), what);
      for (let i = 0; i <= ks.length; i++) {
        const rows = inRegion.filter((k) => k >= bounds[i]! && (i === ks.length || k < ks[i]!));
        const bytes = rows.reduce((s, k) => s + sizes.get(k)!, 0);
        assert.ok(rows.length >= 1, `${what}: piece ${i} is empty`);
        if (i < ks.length) {
          // A piece closed by the next key fits the split limits (or is one row).
          assert.ok(rows.length === 1 || (bytes <= splitSize && rows.length <= splitKeys), `${what}: piece ${i} is ${bytes} B / ${rows.length} keys`);
        } else if (r.scannedToEnd) {
          // The last piece fits the max limits (or is one row); only a capped scan leaves more.
          assert.ok(rows.length === 1 || (bytes <= maxSize && rows.length <= maxKeys), `${what}: last piece ${bytes} B / ${rows.length} keys`);
        }
      }
    }
    assert.ok(seen.split > 0 && seen.none > 0 && seen.capped > 0, `every outcome occurs: ${JSON.stringify(seen)}`);
  });
});
