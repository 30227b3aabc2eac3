/**
 * A latency histogram with log-linear buckets, in the manner of HdrHistogram: values are whole
 * microseconds; below 128 µs every value has its own bucket, above that each power of two is cut
 * into 64 equal buckets, so a bucket is at most 1/64 (≈ 1.6 %) of its values wide. A percentile
 * is the upper edge of the bucket it falls in (never more than the exact maximum, which is kept
 * apart together with the exact minimum, count and sum). Values up to 2^31 µs (≈ 36 min) are
 * kept; larger ones are clamped there.
 */

const SUB_BUCKETS = 128;
const HALF = SUB_BUCKETS / 2;
const SHIFT0 = Math.log2(HALF); // 6: a value in [2^k, 2^(k+1)) with k ≥ 7 is shifted by k − 6
const MAX_VALUE = 2 ** 31 - 1;

/** The bucket of a whole, non-negative value. */
export function bucketOf(v: number): number {
  if (v < SUB_BUCKETS) return v;
  const shift = 31 - Math.clz32(v) - SHIFT0; // ≥ 1
  return SUB_BUCKETS + (shift - 1) * HALF + ((v >>> shift) - HALF);
}

/** The largest value that falls in bucket `b`. */
export function bucketUpperEdge(b: number): number {
  if (b < SUB_BUCKETS) return b;
  const shift = Math.floor((b - SUB_BUCKETS) / HALF) + 1;
  const sub = ((b - SUB_BUCKETS) % HALF) + HALF;
  return (sub + 1) * 2 ** shift - 1;
}

export interface HistogramSummary {
  count: number;
  /** Figures in milliseconds. */
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export class LatencyHistogram {
  private counts: number[] = [];
  count = 0;
  sumUs = 0;
  minUs = Infinity;
  maxUs = 0;

  /** Record one latency in milliseconds (e.g. a difference of two `performance.now()`). */
  recordMs(ms: number): void {
    this.recordUs(ms * 1000);
  }

  /** Record one value in microseconds; fractions are rounded, negatives count as 0. */
  recordUs(us: number): void {
    const v = Math.min(MAX_VALUE, Math.max(0, Math.round(us)));
    const b = bucketOf(v);
    while (this.counts.length <= b) this.counts.push(0);
    this.counts[b]!++;
    this.count++;
    this.sumUs += v;
    if (v < this.minUs) this.minUs = v;
    if (v > this.maxUs) this.maxUs = v;
  }

  /** Add another histogram's values to this one. */
  merge(o: LatencyHistogram): void {
    while (this.counts.length < o.counts.length) this.counts.push(0);
    o.counts.forEach((c, b) => (this.counts[b]! += c));
    this.count += o.count;
    this.sumUs += o.sumUs;
    this.minUs = Math.min(this.minUs, o.minUs);
    this.maxUs = Math.max(this.maxUs, o.maxUs);
  }

  /**
   * The value (µs) at percentile `p` (0–100): the upper edge of the bucket holding the
   * ⌈p/100 · count⌉-th smallest value, capped at the exact maximum; 0 when empty.
   */
  percentileUs(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < this.counts.length; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.max(this.minUs, Math.min(this.maxUs, bucketUpperEdge(b)));
    }
    return this.maxUs;
  }

  summary(): HistogramSummary {
    const ms = (us: number): number => us / 1000;
    return {
      count: this.count,
      minMs: this.count === 0 ? 0 : ms(this.minUs),
      meanMs: this.count === 0 ? 0 : ms(this.sumUs / this.count),
      p50Ms: ms(this.percentileUs(50)),
      p90Ms: ms(this.percentileUs(90)),
      p99Ms: ms(this.percentileUs(99)),
      p999Ms: ms(this.percentileUs(99.9)),
      maxMs: ms(this.maxUs),
    };
  }
}
