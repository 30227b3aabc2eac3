/**
 * `pnpm bench txn [--quick] [--json] [--seconds N] [--keys N] [--regions N]`: transactions on a
 * 3-store cluster of real processes, the commit protocols side by side.
 *
 * Workload: read-modify-write transactions of 1, 4 and 16 keys (read each key, write it back
 * incremented), closed loop at concurrency 16 and 64, each through `db.run` (retried on write
 * conflicts). The key space is cut into `regions` regions; a transaction's keys are drawn from one
 * region's key range, so the same workload runs under each protocol:
 *   2pc   — prewrite, commit ts from the TSO, commit the primary, secondaries in the background
 *   async — async commit: decided when every key is prewritten, no second round trip
 *   1pc   — one prewrite that writes commit records (every key in one region)
 * Figures per cell: committed txn/s, p50/p99 latency of a committed transaction (retries
 * included), conflict rate (write conflicts per attempt). Every cell runs a fixed time and stops.
 */
import os from "node:os";
import type { TxnClient as TxnClientType } from "@regionkv/client";
import { seededRandom } from "@regionkv/raft";
import { LatencyHistogram } from "./histogram.js";
import { installInterruptHandlers, runCleanups, tempDir } from "./kv-procs.js";
import { positiveInt, readFlagValues } from "./kv-options.js";
import { progress } from "./report.js";
import { BenchCluster } from "./split-cluster.js";

export const TXN_VALUE_FLAGS = ["--seconds", "--keys", "--regions"] as const;
export const TXN_USAGE = "  txn: --seconds <per cell, default 8 (quick 3)> --keys <accounts, default 20000> --regions <default 8>";

interface TxnOptions {
  seconds: number;
  keys: number;
  regions: number;
  quick: boolean;
}

export function parseTxnOptions(args: readonly string[], quick: boolean): TxnOptions {
  const v = readFlagValues(args, TXN_VALUE_FLAGS);
  return {
    seconds: v.has("--seconds") ? positiveInt("--seconds", v.get("--seconds")!, 600) : quick ? 3 : 8,
    keys: v.has("--keys") ? positiveInt("--keys", v.get("--keys")!, 1_000_000) : 20_000,
    regions: v.has("--regions") ? positiveInt("--regions", v.get("--regions")!, 256) : 8,
    quick,
  };
}

type Mode = "2pc" | "async" | "1pc";
const MODES: Record<Mode, { onePc: boolean; asyncCommit: boolean }> = {
  "2pc": { onePc: false, asyncCommit: false },
  async: { onePc: false, asyncCommit: true },
  "1pc": { onePc: true, asyncCommit: false },
};

export interface TxnCell {
  mode: Mode;
  keysPerTxn: number;
  concurrency: number;
  txnPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Write conflicts per attempt. */
  conflictRate: number;
  committed: number;
  failed: number;
}

export interface TxnReport {
  options: TxnOptions;
  machine: { cores: number; loadAvgAtStart: number };
  cells: TxnCell[];
  notes: string[];
}

const keyOf = (i: number) => `acct-${String(i).padStart(7, "0")}`;

