/**
 * Load-based split on a simulated clock with seeded randomness: uniform load → a middle key;
 * skewed load → the key that halves the load, not the middle of the range; one hot key → no
 * split; below the threshold, or hot for too few windows in a row → none; idle windows end a
 * streak; older windows weigh less (decay); range requests; region bounds; reset after a split.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import type { metapb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import { RaftstoreConfigError, resolveRaftstoreConfig } from "../src/config.js";
import { LoadSplitter, loadSplitOptions, type LoadSplitDecision, type LoadSplitOptions } from "../src/load-split.js";
import { b, makeRegion } from "./helpers.js";

const OPTS: LoadSplitOptions = { qpsThreshold: 1000, windowMs: 1000, windows: 3, sampleSize: 200, minSamples: 20 };
const WHOLE = makeRegion([1]);

function k(i: number): Buffer {
  return b(`k${String(i).padStart(4, "0")}`);
}

function num(key: Buffer): number {
  return Number(key.toString().slice(1));
}

interface Sim {
  splitter: LoadSplitter;
  now: number;
  rnd: () => number;
  /** `windows` windows of `qps` requests per second, each made by `req` (spread evenly in time). */
  load(windows: number, qps: number, req: (s: LoadSplitter, rnd: () => number) => void): void;
  /** Advance the clock without requests. */
  idle(ms: number): void;
  decide(region?: metapb.Region): LoadSplitDecision;
}

function sim(opts: Partial<LoadSplitOptions> = {}, seed = 1): Sim {
  const o = { ...OPTS, ...opts };
  const s: Sim = {
    now: 1_000_000,
    rnd: seededRandom(seed),
    splitter: undefined as unknown as LoadSplitter,
    load(windows, qps, req) {
      const n = Math.round((qps * o.windowMs) / 1000);
      for (let w = 0; w < windows; w++) {
        const start = s.now;
        for (let i = 0; i < n; i++) {
          s.now = start + Math.floor((i * o.windowMs) / n);
          req(s.splitter, s.rnd);
        }
        s.now = start + o.windowMs;
      }
    },
    idle(ms) {
      s.now += ms;
    },
    decide(region = WHOLE) {
      return s.splitter.checkLoadSplit(1, s.now, region);
    },
  };
  s.splitter = new LoadSplitter(o, { now: () => s.now }, seededRandom(seed + 1000));
  return s;
}

/** Reads of keys uniform in [lo, hi). */
function uniform(lo: number, hi: number): (s: LoadSplitter, rnd: () => number) => void {
  return (sp, rnd) => sp.recordRead(1, k(lo + Math.floor(rnd() * (hi - lo))));
}

function mustSplit(d: LoadSplitDecision): Extract<LoadSplitDecision, { split: true }> {
  if (!d.split) assert.fail(`expected a split key, got no split (${d.reason})`);
  return d;
}

function mustNoSplit(d: LoadSplitDecision, reason: Extract<LoadSplitDecision, { split: false }>["reason"]): void {
  assert.equal(d.split, false, d.split ? `expected no split, got ${d.key.toString()}` : "");
  if (!d.split) assert.equal(d.reason, reason);
}

