/**
 * Snapshot isolation under faults, on real `regionkv` processes (3 stores):
 *
 * 1. List-append (Elle-style, test/support/txn-history.ts): 5 clients in this process and one in
 *    a child process run a seeded list-append workload over ~8 keys in 3 regions, mixing 1PC,
 *    async commit and 2PC, while the test splits a region, kills -9 the child during one of its
 *    commits, and kills -9 the store leading the most regions and restarts it. Every transaction
 *    is recorded (committed / aborted on a definite error / unknown), with its TSO timestamps,
 *    plus a final read of every key; the history must be valid under snapshot isolation.
 * 2. Bank: concurrent transfers between N accounts in 3 regions while a store is killed -9 and
 *    restarted; every snapshot's total is N × initial, and the final balances are the initial ones
 *    plus the acknowledged transfers plus some subset of the transfers of unknown outcome (each
 *    of those happened entirely or not at all).
 *
 * SEED=<n> replays a workload's plan (the faults' timing is real time, not replayable).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { TxnClient, type Transaction } from "@regionkv/client";
import { seededRandom } from "@regionkv/raft";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { checkListAppend, describeCheckResult, type Txn, type TxnStatus } from "../support/txn-history.js";
import { ProcessCluster, ROOT } from "./support/processes.js";
import type { AnomalyChildArgs } from "./support/txn-anomaly-child.js";
import { TsxChild } from "./support/txn-child.js";
import { commitModeOf, decodeJson, errorCode, isDefiniteAbort, laKey, parseList, planListAppend, runListAppendTxn, type ListAppendPlan } from "./support/txn-list-append.js";
import { busiestLeaderStore, describeLocks, mustSplitAt, scanAllLocks } from "./support/txn-regions.js";

const CHILD = path.join(ROOT, "test", "e2e", "support", "txn-anomaly-child.ts");
const TIMEOUT_MS = 5_000;
/** Clients with this deadline give up during fail-overs, so some commits end with an unknown outcome. */
const SHORT_TIMEOUT_MS = 800;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const seedOf = () => Number(process.env["SEED"] ?? Date.now() % 1_000_000);

/**
 * Kill the child -9 while one of its transactions is committing: `delayMs` after its log's last
 * line became a "commit" (so the kill lands before, during or after the prewrites), or after
 * `maxWaitMs` anyway.
 */
async function killDuringCommit(child: TsxChild, logFile: string, delayMs: number, maxWaitMs: number): Promise<boolean> {
  const until = Date.now() + maxWaitMs;
  while (Date.now() < until && child.running) {
    const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
    const last = text.trimEnd().split("\n").pop() ?? "";
    if (last.startsWith(`{"event":"commit"`)) {
      await sleep(delayMs);
      await child.kill();
      return true;
    }
    await sleep(3);
  }
  await child.kill();
  return false;
}

/** The child's transactions from its log: "done" records, and "commit" ones without a "done" as unknown. */
function readChildHistory(logFile: string): Txn[] {
  const byId = new Map<number, Txn>();
  const lines = fs.readFileSync(logFile, "utf8").split("\n").filter((l) => l.length > 0);
  for (const line of lines) {
    const e = decodeJson<{ event: "commit" | "done"; txn: Txn }>(line);
    byId.set(e.txn.id, e.event === "commit" ? { ...e.txn, status: "unknown", commitTs: undefined } : e.txn);
  }
  return [...byId.values()];
}

