/**
 * Load-based split: where to cut a region that serves too many requests, whatever its size (as
 * TiKV's split controller and CockroachDB's load-based splitter do). Pure: the clock and the
 * randomness are injected, nothing is read or written outside this object.
 *
 * Flow: every request the leader serves → `recordRead` / `recordWrite(regionId, key, endKey?)`
 * counts it in the region's current window and offers its key to a reservoir sample → when a
 * window closes, its rate (requests per second) is compared with the threshold: a hot window
 * extends the region's hot streak and halves the weight of the samples taken so far (recent
 * load counts more), a cold one ends the streak and drops the samples → the peer asks
 * `maybeSplitKey(regionId, now, region)` (say on its split-check tick); once the streak is
 * `windows` long, the sampled requests choose the key.
 *
 * Choosing the key: every sampled key strictly inside the region (a point key, a range's start or
 * its end) is a candidate c. Each sample falls left of c (point key < c, or range end ≤ c), right
 * (key ≥ c, or range start ≥ c), or across it (a range that would span both halves). The key
 * minimising |left − right| + across wins, ties to the smaller key, provided each side carries at
 * least `minSideShare` of the samples. A single key carrying more than 1 − minSideShare of the
 * load cannot be split away from itself: no key then (`singleHotKey`).
 */
import type { metapb } from "@regionkv/proto";
import type { RaftstoreConfig } from "./config.js";
import type { Clock } from "./store-context.js";

export interface LoadSplitOptions {
  /** A window whose rate exceeds this many requests per second is hot. */
  qpsThreshold: number;
  /** Length of a window (ms). */
  windowMs: number;
  /** Consecutive hot windows before a key is chosen. */
  windows: number;
  /** Samples kept per region. */
  sampleSize: number;
  /** Fewest samples (inside the region) from which a key is chosen. */
  minSamples: number;
  /** Least share of the samples each side must carry, in (0, 0.5]; default 0.25. */
  minSideShare?: number;
}

export function loadSplitOptions(cfg: RaftstoreConfig): LoadSplitOptions {
  return {
    qpsThreshold: cfg.loadSplitQpsThreshold,
    windowMs: cfg.loadSplitWindowMs,
    windows: cfg.loadSplitWindows,
    sampleSize: cfg.loadSplitSampleSize,
    minSamples: cfg.loadSplitMinSamples,
  };
}

export type LoadSplitDecision =
  | { split: true; key: Buffer; left: number; right: number; across: number; samples: number }
  | {
      split: false;
      /**
       * cold: no hot streak of `windows` windows (yet); tooFewSamples: fewer than minSamples inside the
       * region; singleHotKey: one key carries the load; unbalanced: no key leaves enough on each side.
       */
      reason: "cold" | "tooFewSamples" | "singleHotKey" | "unbalanced";
    };

/** One sampled request: a point key (end undefined) or a range [key, end) (empty end: unbounded). */
interface Sample {
  key: Buffer;
  end: Buffer | undefined;
}

interface RegionLoad {
  /** Start of the current window (ms). Invariant: now < windowStart + windowMs after `roll`. */
  windowStart: number;
  /** Requests in the current window. */
  reads: number;
  writes: number;
  /** Closed hot windows in a row, ending with the last closed window. */
  hotWindows: number;
  /** Reservoir of requests since the streak began; at most sampleSize. */
  samples: Sample[];
  /** Weight of the requests offered to the reservoir (halved at each hot window close). */
  seen: number;
}

export class LoadSplitter {
  private readonly regions = new Map<number, RegionLoad>();
  private readonly minSideShare: number;

  constructor(
    private readonly opts: LoadSplitOptions,
    private readonly clock: Clock,
    /** Uniform [0, 1) (seeded in tests). */
    private readonly random: () => number,
  ) {
    for (const k of ["qpsThreshold", "windowMs", "windows", "sampleSize", "minSamples"] as const) {
      if (!(opts[k] > 0)) throw new RangeError(`load split option ${k} must be positive, got ${opts[k]}`);
    }
    this.minSideShare = opts.minSideShare ?? 0.25;
    if (!(this.minSideShare > 0 && this.minSideShare <= 0.5)) throw new RangeError(`load split minSideShare must be in (0, 0.5], got ${this.minSideShare}`);
  }

  /** A read of `key` (or of the range [key, endKey)) served by `regionId`. */
  recordRead(regionId: number, key: Buffer, endKey?: Buffer): void {
    this.record(regionId, key, endKey).reads++;
  }

  /** A write of `key` (or of the range [key, endKey)) proposed to `regionId`. */
  recordWrite(regionId: number, key: Buffer, endKey?: Buffer): void {
    this.record(regionId, key, endKey).writes++;
  }

  /** The key to split `region` at for its load, if it has been hot long enough; then starts over. */
  maybeSplitKey(regionId: number, now: number, region: metapb.Region): Buffer | undefined {
    const d = this.checkLoadSplit(regionId, now, region);
    return d.split ? d.key : undefined;
  }

