/**
 * KV benchmark (`pnpm bench kv`): raw put and linearizable get against a local 3-node cluster,
 * regionkv and etcd side by side in one run.
 *
 * Per target, one at a time (the two never share the CPUs): start the cluster (or connect,
 * `--scheduler`), preload every key of the key space when gets are measured, then for each op ×
 * concurrency a point: closed-loop workers (as many as the concurrency) on one shared client,
 * each picking uniform random keys from its own seeded RNG, 256-byte values. A point runs an
 * unmeasured warm-up, then a measured window of fixed length (`--quick` 3 s, default 10 s):
 * operations that complete inside the window count, with their latency (issue → reply, as the
 * client sees it) in a log-bucketed histogram; ops/s = those completions / window. Workers stop
 * issuing at the end of the window and the point waits for their last calls (bounded by the
 * client deadline). Failed calls are counted, never retried inside a point.
 *
 * Figures: one table with both targets per op × concurrency (ops/s, p50, p99, max), or JSON
 * (with p90/p99.9/mean, errors, misses, and the CPU split per point).
 *
 * The client runs in this process on the same cores as the servers, so its CPU cost is part of
 * every figure; each point records the CPU of the client, of the servers (their process groups)
 * and of every other process (a busy machine skews the run; the table warns). The clients differ
 * the way their real ones do: etcd gets one unary gRPC call per operation over a round_robin
 * channel (as etcd's Go client), regionkv's RawClient multiplexes operations on its
 * BatchCommands streams (as TiKV's client), which costs the client far less CPU per operation.
 *
 *   pnpm bench kv --quick                       both targets, 3 s per point
 *   pnpm bench kv --targets etcd                etcd only, 10 s per point
 *   pnpm bench kv --scheduler 127.0.0.1:2379    a running regionkv cluster (and etcd)
 *   pnpm bench kv --json > kv.json              machine-readable; `pnpm bench --help` lists the flags
 */
import os from "node:os";
import { seededRandom } from "@regionkv/raft";
import type { KvDriver, KvTargetHandle } from "./kv-driver.js";
import { findEtcd, startEtcdCluster } from "./kv-etcd.js";
import { parseKvOptions, type KvOp, type KvOptions, type KvTarget } from "./kv-options.js";
import { groupCpuMs, installInterruptHandlers, settlesWithin, sleep } from "./kv-procs.js";
import { clusterCommandMissing, connectRegionkv, loadRawClient, startRegionkvCluster } from "./kv-regionkv.js";
import { LatencyHistogram, type HistogramSummary } from "./histogram.js";
import { progress } from "./report.js";

export interface KvPoint {
  target: KvTarget;
  label: string;
  op: KvOp;
  concurrency: number;
  /** Operations completed in the measured window (errors not included). */
  ops: number;
  errors: number;
  /** Gets that found no value, or a value of the wrong size (after the preload: a bug). */
  misses: number;
  seconds: number;
  opsPerSec: number;
  latency: HistogramSummary;
  /** CPU used by this process (the client) in the window, in % of one core. */
  clientCpuPct: number;
  /** Idle CPU of the whole machine in the window, in % of all cores (0: saturated, the client competes with the servers). */
  machineIdlePct: number;
  /** CPU used by the servers the bench started, in % of one core (undefined: not known, e.g. a running cluster or no /proc). */
  serverCpuPct?: number;
  /** CPU used by everything else on the machine (busy − client − servers), in % of one core: other work skews the figures. */
  otherCpuPct?: number;
  firstError?: string;
}

export interface KvTargetStatus {
  target: KvTarget;
  label: string;
  status: "ok" | "skipped" | "failed";
  detail: string;
  notes: string[];
}

export interface KvReport {
  options: KvOptions;
  /** The 1-minute load average when the bench started, and the core count: other work on the machine skews every figure. */
  machine?: { cores: number; loadAvgAtStart: number };
  targets: KvTargetStatus[];
  points: KvPoint[];
}

/** What index.ts prints: the table, or (--json) `json`. */
export interface KvSuiteOutput {
  print(): void;
  json: KvReport;
}

