/** `regionkv scheduler`: the scheduler process. Ready when it accepts requests. */
import { parseDurationMs, parseSchedulerNames, startSchedulerServer } from "@regionkv/scheduler";
import { exitWithError, onShutdownSignal } from "../fail.js";
import { makeLogger, type LogLevel } from "../logger.js";

export interface SchedulerCommandOptions {
  listen: string;
  data: string;
  maxReplicas: number;
  /** A duration: 30s, 5m, 30m, 1h. */
  maxStoreDownTime: string;
  /** Balancing schedulers to run: a comma-separated list, or `none`. */
  schedulers: string;
  /** Replicas the balancers may move into one store per minute. */
  storeBalanceRate: number;
  /** GC life time: a duration; 0s = the safe point is raised only by `ctl gc --advance`. */
  gcLifeTime: string;
  logLevel: LogLevel;
}

export async function runScheduler(opts: SchedulerCommandOptions): Promise<void> {
  const log = makeLogger({ level: opts.logLevel, name: "scheduler" });
  try {
    let maxStoreDownTimeMs: number;
    try {
      maxStoreDownTimeMs = parseDurationMs(opts.maxStoreDownTime);
    } catch (err) {
      throw new Error(`--max-store-down-time: ${(err as Error).message}`, { cause: err });
    }
    let schedulers;
    try {
      schedulers = parseSchedulerNames(opts.schedulers);
    } catch (err) {
      throw new Error(`--schedulers: ${(err as Error).message}`, { cause: err });
    }
    let gcLifeTimeMs: number;
    try {
      gcLifeTimeMs = parseDurationMs(opts.gcLifeTime);
    } catch (err) {
      throw new Error(`--gc-life-time: ${(err as Error).message}`, { cause: err });
    }
    const server = await startSchedulerServer({
      listen: opts.listen,
      dataDir: opts.data,
      logger: log,
      gcLifeTimeMs,
      scheduling: { maxReplicas: opts.maxReplicas, maxStoreDownTimeMs, schedulers, storeBalanceRatePerMin: opts.storeBalanceRate },
    });
    log.info({ address: server.address, dataDir: opts.data, clusterId: String(server.core.clusterId) }, "scheduler ready");
    onShutdownSignal(async () => {
      log.info("stopping");
      await server.close();
    });
  } catch (err) {
    exitWithError("scheduler", err);
  }
}
