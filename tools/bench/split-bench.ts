/**
 * Split and rebalance benchmark (`pnpm bench split`): the four figures of issue 5 on real
 * `regionkv` processes on loopback, driven through the public RawClient.
 *
 * Flow (one cluster, phases in order, every wait bounded):
 *  1. start a scheduler (`--max-store-down-time`, default 20 s) and 3 stores with small regions
 *     (`--region-max-size 96KiB --region-split-size 64KiB`), each its own process and log file;
 *  2. preload `--keys` background keys (`sb/k/…`, 1 KiB values; they split into tens of regions)
 *     and wait until the cluster settles (no running operator, every region with 3 peers and a
 *     leader, the region count unchanged for 3 s);
 *  3. start the background load (`--workers` closed-loop workers, half puts that overwrite a
 *     background key with a same-size value, half linearizable gets; the background keys never
 *     grow) and measure the **steady-state throughput** over `--steady` seconds;
 *  4. **split latency**, `--splits` samples one after another while the load runs: a filler
 *     appends keys `sb/z/<n>` (1 KiB values, 4 in flight) in key order, so they all land in the
 *     last region R = [start, +∞); it stops at the first acknowledged write that takes R past the
 *     limit, and waits for both halves to serve before it appends again;
 *  5. **fair share**: start a 4th store and wait until it holds ≥ 90 % of its fair share of
 *     replicas (all replicas / 4) and of leaders (regions / 4);
 *  6. **re-replication**: kill -9 store-1 and wait until every region again has 3 replicas, none on
 *     the dead store.
 * The background load runs from 3 to 6; throughput during splitting (phase 4) and rebalancing
 * (phase 5) is compared with the steady state of phase 3, as ops/s over the whole phase and as
 * the worst one-second stretch in it.
 *
 * Split latency, precisely. For a sample on region R (id, version v when the filler started):
 *  - t0 = the moment the RawClient acknowledges the write after which R holds more than
 *    region-max-size bytes. The bench knows R's size exactly: it wrote every key in R itself, and
 *    the store's split checker counts len(key) + len(value) of each row, as the bench does; R's
 *    range comes from the scheduler (GetRegion of the next filler key) before the filler starts.
 *    The leader applied that write just before the ack, and that apply is what makes the store
 *    schedule its split check at once (raftstore peer.ts, `overSplitLimits` in `afterApply`), so
 *    t0 is the crossing as the store sees it, plus the ack's trip back (≈ 1 ms).
 *  - t1 = the moment both halves served a linearizable get through the RawClient: the bench polls
 *    the scheduler every 10 ms until it reports R at version > v with a leader and the region of
 *    the last filler key as another region with a leader (both halves heartbeat at once after the
 *    split / on election), then issues a get of R's first key (left half) and of the last filler
 *    key (right half); t1 is when the later of the two returns. The client still has R's old
 *    range cached, so its EpochNotMatch / KeyNotInRegion round trip is part of t1, as it is for
 *    any application.
 *    When a store log shows the split check deciding (the "asking …" line below) before the
 *    ack reached the bench (a busy client process), t0 is moved back to that log time: the
 *    crossing cannot have been later than the decision it caused.
 *  - split latency = t1 − t0. A sample that does not reach t1 within the split timeout (20 s
 *    quick, 30 s full) counts as timed out and is listed, not folded into the percentiles.
 * From the stores' logs (pino `time`, the same wall clock as the bench's Date.now()), each sample
 * is broken down afterwards: t0 → leader asks for split ids ("asking the scheduler to split the
 * region", the split check's scan included) → leader applies the BatchSplit ("region split",
 * leader true) → scheduler shows both halves with leaders → both gets returned (t1).
 *
 * Fair share: from the 4th store's start to the first scheduler view (polled every 500 ms) in
 * which it holds ≥ 90 % of all replicas / 4, and (separately) ≥ 90 % of regions / 4 leaders; the
 * time to 20 % of the regions (the issue's end-to-end criterion) is shown too.
 * Re-replication: from the kill -9 to the first scheduler view with every region at 3 replicas
 * and none on the dead store; the time after the down time expired (kill + max-store-down-time)
 * is shown as well, since the scheduler must not start before then.
 *
 * The client runs in this process on the same cores as the servers; every figure includes that.
 *
 *   pnpm bench split --quick                       20 splits, a few minutes
 *   pnpm bench split                               100 splits
 *   pnpm bench split --region-heartbeat-interval 1s --keep-dir /tmp/sb   faster heartbeats, logs kept
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RawClient } from "@regionkv/client";
import type { RegionWithLeader, SchedulerRpcClient } from "@regionkv/scheduler/client";
import { seededRandom } from "@regionkv/raft";
import { LatencyHistogram, type HistogramSummary } from "./histogram.js";
import { groupCpuMs, installInterruptHandlers, sleep, tempDir, withTimeout } from "./kv-procs.js";
import { loadRawClient } from "./kv-regionkv.js";
import { BackgroundLoad, type WindowRate } from "./split-load.js";
import { BenchCluster, countByStore, readLogLines, storeFlags, type BenchStore } from "./split-cluster.js";
import { parseSplitOptions, type SplitOptions } from "./split-options.js";
import { progress } from "./report.js";

const VALUE_SIZE = 1024;
const FILL_IN_FLIGHT = 4;
const KEY_DIGITS = 10;
const bgKey = (i: number): Buffer => Buffer.from(`sb/k/${String(i).padStart(KEY_DIGITS, "0")}`);
const fillKey = (i: number): Buffer => Buffer.from(`sb/z/${String(i).padStart(KEY_DIGITS, "0")}`);
/** Every key the bench writes has this length. */
const KEY_LEN = bgKey(0).length;
const ROW_BYTES = KEY_LEN + VALUE_SIZE;

