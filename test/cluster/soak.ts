/**
 * Soak the cluster scenarios: many seeds of every scenario (or some), spread over worker
 * processes, with a progress line every few seconds. Stops by itself when every (scenario, seed)
 * ran; exits 1 if any failed, after printing each failure with its replay command.
 *
 *   SEEDS=300 START=1000 JOBS=2 node --import tsx test/cluster/soak.ts   (or scripts/cluster-soak.sh)
 *
 * SEEDS: seeds per scenario (default 200); START: first seed (default 1000, away from CI's);
 * JOBS: worker processes (default: one per CPU); SCENARIOS: comma-separated names (default all);
 * CLIENT_TICKS: client ticks per GenericTest iteration (default the CI value);
 * STOP_ON_FAILURE=1: stop at the first failure.
 */
import { fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { SCENARIOS, replayCommand, scenarioByName, type Scenario } from "./scenarios.js";

type WorkerMessage = { kind: "done"; ok: boolean; scenario: string; seed: number; message: string; ms: number } | { kind: "finished" };

function envInt(name: string, fallback: number, min: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const seeds = envInt("SEEDS", 200, 1);
const start = envInt("START", 1000, 0);
const clientTicks = envInt("CLIENT_TICKS", 0, 0) || undefined;
const stopOnFailure = process.env["STOP_ON_FAILURE"] === "1";
const scenarios: Scenario[] = process.env["SCENARIOS"] ? process.env["SCENARIOS"].split(",").map((n) => scenarioByName(n.trim())) : [...SCENARIOS];
/** Every (scenario, seed) pair, seed-major so that early progress covers every scenario. */
const work: Array<{ scenario: string; seed: number }> = [];
for (let k = 0; k < seeds; k++) for (const s of scenarios) work.push({ scenario: s.name, seed: start + k });
const jobs = Math.min(envInt("JOBS", availableParallelism(), 1), work.length);

if (process.env["CLUSTER_SOAK_WORKER"] !== undefined) {
  await runWorker(Number(process.env["CLUSTER_SOAK_WORKER"]));
} else {
  runCoordinator();
}

/** Worker `w` runs work items w, w + jobs, ... and reports each over IPC. */
async function runWorker(w: number): Promise<void> {
  const send = (m: WorkerMessage) => process.send!(m);
  for (let i = w; i < work.length; i += jobs) {
    const { scenario, seed } = work[i]!;
    const t0 = performance.now();
    try {
      const summary = await scenarioByName(scenario).run({ seed, ...(clientTicks ? { clientTicks } : {}) });
      send({ kind: "done", ok: true, scenario, seed, message: summary, ms: performance.now() - t0 });
    } catch (e) {
      send({ kind: "done", ok: false, scenario, seed, message: e instanceof Error ? (e.stack ?? e.message) : String(e), ms: performance.now() - t0 });
    }
  }
  send({ kind: "finished" });
  process.disconnect();
}

function runCoordinator(): void {
  const t0 = Date.now();
  const failures: Array<{ scenario: string; seed: number; message: string }> = [];
  let done = 0;
  let finished = 0;
  const line = () => {
    const secs = (Date.now() - t0) / 1000;
    const rate = done / Math.max(secs, 0.001);
    const eta = rate > 0 ? (work.length - done) / rate : 0;
    return `cluster soak: ${done}/${work.length} runs (${scenarios.length} scenarios × ${seeds} seeds from ${start}), ${failures.length} failed, ${secs.toFixed(0)}s elapsed, ~${eta.toFixed(0)}s left`;
  };
  process.stdout.write(`${line()}\n`);
  const progress = setInterval(() => process.stdout.write(`${line()}\n`), 10_000);
  const children = Array.from({ length: jobs }, (_, w) =>
    fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, CLUSTER_SOAK_WORKER: String(w) }, execArgv: ["--import", "tsx"] }),
  );
  const finish = () => {
    clearInterval(progress);
    process.stdout.write(`${line()}\n`);
    for (const f of failures) {
      process.stdout.write(`\nFAILED ${f.scenario} seed ${f.seed}; replay: ${replayCommand(f.scenario, f.seed, clientTicks)}\n${f.message}\n`);
    }
    process.stdout.write(failures.length === 0 ? "cluster soak: every run passed\n" : `cluster soak: ${failures.length} run(s) failed\n`);
    process.exitCode = failures.length === 0 ? 0 : 1;
  };
  for (const child of children) {
    child.on("message", (m: WorkerMessage) => {
      if (m.kind === "finished") return;
      done++;
      if (!m.ok) {
        failures.push({ scenario: m.scenario, seed: m.seed, message: m.message });
        process.stdout.write(`FAILED ${m.scenario} seed ${m.seed}: replay: ${replayCommand(m.scenario, m.seed, clientTicks)}\n`);
        if (stopOnFailure) for (const c of children) c.kill();
      }
    });
    child.on("exit", (code, signal) => {
      if (code !== 0 && signal === null) failures.push({ scenario: "(worker)", seed: -1, message: `a soak worker exited with code ${code}` });
      if (++finished === children.length) finish();
    });
  }
}