describe("choosing the key", () => {
  test("uniform load over a range: a key near the middle, both sides about equal", () => {
    const s = sim();
    s.load(3, 2000, uniform(0, 1000));
    const d = mustSplit(s.decide());
    assert.ok(num(d.key) > 400 && num(d.key) < 600, `key ${d.key.toString()} is not near the middle`);
    assert.ok(Math.abs(d.left - d.right) <= 2, `left ${d.left} right ${d.right}`);
    assert.equal(d.across, 0);
    assert.equal(d.samples, OPTS.sampleSize);
  });

  test("skewed load: the key that halves the load, not the middle of the keys", () => {
    const s = sim();
    // 75% of the load on [0, 100), 25% on [100, 1000): half the load lies below ~67.
    s.load(3, 2000, (sp, rnd) => (rnd() < 0.75 ? uniform(0, 100) : uniform(100, 1000))(sp, rnd));
    const d = mustSplit(s.decide());
    assert.ok(num(d.key) > 45 && num(d.key) < 90, `key ${d.key.toString()} does not halve the load`);
  });

  test("a few hot keys: the cut falls between them", () => {
    const s = sim();
    const hot = [10, 20, 30, 40];
    s.load(3, 2000, (sp, rnd) => sp.recordWrite(1, k(hot[Math.floor(rnd() * 4)]!)));
    const d = mustSplit(s.decide());
    assert.equal(d.key.toString(), k(30).toString());
  });

  test("one hot key cannot be split: no key", () => {
    const s = sim();
    s.load(3, 5000, (sp, rnd) => (rnd() < 0.9 ? sp.recordWrite(1, k(500)) : uniform(0, 1000)(sp, rnd)));
    mustNoSplit(s.decide(), "singleHotKey");
  });

  test("a hot key with enough load elsewhere: the cut keeps it on the side that balances", () => {
    const s = sim();
    // 40% on k0200, 60% uniform: 12% below it, 48% above it. Cutting just after it gives about 52 / 48.
    s.load(3, 5000, (sp, rnd) => (rnd() < 0.4 ? sp.recordWrite(1, k(200)) : uniform(0, 1000)(sp, rnd)));
    const d = mustSplit(s.decide());
    assert.ok(num(d.key) > 200 && num(d.key) < 360, `key ${d.key.toString()}`);
  });

  test("range requests count by start and end; the key avoids cutting them", () => {
    const s = sim();
    // Scans of ten keys starting at multiples of 10.
    s.load(3, 2000, (sp, rnd) => {
      const start = 10 * Math.floor(rnd() * 100);
      sp.recordRead(1, k(start), k(start + 10));
    });
    const d = mustSplit(s.decide());
    assert.equal(d.across, 0, `key ${d.key.toString()} cuts ${d.across} sampled scans`);
    assert.equal(num(d.key) % 10, 0);
  });

  test("scans of the whole region cannot be split", () => {
    const s = sim();
    s.load(3, 2000, (sp) => sp.recordRead(1, b(""), b("")));
    mustNoSplit(s.decide(), "unbalanced");
    const s2 = sim();
    s2.load(3, 2000, (sp) => sp.recordRead(1, k(0), b("")));
    mustNoSplit(s2.decide(), "unbalanced");
  });

  test("only samples inside the region count, and the key is strictly inside it", () => {
    const s = sim();
    s.load(3, 2000, uniform(0, 1000));
    const region = makeRegion([1], { start: k(900).toString(), end: k(950).toString() });
    // About 5% of the 200 samples fall inside: fewer than minSamples 20; 5 are enough.
    mustNoSplit(s.decide(region), "tooFewSamples");
    const s2 = sim({ minSamples: 5 });
    s2.load(3, 2000, uniform(0, 1000));
    const d = mustSplit(s2.decide(region));
    assert.ok(num(d.key) > 900 && num(d.key) < 950, d.key.toString());
  });

  test("the region's start key is never the split key", () => {
    const s = sim();
    const region = makeRegion([1], { start: k(100).toString(), end: k(200).toString() });
    s.load(3, 2000, (sp, rnd) => sp.recordRead(1, rnd() < 0.5 ? k(100) : k(150)));
    assert.equal(mustSplit(s.decide(region)).key.toString(), k(150).toString());
  });
});

