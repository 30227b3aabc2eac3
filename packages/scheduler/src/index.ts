export { SchedulerError, toErrorType, type Result, type SchedulerErrorCode } from "./errors.js";
export { RegionTree, type RegionInfo, type StoreRegionStats } from "./region-tree.js";
export { checkRegionHeartbeat, type HeartbeatChange } from "./region-heartbeat.js";
export { IdAllocator, ID_STEP, type IdMarkStorage } from "./id-allocator.js";
export { Tso, composeTs, tsToTimestamp, MAX_LOGICAL, PHYSICAL_SHIFT_BITS, type TsoMarkStorage } from "./tso.js";
export { SchedulerStore, SCHEDULER_DB_FILE, type SchedulerStoreOptions } from "./scheduler-store.js";
export { GcSafePointError, SchedulerCore, type SchedulerCoreOptions, type StoreInfo } from "./scheduler.js";
export { createSchedulerService, type SchedulerServiceHandle, type SchedulerServiceOptions } from "./service.js";
export { MalformedRequest } from "./service-header.js";
export { allocSplitIds, MAX_SPLIT_COUNT } from "./split-ids.js";
export {
  startSchedulerServer,
  parseHostPort,
  DEFAULT_GC_LIFE_TIME_MS,
  GC_ADVANCE_INTERVAL_MS,
  ListenError,
  MAX_MESSAGE_BYTES,
  type ListenErrorCode,
  type RunningSchedulerServer,
  type SchedulerServerOptions,
} from "./scheduler-server.js";
export {
  DEFAULT_SCHEDULER_CONFIG,
  SCHEDULER_NAMES,
  parseDurationMs,
  parseSchedulerNames,
  resolveSchedulerConfig,
  type SchedulerConfig,
  type SchedulerName,
} from "./schedule/config.js";
export { Coordinator, type CoordinatorOptions, type HeartbeatSink, type ManualOperator } from "./schedule/coordinator.js";
export { OperatorController, type AddResult } from "./schedule/operator-controller.js";
export {
  Operator,
  canTransition,
  checkProgress,
  describeStep,
  isFinalStatus,
  isStepDone,
  stepResponse,
  summarizeOperator,
  PRIORITY,
  type OperatorSummary,
  type OpKind,
  type OpPriority,
  type OpStatus,
  type OpStep,
  type Progress,
} from "./schedule/operator.js";
export { StaticClusterView, storeViewsFrom, regionSize, MIN_REGION_SIZE, type ClusterView, type StoreView, type StoreInfluence, type RegionRole } from "./schedule/cluster-view.js";
export type { ScheduleContext } from "./schedule/schedule-context.js";
export { checkReplicas, bestStoreFor } from "./schedule/replica-checker.js";
export { scheduleBalanceLeader } from "./schedule/balance-leader.js";
export { scheduleBalanceRegion } from "./schedule/balance-region.js";
export { scheduleHotRegion } from "./schedule/hot-region.js";
export { WriteRateStats } from "./schedule/write-rate.js";
export { wireStatus } from "./service.js";
