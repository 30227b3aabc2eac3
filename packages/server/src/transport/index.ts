/**
 * The raft transport between stores over gRPC. Sending: `GrpcTransport` (the raftstore's
 * `Transport`: a StorePipe per target store, snapshots on their own streams). Receiving:
 * `raftTransportService` registered with `rawRaftTransportService`. Addresses: `StoreResolver`.
 * Start with grpc-transport.ts and raft-transport-service.ts.
 */
export { GrpcTransport, type GrpcTransportOptions } from "./grpc-transport.js";
export { raftTransportService, rawRaftTransportService, type RaftMessageHandler, type RaftTransportImplementation, type RaftTransportServiceOptions } from "./raft-transport-service.js";
export { StoreResolver, describeResolveError, type Resolution, type ResolveError, type StoreLookup, type StoreResolverOptions } from "./store-resolver.js";
export { DEFAULT_TRANSPORT_CONFIG, RAFT_TRANSPORT_SERVER_OPTIONS, TransportConfigError, resolveTransportConfig, type TransportConfig } from "./config.js";
export { TransportMetrics, type DropReason, type RejectReason } from "./metrics.js";
export { type PipeState, type PipeStats } from "./store-pipe.js";
export { checkRaftMessage, describeProblem, type InputProblem } from "./message-check.js";
export { FROM_STORE_HEADER, STORE_ID_HEADER, TO_STORE_HEADER } from "./transport-context.js";
