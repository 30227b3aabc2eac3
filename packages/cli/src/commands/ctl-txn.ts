/**
 * `regionkv ctl txn` (one small transaction from the command line) and `regionkv ctl gc` (the GC
 * safe point: show it, raise it, collect now).
 *
 *   regionkv ctl txn get a get b put c 3 delete d     reads a and b, writes c, deletes d, one commit
 *   regionkv ctl gc                                   the safe point
 *   regionkv ctl gc --advance 10m                     raise it to now − 10 minutes
 *   regionkv ctl gc --run                             resolve old locks and collect every region now
 */
import { TxnClient } from "@regionkv/client";
import { composeTs, physicalMs } from "@regionkv/proto";
import { parseDurationMs } from "@regionkv/scheduler";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import { decode, encode, endpoints, withConnection, type CtlOptions } from "./ctl.js";

type TxnOp = { op: "get"; key: string } | { op: "put"; key: string; value: string } | { op: "delete"; key: string };

/** Parse `get K | put K V | delete K` words. */
export function parseTxnOps(words: string[]): TxnOp[] {
  const ops: TxnOp[] = [];
  for (let i = 0; i < words.length; ) {
    const w = words[i];
    const need = (n: number) => {
      if (i + n >= words.length) throw new Error(`"${w}" needs ${n === 1 ? "a key" : "a key and a value"} (ops: get KEY, put KEY VALUE, delete KEY)`);
    };
    if (w === "get" || w === "delete") {
      need(1);
      ops.push({ op: w, key: words[i + 1]! });
      i += 2;
    } else if (w === "put") {
      need(2);
      ops.push({ op: "put", key: words[i + 1]!, value: words[i + 2]! });
      i += 3;
    } else {
      throw new Error(`unknown operation ${JSON.stringify(w)}: use get KEY, put KEY VALUE, delete KEY`);
    }
  }
  if (ops.length === 0) throw new Error("no operations: e.g. regionkv ctl txn get a put b 1");
  return ops;
}

export type CommitMode = "auto" | "2pc" | "async" | "1pc";

export async function ctlTxn(words: string[], opts: CtlOptions & { mode: CommitMode; json: boolean }): Promise<void> {
  await withConnection(
    "txn",
    () => TxnClient.connect({ scheduler: endpoints(opts), timeoutMs: opts.timeoutMs }),
    async (db) => {
      const ops = parseTxnOps(words);
      const mode = opts.mode === "2pc" ? { onePc: false, asyncCommit: false } : opts.mode === "async" ? { onePc: false, asyncCommit: true } : opts.mode === "1pc" ? { onePc: true, asyncCommit: false } : {};
      const txn = await db.begin(mode);
      const reads: Array<{ key: string; value: string | null }> = [];
      for (const o of ops) {
        const key = decode(o.key, opts, "key");
        if (o.op === "get") {
          const v = await txn.get(key);
          reads.push({ key: o.key, value: v === undefined ? null : encode(v, opts) });
        } else if (o.op === "put") txn.put(key, decode(o.value, opts, "value"));
        else txn.delete(key);
      }
      const commitTs = await txn.commit();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ startTs: String(txn.startTs), commitTs: String(commitTs), reads })}\n`);
        return;
      }
      for (const r of reads) process.stdout.write(`${r.key}\t${r.value ?? "(not found)"}\n`);
      const wrote = ops.some((o) => o.op !== "get");
      process.stdout.write(wrote ? `committed at ${commitTs} (started at ${txn.startTs})\n` : `read at ${txn.startTs} (nothing to commit)\n`);
    },
  );
}

function describeTs(ts: bigint): string {
  if (ts === 0n) return "0 (never raised)";
  return `${ts} (${new Date(Number(physicalMs(ts))).toISOString()})`;
}

export async function ctlGc(opts: CtlOptions & { advance?: string; run: boolean; json: boolean }): Promise<void> {
  await withConnection(
    "gc",
    () => SchedulerRpcClient.connect({ endpoints: endpoints(opts), timeoutMs: opts.timeoutMs }),
    async (sched) => {
      let safePoint = await sched.getGcSafePoint();
      if (opts.advance !== undefined) {
        let ago: number;
        try {
          ago = parseDurationMs(opts.advance);
        } catch (err) {
          throw new Error(`--advance: ${(err as Error).message} (a duration before now: 0s, 30s, 10m, 1h)`, { cause: err });
        }
        const now = await sched.getTimestamp();
        const target = composeTs(physicalMs(now) - BigInt(ago), 0n);
        safePoint = await sched.updateGcSafePoint(target > 0n ? target : 0n);
      }
      let report: Awaited<ReturnType<TxnClient["collectGarbage"]>> | undefined;
      if (opts.run && safePoint > 0n) {
        const db = await TxnClient.connect({ scheduler: endpoints(opts), timeoutMs: opts.timeoutMs });
        try {
          report = await db.collectGarbage(safePoint, { timeoutMs: opts.timeoutMs });
        } finally {
          await db.close();
        }
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ safePoint: String(safePoint), ...(report ?? {}) })}\n`);
        return;
      }
      process.stdout.write(`GC safe point: ${describeTs(safePoint)}\n`);
      if (report) process.stdout.write(`collected ${report.regions} regions, resolved ${report.locksResolved} old locks${report.failedRegions > 0 ? `, ${report.failedRegions} regions failed (run again)` : ""}\n`);
      else if (opts.run) process.stdout.write("nothing to collect: the safe point was never raised (use --advance)\n");
    },
  );
}
