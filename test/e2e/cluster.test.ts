/**
 * End to end through real processes: a scheduler and three stores started by the `regionkv`
 * CLI on loopback, driven by the public `RawClient` and by `regionkv ctl`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { ProcessCluster, runCli } from "./support/processes.js";

test("a three-store cluster of real processes serves the raw API through RawClient and regionkv ctl", async (t) => {
  const c = await ProcessCluster.start(t);
  const client = await RawClient.connect({ scheduler: c.schedulerAddr });
  t.after(() => client.close());

  // Single keys.
  assert.equal(await client.get("missing"), undefined);
  await client.put("hello", "world");
  assert.deepEqual(await client.get("hello"), Buffer.from("world"));
  await client.put(Buffer.from([0, 1, 2]), new Uint8Array([255, 0, 7]));
  assert.deepEqual(await client.get(Buffer.from([0, 1, 2])), Buffer.from([255, 0, 7]));
  await client.put("empty", "");
  assert.deepEqual(await client.get("empty"), Buffer.alloc(0), "an empty value is a value, not an absent key");
  await client.delete("hello");
  assert.equal(await client.get("hello"), undefined);

  // Batches and scans.
  await client.batchPut(Array.from({ length: 50 }, (_, i) => ({ key: `k${String(i).padStart(3, "0")}`, value: `v${i}` })));
  const got = await client.batchGet(["k000", "k049", "nope"]);
  assert.deepEqual(
    got.map((r) => [r.key.toString(), r.value.toString()]),
    [
      ["k000", "v0"],
      ["k049", "v49"],
    ],
  );
  const rows = await client.scan("k010", "k020", { limit: 100 });
  assert.deepEqual(
    rows.map((r) => r.key.toString()),
    Array.from({ length: 10 }, (_, i) => `k0${10 + i}`),
  );
  assert.equal((await client.scan("k", "l", { limit: 7 })).length, 7);
  const reversed = await client.scan("k000", "k005", { limit: 2, reverse: true });
  assert.deepEqual(
    reversed.map((r) => r.key.toString()),
    ["k004", "k003"],
  );
  await client.deleteRange("k000", "k040");
  assert.deepEqual(
    (await client.scan("k", "l", { limit: 100 })).map((r) => r.key.toString()),
    Array.from({ length: 10 }, (_, i) => `k0${40 + i}`),
  );

  // Compare-and-swap.
  assert.deepEqual(await client.compareAndSwap("cas", undefined, "one"), { swapped: true, previous: undefined });
  assert.deepEqual(await client.compareAndSwap("cas", undefined, "two"), { swapped: false, previous: Buffer.from("one") });
  assert.deepEqual(await client.compareAndSwap("cas", "one", "two"), { swapped: true, previous: Buffer.from("one") });
  assert.deepEqual(await client.get("cas"), Buffer.from("two"));

  // regionkv ctl.
  const ctl = (...args: string[]) => runCli(["ctl", "--scheduler", c.schedulerAddr, ...args]);
  const put = await ctl("put", "from-ctl", "value 1");
  assert.equal(put.code, 0, put.stderr);
  const get = await ctl("get", "from-ctl");
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, "value 1\n");
  assert.deepEqual(await client.get("from-ctl"), Buffer.from("value 1"));
  const missing = await ctl("get", "not-there");
  assert.equal(missing.code, 1, "a missing key exits 1");
  const scan = await ctl("scan", "k", "l", "--limit", "3", "--json");
  assert.equal(scan.code, 0, scan.stderr);
  assert.deepEqual(
    (JSON.parse(scan.stdout) as Array<{ key: string }>).map((r) => r.key),
    ["k040", "k041", "k042"],
  );
  const del = await ctl("delete", "from-ctl");
  assert.equal(del.code, 0, del.stderr);
  assert.equal(await client.get("from-ctl"), undefined);
  const stores = await ctl("stores", "--json");
  assert.equal(stores.code, 0, stores.stderr);
  const storeRows = JSON.parse(stores.stdout) as Array<{ id: number; address: string; state: string; regionCount: number }>;
  assert.deepEqual(storeRows.map((s) => s.address).sort(), c.stores.map((s) => s.address).sort());
  assert.ok(storeRows.every((s) => s.state === "Up" && s.regionCount === 1));
  const regions = await ctl("regions", "--json");
  assert.equal(regions.code, 0, regions.stderr);
  const regionRows = JSON.parse(regions.stdout) as Array<{ startKey: string; endKey: string; peers: unknown[] }>;
  assert.equal(regionRows.length, 1);
  assert.equal(regionRows[0]!.peers.length, 3);
  assert.equal(regionRows[0]!.startKey, "");
  assert.equal(regionRows[0]!.endKey, "");
});
