/**
 * Raftstore benchmark: committed-and-applied puts per second through an in-process 3-store
 * cluster on real SQLite files (one per store, WAL, fsync per group commit), at 1, 16, 64 and
 * 256 proposals in flight, with 256-byte values. The stores run in production mode on the real
 * event loop (tick timer, raft worker on setImmediate); the transport hands each message to the
 * target store at once (no serialization, no network), so this is the ceiling the network
 * service of the next issue is measured against. Target: ≥ 20,000 puts/s at 256 in flight.
 *
 * Also reported per level: group-commit batch sizes (peers per fsync from the store metrics,
 * entries per group commit counted from the log), group commits and fsyncs per second over all
 * three stores (a group commit is synced only when one of its Readies needs it).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "@regionkv/engine";
import type { metapb} from "@regionkv/proto";
import { raft_cmdpb, type raft_serverpb } from "@regionkv/proto";
import { MessageType } from "@regionkv/raft";
import { RaftStore, bootstrapStore, firstRegion, prepareBootstrapRegion, type RaftstoreMetrics } from "@regionkv/raftstore";
import { formatRate, progress, type BenchResult } from "./report.js";

const VALUE_BYTES = 256;
const STORE_IDS = [1, 2, 3];

interface Cluster {
  stores: Map<number, RaftStore>;
  engines: Map<number, Engine>;
  region: metapb.Region;
  dir: string;
}

/** Totals (count, sum) of one of a store's histograms. */
async function histogram(h: RaftstoreMetrics["groupCommitBatchPeers"]): Promise<{ count: number; sum: number }> {
  const v = await h.get();
  let count = 0;
  let sum = 0;
  for (const s of v.values) {
    if (s.metricName?.endsWith("_count")) count += s.value;
    if (s.metricName?.endsWith("_sum")) sum += s.value;
  }
  return { count, sum };
}

function openCluster(): Cluster {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-bench-raftstore-"));
  const region: metapb.Region = firstRegion(STORE_IDS);
  const stores = new Map<number, RaftStore>();
  const engines = new Map<number, Engine>();
  for (const id of STORE_IDS) {
    const e = Engine.open(path.join(dir, `store-${id}`));
    bootstrapStore(e, 1n, BigInt(id));
    prepareBootstrapRegion(e, region);
    engines.set(id, e);
  }
  /** Hand a message to its target store at once; a MsgSnapshot's delivery is reported back. */
  const deliver = (m: raft_serverpb.RaftMessage): boolean => {
    const to = stores.get(Number(m.toPeer?.storeId));
    if (!to) return false;
    to.onRaftMessage(m);
    if (m.message?.msgType === (MessageType.Snapshot as number)) {
      stores.get(Number(m.fromPeer?.storeId))?.reportSnapshotStatus(Number(m.regionId), Number(m.toPeer?.id), true);
    }
    return true;
  };
  for (const id of STORE_IDS) {
    stores.set(id, new RaftStore({ storeId: BigInt(id), engine: engines.get(id)!, transport: { send: deliver, flush() {} }, mode: "production", seed: id }));
  }
  for (const s of stores.values()) s.start();
  return { stores, engines, region, dir };
}