test("list-append under a split, kill -9 of a client and kill -9 of a store: snapshot isolation holds", async (t) => {
  const seed = seedOf();
  t.diagnostic(`seed ${seed}`);
  const IN_PROCESS = 5;
  const CHILD_CLIENT = IN_PROCESS;
  const WORKLOAD_MS = 12_000;
  const plan: ListAppendPlan = { seed, clients: IN_PROCESS + 1, txnsPerClient: 2_000, keys: 8 };

  const c = await ProcessCluster.start(t, { stores: 3 });
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());
  // k0, k1, k1x… | k2…k4x | k5…k9x; k7 splits off mid-run.
  for (const k of [laKey("k2"), laKey("k5")]) await mustSplitAt(sched, k);
  const dbs = await Promise.all(Array.from({ length: IN_PROCESS }, (_, i) => TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: i < 2 ? SHORT_TIMEOUT_MS : TIMEOUT_MS })));
  t.after(() => Promise.all(dbs.map((db) => db.close())));

  const plans = planListAppend(plan);
  const logFile = path.join(c.dir, "child-txns.jsonl");
  const childArgs: AnomalyChildArgs = { scheduler: c.schedulerAddr, plan, client: CHILD_CLIENT, logFile, durationMs: 60_000, timeoutMs: TIMEOUT_MS, lockTtlMs: 1_500 };
  const child = new TsxChild(CHILD, [JSON.stringify(childArgs)]);
  t.after(() => child.kill());

  const start = Date.now();
  const deadline = start + WORKLOAD_MS;
  const at = (ms: number) => sleep(Math.max(0, start + ms - Date.now()));
  const history: Txn[] = [];
  const errors = new Map<string, number>();
  const tally = (err: unknown, phase: string) => errors.set(`${phase} ${errorCode(err)}`, (errors.get(`${phase} ${errorCode(err)}`) ?? 0) + 1);
  /** The error code of each failed txn of this process, by id. */
  const codes = new Map<number, string>();
  const worker = async (i: number) => {
    for (const p of plans[i]!) {
      if (Date.now() > deadline) break;
      const r = await runListAppendTxn(dbs[i]!, p, { onError: (err, phase) => (tally(err, phase), codes.set(p.id, errorCode(err))) });
      history.push(r);
      if (r.status !== "committed") await sleep(20);
    }
  };
  const events: string[] = [];
  const note = (what: string) => events.push(`${((Date.now() - start) / 1000).toFixed(1)}s ${what}`);
  let victim = -1;
  let killedMidCommit = false;
  const nemesis = async () => {
    await at(2_000);
    await mustSplitAt(sched, laKey("k7"));
    note("split at la/k7 done");
    await at(3_500);
    killedMidCommit = await killDuringCommit(child, logFile, Math.floor(seededRandom(seed)() * 12), 3_000);
    note(`client process killed -9 ${killedMidCommit ? "during a commit" : "(not seen committing)"}`);
    await at(4_500);
    victim = await busiestLeaderStore(c);
    await c.stores[victim]!.proc.kill("SIGKILL");
    note(`store-${victim + 1} killed -9`);
    await sleep(3_000);
    await c.startStore(victim);
    note(`store-${victim + 1} restarted`);
  };
  await Promise.all([nemesis(), ...Array.from({ length: IN_PROCESS }, (_, i) => worker(i))]);
  t.diagnostic(events.join("; "));
  t.diagnostic(`errors in this process: ${[...errors].map(([k, n]) => `${k}×${n}`).join(", ") || "none"}`);

  const childExit = await child.exited;
  assert.equal(childExit.signal, "SIGKILL", `the child client was killed -9 (code ${childExit.code}; stderr ${childExit.stderr.slice(-2000)})`);
  const fromChild = readChildHistory(logFile);
  assert.ok(fromChild.some((x) => x.status === "committed"), `the child committed transactions before its kill (${fromChild.length} recorded)`);
  history.push(...fromChild);

  // A final read of every key, once the cluster settled: lost or phantom appends show up in it.
  const reader = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 30_000 });
  t.after(() => reader.close());
  const keys = [...new Set(history.flatMap((x) => x.ops.map((op) => op.key)))].sort();
  let finalRead: Txn | undefined;
  for (let attempt = 0; attempt < 3 && !finalRead; attempt++) {
    try {
      const txn = await reader.begin();
      const got = await txn.batchGet(keys.map(laKey));
      const ops = keys.map((k) => ({ f: "read" as const, key: k, value: parseList(got.get(Buffer.from(laKey(k)).toString("hex"))) }));
      const commitTs = await txn.commit();
      finalRead = { id: 1_000_000_000, status: "committed", ops, startTs: txn.startTs, commitTs, process: -1 };
    } catch (err) {
      t.diagnostic(`final read failed (attempt ${attempt + 1}): ${String(err)}`);
    }
  }
  assert.ok(finalRead, "the final read of every key succeeded");
  history.push(finalRead);

  const result = checkListAppend(history, { isolation: "snapshot-isolation" });
  const s = result.stats;
  const count = (st: TxnStatus, h: Txn[]) => h.filter((x) => x.status === st).length;
  t.diagnostic(
    `${s.txns} txns (${s.committed} committed, ${s.aborted} aborted, ${s.unknown} unknown, ${s.promotedUnknown} unknown seen committed), ` +
      `child: ${count("committed", fromChild)}/${count("aborted", fromChild)}/${count("unknown", fromChild)}, ${s.keys} keys, ${s.externalReads} external reads, ` +
      `edges ww ${s.edges.ww} wr ${s.edges.wr} rw ${s.edges.rw}, ${s.timestampReadsChecked} reads checked against timestamps (${s.timestampKeysSkipped} keys skipped)`,
  );
  // Atomicity against the final read: a committed txn's appends are all in it, an aborted one's
  // none, an unknown one's all or none (the checker trusts an unknown txn once one append is seen).
  const finalLists = new Map(finalRead.ops.map((op) => [op.key, new Set(op.f === "read" ? (op.value ?? []) : [])]));
  const partial: string[] = [];
  const unknownFates: string[] = [];
  for (const x of history) {
    const appends = x.ops.filter((op) => op.f === "append");
    const seen = appends.filter((op) => finalLists.get(op.key)?.has(op.value)).length;
    const ok = x.status === "committed" ? seen === appends.length : x.status === "aborted" ? seen === 0 : seen === 0 || seen === appends.length;
    if (!ok) partial.push(`T${x.id} (${x.status}${codes.has(x.id) ? `, ${codes.get(x.id)}` : ""}): ${seen} of its ${appends.length} appends are in the final read`);
    if (x.status === "unknown") unknownFates.push(`T${x.id} (${codes.get(x.id) ?? "child killed in commit"}): ${appends.length === 0 ? "wrote nothing" : seen > 0 ? "took effect" : "did not take effect"}`);
  }
  if (unknownFates.length > 0) t.diagnostic(`unknown transactions: ${unknownFates.join(", ")}`);
  const leftover = (await scanAllLocks(sched)).filter((l) => l.key.toString().startsWith("la/") && l.lockVersion < finalRead.startTs!);
  if (leftover.length > 0) t.diagnostic(`locks older than the final read still in place (read past, not resolved): ${describeLocks(leftover)}`);
  assert.deepEqual(partial, [], "every transaction took effect whole or not at all, as its status allows");
  assert.ok(result.valid, `the history is not snapshot-isolated (seed ${seed}):\n${describeCheckResult(result)}`);
  assert.ok(s.committed >= 100, `the workload made progress (${s.committed} committed)`);
  assert.ok(c.stores[victim]?.proc.running, "the killed store is back");
});

