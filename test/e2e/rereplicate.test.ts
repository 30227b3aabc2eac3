/**
 * A store that stays down past --max-store-down-time: the scheduler replaces its replicas on the
 * remaining stores (remove the dead peer, add a new one caught up by snapshot over gRPC), and
 * no acknowledged write is lost — real processes, writes running throughout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster } from "./support/processes.js";

test("kill -9 of a store kept down past max-store-down-time: its replicas are re-created elsewhere, nothing acknowledged is lost", async (t) => {
  const c = await ProcessCluster.start(t, { stores: 4, initialStores: 3, schedulerArgs: ["--max-store-down-time", "3s"], storeArgs: ["--store-heartbeat-interval", "1s"] });
  const client = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 5_000 });
  t.after(() => client.close());
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());

  const acked = new Map<string, string>();
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop && i < 100_000; i++) {
      const k = `w-${String(i).padStart(6, "0")}`;
      try {
        await client.put(k, `v${i}`);
        acked.set(k, `v${i}`);
      } catch {
        // unknown outcome during the fail-over: not counted as acknowledged
      }
    }
  })();

  // Kill a store holding a replica of the region (not the empty fourth one).
  const first = await sched.getRegion(Buffer.alloc(0));
  assert.ok(first);
  const victimStoreId = String(first.region.peers[0]!.storeId);
  const victim = c.stores.find((s) => s.storeId === victimStoreId)!;
  const spare = c.stores.find((s) => !first.region.peers.some((p) => String(p.storeId) === s.storeId))!;
  await new Promise((r) => setTimeout(r, 1_000));
  t.diagnostic(`kill -9 store ${victimStoreId}; spare store ${spare.storeId}`);
  await victim.proc.kill("SIGKILL");

  // Wait until the region has 3 replicas again, none on the dead store.
  const deadline = Date.now() + 90_000;
  let region = first.region;
  while (Date.now() < deadline) {
    const r = await sched.getRegion(Buffer.alloc(0)).catch(() => undefined);
    if (r) region = r.region;
    const stores = region.peers.map((p) => String(p.storeId));
    if (stores.length === 3 && !stores.includes(victimStoreId)) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  const stores = region.peers.map((p) => String(p.storeId)).sort();
  assert.equal(stores.length, 3, `three replicas again: ${stores.join(",")}`);
  assert.ok(!stores.includes(victimStoreId), "none on the dead store");
  assert.ok(stores.includes(spare.storeId!), "the spare store got one");
  assert.ok(region.regionEpoch!.confVer >= 3n, "two membership changes (remove, add)");

  // Writes go on on the repaired region: wait (bounded) for 50 more acknowledgements, however
  // long the fail-over took on this machine.
  const before = acked.size;
  const writesDeadline = Date.now() + 30_000;
  while (acked.size < before + 50 && Date.now() < writesDeadline) await new Promise((res) => setTimeout(res, 50));
  stop = true;
  await writer;
  assert.ok(acked.size >= before + 50, `writes went on after the repair (${acked.size - before} more acknowledged, ${acked.size} in all)`);
  const rows = await client.scan("w-", "w.", { limit: 10_000 });
  const got = new Map(rows.map((r) => [r.key.toString(), r.value.toString()]));
  for (const [k, v] of acked) assert.equal(got.get(k), v, `acknowledged ${k} present`);

  // The new replica really serves: every live store's status shows the region, one leader.
  const statuses = await Promise.all(c.stores.filter((s) => s !== victim).map((s) => c.status(s.index)));
  const holding = statuses.filter((st) => st?.regions.some((r) => r.regionId === Number(region.id)));
  assert.equal(holding.length, 3, "three live stores host a peer of the region");
});
