/**
 * A client process killed -9 in the middle of a commit, on real `regionkv` processes (3 stores,
 * each transaction's keys in 3 regions). The child (support/txn-crash-child.ts) dies at a
 * failpoint; the test then checks, through other clients, that lock resolution finishes the
 * transaction the way its state decides:
 *   (a) 2PC, killed after every prewrite, before the primary's commit → rolled back: a reader of
 *       a secondary and one of the primary see the old values once the lock TTL ran out, and a
 *       writer can then write the keys;
 *   (b) 2PC, killed after committing the primary, before the secondaries → rolled forward: every
 *       key reads the new value;
 *   (c) async commit, killed once every key is prewritten (the transaction is decided) → rolled
 *       forward as well.
 * Before the readers, the lock column family must hold exactly the locks the failpoint implies
 * (KvScanLock on every region's leader); after resolution and a writer, it must hold none. A late
 * KvCommit of a rolled-back transaction (or KvBatchRollback of a committed one) is refused on
 * every key.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { TxnClient } from "@regionkv/client";
import type { kvrpcpb } from "@regionkv/proto";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster, ROOT } from "./support/processes.js";
import { TsxChild } from "./support/txn-child.js";
import type { CrashChildArgs, CrashPoint } from "./support/txn-crash-child.js";
import { describeLocks, LeaderKv, mustSplitAt, scanAllLocks } from "./support/txn-regions.js";

const CHILD = path.join(ROOT, "test", "e2e", "support", "txn-crash-child.ts");
const LOCK_TTL_MS = 1_000;
/** How long past the lock TTL a blocked reader or writer may take to resolve (a loaded 2-core machine). */
const RESOLVE_SLACK_MS = 6_000;

interface CrashCase {
  name: string;
  prefix: string;
  point: CrashPoint;
  mode: CrashChildArgs["mode"];
  /** What readers must see afterwards. */
  outcome: "rolled back" | "rolled forward";
}

const CASES: CrashCase[] = [
  { name: "2pc-after-prewrite", prefix: "ca/", point: "afterPrewrite", mode: "2pc", outcome: "rolled back" },
  { name: "2pc-after-commit-primary", prefix: "cb/", point: "afterCommitPrimary", mode: "2pc", outcome: "rolled forward" },
  { name: "async-after-prewrite", prefix: "cc/", point: "afterPrewrite", mode: "async", outcome: "rolled forward" },
];

/** The transaction's keys, one per region: the primary (smallest) and two secondaries. */
const keysOf = (p: string) => [`${p}a`, `${p}m`, `${p}x`];
/** Split points putting each key of `keysOf(p)` in its own region. */
const splitsOf = (p: string) => [`${p}h`, `${p}q`];

const text = (v: Buffer | undefined) => v?.toString();

