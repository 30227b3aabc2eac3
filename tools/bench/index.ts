/**
 * regionkv benchmarks. Usage:
 *   pnpm bench [raft] [raftstore] [raftstore-threads] [--quick] [--json]
 * Figures go to stdout (a table, or JSON with --json); progress goes to stderr.
 * Every benchmark is bounded: it runs a fixed amount of work and stops.
 */
import os from "node:os";
import { runRaftBench } from "./raft-bench.js";
import { runRaftstoreBench } from "./raftstore-bench.js";
import { runRaftstoreThreadsBench } from "./raftstore-threads-bench.js";
import { printTable, type BenchResult } from "./report.js";

const suites: Record<string, (opts: { quick: boolean }) => BenchResult[] | Promise<BenchResult[]>> = {
  raft: runRaftBench,
  raftstore: runRaftstoreBench,
  "raftstore-threads": runRaftstoreThreadsBench,
};

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const json = args.includes("--json");
const names = args.filter((a) => !a.startsWith("--"));
const unknown = names.filter((n) => !(n in suites));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(", ")}; available: ${Object.keys(suites).join(", ")}\n`);
  process.exit(2);
}
const selected = names.length > 0 ? names : Object.keys(suites);
const all: Record<string, BenchResult[]> = {};
for (const name of selected) all[name] = await suites[name]!({ quick });

if (json) {
  process.stdout.write(`${JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, results: all }, null, 2)}\n`);
} else {
  process.stdout.write(`regionkv benchmarks — node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores${quick ? " (quick)" : ""}\n`);
  for (const [name, results] of Object.entries(all)) printTable(name, results);
}