export async function runTxnBench(opts: { quick: boolean; args: string[] }): Promise<{ print(): void; json: unknown }> {
  const o = parseTxnOptions(opts.args, opts.quick);
  const report: TxnReport = { options: o, machine: { cores: os.cpus().length, loadAvgAtStart: Number(os.loadavg()[0]!.toFixed(2)) }, cells: [], notes: [] };
  const output = { json: report, print: () => process.stdout.write(formatTxnReport(report)) };
  const { TxnClient, WriteConflictError } = await import("@regionkv/client");
  const { SchedulerRpcClient } = await import("@regionkv/scheduler/client");
  const uninstall = installInterruptHandlers();
  const { dir, remove } = tempDir("regionkv-txn-bench-");
  let cluster: BenchCluster | undefined;
  try {
    progress(`txn bench: starting a scheduler and 3 stores under ${dir}`);
    cluster = await BenchCluster.start({ dir, initialStores: 3, storeArgs: ["--gc-interval", "0s"], schedulerArgs: ["--gc-life-time", "0s"] });
    const sched = await SchedulerRpcClient.connect({ endpoints: cluster.schedulerAddr });
    // Cut the key space into `regions` ranges of equal key counts.
    const block = Math.ceil(o.keys / o.regions);
    const splitKeys = Array.from({ length: o.regions - 1 }, (_, i) => Buffer.from(keyOf((i + 1) * block)));
    if (splitKeys.length > 0) {
      const first = await sched.getRegion(splitKeys[0]!);
      if (!first) throw new Error("the cluster has no region yet");
      await sched.addOperator(first.region.id, { kind: "split", keys: splitKeys });
    }
    await waitForRegions(sched, o.regions);
    const regionCount = (await sched.allRegions(256)).length;
    report.notes.push(`${regionCount} regions, 3 stores, ${o.keys} keys; keys of a transaction drawn from one region's range`);
    sched.close();

    const clients = Object.fromEntries(
      await Promise.all((Object.keys(MODES) as Mode[]).map(async (m) => [m, await TxnClient.connect({ scheduler: cluster!.schedulerAddr, timeoutMs: 30_000, ...MODES[m] })] as const)),
    ) as Record<Mode, TxnClientType>;
    progress(`txn bench: loading ${o.keys} keys`);
    for (let i = 0; i < o.keys; i += 200) {
      await clients["2pc"].run(async (txn) => {
        for (let k = i; k < Math.min(o.keys, i + 200); k++) txn.put(keyOf(k), "0");
      });
    }

    const random = seededRandom(12345);
    const rand = (n: number) => Math.floor(random() * n);
    for (const keysPerTxn of [1, 4, 16]) {
      for (const concurrency of [16, 64]) {
        for (const mode of Object.keys(MODES) as Mode[]) {
          const db = clients[mode];
          const hist = new LatencyHistogram();
          let committed = 0;
          let failed = 0;
          let attempts = 0;
          let conflicts = 0;
          const until = Date.now() + o.seconds * 1000;
          const worker = async () => {
            while (Date.now() < until) {
              const r = rand(o.regions);
              const lo = r * block;
              const hi = Math.min(o.keys, lo + block);
              const keys = new Set<string>();
              while (keys.size < keysPerTxn) keys.add(keyOf(lo + rand(hi - lo)));
              const t0 = performance.now();
              try {
                await db.run(
                  async (txn) => {
                    attempts++;
                    const got = await txn.batchGet([...keys]);
                    for (const k of keys) txn.put(k, String(Number(got.get(Buffer.from(k).toString("hex"))?.toString() ?? "0") + 1));
                  },
                  { maxRetries: 100 },
                );
                hist.recordMs(performance.now() - t0);
                committed++;
              } catch (err) {
                if (err instanceof WriteConflictError) conflicts++;
                failed++;
              }
            }
          };
          // Count conflicts inside run's retries too: attempts − committed − failed are retried attempts.
          await Promise.all(Array.from({ length: concurrency }, worker));
          const retried = attempts - committed - failed;
          const s = hist.summary();
          const cell: TxnCell = {
            mode,
            keysPerTxn,
            concurrency,
            txnPerSec: committed / o.seconds,
            p50Ms: s.p50Ms,
            p99Ms: s.p99Ms,
            conflictRate: attempts > 0 ? (retried + conflicts) / attempts : 0,
            committed,
            failed,
          };
          report.cells.push(cell);
          progress(`txn bench: ${keysPerTxn} keys, c=${concurrency}, ${mode}: ${cell.txnPerSec.toFixed(0)} txn/s, p50 ${cell.p50Ms.toFixed(1)} ms, p99 ${cell.p99Ms.toFixed(1)} ms, conflicts ${(cell.conflictRate * 100).toFixed(2)} %`);
        }
      }
    }
    await Promise.all(Object.values(clients).map((c) => c.close()));
  } finally {
    await cluster?.stop();
    await runCleanups();
    uninstall();
    if (process.exitCode === undefined || process.exitCode === 0) remove();
  }
  return output;
}

async function waitForRegions(sched: { allRegions(pageSize?: number): Promise<Array<{ leader?: unknown }>> }, want: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const rs = await sched.allRegions(256);
    if (rs.length >= want && rs.every((r) => r.leader !== undefined)) return;
    if (Date.now() > deadline) throw new Error(`the key space did not reach ${want} regions with leaders within 60 s (${rs.length})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function formatTxnReport(r: TxnReport): string {
  const lines = [`txn bench (${r.machine.cores} cores, load ${r.machine.loadAvgAtStart} at start; ${r.options.seconds} s per cell)`, ...r.notes.map((n) => `  ${n}`), ""];
  lines.push("keys  conc  mode      txn/s     p50 ms    p99 ms   conflicts  failed");
  for (const c of r.cells) {
    lines.push(
      `${String(c.keysPerTxn).padStart(4)}  ${String(c.concurrency).padStart(4)}  ${c.mode.padEnd(6)} ${c.txnPerSec.toFixed(0).padStart(8)} ${c.p50Ms.toFixed(1).padStart(10)} ${c.p99Ms.toFixed(1).padStart(9)} ${`${(c.conflictRate * 100).toFixed(2)} %`.padStart(11)} ${String(c.failed).padStart(7)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
