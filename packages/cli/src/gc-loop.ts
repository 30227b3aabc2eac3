/**
 * The store's GC loop: every interval, read the scheduler's GC safe point; when it moved since the
 * last round, collect the regions this store leads (TxnClient.collectGarbage: resolve the locks
 * at or below it, then delete the versions no reader can see). The store acts as a client of its
 * own cluster for this (lock resolution may need other stores). Runs in the background; a round
 * that fails is retried at the next tick.
 */
import { TxnClient } from "@regionkv/client";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import type { Logger } from "pino";

export interface GcLoopOptions {
  scheduler: string[];
  storeId: bigint;
  intervalMs: number;
  logger: Logger;
}

export function startGcLoop(opts: GcLoopOptions): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> | undefined;
  let done = 0n;
  let sched: SchedulerRpcClient | undefined;
  let db: TxnClient | undefined;
  const round = async () => {
    sched ??= await SchedulerRpcClient.connect({ endpoints: opts.scheduler, timeoutMs: 10_000, logger: opts.logger });
    const safePoint = await sched.getGcSafePoint();
    if (safePoint === 0n || safePoint <= done) return;
    db ??= await TxnClient.connect({ scheduler: opts.scheduler, timeoutMs: 30_000 });
    const started = Date.now();
    const report = await db.collectGarbage(safePoint, { leaderStoreId: opts.storeId });
    if (report.failedRegions === 0) done = safePoint;
    opts.logger.info({ safePoint: String(safePoint), ...report, ms: Date.now() - started }, "GC round");
  };
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = round()
      .catch((err: unknown) => opts.logger.warn({ err }, "GC round failed; retrying at the next interval"))
      .finally(() => (running = undefined));
  }, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await db?.close();
      sched?.close();
    },
  };
}
