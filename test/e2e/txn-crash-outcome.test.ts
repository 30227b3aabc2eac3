/**
 * What a failed commit() tells the caller must be true, on real `regionkv` processes (3 stores,
 * the 2-key transactions across 2 regions): commits run with deadlines of a few ms, so that many
 * end while a request is out. The client's contract (errors.ts, Transaction.commit):
 *   resolved                → every key is visible;
 *   UnknownOutcomeError     → all of the keys visible or none (it is atomic either way);
 *   any other rejection     → nothing visible (DeadlineExceededError: "nothing sent that may
 *                             have been applied"; WriteConflict/TxnAborted/…: rolled back).
 * In 1PC and async commit the prewrite is what decides, so an ambiguous prewrite must be reported
 * as UnknownOutcomeError like an ambiguous commit of the primary in 2PC.
 *
 * The second test takes away what could hide a wrong answer for async commit: the client's
 * background rollback after a failed commit. A child client (support/txn-crash-child.ts, deadline
 * mode) kills itself the moment commit() rejects; other clients then resolve the locks it left:
 * after UnknownOutcomeError the transaction is whole or absent, after any other rejection absent.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { TxnClient, type CommitOptions } from "@regionkv/client";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { ProcessCluster, ROOT } from "./support/processes.js";
import { TsxChild } from "./support/txn-child.js";
import type { CrashChildArgs } from "./support/txn-crash-child.js";
import { errorCode } from "./support/txn-list-append.js";
import { mustSplitAt, scanAllLocks } from "./support/txn-regions.js";

const MODES: Array<{ name: string; opts: CommitOptions; keys: (tag: string) => string[] }> = [
  { name: "1pc", opts: { onePc: true, asyncCommit: false }, keys: (tag) => [`o/a-${tag}`] },
  { name: "async", opts: { onePc: false, asyncCommit: true }, keys: (tag) => [`o/a-${tag}`, `o/z-${tag}`] },
  { name: "2pc", opts: { onePc: false, asyncCommit: false }, keys: (tag) => [`o/a-${tag}`, `o/z-${tag}`] },
];
/** Commit deadlines tried, ms: from shorter than one request to a few requests. */
const DEADLINES = Array.from({ length: 20 }, (_, i) => i + 1);
const REPEATS = 2;

test("a commit() that rejects says truly whether it committed (deadlines in 1PC, async commit, 2PC)", async (t) => {
  const c = await ProcessCluster.start(t, { stores: 3 });
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());
  await mustSplitAt(sched, "o/m");
  const db = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 10_000, lockTtlMs: 1_000 });
  const reader = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000 });
  t.after(() => Promise.all([db.close(), reader.close()]));
  // Warm the region cache and connections, so the short deadlines hit the commit's own requests.
  const warm = await db.begin();
  warm.put("o/a-warm", "w");
  warm.put("o/z-warm", "w");
  await warm.commit();

  const violations: string[] = [];
  for (const mode of MODES) {
    const outcomes = new Map<string, number>();
    for (const ms of DEADLINES) {
      for (let rep = 0; rep < REPEATS; rep++) {
        const keys = mode.keys(`${mode.name}-${ms}-${rep}`);
        const txn = await db.begin(mode.opts);
        for (const k of keys) txn.put(k, "v");
        let code = "ok";
        try {
          await txn.commit({ timeoutMs: ms });
        } catch (err) {
          code = errorCode(err);
        }
        const check = await reader.begin();
        const visible = (await check.batchGet(keys)).size;
        await check.rollback();
        const what = `${code === "ok" ? "committed" : code}, ${visible === keys.length ? "visible" : visible === 0 ? "not visible" : `${visible}/${keys.length} keys visible`}`;
        outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
        const allowed = code === "ok" ? visible === keys.length : code === "UNKNOWN_OUTCOME" ? visible === 0 || visible === keys.length : visible === 0;
        if (!allowed) violations.push(`${mode.name}, commit deadline ${ms} ms: commit() ${code === "ok" ? "resolved" : `rejected with ${code}`} yet ${visible} of ${keys.length} keys are visible`);
      }
    }
    t.diagnostic(`${mode.name}: ${[...outcomes].map(([k, n]) => `${k} ×${n}`).join("; ")}`);
    const rejected = [...outcomes].filter(([k]) => !k.startsWith("committed")).reduce((s, [, n]) => s + n, 0);
    assert.ok(rejected >= 5, `${mode.name}: enough commits ended at their deadline to mean something (${rejected})`);
  }
  assert.deepEqual(violations, [], "a rejected commit() must not have committed unless it said UnknownOutcomeError");
});

test("async commit: a commit() that rejects tells the truth even if the client dies right after (unknown: whole or absent; otherwise absent)", async (t) => {
  const CHILD = path.join(ROOT, "test", "e2e", "support", "txn-crash-child.ts");
  const c = await ProcessCluster.start(t, { stores: 3 });
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());
  await mustSplitAt(sched, "o/m");
  const reader = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 20_000 });
  t.after(() => reader.close());

  const seen: string[] = [];
  const violations: string[] = [];
  for (let attempt = 0; attempt < 5 && violations.length === 0; attempt++) {
    const args: CrashChildArgs = {
      scheduler: c.schedulerAddr,
      mode: "async",
      writes: [[`o/b-${attempt}`, "v"], [`o/y-${attempt}`, "v"]],
      lockTtlMs: 1_000,
      // Longest first: the first deadline hit is then about one commit's latency, when its requests are out.
      deadlineSweepMs: Array.from({ length: 25 }, (_, i) => 30 - i),
    };
    const exit = await new TsxChild(CHILD, [JSON.stringify(args)]).wait(60_000);
    if (/^no rejection$/m.test(exit.stdout)) {
      seen.push("no commit was rejected");
      continue;
    }
    assert.equal(exit.signal, "SIGKILL", `the child dies right after the rejected commit; code ${exit.code}, stdout ${exit.stdout}, stderr ${exit.stderr.slice(-3000)}`);
    const m = /^rejected (\S+) (\d+) (.+)$/m.exec(exit.stdout);
    assert.ok(m, `the child reports the rejected transaction: ${exit.stdout}`);
    const code = m[1]!;
    const startTs = BigInt(m[2]!);
    const keys = JSON.parse(m[3]!) as string[];
    const locked = (await scanAllLocks(sched)).filter((l) => l.lockVersion === startTs).length;
    // The locks it left are resolved here: expired after 1 s, then decided by all of its keys.
    const check = await reader.begin();
    const visible = (await check.batchGet(keys)).size;
    await check.rollback();
    seen.push(`transaction ${startTs} (${code}): ${locked}/${keys.length} keys locked after the kill, then ${visible}/${keys.length} visible`);
    if (code === "UNKNOWN_OUTCOME" && visible !== 0 && visible !== keys.length) violations.push(`transaction ${startTs}: ${visible} of ${keys.length} keys visible after UNKNOWN_OUTCOME (not atomic)`);
    if (code !== "UNKNOWN_OUTCOME" && visible > 0) violations.push(`transaction ${startTs} (keys ${keys.join(", ")}): commit() rejected with ${code}, yet ${visible} of ${keys.length} keys became visible once its locks were resolved`);
  }
  t.diagnostic(seen.join("; "));
  assert.ok(seen.some((x) => x.startsWith("transaction")), "some commit was rejected");
  assert.deepEqual(violations, []);
});
