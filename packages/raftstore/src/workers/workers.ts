/**
 * The store's background workers on p-queue: one queue per worker kind, concurrency 1, so each
 * worker handles its tasks in order while the raft worker keeps running. In `manual` mode (the
 * deterministic simulation) tasks wait until the harness calls `runPending()`, which runs them
 * in order, synchronously where possible.
 */
import PQueue from "p-queue";
import type { Engine } from "@regionkv/engine";
import { raft_cmdpb, type schedulerpb } from "@regionkv/proto";
import type { Logger } from "pino";
import type { RaftstoreConfig } from "../config.js";
import type { RaftstoreMetrics } from "../metrics.js";
import type { Router } from "../router.js";
import type { SchedulerClient } from "../scheduler-client.js";
import type { Clock } from "../store-context.js";
import { gcRaftLog } from "./raft-log-gc-worker.js";
import { destroyRegionData, generateSnapshot } from "./region-worker.js";
import { runSplitCheck, splitCheckLimits } from "./split-check-worker.js";
import type { WorkerTask } from "./tasks.js";

export interface WorkerDeps {
  engine: Engine;
  router: Router;
  cfg: RaftstoreConfig;
  metrics: RaftstoreMetrics;
  log: Logger;
  scheduler: SchedulerClient | undefined;
  storeStats: () => schedulerpb.StoreStats;
  clock: Clock;
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
          await runSplitCheck(engine, router, task.region, splitCheckLimits(cfg), yieldNow, task.policy);
          return;
        case "scheduler":
          if (!scheduler) return;
          if (task.kind === "regionHeartbeat") {
            await scheduler.regionHeartbeat(task.heartbeat);
          } else if (task.kind === "checkStalePeer") {
            await checkStalePeer(scheduler, router, task);
          } else if (task.kind === "askBatchSplit") {
            await askBatchSplit(scheduler, router, task, this.deps.clock.now() + cfg.proposalTimeoutMs, log);
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

/**
 * Ids for a split, then the BatchSplit proposed to the leader with the epoch the keys were found
 * under (the peer checks it at propose and again at apply). The outcome is only logged: the next
 * split check asks again if the split did not happen.
 */
async function askBatchSplit(
  scheduler: SchedulerClient,
  router: Router,
  task: Extract<WorkerTask, { kind: "askBatchSplit" }>,
  deadline: number,
  log: Logger,
): Promise<void> {
  const { region, leader, splitKeys } = task;
  const regionId = Number(region.id);
  const version = region.regionEpoch?.version ?? 0n;
  const failed = (why: string) => router.send(regionId, { type: "splitFailed", version, why });
  let ids: schedulerpb.SplitID[];
  try {
    ids = await scheduler.askBatchSplit(region, splitKeys.length);
    if (ids.length !== splitKeys.length) throw new Error(`scheduler gave ${ids.length} split ids for ${splitKeys.length} keys`);
  } catch (e) {
    // E.g. a new region whose first heartbeat has not reached the scheduler yet.
    const why = e instanceof Error ? e.message : String(e);
    log.info({ regionId, reason: task.reason, err: why }, "split ids not given");
    failed(why);
    return;
  }
  const request: raft_cmdpb.RaftCmdRequest = {
    header: { regionId: region.id, peer: leader, readQuorum: false, regionEpoch: region.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
    requests: [],
    adminRequest: {
      cmdType: raft_cmdpb.AdminCmdType.BatchSplit,
      splits: { requests: splitKeys.map((k, i) => ({ splitKey: k, newRegionId: ids[i]!.newRegionId, newPeerIds: ids[i]!.newPeerIds })), rightDerive: false },
    },
  };
  const sent = router.send(regionId, {
    type: "raftCmd",
    request,
    deadline,
    callback: (r) => {
      if (!r.ok) {
        log.info({ regionId, reason: task.reason, err: r.error.kind, detail: "message" in r.error ? r.error.message : undefined }, "split not made");
        failed(r.error.kind);
      } else if (r.response.header?.error) {
        log.info({ regionId, reason: task.reason, err: r.response.header.error.message }, "split refused at apply");
        failed(r.response.header.error.message);
      }
    },
  });
  if (!sent) log.debug({ regionId }, "region gone before its split was proposed");
}

/**
 * A peer that has heard from no leader for long asks whether it is still a member: if the
 * scheduler's region is newer (epoch) and no longer lists this peer, it was removed while cut off
 * (a learner never campaigns, so nobody would ever tell it) and it is told to destroy itself.
 */
async function checkStalePeer(scheduler: SchedulerClient, router: Router, task: Extract<WorkerTask, { kind: "checkStalePeer" }>): Promise<void> {
  if (!scheduler.getRegionById) return;
  const known = await scheduler.getRegionById(BigInt(task.regionId));
  const r = known?.region;
  if (!r?.regionEpoch) return;
  if (r.peers.some((p) => Number(p.id) === task.peerId)) return;
  const newer = r.regionEpoch.confVer > task.epoch.confVer || (r.regionEpoch.confVer === task.epoch.confVer && r.regionEpoch.version > task.epoch.version);
  if (!newer) return;
  router.send(task.regionId, {
    type: "stalePeer",
    why: `the scheduler's region ${task.regionId} (conf_ver ${r.regionEpoch.confVer}, version ${r.regionEpoch.version}) no longer has peer ${task.peerId}`,
  });
}
