/**
 * The store's GC loop: every interval, read the scheduler's GC safe point; when it moved since the
 * last round, collect the regions this store leads (TxnClient.collectGarbage: resolve the locks
 * at or below it, then delete the versions no reader can see). The store acts as a client of its
 * own cluster for this (lock resolution may need other stores), over one scheduler connection.
 * Runs in the background; a round that fails is retried at the next tick.
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
  // The scheduler client, and the transactional client over it (which then owns and closes it).
  let conn: { sched: SchedulerRpcClient; db: TxnClient } | undefined;
  const round = async () => {
    if (!conn) {
      const sched = await SchedulerRpcClient.connect({ endpoints: opts.scheduler, timeoutMs: 10_000, logger: opts.logger });
      conn = { sched, db: TxnClient.withSource(sched, { timeoutMs: 30_000, logger: opts.logger }) };
    }
    const { sched, db } = conn;
    const safePoint = await sched.getGcSafePoint();
    if (safePoint === 0n || safePoint <= done) return;
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
      await conn?.db.close();
    },
  };
}
