/**
 * @regionkv/raftstore: the multi-raft node. Start with raft-store.ts; follow a write through
 * router.ts → peer.ts (propose) → raft-worker.ts (group commit, send, apply) → apply.ts →
 * peer.ts (settle the proposal).
 */
export { RaftStore, type RaftStoreOptions, type ProposeOptions } from "./raft-store.js";
export { DEFAULT_RAFTSTORE_CONFIG, RaftstoreConfigError, resolveRaftstoreConfig, type RaftstoreConfig } from "./config.js";
export { bootstrapStore, firstRegion, prepareBootstrapRegion, readStoreIdent, BootstrapError } from "./bootstrap.js";
export { RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM, confStateOfRegion } from "./peer-storage.js";
export { RaftstoreMetrics } from "./metrics.js";
export { Router } from "./router.js";
export { type Transport, type SnapshotReporter } from "./transport.js";
export { type SchedulerClient, type RegionHeartbeat } from "./scheduler-client.js";
export { type Clock } from "./store-context.js";
export { type ProposalResult } from "./proposal.js";
export { describeRegionError, regionErrorFromPb, regionErrorToPb, type ProposalFailure, type RegionError } from "./region-error.js";
export { checkKeyInRegion, checkRegionEpoch, clampToRegion, isEpochStale, keyInRange, keyInRegion } from "./region-util.js";
export { messageFromPb, messageToPb } from "./raft-codec.js";
export { PeerTick, StoreTick, type PeerMsg, type StoreMsg } from "./messages.js";
export { parseSize, formatSize, SizeError } from "./size.js";
export { LoadSplitter, loadSplitOptions, type LoadSplitOptions, type LoadSplitDecision } from "./load-split.js";
export {
  SplitKeyFinder,
  halfSplitLimits,
  runSplitCheck,
  scanSplitKeys,
  splitCheckLimits,
  splitCheckSteps,
  type SplitCheckLimits,
  type SplitCheckResult,
  type SplitCheckView,
} from "./workers/split-check-worker.js";
export { MAX_SPLIT_KEYS, batchSplitOf, checkBatchSplit, splitRegions } from "./split.js";
