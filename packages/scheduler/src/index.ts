export { SchedulerError, toErrorType, type Result, type SchedulerErrorCode } from "./errors.js";
export { RegionTree, type RegionInfo, type StoreRegionStats } from "./region-tree.js";
export { checkRegionHeartbeat, type HeartbeatChange } from "./region-heartbeat.js";
export { IdAllocator, ID_STEP, type IdMarkStorage } from "./id-allocator.js";
export { Tso, composeTs, tsToTimestamp, MAX_LOGICAL, PHYSICAL_SHIFT_BITS, type TsoMarkStorage } from "./tso.js";
export { SchedulerStore, SCHEDULER_DB_FILE, type SchedulerStoreOptions } from "./scheduler-store.js";
export { SchedulerCore, type SchedulerCoreOptions, type StoreInfo } from "./scheduler.js";
