export { SchedulerError, toErrorType, type Result, type SchedulerErrorCode } from "./errors.js";
export { RegionTree, type RegionInfo, type StoreRegionStats } from "./region-tree.js";
export { checkRegionHeartbeat, type HeartbeatChange } from "./region-heartbeat.js";
export { IdAllocator, ID_STEP, type IdMarkStorage } from "./id-allocator.js";
export { Tso, composeTs, tsToTimestamp, MAX_LOGICAL, PHYSICAL_SHIFT_BITS, type TsoMarkStorage } from "./tso.js";
export { SchedulerStore, SCHEDULER_DB_FILE, type SchedulerStoreOptions } from "./scheduler-store.js";
export { SchedulerCore, type SchedulerCoreOptions, type StoreInfo } from "./scheduler.js";
export { createSchedulerService, type SchedulerServiceHandle, type SchedulerServiceOptions } from "./service.js";
export { MalformedRequest } from "./service-header.js";
export { allocSplitIds, MAX_SPLIT_COUNT } from "./split-ids.js";
export {
  startSchedulerServer,
  parseHostPort,
  ListenError,
  MAX_MESSAGE_BYTES,
  type ListenErrorCode,
  type RunningSchedulerServer,
  type SchedulerServerOptions,
} from "./scheduler-server.js";
