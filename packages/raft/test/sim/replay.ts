/**
 * Replay one seed of the cluster simulation verbosely: every delivery, fault, role change and
 * apply, one line each, then the run's summary (or the violation).
 *
 *   SEED=1234 NODES=5 node --import tsx packages/raft/test/sim/replay.ts
 *
 * Optional: STEPS (fault-phase steps), UNSAFE (ack-before-persist | forget-vote: a broken caller),
 * RAFT_LOG=1 (the raft core's own info and warn logs as well).
 */
import { DEFAULT_STEPS, SimViolation, UNSAFE_MODES, nodesForSeed, runSimulation, type UnsafeMode } from "./cluster-sim.js";

function envInt(name: string, fallback: number | undefined): number {
  const v = process.env[name];
  if (v === undefined || v === "") {
    if (fallback === undefined) throw new Error(`set ${name}, e.g. SEED=1234 NODES=5 node --import tsx packages/raft/test/sim/replay.ts`);
    return fallback;
  }
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

const seed = envInt("SEED", undefined);
const nodes = envInt("NODES", nodesForSeed(seed));
if (nodes !== 3 && nodes !== 5) throw new Error(`NODES must be 3 or 5, got ${nodes}`);
const steps = envInt("STEPS", DEFAULT_STEPS);
const unsafeEnv = process.env["UNSAFE"];
if (unsafeEnv && !UNSAFE_MODES.includes(unsafeEnv as UnsafeMode)) {
  throw new Error(`UNSAFE must be one of ${UNSAFE_MODES.join(", ")}, got ${JSON.stringify(unsafeEnv)}`);
}
const unsafe = unsafeEnv ? (unsafeEnv as UnsafeMode) : undefined;
const print = (line: string) => process.stdout.write(`${line}\n`);
const raftLog = process.env["RAFT_LOG"] === "1";

try {
  const result = runSimulation({
    seed,
    nodes,
    steps,
    ...(unsafe ? { unsafe } : {}),
    trace: print,
    ...(raftLog
      ? {
          raftLogger: {
            debug() {},
            info: (f: Record<string, unknown>, msg: string) => print(`  raft info: ${msg} ${JSON.stringify(f)}`),
            warn: (f: Record<string, unknown>, msg: string) => print(`  raft warn: ${msg} ${JSON.stringify(f)}`),
          },
        }
      : {}),
  });
  print(`\nseed ${seed} passed: ${JSON.stringify({ ...result, profile: undefined })}`);
} catch (e) {
  if (e instanceof SimViolation) {
    print(`\n${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
