// The scheduler's gRPC client (`@regionkv/scheduler/client`). Runtime imports stay inside this
// folder, @grpc/grpc-js, pino and @regionkv/proto: no scheduler core, no better-sqlite3.
export { SchedulerRpcClient, regionPages, type SchedulerRpcClientOptions, type RegionWithLeader, type ManualOperatorRequest } from "./scheduler-rpc-client.js";
export { SchedulerRpcError, type SchedulerRpcErrorCode } from "./scheduler-rpc-error.js";
export { DEFAULT_TIMEOUT_MS, CLIENT_MAX_MESSAGE_BYTES } from "./channel-options.js";
export { MAX_TSO_BATCH } from "./tso-batcher.js";
