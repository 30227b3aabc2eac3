/**
 * Raftstore benchmark with one worker thread per store: the same 3-store cluster as
 * raftstore-bench.ts, but each store has a thread (and SQLite connection) of its own, as each
 * store has its own process in a real cluster, and raft messages cross threads protobuf-encoded
 * (as they cross the network). The load runs in the leader's thread. Committed-and-applied
 * puts per second at 1, 16, 64 and 256 in flight (256-byte values).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { formatRate, progress, type BenchResult } from "./report.js";
import type { ThreadRequest } from "./raftstore-store-thread.js";

const VALUE_BYTES = 256;
const STORE_IDS = [1, 2, 3];

/** Start a worker on a .ts file under tsx (Node 20 does not apply tsx hooks to a worker entry). */
function spawnWorker(url: URL, opts: ConstructorParameters<typeof Worker>[1]): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, opts);
  const api = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(api)}).then(m => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { ...opts, eval: true });
}

function ask<T>(w: Worker, req: ThreadRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: T) => {
      w.off("error", onErr);
      resolve(m);
    };
    const onErr = (e: Error) => {
      w.off("message", onMsg);
      reject(e);
    };
    w.once("message", onMsg);
    w.once("error", onErr);
    w.postMessage(req);
  });
}

export async function runRaftstoreThreadsBench(opts: { quick: boolean }): Promise<BenchResult[]> {
  const scale = opts.quick ? 0.1 : 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-bench-threads-"));
  const ports = new Map<number, Record<string, MessagePort>>(STORE_IDS.map((id) => [id, {}]));
  for (const a of STORE_IDS) {
    for (const b of STORE_IDS) {
      if (a >= b) continue;
      const ch = new MessageChannel();
      ports.get(a)![String(b)] = ch.port1;
      ports.get(b)![String(a)] = ch.port2;
    }
  }
  const workers = new Map<number, Worker>();
  for (const id of STORE_IDS) {
    const p = ports.get(id)!;
    workers.set(
      id,
      spawnWorker(new URL("./raftstore-store-thread.ts", import.meta.url), {
        workerData: { storeId: id, dir: path.join(dir, `store-${id}`), storeIds: STORE_IDS, ports: p },
        transferList: Object.values(p),
      }),
    );
  }
  try {
    let leader: Worker | undefined;
    const deadline = performance.now() + 30_000;
    while (!leader) {
      if (performance.now() > deadline) throw new Error("no leader elected within 30 s");
      await new Promise((r) => setTimeout(r, 100));
      for (const w of workers.values()) if ((await ask<{ isLeader: boolean }>(w, { op: "isLeader" })).isLeader) leader = w;
    }
    progress("raftstore-threads: leader elected; warming up");
    await ask(leader, { op: "run", inFlight: 64, total: Math.round(5_000 * scale), tag: "warmup", valueBytes: VALUE_BYTES });
    const results: BenchResult[] = [];
    for (const [inFlight, total] of [
      [1, 2_000],
      [16, 20_000],
      [64, 40_000],
      [256, 80_000],
    ] as const) {
      const n = Math.round(total * scale);
      const before = await Promise.all([...workers.values()].map((w) => ask<{ groupCommits: number; fsyncs: number }>(w, { op: "stats" })));
      const r = await ask<{ ok: number; secs: number; failures: Record<string, number> }>(leader, { op: "run", inFlight, total: n, tag: `l${inFlight}`, valueBytes: VALUE_BYTES });
      const after = await Promise.all([...workers.values()].map((w) => ask<{ groupCommits: number; fsyncs: number }>(w, { op: "stats" })));
      if (r.ok < n) throw new Error(`${inFlight} in flight: only ${r.ok}/${n} puts succeeded: ${JSON.stringify(r.failures)}`);
      const commits = after.reduce((s, a, i) => s + a.groupCommits - before[i]!.groupCommits, 0);
      const fsyncs = after.reduce((s, a, i) => s + a.fsyncs - before[i]!.fsyncs, 0);
      const res: BenchResult[] = [
        { name: `puts, ${inFlight} in flight`, value: r.ok / r.secs, unit: "puts/s", detail: `${r.ok} puts of ${VALUE_BYTES} B in ${(r.secs * 1000).toFixed(0)} ms, 3 store threads` },
        { name: `  group commits, ${inFlight} in flight`, value: commits / r.secs, unit: "commits/s", detail: `${commits} on 3 stores, ${((n * 3) / Math.max(commits, 1)).toFixed(1)} entries per commit` },
        { name: `  fsyncs, ${inFlight} in flight`, value: fsyncs / r.secs, unit: "fsyncs/s", detail: `${fsyncs} synced group commits on 3 stores` },
      ];
      progress(`${inFlight} in flight: ${formatRate(res[0]!)}`);
      results.push(...res);
    }
    return results;
  } finally {
    await Promise.all([...workers.values()].map((w) => ask(w, { op: "close" }).catch(() => undefined)));
    await Promise.all([...workers.values()].map((w) => w.terminate()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
