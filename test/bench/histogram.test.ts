import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom } from "@regionkv/raft";
import { LatencyHistogram, bucketOf, bucketUpperEdge } from "../../tools/bench/histogram.js";

describe("kv bench histogram", () => {
  it("buckets tile the value range: every value is in its bucket and edges increase", () => {
    let prevEdge = -1;
    const last = bucketOf(2 ** 31 - 1);
    for (let b = 0; b <= last; b++) {
      const edge = bucketUpperEdge(b);
      assert.ok(edge > prevEdge, `bucket ${b}`);
      assert.equal(bucketOf(edge), b, `upper edge of ${b}`);
      assert.equal(bucketOf(prevEdge + 1), b, `lower edge of ${b}`);
      prevEdge = edge;
    }
    assert.equal(bucketUpperEdge(last), 2 ** 31 - 1);
  });

  it("is exact below 128 µs and within 1/64 above", () => {
    for (let v = 0; v < 128; v++) assert.equal(bucketUpperEdge(bucketOf(v)), v);
    const rnd = seededRandom(7);
    for (let i = 0; i < 10_000; i++) {
      const v = Math.floor(rnd() * 2 ** 30);
      const edge = bucketUpperEdge(bucketOf(v));
      assert.ok(edge >= v && edge - v <= v / 64, `${v} → ${edge}`);
    }
  });

  it("percentiles match the sorted values within the bucket precision; max and min exact", () => {
    const rnd = seededRandom(42);
    const h = new LatencyHistogram();
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // log-uniform between 50 µs and 500 ms, like latencies
      const us = Math.round(50 * Math.exp(rnd() * Math.log(10_000)));
      values.push(us);
      h.recordUs(us);
    }
    values.sort((a, b) => a - b);
    for (const p of [1, 25, 50, 90, 99, 99.9]) {
      const exact = values[Math.ceil((p / 100) * values.length) - 1]!;
      const got = h.percentileUs(p);
      assert.ok(got >= exact && got - exact <= exact / 64 + 1, `p${p}: exact ${exact}, got ${got}`);
    }
    assert.equal(h.percentileUs(100), values.at(-1));
    assert.equal(h.maxUs, values.at(-1));
    assert.equal(h.minUs, values[0]);
    assert.equal(h.count, values.length);
  });

  it("small known sets: p50 and p99 of 1..100 ms", () => {
    const h = new LatencyHistogram();
    for (let ms = 1; ms <= 100; ms++) h.recordMs(ms);
    const s = h.summary();
    assert.ok(Math.abs(s.p50Ms - 50) <= 50 / 64, `p50 ${s.p50Ms}`);
    assert.ok(Math.abs(s.p99Ms - 99) <= 99 / 64, `p99 ${s.p99Ms}`);
    assert.equal(s.maxMs, 100);
    assert.equal(s.minMs, 1);
    assert.equal(s.meanMs, 50.5);
  });

  it("one value: every percentile is that value; empty: zeros", () => {
    const h = new LatencyHistogram();
    assert.deepEqual(h.summary(), { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 });
    h.recordMs(3.3335);
    for (const p of [0, 50, 99, 100]) assert.equal(h.percentileUs(p), 3334);
  });

  it("merge equals recording everything in one histogram", () => {
    const rnd = seededRandom(3);
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 0; i < 5_000; i++) {
      const v = rnd() * 1e6;
      (i % 3 === 0 ? a : b).recordUs(v);
      all.recordUs(v);
    }
    a.merge(b);
    assert.deepEqual(a.summary(), all.summary());
  });

  it("clamps negatives to 0 and huge values to 2^31 − 1 µs", () => {
    const h = new LatencyHistogram();
    h.recordUs(-5);
    h.recordUs(1e12);
    assert.equal(h.minUs, 0);
    assert.equal(h.maxUs, 2 ** 31 - 1);
  });
});