describe("when to split", () => {
  test("below the threshold: never, however long", () => {
    const s = sim();
    for (let i = 0; i < 10; i++) {
      s.load(1, 990, uniform(0, 1000));
      mustNoSplit(s.decide(), "cold");
    }
  });

  test("only after `windows` hot windows in a row", () => {
    const s = sim();
    s.load(1, 2000, uniform(0, 1000));
    s.idle(1); // closes nothing yet: the decision is taken in the next window
    mustNoSplit(s.decide(), "cold");
    s.load(1, 2000, uniform(0, 1000));
    mustNoSplit(s.decide(), "cold");
    s.load(1, 2000, uniform(0, 1000));
    mustSplit(s.decide());
  });

  test("a cold window ends the streak and drops the samples", () => {
    const s = sim();
    s.load(2, 2000, uniform(0, 1000));
    s.load(1, 500, uniform(0, 1000));
    s.load(2, 2000, uniform(0, 1000));
    mustNoSplit(s.decide(), "cold");
    s.load(1, 2000, uniform(0, 1000));
    mustSplit(s.decide());
  });

  test("idle windows end the streak", () => {
    const s = sim();
    s.load(2, 2000, uniform(0, 1000));
    s.idle(5 * OPTS.windowMs);
    s.load(2, 2000, uniform(0, 1000));
    mustNoSplit(s.decide(), "cold");
  });

  test("reads and writes add up to the rate", () => {
    const s = sim();
    s.load(3, 1200, (sp, rnd) => (rnd() < 0.5 ? sp.recordRead(1, k(Math.floor(rnd() * 1000))) : sp.recordWrite(1, k(Math.floor(rnd() * 1000)))));
    mustSplit(s.decide());
  });

  test("regions are measured apart", () => {
    const s = sim();
    s.load(3, 2000, (sp, rnd) => {
      sp.recordRead(2, k(Math.floor(rnd() * 1000)));
      if (rnd() < 0.1) sp.recordRead(1, k(Math.floor(rnd() * 1000)));
    });
    mustNoSplit(s.decide(), "cold");
    assert.ok(s.splitter.maybeSplitKey(2, s.now, WHOLE) !== undefined);
  });

  test("after a split key is chosen the region starts over", () => {
    const s = sim();
    s.load(3, 2000, uniform(0, 1000));
    assert.ok(s.splitter.maybeSplitKey(1, s.now, WHOLE));
    assert.equal(s.splitter.maybeSplitKey(1, s.now, WHOLE), undefined);
    s.load(3, 2000, uniform(0, 1000));
    assert.ok(s.splitter.maybeSplitKey(1, s.now, WHOLE));
  });

  test("forget drops a region's measurements", () => {
    const s = sim();
    s.load(3, 2000, uniform(0, 1000));
    s.splitter.forget(1);
    mustNoSplit(s.decide(), "cold");
  });

  test("decay: when the load moves, recent windows outweigh older ones", () => {
    const s = sim();
    s.load(3, 2000, uniform(0, 100));
    s.load(4, 2000, uniform(500, 600));
    const d = mustSplit(s.decide());
    assert.ok(num(d.key) >= 500 && num(d.key) < 600, `key ${d.key.toString()} is not in the range now loaded`);
  });

  test("the same seed gives the same key", () => {
    const keys = [1, 1, 2].map((seed) => {
      const s = sim({}, seed);
      s.load(3, 2000, uniform(0, 1000));
      return mustSplit(s.decide()).key.toString();
    });
    assert.equal(keys[0], keys[1]);
  });
});

describe("options", () => {
  test("taken from the raftstore config, which checks them", () => {
    const cfg = resolveRaftstoreConfig({});
    assert.deepEqual(loadSplitOptions(cfg), { qpsThreshold: 3000, windowMs: 1000, windows: 3, sampleSize: 100, minSamples: 20 });
    assert.throws(() => resolveRaftstoreConfig({ loadSplitMinSamples: 200 }), (e: unknown) => e instanceof RaftstoreConfigError && /loadSplitMinSamples \(200\) must not exceed loadSplitSampleSize \(100\)/.test(e.message));
    assert.throws(() => resolveRaftstoreConfig({ loadSplitQpsThreshold: 0 }), /loadSplitQpsThreshold must be a positive integer/);
  });

  test("the splitter refuses options that cannot work", () => {
    const clock = { now: () => 0 };
    assert.throws(() => new LoadSplitter({ ...OPTS, windowMs: 0 }, clock, Math.random), /windowMs must be positive/);
    assert.throws(() => new LoadSplitter({ ...OPTS, minSideShare: 0.6 }, clock, Math.random), /minSideShare must be in \(0, 0.5\]/);
  });
});
