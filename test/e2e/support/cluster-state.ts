/**
 * What the end-to-end tests assert on: the scheduler's view of regions and stores (through the
 * public SchedulerRpcClient, as `regionkv ctl regions/stores --json` shows it), polled until a
 * condition holds or a deadline passes; and bounded load through the public RawClient.
 *
 * A wait that times out fails with the condition's own explanation and the last state seen, so
 * a slow machine shows up as "still 2 replicas of region 57 at 90 s", not as a bare timeout.
 */
import type { RawClient } from "@regionkv/client";
import type { SchedulerRpcClient } from "@regionkv/scheduler/client";

/**
 * Store flags that make a few MB of writes split into 64 KiB regions and report them within
 * seconds (production: 96 MiB / 64 MiB and 10 s intervals).
 */
export const SMALL_REGION_STORE_ARGS = ["--region-max-size", "96KiB", "--region-split-size", "64KiB", "--region-heartbeat-interval", "2s", "--split-check-interval", "1s"];

export interface RegionRow {
  id: number;
  startKey: Buffer;
  endKey: Buffer;
  version: number;
  storeIds: string[];
  leaderStoreId: string | undefined;
  approximateSize: number;
}

export interface StoreRow {
  id: string;
  regionCount: number;
  leaderCount: number;
}

export interface ClusterState {
  regions: RegionRow[];
  /** Live (not Tombstone) stores, by id, with counts from the region map. */
  stores: StoreRow[];
  /** Milliseconds since the wait began. */
  elapsedMs: number;
}

/** The scheduler's region map (paged) and the stores' replica and leader counts. */
export async function readClusterState(sched: SchedulerRpcClient, startedAt = Date.now()): Promise<ClusterState> {
  const regions: RegionRow[] = (await sched.allRegions()).map((r) => ({
    id: Number(r.region.id),
    startKey: Buffer.from(r.region.startKey),
    endKey: Buffer.from(r.region.endKey),
    version: Number(r.region.regionEpoch?.version ?? 0n),
    storeIds: r.region.peers.map((p) => String(p.storeId)).sort(),
    leaderStoreId: r.leader ? String(r.leader.storeId) : undefined,
    approximateSize: Number(r.approximateSize ?? 0n),
  }));
  const stores = (await sched.getAllStores({ excludeTombstones: true })).map((s) => {
    const id = String(s.id);
    return {
      id,
      regionCount: regions.filter((r) => r.storeIds.includes(id)).length,
      leaderCount: regions.filter((r) => r.leaderStoreId === id).length,
    };
  });
  stores.sort((a, b) => Number(a.id) - Number(b.id));
  return { regions, stores, elapsedMs: Date.now() - startedAt };
}

/** One line per store plus the regions that break `badRegion` (at most 10), for failure messages. */
export function describeClusterState(s: ClusterState, badRegion?: (r: RegionRow) => boolean): string {
  const lines = [
    `${s.regions.length} regions at ${(s.elapsedMs / 1000).toFixed(1)} s; stores: ` +
      s.stores.map((st) => `${st.id}: ${st.regionCount} regions / ${st.leaderCount} leaders`).join(", "),
  ];
  if (badRegion) {
    const bad = s.regions.filter(badRegion);
    for (const r of bad.slice(0, 10)) {
      lines.push(`  region ${r.id} [${r.startKey.toString("hex") || "-inf"}, ${r.endKey.toString("hex") || "+inf"}) v${r.version} stores ${r.storeIds.join(",")} leader ${r.leaderStoreId ?? "-"}`);
    }
    if (bad.length > 10) lines.push(`  … and ${bad.length - 10} more`);
  }
  return lines.join("\n");
}

/** The scheduler's running operators (at most 10) and its recently finished ones by status. */
async function describeRunningOperators(sched: SchedulerRpcClient): Promise<string> {
  try {
    const { running, finished } = await sched.listOperators(1000);
    const byStatus = new Map<string, number>();
    for (const o of finished) byStatus.set(`${o.kind}:${o.status}`, (byStatus.get(`${o.kind}:${o.status}`) ?? 0) + 1);
    const lines = [`${running.length} running operators; last ${finished.length} finished by kind:status ${[...byStatus].map(([k, n]) => `${k}×${n}`).join(", ")}`];
    for (const o of running.slice(0, 10)) lines.push(`  region ${o.regionId}: ${o.desc} at step ${o.currentStep}`);
    return lines.join("\n");
  } catch (err) {
    return `(operators not available: ${(err as Error).message})`;
  }
}

/** `undefined` when the state is as wanted, else why not (one line). */
export type Condition = (s: ClusterState) => string | undefined;

/**
 * Poll the scheduler every `intervalMs` until `cond` holds; resolves with that state. At the
 * deadline, throws with the condition's last explanation and the state.
 */
