/**
 * @regionkv/raft: the raft consensus core, a pure deterministic state machine driven by its
 * caller. Start with RawNode (raw-node.ts); follow a proposal through raft.ts → step-leader.ts →
 * raft-log.ts → progress.ts.
 */
export * from "./types.js";
export { RaftError, RaftInvariantError, OK, type RaftErrorCode, type RaftResult } from "./errors.js";
export { type Storage } from "./storage.js";
export { MemoryStorage } from "./memory-storage.js";
export { RAFT_DEFAULTS, resolveConfig, seededRandom, silentLogger, type RaftConfig, type RaftLogger, type ResolvedRaftConfig } from "./config.js";
export { ReadOnlyOption } from "./read-only.js";
export { ProgressState, Progress } from "./progress.js";
export { Inflights } from "./inflights.js";
export { ProgressTracker } from "./progress-tracker.js";
export { VoteResult, quorum } from "./quorum.js";
export { RaftLog } from "./raft-log.js";
export { Unstable } from "./log-unstable.js";
export { Raft, CAMPAIGN_TRANSFER, CampaignType } from "./raft.js";
export { RawNode, SnapshotStatus, type Ready, type Status } from "./raw-node.js";
export { encodeConfChange, decodeConfChange } from "./conf-change-codec.js";
export { validateRemoteMessage } from "./validate-message.js";
export * from "./describe.js";
