/**
 * Transactions end to end on real `regionkv` processes (3 stores, regions split into several):
 * the public TxnClient's API; snapshot reads; first committer wins; 2PC, async commit and 1PC
 * across regions; a bank of accounts under concurrent transfers whose total never changes in any
 * snapshot.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TxnClient, WriteConflictError, type Transaction } from "@regionkv/client";
import { seededRandom } from "@regionkv/raft";
import { ProcessCluster, runCli } from "./support/processes.js";

async function splitAt(c: ProcessCluster, keys: string[]): Promise<void> {
  for (const k of keys) {
    const r = await runCli(["ctl", "--scheduler", c.schedulerAddr, "region", k, "--json"]);
    const region = JSON.parse(r.stdout) as { id: string | number };
    const s = await runCli(["ctl", "--scheduler", c.schedulerAddr, "split", String(region.id), k]);
    assert.equal(s.code, 0, s.stderr);
  }
}

const acct = (i: number) => `acct-${String(i).padStart(3, "0")}`;

describe("transactions on real processes", () => {
  test("API, isolation, commit modes across regions, a bank under concurrent transfers", async (t) => {
    const c = await ProcessCluster.start(t, { stores: 3 });
    const db = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000 });
    t.after(() => db.close());
    await splitAt(c, ["acct-010", "acct-020", "m"]);

    // --- the API as written, and snapshot reads
    const t1 = await db.begin();
    t1.put("a", "1");
    t1.put("z", "26");
    assert.equal((await t1.get("a"))?.toString(), "1", "a transaction reads its own writes");
    const c1 = await t1.commit();
    assert.equal(typeof c1, "bigint");
    const reader = await db.begin();
    const writer = await db.begin();
    writer.put("a", "2");
    writer.delete("z");
    await writer.commit();
    assert.equal((await reader.get("a"))?.toString(), "1", "a snapshot started before the commit does not see it");
    const many = await reader.batchGet(["a", "z", "missing"]);
    assert.deepEqual([...many.entries()].map(([k, v]) => `${Buffer.from(k, "hex").toString()}=${v.toString()}`).sort(), ["a=1", "z=26"]);
    const later = await db.begin();
    assert.equal((await later.get("a"))?.toString(), "2");
    assert.equal(await later.get("z"), undefined);
    await reader.rollback();
    await later.rollback();

    // --- first committer wins (no lost update): both read, then both write
    const x = await db.begin();
    const y = await db.begin();
    await x.get("a");
    await y.get("a");
    x.put("a", "x");
    y.put("a", "y");
    await x.commit();
    await assert.rejects(y.commit(), (e: unknown) => e instanceof WriteConflictError && e.code === "WRITE_CONFLICT");

    // --- each commit mode over keys in several regions; scans see whole transactions
    for (const mode of [
      { name: "2pc", onePc: false, asyncCommit: false },
      { name: "async", onePc: false, asyncCommit: true },
      { name: "1pc", onePc: true, asyncCommit: false },
    ]) {
      const txn = await db.begin(mode);
      const keys = mode.name === "1pc" ? ["n1", "n2", "n3"] : ["b", "acct-015", "q", "zz"];
      keys.forEach((k, i) => txn.put(`${mode.name}-${k}`, String(i)));
      const ts = await txn.commit();
      const check = await db.begin();
      assert.ok(check.startTs > ts, "a later transaction starts after the commit");
      const got = await check.batchGet(keys.map((k) => `${mode.name}-${k}`));
      assert.equal(got.size, keys.length, `${mode.name}: every key of the transaction is visible`);
      await check.rollback();
    }

    // --- bank: 30 accounts over 4 regions, 4 workers transferring, readers checking the total
    const N = 30;
    await db.run(async (txn) => {
      for (let i = 0; i < N; i++) txn.put(acct(i), "100");
    });
    const total = async (txn: Transaction) => {
      const rows = await txn.scan("acct-", "acct-~", { limit: 100 });
      assert.equal(rows.length, N);
      return rows.reduce((s, r) => s + Number(r.value.toString()), 0);
    };
    let transfers = 0;
    let checks = 0;
    const deadline = Date.now() + 6_000;
    const worker = async (seed: number) => {
      const random = seededRandom(seed);
      const rand = (n: number) => Math.floor(random() * n);
      while (Date.now() < deadline) {
        const from = rand(N);
        const to = (from + 1 + rand(N - 1)) % N;
        const amount = 1 + rand(10);
        await db.run(async (txn) => {
          const a = Number((await txn.get(acct(from)))!.toString());
          const b = Number((await txn.get(acct(to)))!.toString());
          txn.put(acct(from), String(a - amount));
          txn.put(acct(to), String(b + amount));
        }, { maxRetries: 50 });
        transfers++;
      }
    };
    const checker = async () => {
      while (Date.now() < deadline) {
        const txn = await db.begin();
        assert.equal(await total(txn), N * 100, "every snapshot sees the same total");
        await txn.rollback();
        checks++;
      }
    };
    await Promise.all([worker(1), worker(2), worker(3), worker(4), checker()]);
    const final = await db.begin();
    assert.equal(await total(final), N * 100);
    t.diagnostic(`bank: ${transfers} transfers, ${checks} snapshot checks`);
    assert.ok(transfers > 0 && checks > 0);

  });
});
