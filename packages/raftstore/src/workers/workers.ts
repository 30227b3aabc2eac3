/**
 * The store's background workers on p-queue: one queue per worker kind, concurrency 1, so each
 * worker handles its tasks in order while the raft worker keeps running. In `manual` mode (the
 * deterministic simulation) tasks wait until the harness calls `runPending()`, which runs them
 * in order, synchronously where possible.
 */
import PQueue from "p-queue";
import type { Engine } from "@regionkv/engine";
import type { schedulerpb } from "@regionkv/proto";
import type { Logger } from "pino";
import type { RaftstoreConfig } from "../config.js";
import type { RaftstoreMetrics } from "../metrics.js";
import type { Router } from "../router.js";
import type { SchedulerClient } from "../scheduler-client.js";
import { gcRaftLog } from "./raft-log-gc-worker.js";
import { destroyRegionData, generateSnapshot } from "./region-worker.js";
import { checkSplit } from "./split-check-worker.js";
import type { WorkerTask } from "./tasks.js";

export interface WorkerDeps {
  engine: Engine;
  router: Router;
  cfg: RaftstoreConfig;
  metrics: RaftstoreMetrics;
  log: Logger;
  scheduler: SchedulerClient | undefined;
  storeStats: () => schedulerpb.StoreStats;
}

export class Workers {
  private readonly queues = new Map<WorkerTask["worker"], PQueue>();
  private readonly pending: WorkerTask[] = [];

  constructor(
    private readonly deps: WorkerDeps,
    readonly mode: "async" | "manual",
  ) {
    for (const w of ["region", "raftLogGc", "splitCheck", "scheduler"] as const) this.queues.set(w, new PQueue({ concurrency: 1 }));
  }

  schedule(task: WorkerTask): void {
    if (this.mode === "manual") {
      this.pending.push(task);
      return;
    }
    void this.queues.get(task.worker)!.add(() => this.run(task, () => new Promise((r) => setImmediate(r))));
  }

  /** Manual mode: run every queued task (and those they queue) now. Returns how many ran. */
  async runPending(): Promise<number> {
    let n = 0;
    while (this.pending.length > 0) {
      const t = this.pending.shift()!;
      await this.run(t, async () => {});
      n++;
    }
    return n;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Wait for every queued task (async mode) to finish. */
  async onIdle(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.onIdle()));
  }

  private async run(task: WorkerTask, yieldNow: () => Promise<void>): Promise<void> {
    const { engine, router, cfg, metrics, log, scheduler } = this.deps;
    try {
      switch (task.worker) {
        case "region":
          if (task.kind === "generate") await generateSnapshot(engine, router, metrics, task.regionId, yieldNow);
          else if (task.kind === "destroy") {
            destroyRegionData(engine, task.startKey, task.endKey);
            router.sendStore({ type: "regionDataDeleted", regionId: task.regionId });
          }
          return;
        case "raftLogGc":
          gcRaftLog(engine, router, task.regionId, task.lo, task.hi);
          return;
        case "splitCheck":
          checkSplit(engine, router, task.region, cfg.regionMaxSize, cfg.regionSplitSize);
          return;
        case "scheduler":
          if (!scheduler) return;
          if (task.kind === "regionHeartbeat") {
            await scheduler.regionHeartbeat({
              region: task.region,
              leader: task.leader,
              pendingPeers: task.pendingPeers,
              approximateSize: task.approximateSize,
              approximateKeys: task.approximateKeys,
            });
          } else {
            await scheduler.storeHeartbeat(this.deps.storeStats());
          }
          return;
        default: {
          const never: never = task;
          throw new Error(`unknown worker task ${JSON.stringify(never)}`);
        }
      }
    } catch (e) {
      if (engine.isClosed) return;
      log.warn({ err: e instanceof Error ? e.message : String(e), task: task.worker }, "background task failed");
    }
  }
}