const KEY_PREFIX = "kvbench/";
const VALUE_POOL = 16;

export function keyOf(i: number): Buffer {
  return Buffer.from(`${KEY_PREFIX}${String(i).padStart(10, "0")}`);
}

/** `VALUE_POOL` distinct values of `size` bytes from the seeded RNG. */
function valuePool(size: number, seed: number): Buffer[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: VALUE_POOL }, () => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  });
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US");

/** Once a second: what is running and how fast it goes. Returns the stopper. */
function ticker(line: () => string): () => void {
  const t = setInterval(() => progress(line()), 1_000);
  return () => clearInterval(t);
}

/** Busy and idle CPU time of the whole machine so far (ms, all cores). */
function machineCpu(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

/** Write every key once (`inFlight` writers), so that gets find values. */
async function preload(driver: KvDriver, label: string, o: KvOptions): Promise<void> {
  const values = valuePool(o.valueSize, o.seed ^ 0x5eed);
  const inFlight = Math.min(128, o.keys);
  let next = 0;
  let done = 0;
  let lastDone = 0;
  let failedKeys = 0;
  let firstError = "";
  const t0 = performance.now();
  const stop = ticker(() => {
    const rate = done - lastDone;
    lastDone = done;
    return `${label} preload: ${fmtInt(done)}/${fmtInt(o.keys)} keys, ${fmtInt(rate)} puts/s`;
  });
  try {
    const worker = async (): Promise<void> => {
      while (next < o.keys && failedKeys < 100) {
        const i = next++;
        for (let attempt = 1; ; attempt++) {
          try {
            await driver.put(keyOf(i), values[i % VALUE_POOL]!);
            break;
          } catch (e) {
            firstError ||= (e as Error).message;
            if (attempt >= 3) {
              failedKeys++;
              break;
            }
            await sleep(100 * attempt);
          }
        }
        done++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, () => worker()));
  } finally {
    stop();
  }
  if (failedKeys > 0) throw new Error(`${label} preload: ${failedKeys} keys failed 3 times (first error: ${firstError})`);
  const secs = (performance.now() - t0) / 1000;
  progress(`${label} preload: ${fmtInt(o.keys)} keys in ${secs.toFixed(1)} s (${fmtInt(o.keys / secs)} puts/s, ${inFlight} in flight)`);
}

/** One (target, op, concurrency) point: warm-up, then the measured window; see the file comment. */
export async function runPoint(
  driver: KvDriver,
  target: KvTarget,
  label: string,
  op: KvOp,
  concurrency: number,
  o: KvOptions,
  pointSeed: number,
  serverGroups: readonly number[] = [],
): Promise<KvPoint> {
  const values = valuePool(o.valueSize, pointSeed ^ 0x7a1e);
  const hist = new LatencyHistogram();
  let ops = 0;
  let errors = 0;
  let misses = 0;
  let firstError: string | undefined;
  let completedAll = 0;
  let lastCompleted = 0;
  const t0 = performance.now();
  const measureFrom = t0 + o.warmupSec * 1000;
  const measureTo = measureFrom + o.durationSec * 1000;
  const tag = `${label} ${op} c=${concurrency}`;
  // CPU samples at the window's edges (a timer may fire a little late on a loaded machine; the
  // figures are divided by the time between the samples actually taken).
  const sampleCpu = (): { at: number; client: NodeJS.CpuUsage; machine: ReturnType<typeof machineCpu>; servers: number | undefined } => ({
    at: performance.now(),
    client: process.cpuUsage(),
    machine: machineCpu(),
    servers: serverGroups.length > 0 ? groupCpuMs(serverGroups) : undefined,
  });
  let cpuAtStart: ReturnType<typeof sampleCpu> | undefined;
  let cpuAtEnd: typeof cpuAtStart;
  const cpuTimers = [setTimeout(() => (cpuAtStart = sampleCpu()), measureFrom - t0), setTimeout(() => (cpuAtEnd = sampleCpu()), measureTo - t0)];
  const stop = ticker(() => {
    const now = performance.now();
    const rate = completedAll - lastCompleted;
    lastCompleted = completedAll;
    const phase = now < measureFrom ? "warming up" : `${Math.min(o.durationSec, (now - measureFrom) / 1000).toFixed(0)}/${o.durationSec} s, ${fmtInt(ops)} ops`;
    return `${tag}: ${phase}, ${fmtInt(rate)} ops/s${errors > 0 ? `, ${fmtInt(errors)} errors` : ""}`;
  });

  const worker = async (w: number): Promise<void> => {
    const rnd = seededRandom((pointSeed * 7919 + w * 104_729) >>> 0);
    while (performance.now() < measureTo) {
      const i = Math.floor(rnd() * o.keys);
      const key = keyOf(i);
      const start = performance.now();
      let failed = false;
      let miss = false;
      try {
        if (op === "put") await driver.put(key, values[Math.floor(rnd() * VALUE_POOL)]!);
        else {
          const v = await driver.get(key);
          miss = v === undefined || v.length !== o.valueSize;
        }
      } catch (e) {
        failed = true;
        firstError ??= (e as Error).message;
      }
      const end = performance.now();
      completedAll++;
      if (end >= measureFrom && end <= measureTo) {
        if (failed) errors++;
        else {
          ops++;
          hist.recordMs(end - start);
          if (miss) misses++;
        }
      }
      if (failed) await sleep(10); // a failing cluster must not turn the worker into a spin loop
    }
  };
  try {
    const all = Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    // Calls are bounded by the client deadline; this only catches a client that never answers.
    const limitMs = (o.warmupSec + o.durationSec) * 1000 + 60_000;
    if (!(await settlesWithin(all, limitMs))) throw new Error(`${tag}: calls still outstanding ${limitMs / 1000} s after the start; the client does not answer`);
  } finally {
    stop();
    cpuTimers.forEach(clearTimeout);
  }
  // The last worker may finish (just after the window) before the end timer fires.
  cpuAtEnd ??= sampleCpu();
  let clientCpuPct = 0;
  let machineIdlePct = 0;
  let serverCpuPct: number | undefined;
  let otherCpuPct: number | undefined;
  if (cpuAtStart) {
    const wallMs = Math.max(1, cpuAtEnd.at - cpuAtStart.at);
    const total = cpuAtEnd.machine.total - cpuAtStart.machine.total;
    const idleFrac = total > 0 ? (cpuAtEnd.machine.idle - cpuAtStart.machine.idle) / total : 0;
    machineIdlePct = Math.round(100 * idleFrac);
    const clientMs = (cpuAtEnd.client.user + cpuAtEnd.client.system - cpuAtStart.client.user - cpuAtStart.client.system) / 1000;
    clientCpuPct = Math.round((100 * clientMs) / wallMs);
    if (cpuAtStart.servers !== undefined && cpuAtEnd.servers !== undefined) {
      const serverMs = cpuAtEnd.servers - cpuAtStart.servers;
      serverCpuPct = Math.round((100 * serverMs) / wallMs);
      // Busy time of all cores over the window, minus ours.
      const busyMs = total - (cpuAtEnd.machine.idle - cpuAtStart.machine.idle);
      otherCpuPct = Math.max(0, Math.round((100 * (busyMs - clientMs - serverMs)) / wallMs));
    }
  }
  const point: KvPoint = {
    target,
    label,
    op,
    concurrency,
    ops,
    errors,
    misses,
    seconds: o.durationSec,
    opsPerSec: ops / o.durationSec,
    latency: hist.summary(),
    clientCpuPct,
    machineIdlePct,
  };
  if (serverCpuPct !== undefined) point.serverCpuPct = serverCpuPct;
  if (otherCpuPct !== undefined) point.otherCpuPct = otherCpuPct;
  if (firstError !== undefined) point.firstError = firstError;
  const l = point.latency;
  progress(
    `${tag}: ${fmtInt(point.opsPerSec)} ops/s, p50 ${fmtMs(l.p50Ms)} ms, p99 ${fmtMs(l.p99Ms)} ms, max ${fmtMs(l.maxMs)} ms; ` +
      `CPU (% of a core): client ${clientCpuPct}${serverCpuPct !== undefined ? `, servers ${serverCpuPct}, other processes ${otherCpuPct}` : ""}; machine idle ${machineIdlePct}%` +
      `${errors > 0 ? `, ${errors} errors (first: ${firstError})` : ""}${misses > 0 ? `, ${misses} misses` : ""}`,
  );
  return point;
}

/** Start (or connect to) one target, or say why it is skipped (not installed / not built yet). */
async function openTarget(target: KvTarget, o: KvOptions): Promise<KvTargetHandle | { skipped: string; label: string }> {
  if (target === "etcd") {
    const etcd = findEtcd(o.etcdBin);
    if (!etcd) {
      const msg = "etcd not found (apt-get install etcd-server); skipping the etcd side";
      process.stderr.write(`${msg}\n`);
      return { skipped: msg, label: "etcd" };
    }
    return startEtcdCluster(o.etcdBin, etcd.version, 3);
  }
  const rc = await loadRawClient();
  if ("missing" in rc) {
    const msg = `regionkv client not usable (${rc.missing}); skipping the regionkv side`;
    process.stderr.write(`${msg}\n`);
    return { skipped: msg, label: "regionkv" };
  }
  if (o.scheduler !== undefined) return connectRegionkv(rc.RawClient, o.scheduler);
  const missing = clusterCommandMissing();
  if (missing) {
    const msg = `regionkv cluster command not available yet (${missing}); skipping the regionkv side (or pass --scheduler HOST:PORT)`;
    process.stderr.write(`${msg}\n`);
    return { skipped: msg, label: "regionkv" };
  }
  return startRegionkvCluster(rc.RawClient, 3);
}

/** Every point of one target; stops the target whatever happens. */
async function runTarget(h: KvTargetHandle, target: KvTarget, o: KvOptions, status: KvTargetStatus, points: KvPoint[]): Promise<void> {
  try {
    if (o.ops.includes("get")) await preload(h.driver, h.label, o);
    let n = 0;
    for (const op of o.ops) {
      for (const c of o.concurrency) {
        n++;
        points.push(await runPoint(h.driver, target, h.label, op, c, o, (o.seed * 1_000 + n) >>> 0, h.serverGroups));
      }
    }
    const note = await h.afterRun?.().catch((e: Error) => `after-run figures unavailable: ${e.message}`);
    if (note) {
      status.notes.push(note);
      progress(`${h.label}: ${note}`);
    }
  } finally {
    await h.stop();
  }
}

export async function runKvBench(opts: { quick: boolean; args: string[] }): Promise<KvSuiteOutput> {
  const o = parseKvOptions(opts.args, opts.quick);
  const uninstall = installInterruptHandlers();
  const targets: KvTargetStatus[] = [];
  const points: KvPoint[] = [];
  const machine = { cores: os.cpus().length, loadAvgAtStart: Number(os.loadavg()[0]!.toFixed(2)) };
  if (machine.loadAvgAtStart > 0.5) progress(`kv: the machine is busy (load average ${machine.loadAvgAtStart} on ${machine.cores} cores): figures will be skewed`);
  progress(
    `kv: targets ${o.targets.join(",")}, ops ${o.ops.join(",")}, concurrency ${o.concurrency.join(",")}, ` +
      `${o.durationSec} s per point (+${o.warmupSec} s warm-up), ${fmtInt(o.keys)} keys, ${o.valueSize} B values, seed ${o.seed}`,
  );
  try {
    for (const target of o.targets) {
      const status: KvTargetStatus = { target, label: target, status: "ok", detail: "", notes: [] };
      targets.push(status);
      let h: KvTargetHandle | { skipped: string; label: string };
      try {
        h = await openTarget(target, o);
      } catch (e) {
        status.status = "failed";
        status.detail = `could not start: ${(e as Error).message}`;
        progress(`${target}: ${status.detail}`);
        process.exitCode = 1;
        continue;
      }
      status.label = h.label;
      if ("skipped" in h) {
        status.status = "skipped";
        status.detail = h.skipped;
        continue;
      }
      status.detail = h.detail;
      try {
        await runTarget(h, target, o, status, points);
      } catch (e) {
        status.status = "failed";
        status.notes.push(`failed: ${(e as Error).message}`);
        progress(`${h.label}: failed: ${(e as Error).message}`);
        process.exitCode = 1;
      }
    }
  } finally {
    uninstall();
  }
  const report: KvReport = { options: o, machine, targets, points };
  return { json: report, print: () => printKvTable(report) };
}

// ---- the table ---------------------------------------------------------------------------------

export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

const COLS = ["ops/s", "p50 ms", "p99 ms", "max ms"] as const;
const COL_W = 9;

function cells(p: KvPoint | undefined): string[] {
  if (!p) return COLS.map(() => "—");
  const l = p.latency;
  return [fmtInt(p.opsPerSec), fmtMs(l.p50Ms), fmtMs(l.p99Ms), fmtMs(l.maxMs)];
}

export function formatKvTable(r: KvReport): string {
  const o = r.options;
  const shown = r.targets;
  const groupW = COLS.length * COL_W;
  const lines: string[] = [];
  lines.push(`\nkv — raw put and linearizable get, ${o.valueSize} B values, ${fmtInt(o.keys)} keys (uniform), closed loop, ${o.durationSec} s per point`);
  if (r.machine) lines.push(`client and servers on one machine: ${r.machine.cores} cores, load average ${r.machine.loadAvgAtStart} at the start`);
  lines.push(`${"".padEnd(11)}${shown.map((t) => ` | ${t.label.slice(0, groupW).padEnd(groupW)}`).join("")}`);
  lines.push(`${"op".padEnd(4)}${"conc".padStart(7)}${shown.map(() => ` | ${COLS.map((c) => c.padStart(COL_W)).join("")}`).join("")}`);
  for (const op of o.ops) {
    for (const c of o.concurrency) {
      const row = shown.map((t) => cells(r.points.find((p) => p.target === t.target && p.op === op && p.concurrency === c)));
      lines.push(`${op.padEnd(4)}${String(c).padStart(7)}${row.map((cs) => ` | ${cs.map((x) => x.padStart(COL_W)).join("")}`).join("")}`);
    }
  }
  for (const t of shown) {
    const mine = r.points.filter((p) => p.target === t.target);
    const bad = mine.filter((p) => p.errors > 0 || p.misses > 0);
    lines.push(`  ${t.label}: ${t.status === "ok" ? t.detail : `${t.status} — ${t.detail}`}`);
    if (mine.length > 0) {
      const range = (xs: number[]): string => `${Math.min(...xs)}–${Math.max(...xs)}`;
      const servers = mine.flatMap((p) => (p.serverCpuPct !== undefined ? [p.serverCpuPct] : []));
      const other = mine.flatMap((p) => (p.otherCpuPct !== undefined ? [p.otherCpuPct] : []));
      lines.push(
        `    CPU during the points, % of one core: client (this process) ${range(mine.map((p) => p.clientCpuPct))}` +
          `${servers.length > 0 ? `, servers ${range(servers)}` : ""}${other.length > 0 ? `, other processes ${range(other)}` : ""}; machine idle ${range(mine.map((p) => p.machineIdlePct))}%`,
      );
      if (Math.max(...other) >= 20) lines.push(`    warning: other processes used up to ${Math.max(...other)}% of a core during these points; the figures are skewed`);
    }
    for (const p of bad) lines.push(`    ${p.op} c=${p.concurrency}: ${p.errors} errors, ${p.misses} misses${p.firstError ? ` (first error: ${p.firstError})` : ""}`);
    for (const n of t.notes) lines.push(`    ${n}`);
  }
  return `${lines.join("\n")}\n`;
}

export function printKvTable(r: KvReport): void {
  process.stdout.write(formatKvTable(r));
}
