/**
 * Issue 5, end to end (2): a fourth store joins a cluster of three holding a few hundred small
 * regions; the scheduler's balance-region moves replicas onto it (add a peer there, caught up by
 * snapshot, then remove one elsewhere) until it holds at least 20 % of the regions — while writes
 * run, all of which are there at the end.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster } from "./support/processes.js";
import { SMALL_REGION_STORE_ARGS, compareWithWrites, mustReach, putLoad, scanAll, spread, underReplicated, type ClusterState } from "./support/cluster-state.js";

test("a fourth store reaches at least 20 % of the regions within minutes, and the writes made meanwhile are all there", async (t) => {
  // The balancers' pace (--store-balance-rate, 30 replicas a minute into one store by default)
  // is measured by `pnpm bench split`; here the store may fill as fast as it can.
  const c = await ProcessCluster.start(t, { stores: 3, storeArgs: SMALL_REGION_STORE_ARGS, schedulerArgs: ["--store-balance-rate", "600"] });
  const client = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000 });
  t.after(() => client.close());
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());

  // ~10 MB → 150+ regions of 64 KiB on the three stores.
  const before = await putLoad(client, { prefix: "a-", count: 10_000, valueBytes: 1_000, concurrency: 32 });
  assert.equal(before.acked.size, 10_000, `every put of the first load acknowledged (${before.unknown.size} unknown)`);
  const base = await mustReach(sched, "> 100 regions with 3 replicas before the fourth store", (s) => (s.regions.length > 100 && underReplicated(s, 3).length === 0 ? undefined : `${s.regions.length} regions, ${underReplicated(s, 3).length} not at 3 replicas`), {
    timeoutMs: 60_000,
  });
  t.diagnostic(`${base.regions.length} regions on 3 stores`);

  // Bounded writes while the fourth store fills (stops by itself after 8,000 keys or when told).
  let stopWrites = false;
  t.after(() => {
    stopWrites = true; // a failed wait below must not leave the writers running
  });
  const during = putLoad(client, { prefix: "b-", count: 8_000, valueBytes: 1_000, concurrency: 8, stop: () => stopWrites });
  const fourth = await c.addStore();
  const id = fourth.storeId!;
  t.diagnostic(`store ${id} started`);

  const share = (s: ClusterState) => (s.stores.find((st) => st.id === id)?.regionCount ?? 0) / Math.max(1, s.regions.length);
  const describe = (s: ClusterState) => s.stores.map((st) => `${st.id}: ${st.regionCount}/${st.leaderCount}`).join(", ");
  const reached = await mustReach(sched, `store ${id} holds ≥ 20 % of the regions`, (s) => (share(s) >= 0.2 ? undefined : `store ${id} holds ${(share(s) * 100).toFixed(1)} % of ${s.regions.length} regions`), {
    timeoutMs: 240_000,
  });
  t.diagnostic(`store ${id} at ${(share(reached) * 100).toFixed(1)} % after ${(reached.elapsedMs / 1000).toFixed(1)} s: ${describe(reached)}`);

  // The moves finish: every region back at 3 replicas (a move is add, then remove). Then, as a
  // figure for the report, how long until the four stores are within 10 % of each other.
  const settled = await mustReach(sched, "every region at 3 replicas once the moves finish", (s) => (underReplicated(s, 3).length === 0 ? undefined : `${underReplicated(s, 3).length} regions not at 3 replicas`), {
    timeoutMs: 120_000,
    badRegion: (r) => r.storeIds.length !== 3,
  });
  const fair = await mustReach(
    sched,
    "replica counts within 10 % across the four stores",
    (s) => (spread(s.stores.map((st) => st.regionCount)) <= 0.1 && underReplicated(s, 3).length === 0 ? undefined : `replica counts ${s.stores.map((st) => st.regionCount).join("/")}`),
    { timeoutMs: 120_000 },
  ).catch((err: Error) => {
    t.diagnostic(`(a figure, not a failure) ${err.message.split("\n")[0]}`);
    return undefined;
  });
  const sinceStart = (s: ClusterState) => ((reached.elapsedMs + settled.elapsedMs + s.elapsedMs) / 1000).toFixed(1);
  if (fair) t.diagnostic(`fair share (within 10 %) ${sinceStart(fair)} s after the store started: ${describe(fair)}`);

  stopWrites = true;
  const meanwhile = await during;
  t.diagnostic(`${meanwhile.acked.size} writes acknowledged while the store filled (${meanwhile.failures} failed attempts, ${meanwhile.unknown.size} left unknown)`);
  assert.ok(meanwhile.acked.size > 500, `writes went on while the store filled (${meanwhile.acked.size} acknowledged)`);

  const got = await scanAll(client, "a-", "c-");
  assert.deepEqual(compareWithWrites(got, [before, meanwhile]), [], "every acknowledged write is there, nothing else");
  assert.equal(got.size >= 10_000 + meanwhile.acked.size, true);
});