export interface SplitSample {
  regionId: string;
  /** R's version when the filler started. */
  version: string;
  newRegionId?: string;
  /** t0 (Date.now() of the crossing write's acknowledgement). */
  t0: number;
  /** How far t0 was moved back from the ack to the leader's split decision (see the file comment). */
  ackDelayMs?: number;
  /** Region size (bytes, exact) right after the crossing write. */
  sizeAtCrossing: number;
  /** ms after t0 (absent: not seen). */
  askMs?: number;
  appliedMs?: number;
  schedulerMs?: number;
  /** t1 − t0; absent when the sample timed out. */
  latencyMs?: number;
}

export interface SplitReport {
  options: SplitOptions;
  machine: { cores: number; loadAvgAtStart: number };
  storeArgs: string[];
  notes: string[];
  preload?: { keys: number; seconds: number; regions: number; settleSeconds: number; settled: boolean };
  steady?: WindowRate;
  splitting?: WindowRate;
  samples: SplitSample[];
  /** CPU per window (steady, splitting, rebalancing, rereplicating); `otherPct` high = figures skewed by other work. */
  cpu: Record<string, WindowCpu>;
  /** Background ops completed in each second since the load started, and when each phase began (s). */
  timeline?: { opsPerSecond: number[]; phases: Record<string, number> };
  latency?: HistogramSummary;
  breakdown?: Record<"ackDelay" | "ask" | "applied" | "scheduler", { p50Ms: number; p99Ms: number; minMs: number; count: number }>;
  rebalance?: {
    window: WindowRate;
    regions: number;
    reached: boolean;
    firstReplicaSec?: number;
    twentyPctSec?: number;
    replicaShareSec?: number;
    leaderShareSec?: number;
    final: { replicas: number; leaders: number; fairReplicas: number; fairLeaders: number };
    /** The same load once the 4th store holds its share: the baseline a 4-process cluster on these cores gives. */
    steadyAfter?: WindowRate;
  };
  rereplicate?: {
    window: WindowRate;
    victimStoreId: string;
    affectedRegions: number;
    doneSec?: number;
    downTimeSec: number;
    remaining: number;
  };
}

export interface SplitSuiteOutput {
  print(): void;
  json: SplitReport;
}

function valuePool(seed: number): Buffer[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: 16 }, () => {
    const b = Buffer.alloc(VALUE_SIZE);
    for (let i = 0; i < VALUE_SIZE; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  });
}

/** The first i in [0, n) with key(i) ≥ k (n if none); keys increase with i. */
function lowerBound(key: (i: number) => Buffer, n: number, k: Buffer): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(key(mid), k) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index range [a, b) of key(0..n) inside [start, end) (empty end: +∞). */
function indexRange(key: (i: number) => Buffer, n: number, start: Buffer, end: Buffer): [number, number] {
  return [lowerBound(key, n, start), end.length === 0 ? n : lowerBound(key, n, end)];
}

/** Poll `check` every `everyMs` until it returns a value or `timeoutMs` passes (then undefined). */
async function pollUntil<T>(check: () => Promise<T | undefined>, everyMs: number, timeoutMs: number, onTick?: () => void): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  let lastTick = Date.now();
  while (Date.now() < deadline) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (onTick && Date.now() - lastTick >= 1_000) {
      lastTick = Date.now();
      onTick();
    }
    await sleep(everyMs);
  }
  return undefined;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US");

/** CPU time so far (ms): the whole machine's busy time, this process (the client), the servers. */
interface CpuSample {
  at: number;
  machineBusy: number;
  client: number;
  servers: number | undefined;
}

