// The wire contract of regionkv, generated from proto/ by `pnpm gen` (buf + ts-proto).
// Each proto package is one namespace; import a single one directly with
// `@regionkv/proto/<package>` (e.g. `@regionkv/proto/kvrpcpb`) if you prefer.
// Nothing under ./gen is edited by hand.
export * as eraftpb from "./gen/eraftpb.js";
export * as errorpb from "./gen/errorpb.js";
export * as kvrpcpb from "./gen/kvrpcpb.js";
export * as metapb from "./gen/metapb.js";
export * as raft_cmdpb from "./gen/raft_cmdpb.js";
export * as raft_serverpb from "./gen/raft_serverpb.js";
export * as regionkvpb from "./gen/regionkvpb.js";
export * as schedulerpb from "./gen/schedulerpb.js";
// Hand-written: the layout of TSO timestamps.
export { MAX_LOGICAL, PHYSICAL_SHIFT_BITS, TS_MAX, composeTs, physicalMs } from "./timestamp.js";
