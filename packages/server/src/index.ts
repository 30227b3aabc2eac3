/**
 * @regionkv/server: the store process. `startStore` (store-server.ts) wires the engine, the
 * raftstore, the KV service (kv-service.ts), the gRPC raft transport (transport/) and the status
 * server together.
 */
export { startStore, type StoreServer, type StoreServerOptions } from "./store-server.js";
export { StoreStartError } from "./cluster-bootstrap.js";
export { KvService, StatusError, type KvServiceOptions } from "./kv-service.js";
export * from "./limits.js";
export { parseHostPort } from "./address.js";
