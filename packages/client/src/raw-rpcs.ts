/**
 * The raw KV RPCs as values the request sender can drive generically: a name for messages, whether
 * the RPC may be retried after an ambiguous failure, how to invoke it on a `KvClient`, and how it
 * travels as a command of a BatchCommands stream (batch-commands-stream.ts).
 *
 * Resendable after an unknown outcome: reads only. No write is: a put sent again after its first
 * attempt may have applied can apply twice with another client's write in between (A, B, A),
 * which no linearizable order explains; a compare-and-swap would compare against its own first
 * attempt. Writes are still retried after failures that prove nothing was applied (NotLeader,
 * EpochNotMatch, a connection that never carried the request, ...); otherwise they reject with
 * UnknownOutcomeError, as etcd's client does for mutations.
 */
import type { CallOptions, ClientUnaryCall, Metadata, ServiceError } from "@grpc/grpc-js";
import type { errorpb, kvrpcpb, regionkvpb } from "@regionkv/proto";
import type { BatchCommand } from "./batch-commands-stream.js";

/** A response of a BatchCommands stream, when it is not a status. */
type BatchResponseCmd = NonNullable<regionkvpb.BatchCommandsResponse_Response["cmd"]>;

/**
 * What every response carries besides its payload: a region error, and an `error` — a string in
 * the raw API (a store failure), a KeyError (or a list of them) in the transactional one, which
 * the transactional client interprets itself.
 */
export interface RawResponse {
  regionError?: errorpb.Error | undefined;
  error?: unknown;
}

export interface RawRpc<Req, Resp extends RawResponse> {
  /** The gRPC method name, for messages. */
  readonly name: string;
  /** Safe to send again after an attempt whose outcome is unknown (reads only; see above). */
  readonly resendable: boolean;
  invoke(
    client: regionkvpb.KvClient,
    request: Req,
    metadata: Metadata,
    options: Partial<CallOptions>,
    done: (err: ServiceError | null, response?: Resp) => void,
  ): ClientUnaryCall;
  /** The request as a BatchCommands command. */
  toBatch(request: Req): BatchCommand;
  /** The response out of a BatchCommands response; undefined if the store answered another kind. */
  fromBatch(cmd: BatchResponseCmd): Resp | undefined;
}

export const RAW_GET: RawRpc<kvrpcpb.RawGetRequest, kvrpcpb.RawGetResponse> = {
  name: "RawGet",
  resendable: true,
  invoke: (c, r, m, o, done) => c.rawGet(r, m, o, done),
  toBatch: (value) => ({ $case: "rawGet", value }),
  fromBatch: (cmd) => (cmd.$case === "rawGet" ? cmd.value : undefined),
};

export const RAW_BATCH_GET: RawRpc<kvrpcpb.RawBatchGetRequest, kvrpcpb.RawBatchGetResponse> = {
  name: "RawBatchGet",
  resendable: true,
  invoke: (c, r, m, o, done) => c.rawBatchGet(r, m, o, done),
  toBatch: (value) => ({ $case: "rawBatchGet", value }),
  fromBatch: (cmd) => (cmd.$case === "rawBatchGet" ? cmd.value : undefined),
};

export const RAW_PUT: RawRpc<kvrpcpb.RawPutRequest, kvrpcpb.RawPutResponse> = {
  name: "RawPut",
  resendable: false,
  invoke: (c, r, m, o, done) => c.rawPut(r, m, o, done),
  toBatch: (value) => ({ $case: "rawPut", value }),
  fromBatch: (cmd) => (cmd.$case === "rawPut" ? cmd.value : undefined),
};

export const RAW_BATCH_PUT: RawRpc<kvrpcpb.RawBatchPutRequest, kvrpcpb.RawBatchPutResponse> = {
  name: "RawBatchPut",
  resendable: false,
  invoke: (c, r, m, o, done) => c.rawBatchPut(r, m, o, done),
  toBatch: (value) => ({ $case: "rawBatchPut", value }),
  fromBatch: (cmd) => (cmd.$case === "rawBatchPut" ? cmd.value : undefined),
};

export const RAW_DELETE: RawRpc<kvrpcpb.RawDeleteRequest, kvrpcpb.RawDeleteResponse> = {
  name: "RawDelete",
  resendable: false,
  invoke: (c, r, m, o, done) => c.rawDelete(r, m, o, done),
  toBatch: (value) => ({ $case: "rawDelete", value }),
  fromBatch: (cmd) => (cmd.$case === "rawDelete" ? cmd.value : undefined),
};

export const RAW_DELETE_RANGE: RawRpc<kvrpcpb.RawDeleteRangeRequest, kvrpcpb.RawDeleteRangeResponse> = {
  name: "RawDeleteRange",
  resendable: false,
  invoke: (c, r, m, o, done) => c.rawDeleteRange(r, m, o, done),
  toBatch: (value) => ({ $case: "rawDeleteRange", value }),
  fromBatch: (cmd) => (cmd.$case === "rawDeleteRange" ? cmd.value : undefined),
};

export const RAW_SCAN: RawRpc<kvrpcpb.RawScanRequest, kvrpcpb.RawScanResponse> = {
  name: "RawScan",
  resendable: true,
  invoke: (c, r, m, o, done) => c.rawScan(r, m, o, done),
  toBatch: (value) => ({ $case: "rawScan", value }),
  fromBatch: (cmd) => (cmd.$case === "rawScan" ? cmd.value : undefined),
};

export const RAW_CAS: RawRpc<kvrpcpb.RawCASRequest, kvrpcpb.RawCASResponse> = {
  name: "RawCompareAndSwap",
  resendable: false,
  invoke: (c, r, m, o, done) => c.rawCompareAndSwap(r, m, o, done),
  toBatch: (value) => ({ $case: "rawCas", value }),
  fromBatch: (cmd) => (cmd.$case === "rawCas" ? cmd.value : undefined),
};