test("bank: transfers while a store is killed -9 and restarted; every snapshot balances, each unknown transfer happened whole or not at all", async (t) => {
  const seed = seedOf();
  t.diagnostic(`seed ${seed}`);
  const N = 10;
  const INITIAL = 1_000;
  const WORKERS = 4;
  const WORKLOAD_MS = 9_000;
  const acct = (i: number) => `bank/${String(i).padStart(2, "0")}`;

  const c = await ProcessCluster.start(t, { stores: 3 });
  const sched = await SchedulerRpcClient.connect({ endpoints: c.schedulerAddr });
  t.after(() => sched.close());
  for (const k of [acct(3), acct(7)]) await mustSplitAt(sched, k);
  const clients = await Promise.all(Array.from({ length: WORKERS + 1 }, (_, i) => TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: i < 2 ? SHORT_TIMEOUT_MS : TIMEOUT_MS })));
  t.after(() => Promise.all(clients.map((db) => db.close())));
  await clients[0]!.run(async (txn) => {
    for (let i = 0; i < N; i++) txn.put(acct(i), String(INITIAL));
  });

  const balances = async (txn: Transaction): Promise<number[]> => {
    const rows = await txn.scan("bank/", "bank0", { limit: 100 });
    assert.deepEqual(rows.map((r) => r.key.toString()), Array.from({ length: N }, (_, i) => acct(i)), "every account is there");
    return rows.map((r) => Number(r.value.toString()));
  };

  interface Transfer {
    from: number;
    to: number;
    amount: number;
    status: TxnStatus;
    code?: string;
  }
  const transfers: Transfer[] = [];
  const errors = new Map<string, number>();
  const tally = (err: unknown, phase: string) => errors.set(`${phase} ${errorCode(err)}`, (errors.get(`${phase} ${errorCode(err)}`) ?? 0) + 1);
  const start = Date.now();
  const deadline = start + WORKLOAD_MS;
  const worker = async (w: number) => {
    const db = clients[w]!;
    const rnd = seededRandom(seed * 31 + w);
    for (let n = 0; Date.now() < deadline; n++) {
      const from = Math.floor(rnd() * N);
      const to = (from + 1 + Math.floor(rnd() * (N - 1))) % N;
      const amount = 1 + Math.floor(rnd() * 97);
      let committing = false;
      let txn: Transaction | undefined;
      let status: TxnStatus;
      let code: string | undefined;
      try {
        txn = await db.begin(commitModeOf(n + w));
        const a = Number((await txn.get(acct(from)))!.toString());
        const b = Number((await txn.get(acct(to)))!.toString());
        txn.put(acct(from), String(a - amount));
        txn.put(acct(to), String(b + amount));
        committing = true;
        await txn.commit();
        status = "committed";
      } catch (err) {
        tally(err, committing ? "commit" : "ops");
        code = errorCode(err);
        if (txn?.isActive) await txn.rollback().catch(() => undefined);
        status = !committing || isDefiniteAbort(err) ? "aborted" : "unknown";
      }
      transfers.push({ from, to, amount, status, code });
      if (status !== "committed") await sleep(10 + Math.floor(rnd() * 20));
    }
  };
  const violations: string[] = [];
  let checks = 0;
  let checkFailures = 0;
  const checker = async () => {
    const db = clients[WORKERS]!;
    while (Date.now() < deadline) {
      try {
        const txn = await db.begin();
        const b = await balances(txn);
        const total = b.reduce((x, y) => x + y, 0);
        if (total !== N * INITIAL) violations.push(`snapshot at ${txn.startTs}: total ${total} ≠ ${N * INITIAL} (${b.join(" ")})`);
        await txn.rollback();
        checks++;
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        checkFailures++;
        await sleep(50);
      }
    }
  };
  let victim = -1;
  const nemesis = async () => {
    await sleep(Math.max(0, start + 2_000 - Date.now()));
    victim = await busiestLeaderStore(c);
    await c.stores[victim]!.proc.kill("SIGKILL");
    t.diagnostic(`${((Date.now() - start) / 1000).toFixed(1)}s store-${victim + 1} killed -9`);
    await sleep(3_000);
    await c.startStore(victim);
    t.diagnostic(`${((Date.now() - start) / 1000).toFixed(1)}s store-${victim + 1} restarted`);
  };
  await Promise.all([nemesis(), checker(), ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);

  const reader = await TxnClient.connect({ scheduler: c.schedulerAddr, timeoutMs: 30_000 });
  t.after(() => reader.close());
  const final = await balances(await reader.begin());
  const acked = transfers.filter((x) => x.status === "committed");
  const unknown = transfers.filter((x) => x.status === "unknown");
  t.diagnostic(`errors: ${[...errors].map(([k, n]) => `${k}×${n}`).join(", ") || "none"}`);
  t.diagnostic(`${transfers.length} transfers: ${acked.length} acknowledged, ${unknown.length} unknown; ${checks} snapshot checks (${checkFailures} failed reads); final ${final.join(" ")}`);

  assert.deepEqual(violations, [], "every snapshot has the same total");
  assert.equal(final.reduce((x, y) => x + y, 0), N * INITIAL, "the final total");
  // final = initial + acknowledged + some subset of the unknown transfers, each applied whole.
  const residual = final.map((v) => v - INITIAL);
  for (const x of acked) {
    residual[x.from]! += x.amount;
    residual[x.to]! -= x.amount;
  }
  if (unknown.length <= 20) {
    let found = -1;
    for (let mask = 0; mask < 1 << unknown.length && found < 0; mask++) {
      const r = [...residual];
      unknown.forEach((x, i) => {
        if (mask & (1 << i)) {
          r[x.from]! += x.amount;
          r[x.to]! -= x.amount;
        }
      });
      if (r.every((v) => v === 0)) found = mask;
    }
    assert.ok(
      found >= 0,
      `the final balances are not the acknowledged transfers plus any subset of the ${unknown.length} unknown ones: off by [${residual.join(" ")}] ` +
        `(unknown: ${unknown.map((x) => `${x.from}→${x.to} ${x.amount}`).join(", ")})`,
    );
    t.diagnostic(`unknown transfers: ${unknown.map((x, i) => `${x.code}: ${found & (1 << i) ? "happened" : "did not happen"}`).join(", ") || "none"}`);
  } else {
    t.diagnostic(`${unknown.length} unknown transfers: too many to search subsets; only the total was checked`);
  }
  assert.ok(acked.length >= 30, `transfers were acknowledged (${acked.length})`);
  assert.ok(checks >= 5, `snapshots were checked (${checks})`);
  assert.ok(c.stores[victim]?.proc.running, "the killed store is back");
});