function cpuSample(serverGroups: readonly number[]): CpuSample {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  const u = process.cpuUsage();
  return { at: Date.now(), machineBusy: busy, client: (u.user + u.system) / 1000, servers: groupCpuMs(serverGroups) };
}

/** CPU use between two samples, in % of one core; `other` is everything but the bench and its servers. */
export interface WindowCpu {
  clientPct: number;
  serversPct?: number;
  otherPct?: number;
}

function cpuBetween(a: CpuSample, b: CpuSample): WindowCpu {
  const ms = Math.max(1, b.at - a.at);
  const pctOf = (x: number): number => Math.round((x / ms) * 100);
  const client = b.client - a.client;
  const servers = a.servers !== undefined && b.servers !== undefined ? b.servers - a.servers : undefined;
  return {
    clientPct: pctOf(client),
    serversPct: servers !== undefined ? pctOf(servers) : undefined,
    otherPct: servers !== undefined ? Math.max(0, pctOf(b.machineBusy - a.machineBusy - client - servers)) : undefined,
  };
}
const secs = (ms: number): number => Math.round(ms / 100) / 10;

// ---- the phases ----------------------------------------------------------------------------------

interface Run {
  o: SplitOptions;
  report: SplitReport;
  cluster: BenchCluster;
  client: RawClient;
  sched: SchedulerRpcClient;
  values: Buffer[];
  /** Filler keys 0 … fillNext−1 have been issued; acked[i] once acknowledged. */
  fillNext: number;
  fillAcked: boolean[];
  load: BackgroundLoad;
  /** Background ops/s over the last second (progress lines). */
  loadRate: () => number;
  /** Mark the start of a phase on the timeline (and take a CPU sample). */
  mark: (phase: string) => void;
  /** CPU use since the last mark, recorded under `phase`. */
  cpuSince: (phase: string) => void;
}

/** Bytes of the bench's rows inside [start, end): background keys plus acknowledged filler keys. */
function bytesIn(run: Run, start: Buffer, end: Buffer): number {
  const [a, b] = indexRange(bgKey, run.o.keys, start, end);
  const [c, d] = indexRange(fillKey, run.fillNext, start, end);
  let fill = 0;
  for (let i = c; i < d; i++) if (run.fillAcked[i]) fill++;
  return (b - a + fill) * ROW_BYTES;
}

async function preload(run: Run): Promise<void> {
  const { o, client } = run;
  const t0 = Date.now();
  let next = 0;
  let done = 0;
  const tick = setInterval(() => progress(`split: preload ${fmtInt(done)}/${fmtInt(o.keys)} keys`), 1_000);
  try {
    const worker = async (): Promise<void> => {
      while (next < o.keys) {
        const i = next++;
        for (let attempt = 1; ; attempt++) {
          try {
            await client.put(bgKey(i), run.values[i % run.values.length]!);
            break;
          } catch (e) {
            if (attempt >= 5) throw new Error(`preload: put of key ${i} failed 5 times: ${(e as Error).message}`, { cause: e });
            await sleep(200 * attempt);
          }
        }
        done++;
      }
    };
    await Promise.all(Array.from({ length: 64 }, () => worker()));
  } finally {
    clearInterval(tick);
  }
  const loadedMs = Date.now() - t0;
  progress(`split: preloaded ${fmtInt(o.keys)} keys (${((o.keys * ROW_BYTES) / 1024 / 1024).toFixed(1)} MiB) in ${secs(loadedMs)} s; waiting for the cluster to settle`);
  const s0 = Date.now();
  let stableSince = Date.now();
  let lastCount = -1;
  let last = "";
  const settled = await pollUntil(
    async () => {
      const [regions, ops] = await Promise.all([run.sched.allRegions(), run.sched.listOperators(0)]);
      const healthy = regions.every((r) => r.region.peers.length === 3 && r.leader !== undefined);
      const { leaders } = countByStore(regions);
      last = `${regions.length} regions, ${ops.running.length} operators running, leaders ${[...leaders.values()].join("/")}${healthy ? "" : ", some regions without 3 peers or a leader"}`;
      if (regions.length !== lastCount || ops.running.length > 0 || !healthy) {
        lastCount = regions.length;
        stableSince = Date.now();
        return undefined;
      }
      return Date.now() - stableSince >= 3_000 ? regions.length : undefined;
    },
    250,
    o.settleSec * 1000,
    () => progress(`split: settling: ${last}`),
  );
  if (settled === undefined) run.report.notes.push(`the cluster did not settle within ${o.settleSec} s after the preload (${last}); measured anyway`);
  run.report.preload = { keys: o.keys, seconds: secs(loadedMs), regions: lastCount, settleSeconds: secs(Date.now() - s0), settled: settled !== undefined };
  progress(`split: ${settled !== undefined ? "settled" : "not settled"} after ${secs(Date.now() - s0)} s: ${last}`);
}

