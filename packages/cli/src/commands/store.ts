/** `regionkv store`: one store process. Ready when it accepts requests. */
import { parseDurationMs } from "@regionkv/scheduler";
import { startStore } from "@regionkv/server";
import { startGcLoop } from "../gc-loop.js";
import { exitWithError, onShutdownSignal } from "../fail.js";
import { makeLogger, type LogLevel } from "../logger.js";
import { regionLimitsConfig, type RegionLimitFlags } from "../region-limits.js";
import { storeTuningConfig, type StoreTuningFlags } from "../store-tuning.js";

export interface StoreCommandOptions extends RegionLimitFlags, StoreTuningFlags {
  scheduler: string;
  listen: string;
  data: string;
  statusListen?: string;
  advertise?: string;
  initialStores: number;
  /** How often to look for a new GC safe point (a duration; 0s = never collect). */
  gcInterval: string;
  logLevel: LogLevel;
}

export async function runStore(opts: StoreCommandOptions): Promise<void> {
  const log = makeLogger({ level: opts.logLevel, name: "store" });
  try {
    let gcIntervalMs: number;
    try {
      gcIntervalMs = parseDurationMs(opts.gcInterval);
    } catch (err) {
      throw new Error(`--gc-interval: ${(err as Error).message}`, { cause: err });
    }
    const raftstore = { ...regionLimitsConfig(opts), ...storeTuningConfig(opts) };
    const store = await startStore({
      raftstore,
      scheduler: opts.scheduler.split(",").map((s) => s.trim()),
      listen: opts.listen,
      advertise: opts.advertise,
      statusListen: opts.statusListen,
      dataDir: opts.data,
      initialStores: opts.initialStores,
      logger: log,
    });
    const scheduler = opts.scheduler.split(",").map((s) => s.trim());
    const gc = gcIntervalMs > 0 ? startGcLoop({ scheduler, storeId: store.storeId, intervalMs: gcIntervalMs, logger: log.child({ component: "gc" }) }) : undefined;
    onShutdownSignal(async () => {
      log.info({ storeId: String(store.storeId) }, "stopping");
      await gc?.stop();
      await store.stop();
    });
  } catch (err) {
    exitWithError("store", err);
  }
}
