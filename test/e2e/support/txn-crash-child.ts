/**
 * A client that dies in the middle of a commit (run by txn-crash.test.ts as its own process):
 *
 *   node --import tsx test/e2e/support/txn-crash-child.ts '<json CrashChildArgs>'
 *
 * Failpoint mode (`point`): a TxnClient whose failpoint at `point` kills the process with
 * SIGKILL begins one transaction, puts every pair of `writes` and commits. Lines on stdout, each
 * written synchronously so they survive the kill:
 *   start <startTs>          before the commit
 *   failpoint <point>        just before the kill
 *   committed <commitTs>     only if the failpoint never ran (the test then fails)
 *
 * Deadline mode (`deadlineSweepMs`): for each deadline in turn, one transaction writing `writes`
 * with the keys suffixed `-<deadline>`, committed with that `timeoutMs`; the first commit that
 * rejects (any error) kills the process at once (before the client's background rollback can
 * reach a store), after printing
 *   rejected <error code> <startTs> <JSON keys>
 * If none does, it prints `no rejection` and exits 0.
 */
import fs from "node:fs";
import { TxnClient, type TxnFailpoints } from "@regionkv/client";

export type CrashPoint = keyof TxnFailpoints;

export interface CrashChildArgs {
  scheduler: string;
  point?: CrashPoint;
  deadlineSweepMs?: number[];
  /** Commit mode: "2pc" (onePc and asyncCommit off) or "async" (async commit, no 1PC). */
  mode: "2pc" | "async";
  writes: Array<[key: string, value: string]>;
  lockTtlMs: number;
}

function say(line: string): void {
  fs.writeSync(1, line + "\n");
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "") as CrashChildArgs;
  const die = (point: CrashPoint) => () => {
    say(`failpoint ${point}`);
    process.kill(process.pid, "SIGKILL");
    // SIGKILL is not delivered synchronously on every platform: never let the commit go on.
    return new Promise<void>(() => undefined);
  };
  const db = await TxnClient.connect({
    scheduler: args.scheduler,
    timeoutMs: 10_000,
    lockTtlMs: args.lockTtlMs,
    onePc: false,
    asyncCommit: args.mode === "async",
    failpoints: args.point ? { [args.point]: die(args.point) } : {},
  });
  if (args.deadlineSweepMs) {
    // Warm the region cache and connections first, so the deadlines hit the commit's requests.
    const warm = await db.begin();
    for (const [k, v] of args.writes) warm.put(`${k}-warm`, v);
    await warm.commit();
    for (const ms of args.deadlineSweepMs) {
      const txn = await db.begin();
      const keys = args.writes.map(([k]) => `${k}-${ms}`);
      args.writes.forEach(([, v], i) => txn.put(keys[i]!, v));
      try {
        await txn.commit({ timeoutMs: ms });
      } catch (err) {
        // The first rejected commit: report how it was rejected and die at once, so no
        // background rollback can hide what the stores hold.
        const code = (err as { code?: string }).code ?? "UNKNOWN";
        say(`rejected ${code} ${txn.startTs} ${JSON.stringify(keys)}`);
        process.kill(process.pid, "SIGKILL");
        await new Promise<void>(() => undefined);
      }
    }
    say("no rejection");
    await db.close();
    return;
  }
  const txn = await db.begin();
  say(`start ${txn.startTs}`);
  for (const [k, v] of args.writes) txn.put(k, v);
  const commitTs = await txn.commit();
  say(`committed ${commitTs}`);
  await db.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`txn-crash-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