export async function mustReach(
  sched: SchedulerRpcClient,
  what: string,
  cond: Condition,
  opts: { timeoutMs: number; intervalMs?: number; badRegion?: (r: RegionRow) => boolean; onPoll?: (s: ClusterState) => void },
): Promise<ClusterState> {
  const startedAt = Date.now();
  const deadline = startedAt + opts.timeoutMs;
  let last: ClusterState | undefined;
  let why: string;
  for (;;) {
    try {
      last = await readClusterState(sched, startedAt);
      opts.onPoll?.(last);
      const r = cond(last);
      if (r === undefined) return last;
      why = r;
    } catch (err) {
      why = `reading the cluster state failed: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) break;
    await sleep(opts.intervalMs ?? 1_000);
  }
  const ops = await describeRunningOperators(sched);
  throw new Error(`${what}: not reached within ${opts.timeoutMs / 1000} s — ${why}\n${last ? describeClusterState(last, opts.badRegion) : ""}\n${ops}`);
}

/** The regions whose replica set is not `replicas` distinct stores, all in `live` (if given). */
export function underReplicated(s: ClusterState, replicas: number, live?: ReadonlySet<string>): RegionRow[] {
  return s.regions.filter((r) => new Set(r.storeIds).size !== replicas || r.storeIds.length !== replicas || (live !== undefined && r.storeIds.some((id) => !live.has(id))));
}

/** How far apart the largest and smallest counts are, relative to the largest (0 … 1). */
export function spread(counts: number[]): number {
  const max = Math.max(...counts);
  const min = Math.min(...counts);
  return max === 0 ? 0 : (max - min) / max;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A key of the load: `prefix` + zero-padded index (so key order = index order). */
export function loadKey(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(8, "0")}`;
}

/** A value of `bytes` bytes that names its key and round (a lost or stale write shows). */
export function loadValue(key: string, round: number, bytes: number): Buffer {
  const head = Buffer.from(`${key}@${round}:`);
  const out = Buffer.alloc(Math.max(bytes, head.length), 0x61 + (round % 26));
  head.copy(out);
  return out;
}

export interface LoadResult {
  /** Key → the value of its last acknowledged put. */
  acked: Map<string, Buffer>;
  /** Keys whose last put had an unknown outcome (the value may or may not be either). */
  unknown: Map<string, Buffer>;
  failures: number;
  elapsedMs: number;
}

/**
 * Put keys `prefix` 0…count−1 (values of `valueBytes`) from `concurrency` workers, each key once,
 * retrying a failed put up to `attempts` times. Stops by itself; `stop()` ends it early.
 */
export async function putLoad(
  client: RawClient,
  opts: { prefix: string; count: number; valueBytes: number; concurrency: number; round?: number; attempts?: number; stop?: () => boolean },
): Promise<LoadResult> {
  const started = Date.now();
  const res: LoadResult = { acked: new Map(), unknown: new Map(), failures: 0, elapsedMs: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.count && !(opts.stop?.() ?? false)) {
      const i = next++;
      const k = loadKey(opts.prefix, i);
      const v = loadValue(k, opts.round ?? 0, opts.valueBytes);
      for (let a = 0; a < (opts.attempts ?? 5); a++) {
        try {
          await client.put(k, v);
          res.acked.set(k, v);
          res.unknown.delete(k);
          break;
        } catch {
          // The put may have been applied: the key may hold v or nothing; a retry re-writes v.
          res.failures++;
          res.unknown.set(k, v);
          await sleep(100);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  res.elapsedMs = Date.now() - started;
  return res;
}

/** Every pair in [start, end), scanned page by page (the client's scan limit is 10,000 rows). */
export async function scanAll(client: RawClient, start: string, end: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let from = Buffer.from(start);
  const to = Buffer.from(end);
  for (;;) {
    const rows = await client.scan(from, to, { limit: 10_000 });
    for (const r of rows) out.set(r.key.toString(), r.value);
    const last = rows[rows.length - 1];
    if (rows.length < 10_000 || !last) return out;
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/**
 * The scan equals the writes: every acknowledged key with its value, no key that was never
 * written, and a key of unknown outcome either absent or holding its value. Returns the problems
 * (at most 10 listed).
 */
export function compareWithWrites(got: Map<string, Buffer>, writes: LoadResult[]): string[] {
  const problems: string[] = [];
  const acked = new Map<string, Buffer>();
  const unknown = new Map<string, Buffer>();
  for (const w of writes) {
    for (const [k, v] of w.acked) acked.set(k, v);
    for (const [k, v] of w.unknown) unknown.set(k, v);
  }
  for (const [k, v] of acked) {
    const g = got.get(k);
    if (g === undefined) problems.push(`acknowledged ${k} missing`);
    else if (!g.equals(v)) problems.push(`acknowledged ${k} holds ${g.subarray(0, 32).toString()}… instead of ${v.subarray(0, 32).toString()}…`);
  }
  for (const [k, g] of got) {
    if (acked.has(k)) continue;
    const u = unknown.get(k);
    if (u === undefined) problems.push(`${k} was never written`);
    else if (!g.equals(u)) problems.push(`${k} (unknown outcome) holds ${g.subarray(0, 32).toString()}…`);
  }
  return problems.length > 10 ? [...problems.slice(0, 10), `… ${problems.length - 10} more`] : problems;
}
