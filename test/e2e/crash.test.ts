/**
 * kill -9 under load, through real processes: concurrent clients run get / put / compare-and-swap
 * on a few registers (and write a log of unique keys) while the test kills -9 a follower, brings
 * it back, then kills -9 the leader and brings it back. Afterwards every acknowledged write is
 * present and the recorded history is linearizable (test/support/linearizability.ts).
 *
 * Operations that fail (a deadline during the fail-over, an unknown outcome) are recorded as
 * indeterminate: the checker lets them take effect or not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { seededRandom } from "@regionkv/raft";
import { checkHistory, HistoryRecorder } from "../support/linearizability.js";
import { ProcessCluster } from "./support/processes.js";

const REGISTERS = ["reg-0", "reg-1", "reg-2", "reg-3", "reg-4", "reg-5"];
const WORKERS = 6;
/** Every worker stops after this many operations, whatever happens. */
const MAX_OPS_PER_WORKER = 4_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test("kill -9 of a follower, then of the leader: no acknowledged write is lost and the history is linearizable", async (t) => {
  const seed = Number(process.env["SEED"] ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed}`);
  const c = await ProcessCluster.start(t);
  const start = performance.now();
  const recorder = new HistoryRecorder(() => performance.now() - start);
  const acked = new Map<string, string>();
  let stop = false;

  const clients = await Promise.all(Array.from({ length: 3 }, () => RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 4_000 })));
  t.after(() => Promise.all(clients.map((cl) => cl.close())));

  const worker = async (id: number): Promise<number> => {
    const rnd = seededRandom(seed * 31 + id);
    const client = clients[id % clients.length]!;
    let n = 0;
    let lastSeen: string | undefined;
    while (!stop && n < MAX_OPS_PER_WORKER) {
      n++;
      const key = REGISTERS[Math.floor(rnd() * REGISTERS.length)]!;
      const dice = rnd();
      try {
        if (dice < 0.4) {
          lastSeen = await recorder.get(id, key, async () => (await client.get(key))?.toString());
        } else if (dice < 0.7) {
          const value = `w${id}-${n}`;
          await recorder.put(id, key, value, () => client.put(key, value));
        } else if (dice < 0.9) {
          const next = `c${id}-${n}`;
          const expected = rnd() < 0.2 ? undefined : lastSeen;
          await recorder.cas(id, key, expected, next, async () => {
            const r = await client.compareAndSwap(key, expected, next);
            return { swapped: r.swapped, previous: r.previous?.toString() };
          });
        } else {
          // The write log: unique keys, each acknowledged one must survive.
          const key2 = `log-${id}-${n}`;
          await client.put(key2, `payload-${n}`);
          acked.set(key2, `payload-${n}`);
        }
      } catch {
        // Indeterminate (recorded as such); back off a little while the cluster fails over.
        await sleep(20);
      }
    }
    return n;
  };

  const running = Array.from({ length: WORKERS }, (_, i) => worker(i));
  const phase = async (ms: number) => {
    const until = Date.now() + ms;
    while (!stop && Date.now() < until) await sleep(50);
  };

  await phase(2_000);
  const leader1 = await c.leaderIndex();
  const follower = (leader1 + 1) % c.stores.length;
  t.diagnostic(`kill -9 follower store-${follower + 1}`);
  await c.stores[follower]!.proc.kill("SIGKILL");
  await phase(2_500);
  await c.startStore(follower);
  await phase(2_000);
  const leader2 = await c.leaderIndex();
  t.diagnostic(`kill -9 leader store-${leader2 + 1}`);
  await c.stores[leader2]!.proc.kill("SIGKILL");
  await phase(4_000);
  await c.startStore(leader2);
  await phase(2_500);
  stop = true;
  const counts = await Promise.all(running);
  t.diagnostic(`operations per worker: ${counts.join(", ")}`);

  // Every acknowledged write of the log is there, through a fresh client.
  const verifier = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 10_000 });
  t.after(() => verifier.close());
  const rows = await verifier.scan("log-", "log.", { limit: 10_000 });
  const stored = new Map(rows.map((r) => [r.key.toString(), r.value.toString()]));
  for (const [k, v] of acked) assert.equal(stored.get(k), v, `acknowledged write ${k} is missing or wrong after the crashes`);
  assert.ok(acked.size > 20, `the workload made progress (${acked.size} acknowledged log writes)`);

  // Final reads join the history so that lost register writes show up as violations too.
  for (const key of REGISTERS) await recorder.get(999, key, async () => (await verifier.get(key))?.toString());
  const history = recorder.history();
  const completed = history.filter((op) => op.ret !== undefined).length;
  t.diagnostic(`history: ${history.length} operations, ${completed} completed`);
  assert.ok(completed > 200, "enough completed operations to mean something");
  const result = checkHistory(history, { timeoutMs: 120_000 });
  if (result.ok === "unknown") assert.fail("the linearizability checker ran out of time (120 s) on this history");
  if (!result.ok) assert.fail(`not linearizable on ${result.key}:\n${result.explanation}`);
});