/** The tail region (containing the next filler key) with a leader, as the scheduler sees it. */
async function tailRegion(run: Run): Promise<RegionWithLeader | undefined> {
  return pollUntil(async () => {
    const r = await run.sched.getRegion(fillKey(run.fillNext));
    return r?.leader ? r : undefined;
  }, 20, 10_000);
}

/** Append filler keys until R passes the limit; returns t0 and the last acknowledged key, or undefined if R already was past it. */
async function fillPastLimit(run: Run, r: RegionWithLeader, limit: number): Promise<{ t0: number; size: number; lastKey: Buffer } | undefined> {
  const { region } = r;
  let size = bytesIn(run, region.startKey, region.endKey);
  if (size > limit) return undefined;
  let crossed: { t0: number; size: number; lastKey: Buffer } | undefined;
  let lastAcked = -1;
  let failures = 0;
  const writer = async (): Promise<void> => {
    while (crossed === undefined && failures < 20) {
      const i = run.fillNext++;
      try {
        await run.client.put(fillKey(i), run.values[i % run.values.length]!);
      } catch {
        // Not acknowledged (the outcome may be unknown): it may or may not be there, so the size
        // is not exact any more for this key; it is retried under the same key (idempotent).
        failures++;
        run.fillNext = Math.min(run.fillNext, i);
        await sleep(50);
        continue;
      }
      run.fillAcked[i] = true;
      lastAcked = Math.max(lastAcked, i);
      size += ROW_BYTES;
      if (crossed === undefined && size > limit) crossed = { t0: Date.now(), size, lastKey: fillKey(lastAcked) };
    }
  };
  await Promise.all(Array.from({ length: FILL_IN_FLIGHT }, () => writer()));
  if (crossed) crossed.lastKey = fillKey(lastAcked);
  return crossed;
}

async function measureSplits(run: Run): Promise<void> {
  const { o, report } = run;
  const limit = o.regionMaxKiB * 1024;
  const phaseStart = Date.now();
  run.mark("splitting");
  const phaseCapMs = o.splits * (o.splitTimeoutSec * 1000 + 2_000);
  for (let n = 0; n < o.splits && Date.now() - phaseStart < phaseCapMs; n++) {
    const dead = run.cluster.unexpectedExit();
    if (dead) throw new Error(dead);
    const r = await tailRegion(run);
    if (!r) throw new Error(`the scheduler knows no region with a leader for ${fillKey(run.fillNext).toString()} after 10 s`);
    const crossed = await fillPastLimit(run, r, limit);
    if (!crossed) {
      // R is already past the limit (a split still on its way): let it finish, not a sample.
      await sleep(200);
      n--;
      continue;
    }
    const { region } = r;
    const leftKey = Buffer.from(region.startKey.length > 0 ? region.startKey : bgKey(0));
    const sample: SplitSample = { regionId: String(region.id), version: String(region.regionEpoch!.version), t0: crossed.t0, sizeAtCrossing: crossed.size };
    report.samples.push(sample);
    const ok = await pollUntil(
      async () => {
        if (sample.schedulerMs === undefined) {
          const [right, left] = await Promise.all([run.sched.getRegion(crossed.lastKey), run.sched.getRegionById(region.id)]);
          if (!right?.leader || right.region.id === region.id || !left?.leader || left.region.regionEpoch!.version <= region.regionEpoch!.version) return undefined;
          sample.schedulerMs = Date.now() - crossed.t0;
          sample.newRegionId = String(right.region.id);
        }
        await Promise.all([run.client.get(leftKey, { timeoutMs: 5_000 }), run.client.get(crossed.lastKey, { timeoutMs: 5_000 })]);
        return Date.now();
      },
      10,
      o.splitTimeoutSec * 1000,
    );
    if (ok !== undefined) sample.latencyMs = ok - crossed.t0;
    progress(
      `split ${n + 1}/${o.splits}: region ${sample.regionId} v${sample.version} at ${fmtInt(crossed.size / 1024)} KiB → ` +
        `${ok !== undefined ? `both halves serving after ${sample.latencyMs} ms (scheduler saw both at ${sample.schedulerMs} ms)` : `not done within ${o.splitTimeoutSec} s`}; ` +
        `background ${fmtInt(run.loadRate())} ops/s`,
    );
  }
  report.splitting = run.load.window(phaseStart, Date.now());
  run.cpuSince("splitting");
}