describe("a client killed -9 in the middle of a commit", () => {
  test("its transaction is rolled back or forward as decided, and no lock stays behind", async (t) => {
    const c = await ProcessCluster.start(t, { stores: 3 });
    const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
    t.after(() => sched.close());
    const raw = new LeaderKv(sched);
    t.after(() => raw.close());
    for (const cs of CASES) for (const k of splitsOf(cs.prefix)) await mustSplitAt(sched, k);
    const clients: TxnClient[] = [];
    const connect = async () => {
      const db = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000, lockTtlMs: LOCK_TTL_MS });
      clients.push(db);
      return db;
    };
    t.after(() => Promise.all(clients.map((db) => db.close())));

    for (const cs of CASES) {
      await t.test(cs.name, async (st) => {
        const keys = keysOf(cs.prefix);
        const [primary, secondary] = [keys[0]!, keys[1]!];
        const oldVals = keys.map((_, i) => `${cs.name}-old-${i}`);
        const newVals = keys.map((_, i) => `${cs.name}-new-${i}`);
        const expected = cs.outcome === "rolled back" ? oldVals : newVals;

        // The keys really are in three regions.
        const regionIds = new Set<bigint>();
        for (const k of keys) regionIds.add((await sched.getRegion(Buffer.from(k)))!.region.id);
        assert.equal(regionIds.size, 3, `${keys.join(", ")} must be in 3 regions`);

        const setup = await connect();
        await setup.run(async (txn) => keys.forEach((k, i) => txn.put(k, oldVals[i]!)));
        await setup.close(); // waits for the background commit of the secondaries
        const ours = async () => (await scanAllLocks(sched)).filter((l) => l.key.toString().startsWith(cs.prefix));
        assert.deepEqual((await ours()).map((l) => l.key.toString()), [], "no lock on the keys before the crash");

        // --- the crash
        const args: CrashChildArgs = { scheduler: c.schedulerAddr, point: cs.point, mode: cs.mode, writes: keys.map((k, i) => [k, newVals[i]!]), lockTtlMs: LOCK_TTL_MS };
        const exit = await new TsxChild(CHILD, [JSON.stringify(args)]).wait(60_000);
        assert.equal(exit.signal, "SIGKILL", `the child must die by its failpoint; code ${exit.code}, stdout: ${exit.stdout}, stderr: ${exit.stderr.slice(-3000)}`);
        assert.match(exit.stdout, new RegExp(`^failpoint ${cs.point}$`, "m"));
        const startTs = BigInt(/^start (\d+)$/m.exec(exit.stdout)![1]!);

        // Exactly the locks the failpoint implies are left: all three, or the secondaries only.
        const left = (await scanAllLocks(sched)).filter((l) => l.lockVersion === startTs);
        const wantLocked = cs.point === "afterCommitPrimary" ? keys.slice(1) : keys;
        assert.deepEqual(left.map((l) => l.key.toString()).sort(), wantLocked, `locks of the crashed transaction ${startTs}: ${describeLocks(left)}`);
        for (const l of left) assert.equal(l.primaryLock.toString(), primary);

        // --- readers in other clients: a secondary (in another region than the primary), then the primary
        const r1 = await connect();
        let t0 = Date.now();
        const read1 = await r1.begin();
        assert.ok(read1.startTs > startTs);
        assert.equal(text(await read1.get(secondary)), expected[1], `reader of the secondary ${secondary}: the transaction is ${cs.outcome}`);
        const secondaryMs = Date.now() - t0;
        await read1.rollback();
        const r2 = await connect();
        t0 = Date.now();
        const read2 = await r2.begin();
        assert.equal(text(await read2.get(primary)), expected[0], `reader of the primary ${primary}: the transaction is ${cs.outcome}`);
        const primaryMs = Date.now() - t0;
        const all = await read2.batchGet(keys);
        assert.deepEqual(keys.map((k) => text(all.get(Buffer.from(k).toString("hex")))), expected, `every key: the transaction is ${cs.outcome}`);
        await read2.rollback();
        st.diagnostic(`${cs.name}: read of the secondary ${secondaryMs} ms, of the primary ${primaryMs} ms`);
        assert.ok(secondaryMs < LOCK_TTL_MS + RESOLVE_SLACK_MS, `the secondary's reader took ${secondaryMs} ms (lock TTL ${LOCK_TTL_MS} ms)`);
        assert.ok(primaryMs < LOCK_TTL_MS + RESOLVE_SLACK_MS, `the primary's reader took ${primaryMs} ms (lock TTL ${LOCK_TTL_MS} ms)`);
        if (cs.outcome === "rolled forward") {
          // Readers that found it committed commit its locks where they met them: none is left.
          const after = (await scanAllLocks(sched)).filter((l) => l.lockVersion === startTs);
          assert.deepEqual(after.map((l) => l.key.toString()), [], `after the readers resolved transaction ${startTs}: ${describeLocks(after)}`);
        }

        // --- a writer over the same keys (waits out or resolves whatever is left), then a quick read
        const w = await connect();
        t0 = Date.now();
        const written = keys.map((_, i) => `${cs.name}-writer-${i}`);
        await w.run(async (txn) => keys.forEach((k, i) => txn.put(k, written[i]!)), { maxRetries: 5 });
        const writeMs = Date.now() - t0;
        assert.ok(writeMs < LOCK_TTL_MS + RESOLVE_SLACK_MS, `the writer took ${writeMs} ms`);
        await w.close();
        t0 = Date.now();
        const read3 = await r1.begin();
        const final = await read3.batchGet(keys);
        const finalMs = Date.now() - t0;
        assert.deepEqual(keys.map((k) => text(final.get(Buffer.from(k).toString("hex")))), written);
        assert.ok(finalMs < 1_500, `a read after resolution must not wait on a lock (${finalMs} ms)`);
        // A late attempt to finish it the other way (a client that was only paused, a stray
        // resolver) must be refused on every key, and change nothing.
        const late = await r1.begin();
        const lateTs = late.startTs;
        await late.rollback();
        const refusals: string[] = [];
        for (const k of keys) {
          const key = Buffer.from(k);
          const res =
            cs.outcome === "rolled back"
              ? (await raw.call<kvrpcpb.CommitRequest, kvrpcpb.CommitResponse>("kvCommit", key, (context) => ({ context, startVersion: startTs, keys: [key], commitVersion: lateTs }))).res
              : (await raw.call<kvrpcpb.BatchRollbackRequest, kvrpcpb.BatchRollbackResponse>("kvBatchRollback", key, (context) => ({ context, startVersion: startTs, keys: [key] }))).res;
          assert.ok(res.error, `a late ${cs.outcome === "rolled back" ? "commit" : "rollback"} of ${k} for the crashed transaction ${startTs} must be refused`);
          refusals.push(`${k}: ${res.error.kind?.$case ?? "?"}`);
        }
        st.diagnostic(`${cs.name}: late ${cs.outcome === "rolled back" ? "commit" : "rollback"} refused with ${refusals.join(", ")}`);
        const read4 = await r1.begin();
        const after = await read4.batchGet(keys);
        assert.deepEqual(keys.map((k) => text(after.get(Buffer.from(k).toString("hex")))), written, "the late attempt changed nothing");
        await read4.rollback();
        await read3.rollback();

        const locks = await ours();
        assert.deepEqual(locks.map((l) => l.key.toString()), [], `no lock is left on the keys: ${describeLocks(locks)}`);
        st.diagnostic(`${cs.name}: writer ${writeMs} ms, read after ${finalMs} ms`);
      });
    }
    const locks = await scanAllLocks(sched);
    assert.deepEqual(locks.map((l) => l.key.toString()), [], `the lock column family is clean: ${describeLocks(locks)}`);
  });
});
