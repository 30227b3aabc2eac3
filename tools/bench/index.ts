/**
 * regionkv benchmarks. Usage:
 *   pnpm bench [raft] [raftstore] [raftstore-threads] [kv] [split] [txn] [--quick] [--json] [kv/split/txn flags]
 * Figures go to stdout (a table, or JSON with --json); progress goes to stderr.
 * Every benchmark is bounded: it runs a fixed amount of work and stops.
 * `kv` starts clusters of real processes (regionkv, and etcd when installed), so it runs only
 * when named: `pnpm bench kv --quick`; its flags are listed by `pnpm bench kv --help`.
 * `split` (split latency, throughput while splitting and rebalancing, a new store's fair share,
 * re-replication after kill -9) starts its own cluster too and runs only when named:
 * `pnpm bench split --quick`.
 * `txn` (transactions of 1/4/16 keys at concurrency 16/64, 2PC vs async commit vs 1PC) also
 * starts its own cluster and runs only when named: `pnpm bench txn --quick`.
 */
import os from "node:os";
import { runKvBench } from "./kv-bench.js";
import { KV_USAGE, KV_VALUE_FLAGS, parseKvOptions } from "./kv-options.js";
import { runRaftBench } from "./raft-bench.js";
import { runRaftstoreBench } from "./raftstore-bench.js";
import { runRaftstoreThreadsBench } from "./raftstore-threads-bench.js";
import { printTable, type BenchResult } from "./report.js";
import { runSplitBench } from "./split-bench.js";
import { SPLIT_USAGE, SPLIT_VALUE_FLAGS, parseSplitOptions } from "./split-options.js";
import { TXN_USAGE, TXN_VALUE_FLAGS, parseTxnOptions, runTxnBench } from "./txn-bench.js";

interface SuiteOptions {
  quick: boolean;
  /** The flags (with their values) this suite declared in `flags`. */
  args: string[];
}
/** A suite returns rows for printTable, or its own printer and JSON. */
type SuiteOutput = BenchResult[] | { print(): void; json: unknown };
interface Suite {
  run: (opts: SuiteOptions) => SuiteOutput | Promise<SuiteOutput>;
  /** Flags that take a value (`--flag value` or `--flag=value`). */
  flags?: readonly string[];
  /** Throws on bad flags, before any suite runs. */
  check?: (opts: SuiteOptions) => void;
  usage?: string;
  /** Not part of a bare `pnpm bench`. */
  explicit?: boolean;
}

const suites: Record<string, Suite> = {
  raft: { run: runRaftBench },
  raftstore: { run: runRaftstoreBench },
  "raftstore-threads": { run: runRaftstoreThreadsBench },
  kv: { run: runKvBench, flags: KV_VALUE_FLAGS, check: (o) => void parseKvOptions(o.args, o.quick), usage: KV_USAGE, explicit: true },
  split: { run: runSplitBench, flags: SPLIT_VALUE_FLAGS, check: (o) => void parseSplitOptions(o.args, o.quick), usage: SPLIT_USAGE, explicit: true },
  txn: { run: runTxnBench, flags: TXN_VALUE_FLAGS, check: (o) => void parseTxnOptions(o.args, o.quick), usage: TXN_USAGE, explicit: true },
};

function usage(): string {
  const names = Object.keys(suites).join("] [");
  return [`usage: pnpm bench [${names}] [--quick] [--json]`, ...Object.values(suites).flatMap((s) => (s.usage ? [s.usage] : []))].join("\n");
}

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage()}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}
let quick = false;
let json = false;
const names: string[] = [];
/** Suite flags as given, each as its `--flag=value` token. */
const flagTokens: Array<{ flag: string; token: string }> = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--quick") quick = true;
  else if (a === "--json") json = true;
  else if (a.startsWith("--")) {
    const eq = a.indexOf("=");
    const flag = eq >= 0 ? a.slice(0, eq) : a;
    if (!Object.values(suites).some((s) => s.flags?.includes(flag))) fail(`unknown flag ${flag}`);
    if (eq >= 0) flagTokens.push({ flag, token: a });
    else {
      const value = args[++i];
      if (value === undefined) fail(`${flag} needs a value`);
      flagTokens.push({ flag, token: `${flag}=${value}` });
    }
  } else names.push(a);
}
const unknown = names.filter((n) => !(n in suites));
if (unknown.length > 0) fail(`unknown benchmark(s): ${unknown.join(", ")}; available: ${Object.keys(suites).join(", ")}`);
const selected = names.length > 0 ? names : Object.keys(suites).filter((n) => !suites[n]!.explicit);
for (const { flag } of flagTokens) {
  if (!selected.some((n) => suites[n]!.flags?.includes(flag))) {
    const owners = Object.keys(suites).filter((n) => suites[n]!.flags?.includes(flag));
    fail(`${flag} applies to: ${owners.join(", ")}`);
  }
}
const optionsOf = (name: string): SuiteOptions => ({ quick, args: flagTokens.filter((f) => suites[name]!.flags?.includes(f.flag)).map((f) => f.token) });
for (const name of selected) {
  try {
    suites[name]!.check?.(optionsOf(name));
  } catch (e) {
    fail(`${name}: ${(e as Error).message}`);
  }
}

const all: Record<string, SuiteOutput> = {};
for (const name of selected) all[name] = await suites[name]!.run(optionsOf(name));

if (json) {
  const results = Object.fromEntries(Object.entries(all).map(([n, r]) => [n, Array.isArray(r) ? r : r.json]));
  process.stdout.write(`${JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length, results }, null, 2)}\n`);
} else {
  process.stdout.write(`regionkv benchmarks — node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores${quick ? " (quick)" : ""}\n`);
  for (const [name, r] of Object.entries(all)) {
    if (Array.isArray(r)) printTable(name, r);
    else r.print();
  }
}