/** Ask / apply times from the stores' logs, relative to each sample's t0. */
function breakDownFromLogs(run: Run): void {
  const lines = run.cluster.stores.flatMap((s) => readLogLines(s.proc.logPath, ["asking the scheduler to split the region", "region split"]));
  for (const sample of run.report.samples) {
    const t0 = sample.t0;
    const ask = lines.find((l) => l["msg"] === "asking the scheduler to split the region" && String(l["regionId"]) === sample.regionId && String(l["version"]) === sample.version);
    const nextVersion = String(BigInt(sample.version) + 1n);
    const applied = lines.find((l) => l["msg"] === "region split" && String(l["regionId"]) === sample.regionId && String(l["version"]) === nextVersion && l["leader"] === true);
    if (ask) sample.askMs = Number(ask["time"]) - t0;
    if (applied) sample.appliedMs = Number(applied["time"]) - t0;
    // The split check decided before the crossing write's ack reached the bench (a busy client):
    // the crossing was earlier than the ack says, so t0 moves back to the decision.
    if (sample.askMs !== undefined && sample.askMs < 0) {
      const shift = -sample.askMs;
      sample.t0 -= shift;
      sample.ackDelayMs = shift;
      sample.askMs = 0;
      if (sample.appliedMs !== undefined) sample.appliedMs += shift;
      if (sample.schedulerMs !== undefined) sample.schedulerMs += shift;
      if (sample.latencyMs !== undefined) sample.latencyMs += shift;
    }
  }
  const stat = (xs: number[]): { p50Ms: number; p99Ms: number; minMs: number; count: number } => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (p: number): number => s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
    return { p50Ms: at(50), p99Ms: at(99), minMs: s[0] ?? 0, count: s.length };
  };
  const pick = (f: (s: SplitSample) => number | undefined): number[] => run.report.samples.flatMap((s) => (f(s) !== undefined ? [f(s)!] : []));
  run.report.breakdown = {
    ackDelay: stat(pick((s) => s.ackDelayMs ?? 0)),
    ask: stat(pick((s) => s.askMs)),
    applied: stat(pick((s) => s.appliedMs)),
    scheduler: stat(pick((s) => s.schedulerMs)),
  };
}

async function measureFairShare(run: Run): Promise<void> {
  const { o } = run;
  progress("split: starting a 4th store");
  const t0 = Date.now();
  run.mark("store-4 started");
  const s4 = await run.cluster.addStore();
  progress(`split: store-4 (id ${s4.storeId}) ready after ${secs(Date.now() - t0)} s; waiting for its fair share`);
  const rb: NonNullable<SplitReport["rebalance"]> = {
    window: run.load.window(t0, t0),
    regions: 0,
    reached: false,
    final: { replicas: 0, leaders: 0, fairReplicas: 0, fairLeaders: 0 },
  };
  const done = await pollUntil(
    async () => {
      const regions = await run.sched.allRegions();
      const { peers, leaders } = countByStore(regions);
      const replicas = peers.get(s4.storeId) ?? 0;
      const led = leaders.get(s4.storeId) ?? 0;
      const total = [...peers.values()].reduce((a, b) => a + b, 0);
      const now = Date.now();
      rb.regions = regions.length;
      rb.final = { replicas, leaders: led, fairReplicas: total / 4, fairLeaders: regions.length / 4 };
      if (replicas > 0) rb.firstReplicaSec ??= secs(now - t0);
      if (replicas >= 0.2 * regions.length) rb.twentyPctSec ??= secs(now - t0);
      if (replicas >= 0.9 * (total / 4)) rb.replicaShareSec ??= secs(now - t0);
      if (led >= 0.9 * (regions.length / 4)) rb.leaderShareSec ??= secs(now - t0);
      return rb.replicaShareSec !== undefined && rb.leaderShareSec !== undefined ? true : undefined;
    },
    500,
    o.fairShareTimeoutSec * 1000,
    () => {
      const f = rb.final;
      progress(
        `split: store-4 holds ${f.replicas}/${Math.round(f.fairReplicas)} replicas and ${f.leaders}/${Math.round(f.fairLeaders)} leaders of its fair share ` +
          `(${rb.regions} regions) after ${secs(Date.now() - t0)} s; background ${fmtInt(run.loadRate())} ops/s`,
      );
    },
  );
  rb.reached = done === true;
  const t1 = Date.now();
  rb.window = run.load.window(t0, t1);
  run.cpuSince("rebalancing");
  run.report.rebalance = rb;
  // The rebalancing window runs on four store processes; measure the same load on them once
  // the moves are over, so the rebalancing cost can be told apart from the fourth process's.
  if (rb.reached) {
    progress(`split: steady state on 4 stores for ${o.steadySec} s`);
    await sleep(o.steadySec * 1000);
    rb.steadyAfter = run.load.window(t1, Date.now());
  }
  const f = rb.final;
  progress(`split: store-4 ${rb.reached ? "reached" : "did not reach"} its fair share (${f.replicas}/${Math.round(f.fairReplicas)} replicas, ${f.leaders}/${Math.round(f.fairLeaders)} leaders) after ${secs(Date.now() - t0)} s`);
}

