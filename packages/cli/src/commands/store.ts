/** `regionkv store`: one store process. Ready when it accepts requests. */
import { startStore } from "@regionkv/server";
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
  logLevel: LogLevel;
}

export async function runStore(opts: StoreCommandOptions): Promise<void> {
  const log = makeLogger({ level: opts.logLevel, name: "store" });
  try {
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
    onShutdownSignal(async () => {
      log.info({ storeId: String(store.storeId) }, "stopping");
      await store.stop();
    });
  } catch (err) {
    exitWithError("store", err);
  }
}
