/**
 * Issue 5, end to end (3), many regions: four stores hold 100+ small regions; one is killed
 * with SIGKILL and stays down past a short --max-store-down-time. The replica checker replaces
 * every replica it held (remove the dead peer, add one on a live store caught up by snapshot)
 * until each region has 3 replicas on the three remaining stores — while writes run — and no
 * acknowledged write is lost. (rereplicate.test.ts is the one-region version.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster } from "./support/processes.js";
import { SMALL_REGION_STORE_ARGS, compareWithWrites, mustReach, putLoad, scanAll, underReplicated } from "./support/cluster-state.js";

test("kill -9 of one of four stores holding 100+ regions, kept down past max-store-down-time: every region back to 3 replicas on the others, nothing acknowledged lost", async (t) => {
  const c = await ProcessCluster.start(t, {
    stores: 4,
    initialStores: 3,
    // A store is down after 5 s without a store heartbeat: the stores must beat well within
    // that (default every 10 s), or live stores look down between two beats.
    storeArgs: [...SMALL_REGION_STORE_ARGS, "--store-heartbeat-interval", "1s"],
    // The 4th store fills as fast as it can (the balancers' pace is the bench's to measure).
    schedulerArgs: ["--max-store-down-time", "5s", "--store-balance-rate", "600"],
  });
  const client = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000 });
  t.after(() => client.close());
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());

  // ~12 MB → 100+ regions, spread by balance-region over the four stores.
  const before = await putLoad(client, { prefix: "a-", count: 12_000, valueBytes: 1_000, concurrency: 32 });
  assert.equal(before.acked.size, 12_000, `every put of the first load acknowledged (${before.unknown.size} unknown)`);
  const spreadOut = await mustReach(
    sched,
    "> 100 regions with 3 replicas, every store holding ≥ 40 % of them",
    (s) => {
      if (s.regions.length <= 100) return `only ${s.regions.length} regions`;
      const bad = underReplicated(s, 3);
      if (bad.length > 0) return `${bad.length} regions not at 3 replicas`;
      const low = s.stores.filter((st) => st.regionCount < 0.4 * s.regions.length);
      return low.length > 0 ? `stores ${low.map((st) => `${st.id} (${st.regionCount})`).join(", ")} under 40 % of ${s.regions.length}` : undefined;
    },
    { timeoutMs: 180_000, badRegion: (r) => r.storeIds.length !== 3 },
  );
  // The victim: the store with the most replicas (and not the one the cluster was bootstrapped on alone).
  const victimRow = [...spreadOut.stores].sort((a, b) => b.regionCount - a.regionCount)[0]!;
  const victim = c.stores.find((s) => s.storeId === victimRow.id)!;
  const live = new Set(spreadOut.stores.map((s) => s.id).filter((id) => id !== victimRow.id));
  t.diagnostic(`${spreadOut.regions.length} regions: ${spreadOut.stores.map((s) => `${s.id}: ${s.regionCount}/${s.leaderCount}`).join(", ")}; kill -9 store ${victimRow.id}`);

  let stopWrites = false;
  t.after(() => {
    stopWrites = true; // a failed wait below must not leave the writers running
  });
  const during = putLoad(client, { prefix: "b-", count: 6_000, valueBytes: 1_000, concurrency: 8, stop: () => stopWrites });
  await new Promise((r) => setTimeout(r, 1_000));
  await victim.proc.kill("SIGKILL");

  const back = await mustReach(
    sched,
    `every region at 3 replicas on stores ${[...live].join(",")} with a leader`,
    (s) => {
      const bad = underReplicated(s, 3, live);
      if (bad.length > 0) return `${bad.length} of ${s.regions.length} regions not at 3 replicas on the live stores`;
      const noLeader = s.regions.filter((r) => r.leaderStoreId === undefined || !live.has(r.leaderStoreId));
      return noLeader.length > 0 ? `${noLeader.length} regions without a leader on a live store` : undefined;
    },
    { timeoutMs: 180_000, badRegion: (r) => r.storeIds.length !== 3 || r.storeIds.includes(victimRow.id) },
  );
  t.diagnostic(`re-replicated ${(back.elapsedMs / 1000).toFixed(1)} s after the kill (max-store-down-time 5 s): ${back.regions.length} regions`);

  stopWrites = true;
  const meanwhile = await during;
  t.diagnostic(`${meanwhile.acked.size} writes acknowledged around the kill (${meanwhile.failures} failed attempts, ${meanwhile.unknown.size} left unknown)`);
  assert.ok(meanwhile.acked.size > 300, `writes went on (${meanwhile.acked.size} acknowledged)`);

  const got = await scanAll(client, "a-", "c-");
  assert.deepEqual(compareWithWrites(got, [before, meanwhile]), [], "every acknowledged write is there, nothing else");
});