async function measureRereplication(run: Run, victim: BenchStore): Promise<void> {
  const { o } = run;
  const before = await run.sched.allRegions();
  const affected = before.filter((r) => r.region.peers.some((p) => String(p.storeId) === victim.storeId)).length;
  progress(`split: kill -9 store-${victim.index} (id ${victim.storeId}), which holds replicas of ${affected} of ${before.length} regions; max-store-down-time ${o.maxStoreDownSec} s`);
  const t0 = Date.now();
  await run.cluster.kill(victim);
  // After the kill: the CPU sample then covers only the servers still alive at the phase's end.
  run.mark(`store-${victim.index} killed`);
  let remaining = affected;
  const done = await pollUntil(
    async () => {
      const regions = await run.sched.allRegions();
      remaining = regions.filter((r) => r.region.peers.length !== 3 || r.region.peers.some((p) => String(p.storeId) === victim.storeId)).length;
      return remaining === 0 ? Date.now() : undefined;
    },
    500,
    o.rereplicateTimeoutSec * 1000,
    () => progress(`split: ${remaining} regions still short of 3 live replicas ${secs(Date.now() - t0)} s after the kill; background ${fmtInt(run.loadRate())} ops/s`),
  );
  run.cpuSince("rereplicating");
  run.report.rereplicate = {
    window: run.load.window(t0, Date.now()),
    victimStoreId: victim.storeId,
    affectedRegions: affected,
    doneSec: done !== undefined ? secs(done - t0) : undefined,
    downTimeSec: o.maxStoreDownSec,
    remaining,
  };
  progress(`split: re-replication ${done !== undefined ? `done after ${secs(done - t0)} s` : `not done within ${o.rereplicateTimeoutSec} s (${remaining} regions left)`}`);
}

// ---- the suite -----------------------------------------------------------------------------------

