/**
 * Soak the cluster simulation: many more seeds than CI runs, spread over worker processes, with
 * progress (seeds done, seeds/s) every few seconds. Stops by itself when every seed ran; exits 1
 * if any seed failed, after printing each failure with its replay command.
 *
 *   SEEDS=100000 START=1 JOBS=2 STEPS=1000 node --import tsx packages/raft/test/sim/soak.ts
 *   (or `pnpm soak`, which runs scripts/soak.sh)
 *
 * SEEDS: how many seeds (default 100000); START: the first seed (default 1); JOBS: worker processes
 * (default: one per CPU); STEPS: fault-phase steps per seed (default the simulation's);
 * STOP_ON_FAILURE=1: stop at the first failing seed; UNSAFE=<mode>: run a deliberately broken
 * caller (see UnsafeMode), to see failures reported.
 */
import { fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { DEFAULT_STEPS, SimViolation, UNSAFE_MODES, nodesForSeed, runSimulation, type UnsafeMode } from "./cluster-sim.js";

type WorkerMessage = { kind: "progress"; done: number } | { kind: "failure"; seed: number; message: string } | { kind: "finished"; done: number };

function envInt(name: string, fallback: number, min: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const seeds = envInt("SEEDS", 100_000, 1);
const start = envInt("START", 1, 0);
const steps = envInt("STEPS", DEFAULT_STEPS, 1);
const jobs = Math.min(envInt("JOBS", availableParallelism(), 1), seeds);
const stopOnFailure = process.env["STOP_ON_FAILURE"] === "1";
const unsafeEnv = process.env["UNSAFE"] ?? "";
if (unsafeEnv !== "" && !UNSAFE_MODES.includes(unsafeEnv as UnsafeMode)) {
  throw new Error(`UNSAFE must be one of ${UNSAFE_MODES.join(", ")}, got ${JSON.stringify(unsafeEnv)}`);
}
const unsafe = unsafeEnv === "" ? {} : { unsafe: unsafeEnv as UnsafeMode };

if (process.env["SOAK_WORKER"] !== undefined) {
  runWorker(Number(process.env["SOAK_WORKER"]));
} else {
  runCoordinator();
}

/** Worker `w` runs seeds start + w, start + w + jobs, ... and reports back over IPC. */
function runWorker(w: number): void {
  const send = (m: WorkerMessage) => process.send!(m);
  let done = 0;
  let lastReport = Date.now();
  for (let seed = start + w; seed < start + seeds; seed += jobs) {
    try {
      runSimulation({ seed, nodes: nodesForSeed(seed), steps, ...unsafe });
    } catch (e) {
      const message = e instanceof SimViolation ? e.message : `seed ${seed} crashed the simulation: ${(e as Error).stack}`;
      send({ kind: "failure", seed, message });
    }
    done++;
    if (Date.now() - lastReport > 500) {
      send({ kind: "progress", done });
      lastReport = Date.now();
    }
  }
  send({ kind: "finished", done });
  process.disconnect();
}

function runCoordinator(): void {
  const t0 = Date.now();
  const doneBy = new Array<number>(jobs).fill(0);
  const failures: { seed: number; message: string }[] = [];
  let finished = 0;
  const total = () => doneBy.reduce((a, b) => a + b, 0);
  const line = () => {
    const secs = (Date.now() - t0) / 1000;
    const n = total();
    const rate = n / Math.max(secs, 0.001);
    const eta = rate > 0 ? (seeds - n) / rate : 0;
    return `soak: ${n}/${seeds} seeds (${((100 * n) / seeds).toFixed(1)}%), ${rate.toFixed(1)} seeds/s, ${failures.length} failed, ${secs.toFixed(0)}s elapsed, ~${eta.toFixed(0)}s left`;
  };
  console.log(`soak: seeds ${start}..${start + seeds - 1}, ${steps} steps each, ${jobs} worker(s)`);
  const timer = setInterval(() => console.log(line()), 5000);
  const children = Array.from({ length: jobs }, (_, w) => {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, SOAK_WORKER: String(w) } });
    child.on("message", (m: WorkerMessage) => {
      if (m.kind === "failure") {
        failures.push({ seed: m.seed, message: m.message });
        console.log(`\nFAILED ${m.message}\n`);
        if (stopOnFailure) finish();
        return;
      }
      doneBy[w] = m.done;
    });
    child.on("exit", (code) => {
      if (code !== 0 && code !== null) failures.push({ seed: -1, message: `worker ${w} exited with code ${code}` });
      if (++finished === jobs) finish();
    });
    return child;
  });
  let ended = false;
  function finish(): void {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    for (const c of children) if (c.exitCode === null) c.kill();
    console.log(line());
    if (failures.length > 0) {
      console.log(`\n${failures.length} failing seed(s): ${failures.map((f) => f.seed).join(", ")}`);
      for (const f of failures.slice(0, 10)) console.log(`\n${f.message}`);
      process.exitCode = 1;
    } else {
      console.log("soak: every seed kept every safety property and recovered");
    }
  }
  process.on("SIGINT", () => {
    console.log("\nsoak: interrupted");
    finish();
  });
}