function closeCluster(c: Cluster): void {
  for (const s of c.stores.values()) s.stop();
  for (const e of c.engines.values()) e.close();
  fs.rmSync(c.dir, { recursive: true, force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitForLeader(c: Cluster): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    for (const [id, s] of c.stores) if (s.peers.get(1)?.isLeader) return id;
    await sleep(20);
  }
  throw new Error("no leader elected within 10 s");
}

interface LevelStats {
  commits: number;
  fsyncs: number;
  peersSum: number;
  entries: number;
}

async function snapshotStats(c: Cluster): Promise<LevelStats> {
  let commits = 0;
  let fsyncs = 0;
  let peersSum = 0;
  let entries = 0;
  for (const s of c.stores.values()) {
    const h = await histogram(s.metrics.groupCommitBatchPeers);
    commits += h.count;
    fsyncs += (await s.metrics.fsyncs.get()).values[0]?.value ?? 0;
    peersSum += h.sum;
    entries += s.peers.get(1)!.storage.lastIndex();
  }
  return { commits, fsyncs, peersSum, entries };
}

/** `total` puts with `inFlight` proposals outstanding at all times; returns the figures of the level. */
async function runLevel(c: Cluster, leader: number, inFlight: number, total: number, tag: string): Promise<BenchResult[]> {
  const store = c.stores.get(leader)!;
  const peer = c.region.peers.find((p) => Number(p.storeId) === leader)!;
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  let next = 0;
  let ok = 0;
  const failures = new Map<string, number>();
  const before = await snapshotStats(c);
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const req: raft_cmdpb.RaftCmdRequest = {
        header: { regionId: 1n, peer, readQuorum: false, regionEpoch: c.region.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
        requests: [{ cmdType: raft_cmdpb.CmdType.Put, put: { cf: "", key: Buffer.from(`${tag}-${String(i).padStart(8, "0")}`), value } }],
        adminRequest: undefined,
      };
      const r = await store.propose(req);
      if (r.ok && !r.response.header?.error) ok++;
      else {
        const kind = r.ok ? (r.response.header?.error?.message ?? "error") : r.error.kind;
        failures.set(kind, (failures.get(kind) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, () => worker()));
  const secs = (performance.now() - t0) / 1000;
  const after = await snapshotStats(c);
  const fsyncs = after.fsyncs - before.fsyncs;
  const commits = after.commits - before.commits;
  const entriesPerCommit = commits > 0 ? (after.entries - before.entries) / commits : 0;
  const peersPerCommit = commits > 0 ? (after.peersSum - before.peersSum) / commits : 0;
  if (failures.size > 0) progress(`${inFlight} in flight: failures ${JSON.stringify(Object.fromEntries(failures))}`);
  if (ok < total) throw new Error(`${inFlight} in flight: only ${ok}/${total} puts succeeded`);
  const rate = ok / secs;
  const results: BenchResult[] = [
    { name: `puts, ${inFlight} in flight`, value: rate, unit: "puts/s", detail: `${ok} puts of ${VALUE_BYTES} B in ${(secs * 1000).toFixed(0)} ms, 3 stores` },
    { name: `  fsyncs, ${inFlight} in flight`, value: fsyncs / secs, unit: "fsyncs/s", detail: `${fsyncs} synced of ${commits} group commits on 3 stores` },
    {
      name: `  group commit, ${inFlight} in flight`,
      value: entriesPerCommit,
      unit: "entries/commit",
      detail: `${peersPerCommit.toFixed(2)} peers per group commit; log entries appended on 3 stores / group commits`,
    },
  ];
  progress(`${inFlight} in flight: ${formatRate(results[0]!)}, ${formatRate(results[1]!)}, ${entriesPerCommit.toFixed(1)} entries/commit`);
  return results;
}

export async function runRaftstoreBench(opts: { quick: boolean }): Promise<BenchResult[]> {
  const scale = opts.quick ? 0.1 : 1;
  const levels: Array<[number, number]> = [
    [1, Math.round(2_000 * scale)],
    [16, Math.round(20_000 * scale)],
    [64, Math.round(40_000 * scale)],
    [256, Math.round(80_000 * scale)],
  ];
  const c = openCluster();
  try {
    const leader = await waitForLeader(c);
    progress(`raftstore: leader is store ${leader}; warming up`);
    await runLevel(c, leader, 64, Math.round(5_000 * scale), "warmup");
    const results: BenchResult[] = [];
    for (const [inFlight, total] of levels) results.push(...(await runLevel(c, leader, inFlight, total, `l${inFlight}`)));
    return results;
  } finally {
    closeCluster(c);
  }
}