  /**
   * The decision with its reason (for logs and tests). A split decision resets the region's
   * streak and samples, so the same key is not chosen again before the load is measured anew.
   */
  checkLoadSplit(regionId: number, now: number, region: metapb.Region): LoadSplitDecision {
    const st = this.regions.get(regionId);
    if (!st) return { split: false, reason: "cold" };
    this.roll(st, now);
    if (st.hotWindows === 0 && st.reads + st.writes === 0) {
      this.regions.delete(regionId);
      return { split: false, reason: "cold" };
    }
    if (st.hotWindows < this.opts.windows) return { split: false, reason: "cold" };
    const inside = st.samples.filter((s) => inRegion(s.key, region));
    if (inside.length < this.opts.minSamples) return { split: false, reason: "tooFewSamples" };
    const d = this.chooseKey(inside, region);
    if (d.split) {
      st.hotWindows = 0;
      st.samples = [];
      st.seen = 0;
    }
    return d;
  }

  /** Forget a region (destroyed, or split by size: its samples describe the old range). */
  forget(regionId: number): void {
    this.regions.delete(regionId);
  }

  /** Requests counted so far in the region's current (unfinished) window; for stats. */
  currentRequests(regionId: number): { reads: number; writes: number } {
    const st = this.regions.get(regionId);
    return { reads: st?.reads ?? 0, writes: st?.writes ?? 0 };
  }

  private record(regionId: number, key: Buffer, endKey: Buffer | undefined): RegionLoad {
    const now = this.clock.now();
    let st = this.regions.get(regionId);
    if (!st) {
      st = { windowStart: now, reads: 0, writes: 0, hotWindows: 0, samples: [], seen: 0 };
      this.regions.set(regionId, st);
    } else {
      this.roll(st, now);
    }
    // Reservoir sampling (algorithm R over weighted-down history): keep each offered request
    // with probability sampleSize / seen.
    st.seen++;
    if (st.samples.length < this.opts.sampleSize) {
      st.samples.push(copySample(key, endKey));
    } else {
      const j = Math.floor(this.random() * st.seen);
      if (j < st.samples.length) st.samples[j] = copySample(key, endKey);
    }
    return st;
  }

  /** Close every window that ended by `now`. */
  private roll(st: RegionLoad, now: number): void {
    const w = this.opts.windowMs;
    if (now < st.windowStart + w) return;
    const rate = ((st.reads + st.writes) * 1000) / w;
    if (rate > this.opts.qpsThreshold) {
      st.hotWindows++;
      st.seen = Math.max(st.samples.length, Math.floor(st.seen / 2));
    } else {
      this.cool(st);
    }
    st.reads = 0;
    st.writes = 0;
    st.windowStart += w;
    if (now >= st.windowStart + w) {
      // Whole windows passed without a request: cold.
      this.cool(st);
      st.windowStart = now - ((now - st.windowStart) % w);
    }
  }

  private cool(st: RegionLoad): void {
    st.hotWindows = 0;
    st.samples = [];
    st.seen = 0;
  }

  private chooseKey(samples: Sample[], region: metapb.Region): LoadSplitDecision {
    const n = samples.length;
    const minSide = Math.ceil(this.minSideShare * n);
    // A single key carrying the load.
    const perKey = new Map<string, number>();
    let top = 0;
    for (const s of samples) {
      if (s.end !== undefined) continue;
      const k = s.key.toString("latin1");
      const c = (perKey.get(k) ?? 0) + 1;
      perKey.set(k, c);
      top = Math.max(top, c);
    }
    if (n - top < minSide) return { split: false, reason: "singleHotKey" };

    const candidates = new Map<string, Buffer>();
    for (const s of samples) {
      for (const c of [s.key, s.end]) {
        if (c !== undefined && c.byteLength > 0 && Buffer.compare(c, region.startKey) > 0 && inRegion(c, region)) candidates.set(c.toString("latin1"), c);
      }
    }
    let best: { key: Buffer; left: number; right: number; across: number; score: number } | undefined;
    for (const c of candidates.values()) {
      let left = 0;
      let right = 0;
      let across = 0;
      for (const s of samples) {
        if (s.end === undefined) {
          if (Buffer.compare(s.key, c) < 0) left++;
          else right++;
        } else if (s.end.byteLength > 0 && Buffer.compare(s.end, c) <= 0) left++;
        else if (Buffer.compare(s.key, c) >= 0) right++;
        else across++;
      }
      if (left < minSide || right < minSide) continue;
      const score = Math.abs(left - right) + across;
      if (!best || score < best.score || (score === best.score && Buffer.compare(c, best.key) < 0)) best = { key: c, left, right, across, score };
    }
    if (!best) return { split: false, reason: "unbalanced" };
    return { split: true, key: best.key, left: best.left, right: best.right, across: best.across, samples: n };
  }
}

function inRegion(key: Buffer, region: metapb.Region): boolean {
  return Buffer.compare(key, region.startKey) >= 0 && (region.endKey.byteLength === 0 || Buffer.compare(key, region.endKey) < 0);
}

/** Request keys may be views into a large message buffer: keep copies, not the buffer. */
function copySample(key: Buffer, end: Buffer | undefined): Sample {
  return { key: Buffer.from(key), end: end === undefined ? undefined : Buffer.from(end) };
}
