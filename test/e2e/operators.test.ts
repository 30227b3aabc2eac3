/**
 * Manual operators through `regionkv ctl` on real processes: region <key>, split at a key and in
 * half, transfer-leader, add-peer on a fourth store (joins as a learner, promoted), remove-peer,
 * operators (history with SUCCESS), and store remove draining a store to a Tombstone — while every
 * key written stays readable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "@regionkv/client";
import { ProcessCluster, runCli } from "./support/processes.js";

interface RegionRow {
  id: number;
  startKey: string;
  endKey: string;
  version: number;
  confVer: number;
  peers: Array<{ id: number; storeId: number }>;
  leaderStoreId: number | null;
}

interface StoreRow {
  id: number;
  state: string;
  regionCount: number;
}

const hex = (s: string) => Buffer.from(s).toString("hex");

test("manual operators through regionkv ctl: split (at a key, in half), transfer-leader, add-peer, remove-peer, operators, store remove", async (t) => {
  // No balancers: every membership and leader change here is the test's own (the replica
  // checker still runs, and drains the removed store).
  const c = await ProcessCluster.start(t, { stores: 4, initialStores: 3, schedulerArgs: ["--schedulers", "none"] });
  const client = await RawClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 10_000 });
  t.after(() => client.close());
  const ctl = async (...args: string[]) => {
    const r = await runCli(["ctl", "--scheduler", c.schedulerAddr, ...args]);
    assert.equal(r.code, 0, `ctl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  };
  const regions = async () => JSON.parse(await ctl("regions", "--json")) as RegionRow[];
  const stores = async () => JSON.parse(await ctl("stores", "--json")) as StoreRow[];
  /** Poll `probe` until it returns a value, or fail after `ms` with the last state. */
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) {
        const ops = await runCli(["ctl", "--scheduler", c.schedulerAddr, "operators", "--json", "--finished", "50"]);
        assert.fail(`${what}: not reached within ${ms / 1000}s; regions: ${JSON.stringify(await regions())}; operators: ${ops.stdout}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  const keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
  for (const k of keys) await client.put(k, `v-${k}`);
  const allThere = async () => {
    for (const k of keys) assert.deepEqual(await client.get(k), Buffer.from(`v-${k}`), `key ${k}`);
  };

  // region <key>
  const r0 = JSON.parse(await ctl("region", "d", "--json")) as RegionRow;
  assert.equal(r0.startKey, "");
  assert.equal(r0.peers.length, 3);

  // split at a key
  await ctl("split", String(r0.id), "d");
  const afterSplit = await until("split at d", async () => {
    const rs = await regions();
    return rs.length === 2 && rs.some((r) => r.startKey === hex("d")) ? rs : undefined;
  });
  for (const r of afterSplit) assert.equal(r.version, 2, `region ${r.id} at version 2`);
  await allThere();

  // split in half (no key): the left region [, d) holds a, b, c → cut somewhere inside
  const left = afterSplit.find((r) => r.startKey === "")!;
  await ctl("split", String(left.id));
  await until("halved", async () => {
    const rs = await regions();
    return rs.length === 3 ? rs : undefined;
  });
  await allThere();

  // transfer-leader
  const right = (await regions()).find((r) => r.startKey === hex("d"))!;
  const target = right.peers.map((p) => p.storeId).find((s) => s !== right.leaderStoreId)!;
  await ctl("transfer-leader", String(right.id), String(target));
  await until(`leader of region ${right.id} on store ${target}`, async () => ((await regions()).find((r) => r.id === right.id)?.leaderStoreId === target ? true : undefined));

  // add-peer on the fourth store (a learner, then promoted); the replica checker then trims the
  // region back to max-replicas by removing one of the others.
  const opsJson = async () => JSON.parse(await ctl("operators", "--json", "--finished", "50")) as Array<{ regionId: number; kind: string; status: string; desc: string }>;
  const adminDone = (regionId: number, what: string) =>
    until(`admin operator "${what}" on region ${regionId} finished`, async () => {
      const op = (await opsJson()).find((o) => o.regionId === regionId && o.kind === "admin" && o.desc.includes(what));
      if (op && ["CANCELED", "TIMEOUT", "REPLACED", "EXPIRED"].includes(op.status)) assert.fail(`operator ended ${op.status}: ${op.desc}`);
      return op?.status === "SUCCESS" ? op : undefined;
    });
  const fourth = (await stores()).find((s) => !right.peers.some((p) => p.storeId === s.id))!;
  await ctl("add-peer", String(right.id), String(fourth.id));
  const added = await adminDone(right.id, `add-peer on store ${fourth.id}`);
  assert.match(added.desc, /add learner \d+ on store \d+, promote learner/, "joined as a learner, then promoted");
  const grown = await until(`region ${right.id} on store ${fourth.id}, trimmed to 3 replicas`, async () => {
    const r = (await regions()).find((x) => x.id === right.id);
    return r && r.peers.length === 3 && r.peers.some((p) => p.storeId === fourth.id) ? r : undefined;
  });
  assert.ok(grown.confVer >= right.confVer + 3, `learner added, promoted, an extra removed: conf_ver ${right.confVer} → ${grown.confVer}`);
  await allThere();

  // remove-peer (not the leader's, not the fourth store's): done; the checker makes the region whole again.
  const drop = grown.peers.map((p) => p.storeId).find((s) => s !== fourth.id && s !== grown.leaderStoreId)!;
  await ctl("remove-peer", String(right.id), String(drop));
  await adminDone(right.id, `remove-peer on store ${drop}`);
  await until(`region ${right.id} back at 3 replicas`, async () => {
    const r = (await regions()).find((x) => x.id === right.id);
    return r && r.peers.length === 3 && r.confVer >= grown.confVer + 2 ? r : undefined;
  });
  await allThere();

  // operators: the history shows the admin operators finished
  const ops = await opsJson();
  const admin = ops.filter((o) => o.kind === "admin");
  assert.ok(admin.length >= 5, `admin operators listed: ${JSON.stringify(ops)}`);
  assert.ok(ops.some((o) => o.kind === "replica"), "the replica checker's operators are listed too");
  assert.ok(
    admin.every((o) => o.status === "SUCCESS"),
    `every admin operator succeeded: ${JSON.stringify(admin)}`,
  );

  // store remove: the fourth store is drained and becomes a Tombstone
  await ctl("store", "remove", String(fourth.id));
  await until(`store ${fourth.id} drained to a Tombstone`, async () => {
    const s = (await stores()).find((x) => x.id === fourth.id);
    const rs = await regions();
    return s?.state === "Tombstone" && rs.every((r) => !r.peers.some((p) => p.storeId === fourth.id) && r.peers.length === 3) ? true : undefined;
  }, 120_000);
  await allThere();
});
