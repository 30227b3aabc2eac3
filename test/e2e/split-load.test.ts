/**
 * Issue 5, end to end (1): with a small split size, 20 MB of writes split the key space into more
 * than 100 regions by itself; the scheduler keeps 3 replicas of each and spreads regions and
 * leaders over the stores within 10 %; a full scan returns exactly what was written.
 * Real `regionkv` processes on loopback, the public RawClient, the scheduler's view polled.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster } from "./support/processes.js";
import { SMALL_REGION_STORE_ARGS, compareWithWrites, mustReach, putLoad, readClusterState, scanAll, sleep, spread, underReplicated } from "./support/cluster-state.js";

test("20 MB with a 64 KiB split size: > 100 regions, 3 replicas each, balanced within 10 %, a full scan returns what was written", async (t) => {
  const c = await ProcessCluster.start(t, { stores: 3, storeArgs: SMALL_REGION_STORE_ARGS });
  const client = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000 });
  t.after(() => client.close());
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());

  // While loading, note when the region count passes 100 (a figure for the report, not a check).
  const loadStart = Date.now();
  let past100At: number | undefined;
  let loading = true;
  const watcher = (async () => {
    while (loading && past100At === undefined) {
      const n = (await readClusterState(sched).catch(() => undefined))?.regions.length ?? 0;
      if (n > 100) past100At = Date.now() - loadStart;
      await sleep(500);
    }
  })();
  const load = await putLoad(client, { prefix: "load-", count: 20_000, valueBytes: 1_000, concurrency: 32 });
  loading = false;
  await watcher;
  t.diagnostic(
    `20,000 puts of 1 KB in ${(load.elapsedMs / 1000).toFixed(1)} s (${load.failures} failed attempts); ` +
      `> 100 regions ${past100At === undefined ? "not during the load" : `after ${(past100At / 1000).toFixed(1)} s`}`,
  );
  assert.equal(load.acked.size, 20_000, `every put acknowledged in the end (${load.unknown.size} left with an unknown outcome)`);

  const final = await mustReach(
    sched,
    "> 100 regions, each with 3 replicas, region and leader counts within 10 % across stores",
    (s) => {
      if (s.regions.length <= 100) return `only ${s.regions.length} regions`;
      const bad = underReplicated(s, 3);
      if (bad.length > 0) return `${bad.length} regions without exactly 3 replicas`;
      const noLeader = s.regions.filter((r) => r.leaderStoreId === undefined);
      if (noLeader.length > 0) return `${noLeader.length} regions without a known leader`;
      const regionSpread = spread(s.stores.map((st) => st.regionCount));
      const leaderSpread = spread(s.stores.map((st) => st.leaderCount));
      if (regionSpread > 0.1) return `region counts ${s.stores.map((st) => st.regionCount).join("/")} differ by ${(regionSpread * 100).toFixed(0)} %`;
      if (leaderSpread > 0.1) return `leader counts ${s.stores.map((st) => st.leaderCount).join("/")} differ by ${(leaderSpread * 100).toFixed(0)} %`;
      return undefined;
    },
    { timeoutMs: 120_000, badRegion: (r) => r.storeIds.length !== 3 || r.leaderStoreId === undefined },
  );
  t.diagnostic(
    `${final.regions.length} regions balanced ${(final.elapsedMs / 1000).toFixed(1)} s after the load: ` +
      final.stores.map((s) => `store ${s.id} ${s.regionCount}/${s.leaderCount}`).join(", "),
  );

  const got = await scanAll(client, "load-", "load.");
  assert.equal(got.size, 20_000, `the scan returns 20,000 rows (got ${got.size})`);
  assert.deepEqual(compareWithWrites(got, [load]), [], "the scan returns exactly what was written");
});
