/**
 * @regionkv/server: the store process. `startStore` (store-server.ts) wires the engine, the
 * raftstore, the KV service (kv-service.ts; its BatchCommands stream in batch-commands.ts), the
 * gRPC raft transport (transport/) and the status server together.
 */
export { startStore, type StoreServer, type StoreServerOptions } from "./store-server.js";
export { StoreStartError } from "./cluster-bootstrap.js";
export { KvService, StatusError, type KvMethod, type KvOutcome, type KvRequestScope, type KvServiceOptions } from "./kv-service.js";
export { MAX_OUTSTANDING, MAX_RESPONSES_PER_MESSAGE, MAX_RESPONSE_MESSAGE_BYTES, rawKvService, type IncomingBatch } from "./batch-commands.js";
export * from "./limits.js";
