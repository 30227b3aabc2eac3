/**
 * One client of the list-append workload in its own process (txn-anomaly.test.ts kills it -9):
 *
 *   node --import tsx test/e2e/support/txn-anomaly-child.ts '<json AnomalyChildArgs>'
 *
 * It runs its client's transactions of the plan in order until `durationMs` passes, appending to
 * `logFile` one JSON line per event, each written synchronously so that it survives the kill:
 *   {"event":"commit","txn":…}   every op ran, commit() is about to be called (status "unknown")
 *   {"event":"done","txn":…}     the transaction's final record
 * A transaction with a "commit" line and no "done" line died during its commit: unknown.
 * One that has neither never sent a write (writes are buffered until commit) and is left out.
 */
import fs from "node:fs";
import { TxnClient } from "@regionkv/client";
import { encodeTxn, planListAppend, runListAppendTxn, type ListAppendPlan } from "./txn-list-append.js";

export interface AnomalyChildArgs {
  scheduler: string;
  plan: ListAppendPlan;
  client: number;
  logFile: string;
  durationMs: number;
  timeoutMs: number;
  lockTtlMs: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "") as AnomalyChildArgs;
  const fd = fs.openSync(args.logFile, "a");
  const log = (event: "commit" | "done", line: string) => fs.writeSync(fd, `{"event":"${event}","txn":${line}}\n`);
  const db = await TxnClient.connect({ scheduler: args.scheduler, timeoutMs: args.timeoutMs, lockTtlMs: args.lockTtlMs });
  const mine = planListAppend(args.plan)[args.client]!;
  const deadline = Date.now() + args.durationMs;
  for (const planned of mine) {
    if (Date.now() > deadline) break;
    const t = await runListAppendTxn(db, planned, { beforeCommit: (txn) => log("commit", encodeTxn(txn)) });
    log("done", encodeTxn(t));
    if (t.status !== "committed") await new Promise((r) => setTimeout(r, 20));
  }
  await db.close();
  fs.closeSync(fd);
}

main().catch((err: unknown) => {
  process.stderr.write(`txn-anomaly-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
