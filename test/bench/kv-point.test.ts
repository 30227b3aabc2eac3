import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatKvTable, keyOf, runPoint, type KvReport } from "../../tools/bench/kv-bench.js";
import type { KvDriver } from "../../tools/bench/kv-driver.js";
import { parseKvOptions } from "../../tools/bench/kv-options.js";

/** An in-memory driver answering after `delayMs`; every `failEvery`-th call fails. */
function memoryDriver(delayMs: number, failEvery = 0): KvDriver & { calls: number; maxInFlight: number } {
  const data = new Map<string, Buffer>();
  let inFlight = 0;
  const d = {
    name: "memory",
    calls: 0,
    maxInFlight: 0,
    async put(key: Buffer, value: Buffer) {
      await call();
      data.set(key.toString(), value);
    },
    async get(key: Buffer) {
      await call();
      return data.get(key.toString());
    },
    async close() {},
  };
  async function call(): Promise<void> {
    d.calls++;
    inFlight++;
    d.maxInFlight = Math.max(d.maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    inFlight--;
    if (failEvery > 0 && d.calls % failEvery === 0) throw new Error("injected");
  }
  return d;
}

describe("kv bench point", () => {
  const o = parseKvOptions(["--duration", "300ms", "--warmup", "100ms", "--keys", "50", "--value-size", "8"], true);

  it("runs closed-loop workers for the window and stops by itself", async () => {
    const d = memoryDriver(2);
    for (let i = 0; i < o.keys; i++) await d.put(keyOf(i), Buffer.alloc(8));
    const t0 = performance.now();
    const p = await runPoint(d, "etcd", "memory", "get", 8, o, 1);
    const ms = performance.now() - t0;
    assert.ok(ms >= 400 && ms < 2_000, `took ${ms} ms`);
    assert.equal(d.maxInFlight, 8);
    assert.ok(p.ops > 100, `ops ${p.ops}`);
    assert.equal(p.errors, 0);
    assert.equal(p.misses, 0);
    assert.ok(Math.abs(p.opsPerSec - p.ops / 0.3) < 1e-6);
    assert.ok(p.latency.p50Ms >= 1.5 && p.latency.p50Ms < 50, `p50 ${p.latency.p50Ms}`);
    assert.ok(p.latency.maxMs >= p.latency.p99Ms && p.latency.p99Ms >= p.latency.p50Ms);
    assert.ok(p.clientCpuPct >= 0 && p.machineIdlePct >= 0 && p.machineIdlePct <= 100);
  });

  it("counts errors and misses instead of stopping", async () => {
    const d = memoryDriver(1, 5);
    const p = await runPoint(d, "regionkv", "memory", "get", 4, o, 2);
    assert.ok(p.errors > 0, "errors counted");
    assert.equal(p.misses, p.ops, "an empty store misses every get");
    assert.equal(p.firstError, "injected");
  });

  it("formats one table with the targets side by side", () => {
    const lat = { count: 1, minMs: 1, meanMs: 1, p50Ms: 1.234, p90Ms: 2, p99Ms: 12.34, p999Ms: 20, maxMs: 123.4 };
    const r: KvReport = {
      options: parseKvOptions(["--ops", "put", "--concurrency", "1,64"], false),
      targets: [
        { target: "regionkv", label: "regionkv", status: "skipped", detail: "not runnable yet", notes: [] },
        { target: "etcd", label: "etcd 3.4.23", status: "ok", detail: "3 members", notes: [] },
      ],
      points: [{ target: "etcd", label: "etcd 3.4.23", op: "put", concurrency: 64, ops: 50_000, errors: 0, misses: 0, seconds: 10, opsPerSec: 5_000, latency: lat, clientCpuPct: 80, machineIdlePct: 0 }],
    };
    const text = formatKvTable(r);
    const row = text.split("\n").find((l) => l.startsWith("put") && l.includes(" 64 "))!;
    assert.match(row, /—.*\|\s+5,000\s+1\.23\s+12\.3\s+123$/);
    assert.match(text, /regionkv: skipped — not runnable yet/);
    assert.match(text, /client \(this process\) 80–80; machine idle 0–0%/);
  });
});