export async function runSplitBench(opts: { quick: boolean; args: string[] }): Promise<SplitSuiteOutput> {
  const o = parseSplitOptions(opts.args, opts.quick);
  const report: SplitReport = {
    options: o,
    machine: { cores: os.cpus().length, loadAvgAtStart: Number(os.loadavg()[0]!.toFixed(2)) },
    storeArgs: [],
    notes: [],
    samples: [],
    cpu: {},
  };
  const output: SplitSuiteOutput = { json: report, print: () => process.stdout.write(formatSplitReport(report)) };
  const loaded = await loadRawClient();
  if ("missing" in loaded) {
    report.notes.push(`skipped: ${loaded.missing}`);
    return output;
  }
  const { SchedulerRpcClient } = await import("@regionkv/scheduler/client");
  const flags = storeFlags();
  const storeArgs = ["--region-max-size", `${o.regionMaxKiB}KiB`, "--region-split-size", `${o.regionSplitKiB}KiB`];
  for (const [flag, value] of [
    ["--region-heartbeat-interval", o.regionHeartbeatInterval],
    ["--store-heartbeat-interval", o.storeHeartbeatInterval],
  ] as const) {
    if (value === undefined) continue;
    if (!flags.has(flag)) throw new Error(`${flag} was given but \`regionkv store --help\` does not list it; drop it or update the CLI`);
    storeArgs.push(flag, value);
  }
  report.storeArgs = storeArgs;
  const uninstall = installInterruptHandlers();
  let dir: string;
  let removeDir = (): void => {};
  if (o.keepDir) {
    dir = path.resolve(o.keepDir);
    if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new Error(`--keep-dir ${dir} is not empty; give an empty or new directory`);
    fs.mkdirSync(dir, { recursive: true });
  } else {
    const t = tempDir("regionkv-bench-split-");
    dir = t.dir;
    removeDir = t.remove;
  }
  progress(
    `split: ${o.splits} splits, ${o.workers} background workers, ${fmtInt(o.keys)} background keys of ${VALUE_SIZE} B, regions ${o.regionMaxKiB}/${o.regionSplitKiB} KiB (max/split), ` +
      `max-store-down-time ${o.maxStoreDownSec} s, store flags: ${storeArgs.join(" ")}; data and logs in ${dir}`,
  );
  let cluster: BenchCluster | undefined;
  let client: RawClient | undefined;
  let sched: SchedulerRpcClient | undefined;
  let load: BackgroundLoad | undefined;
  try {
    const t0 = Date.now();
    cluster = await BenchCluster.start({ dir, initialStores: 3, storeArgs, schedulerArgs: ["--max-store-down-time", `${o.maxStoreDownSec}s`] });
    sched = await SchedulerRpcClient.connect({ endpoints: cluster.schedulerAddr, timeoutMs: 5_000 });
    client = await withTimeout(loaded.RawClient.connect({ scheduler: cluster.schedulerAddr }), 30_000, "RawClient.connect timed out (30 s)");
    const c = client;
    await pollUntil(async () => (await c.put(bgKey(0), Buffer.alloc(VALUE_SIZE)), true), 250, 60_000);
    progress(`split: 3 stores serving after ${secs(Date.now() - t0)} s (scheduler ${cluster.schedulerAddr})`);
    const values = valuePool(o.seed);
    load = new BackgroundLoad(client, bgKey, o.keys, values, o.workers, o.seed);
    const bg = load;
    const marks: Record<string, number> = {};
    let lastCpu = cpuSample([]);
    report.timeline = { opsPerSecond: [], phases: marks };
    const run: Run = {
      o,
      report,
      cluster,
      client,
      sched,
      values,
      fillNext: 0,
      fillAcked: [],
      load,
      loadRate: () => bg.recentRate(),
      mark: (phase) => {
        marks[phase] = secs(Date.now() - bg.t0);
        lastCpu = cpuSample(cluster!.groups());
      },
      cpuSince: (phase) => (report.cpu[phase] = cpuBetween(lastCpu, cpuSample(cluster!.groups()))),
    };
    await preload(run);

    load.start();
    const w0 = Date.now();
    const warm = setInterval(() => progress(`split: warming up ${secs(Date.now() - w0)}/${o.warmupSec} s, ${fmtInt(bg.recentRate())} ops/s`), 1_000);
    await sleep(o.warmupSec * 1000); // connections, JIT, queues
    clearInterval(warm);
    const s0 = Date.now();
    run.mark("steady");
    const tick = setInterval(() => progress(`split: steady state ${secs(Date.now() - s0)}/${o.steadySec} s, ${fmtInt(bg.recentRate())} ops/s`), 1_000);
    await sleep(o.steadySec * 1000);
    clearInterval(tick);
    report.steady = load.window(s0, Date.now());
    run.cpuSince("steady");
    progress(`split: steady state ${fmtInt(report.steady.opsPerSec)} ops/s`);

    await measureSplits(run);
    breakDownFromLogs(run);
    const lat = new LatencyHistogram();
    for (const s of report.samples) if (s.latencyMs !== undefined) lat.recordMs(s.latencyMs);
    report.latency = lat.summary();

    await measureFairShare(run);
    const victim = cluster.stores[0]!;
    await measureRereplication(run, victim);
  } catch (e) {
    report.notes.push(`failed: ${(e as Error).message}`);
    progress(`split: failed: ${(e as Error).message}`);
    process.exitCode = 1;
  } finally {
    await load?.stop();
    if (report.timeline && load) report.timeline.opsPerSecond = load.perSecond();
    if (load?.firstError) report.notes.push(`first background error: ${load.firstError}`);
    await client?.close().catch(() => undefined);
    sched?.close();
    await cluster?.stop();
    removeDir();
    uninstall();
  }
  return output;
}

// ---- the figures ---------------------------------------------------------------------------------

