/** `regionkv scheduler`: the scheduler process. Ready when it accepts requests. */
import { startSchedulerServer } from "@regionkv/scheduler";
import { exitWithError, onShutdownSignal } from "../fail.js";
import { makeLogger, type LogLevel } from "../logger.js";

export interface SchedulerCommandOptions {
  listen: string;
  data: string;
  logLevel: LogLevel;
}

export async function runScheduler(opts: SchedulerCommandOptions): Promise<void> {
  const log = makeLogger({ level: opts.logLevel, name: "scheduler" });
  try {
    const server = await startSchedulerServer({ listen: opts.listen, dataDir: opts.data, logger: log });
    log.info({ address: server.address, dataDir: opts.data, clusterId: String(server.core.clusterId) }, "scheduler ready");
    onShutdownSignal(async () => {
      log.info("stopping");
      await server.close();
    });
  } catch (err) {
    exitWithError("scheduler", err);
  }
}
