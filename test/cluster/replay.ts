/**
 * Replay one scenario seed of the cluster harness, with a trace: store stops and starts, filters,
 * leader changes, snapshots, raftstore warnings, then the summary (or the failure).
 *
 *   SEED=7 SCENARIO=PersistPartition2B node --import tsx test/cluster/replay.ts
 *
 * Optional: CLIENT_TICKS (client ticks per GenericTest iteration; the CI value by default),
 * QUIET=1 (no trace, just the result). Exit code 1 on failure.
 */
import { SCENARIOS, runScenario, scenarioByName } from "./scenarios.js";

const print = (line: string) => process.stdout.write(`${line}\n`);

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

const seed = envInt("SEED");
const name = process.env["SCENARIO"];
if (seed === undefined || !name) {
  print("usage: SEED=<n> SCENARIO=<name> node --import tsx test/cluster/replay.ts");
  print(`scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
const clientTicks = envInt("CLIENT_TICKS");
const quiet = process.env["QUIET"] === "1";

const t0 = performance.now();
try {
  const summary = await runScenario(scenarioByName(name), { seed, ...(clientTicks ? { clientTicks } : {}), ...(quiet ? {} : { trace: print }) });
  print(`${name} seed ${seed}: ok in ${((performance.now() - t0) / 1000).toFixed(1)}s: ${summary}`);
} catch (e) {
  print(`${name} seed ${seed}: FAILED after ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  print(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
}