const ms = (x: number | undefined): string => (x === undefined ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const pct = (a: number, b: number): string => (b > 0 ? `${((a / b) * 100).toFixed(0)}%` : "—");
const rateLine = (name: string, w: WindowRate | undefined, steady: WindowRate | undefined): string =>
  w === undefined
    ? `  ${name.padEnd(24)} —`
    : `  ${name.padEnd(24)} ${fmtInt(w.opsPerSec).padStart(7)} ops/s over ${w.seconds.toFixed(0)} s` +
      (steady && w !== steady ? `  = ${pct(w.opsPerSec, steady.opsPerSec)} of steady` : "") +
      `; worst second ${fmtInt(w.worstSecondOpsPerSec)} ops/s${steady && w !== steady ? ` (${pct(w.worstSecondOpsPerSec, steady.opsPerSec)})` : ""}` +
      (w.errors > 0 ? `; ${fmtInt(w.errors)} errors` : "");

export function formatSplitReport(r: SplitReport): string {
  const o = r.options;
  const L: string[] = [];
  L.push(`\nsplit — split latency, throughput while splitting/rebalancing, fair share, re-replication (3 stores + 1, loopback)`);
  L.push(`  regions ${o.regionMaxKiB} KiB max / ${o.regionSplitKiB} KiB split, ${o.workers} background workers (50% put / 50% get, ${VALUE_SIZE} B values), ${r.machine.cores} cores, load average ${r.machine.loadAvgAtStart} at the start`);
  L.push(`  store flags: ${r.storeArgs.join(" ")}; scheduler --max-store-down-time ${o.maxStoreDownSec}s`);
  if (r.preload) L.push(`  preload: ${fmtInt(r.preload.keys)} keys in ${r.preload.seconds} s → ${r.preload.regions} regions, ${r.preload.settled ? "settled" : "NOT settled"} after ${r.preload.settleSeconds} s`);
  const done = r.samples.filter((s) => s.latencyMs !== undefined);
  const timedOut = r.samples.length - done.length;
  L.push(`split latency (write that takes a region past ${o.regionMaxKiB} KiB acknowledged → both halves answered a get through the client)`);
  if (r.latency && r.latency.count > 0) {
    const l = r.latency;
    L.push(`  ${done.length} splits${timedOut > 0 ? ` (+${timedOut} not done within ${o.splitTimeoutSec} s)` : ""}: p50 ${ms(l.p50Ms)} ms, p90 ${ms(l.p90Ms)} ms, p99 ${ms(l.p99Ms)} ms, max ${ms(l.maxMs)} ms, min ${ms(l.minMs)} ms  (target < 1000 ms)`);
  } else L.push(`  no split measured${timedOut > 0 ? ` (${timedOut} not done within ${o.splitTimeoutSec} s)` : ""}`);
  if (r.breakdown) {
    const b = r.breakdown;
    const row = (name: string, x: { p50Ms: number; p99Ms: number; minMs: number; count: number }): string =>
      `  ${name.padEnd(46)} p50 ${ms(x.p50Ms).padStart(6)} ms  p99 ${ms(x.p99Ms).padStart(6)} ms  min ${ms(x.minMs).padStart(6)} ms  (${x.count} samples)`;
    L.push(row("t0 moved back: decision before the ack arrived", b.ackDelay));
    L.push(`  from t0, when (store logs and scheduler polls):`);
    L.push(row("leader asks for split ids (split check done)", b.ask));
    L.push(row("leader applied the BatchSplit", b.applied));
    L.push(row("scheduler shows both halves with leaders", b.scheduler));
  }
  L.push(`throughput of the background load`);
  L.push(rateLine("steady state", r.steady, r.steady));
  L.push(rateLine("while splitting", r.splitting, r.steady));
  L.push(rateLine("while rebalancing", r.rebalance?.window, r.steady));
  if (r.rebalance?.steadyAfter) {
    L.push(rateLine("after it, 4 stores", r.rebalance.steadyAfter, r.steady));
    L.push(`  while rebalancing vs steady on the same 4 stores: ${pct(r.rebalance.window.opsPerSec, r.rebalance.steadyAfter.opsPerSec)}`);
  }
  L.push(rateLine("store down, re-replicating", r.rereplicate?.window, r.steady));
  if (r.rebalance) {
    const b = r.rebalance;
    const f = b.final;
    L.push(`new store (4th) reaching its fair share (${b.regions} regions)`);
    L.push(
      `  first replica ${b.firstReplicaSec ?? "—"} s, 20% of regions ${b.twentyPctSec ?? "—"} s, 90% of fair replica share ${b.replicaShareSec ?? "—"} s, ` +
        `90% of fair leader share ${b.leaderShareSec ?? "—"} s${b.reached ? "" : ` — not both within ${o.fairShareTimeoutSec} s`}`,
    );
    L.push(`  at the end: ${f.replicas} replicas (fair ${f.fairReplicas.toFixed(0)}), ${f.leaders} leaders (fair ${f.fairLeaders.toFixed(0)})`);
  }
  if (r.rereplicate) {
    const x = r.rereplicate;
    L.push(`re-replication after kill -9 of store ${x.victimStoreId} (${x.affectedRegions} regions had a replica there)`);
    L.push(
      x.doneSec !== undefined
        ? `  every region at 3 live replicas ${x.doneSec} s after the kill = ${(x.doneSec - x.downTimeSec).toFixed(1)} s after max-store-down-time (${x.downTimeSec} s) ran out`
        : `  not done within ${o.rereplicateTimeoutSec} s: ${x.remaining} regions still short`,
    );
  }
  const cpu = Object.entries(r.cpu);
  if (cpu.length > 0) {
    L.push(`CPU per phase, % of one core: ${cpu.map(([k, c]) => `${k} client ${c.clientPct}${c.serversPct !== undefined ? ` servers ${c.serversPct}` : ""}${c.otherPct !== undefined ? ` other ${c.otherPct}` : ""}`).join("; ")}`);
    const worst = Math.max(...cpu.map(([, c]) => c.otherPct ?? 0));
    if (worst >= 20) L.push(`  warning: other processes used up to ${worst}% of a core during the phases; the throughput figures are skewed`);
  }
  for (const n of r.notes) L.push(`  note: ${n}`);
  return `${L.join("\n")}\n`;
}
