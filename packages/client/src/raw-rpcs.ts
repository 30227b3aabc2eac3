/**
 * The raw KV RPCs as values the request sender can drive generically: a name for messages, whether
 * the RPC may be retried after an ambiguous failure, how to invoke it on a `KvClient`, and how it
 * travels as a command of a BatchCommands stream (batch-commands-stream.ts).
 *
 * Idempotent: reads, put, delete, batch put, delete-range (applying one twice leaves the same
 * state as applying it once, though a concurrent writer's value written in between would be
 * overwritten again). Not idempotent: compare-and-swap (a second attempt compares against the
 * first attempt's write).
 */
import type { CallOptions, ClientUnaryCall, Metadata, ServiceError } from "@grpc/grpc-js";
import type { errorpb, kvrpcpb, regionkvpb } from "@regionkv/proto";
import type { BatchCommand } from "./batch-commands-stream.js";

/** A response of a BatchCommands stream, when it is not a status. */
type BatchResponseCmd = NonNullable<regionkvpb.BatchCommandsResponse_Response["cmd"]>;

/** What every raw response carries besides its payload. */
export interface RawResponse {
  regionError?: errorpb.Error | undefined;
  error: string;
}

export interface RawRpc<Req, Resp extends RawResponse> {
  /** The gRPC method name, for messages. */
  readonly name: string;
  /** Safe to send again after an attempt whose outcome is unknown. */
  readonly idempotent: boolean;
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
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawGet(r, m, o, done),
  toBatch: (value) => ({ $case: "rawGet", value }),
  fromBatch: (cmd) => (cmd.$case === "rawGet" ? cmd.value : undefined),
};

export const RAW_BATCH_GET: RawRpc<kvrpcpb.RawBatchGetRequest, kvrpcpb.RawBatchGetResponse> = {
  name: "RawBatchGet",
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawBatchGet(r, m, o, done),
  toBatch: (value) => ({ $case: "rawBatchGet", value }),
  fromBatch: (cmd) => (cmd.$case === "rawBatchGet" ? cmd.value : undefined),
};

export const RAW_PUT: RawRpc<kvrpcpb.RawPutRequest, kvrpcpb.RawPutResponse> = {
  name: "RawPut",
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawPut(r, m, o, done),
  toBatch: (value) => ({ $case: "rawPut", value }),
  fromBatch: (cmd) => (cmd.$case === "rawPut" ? cmd.value : undefined),
};

export const RAW_BATCH_PUT: RawRpc<kvrpcpb.RawBatchPutRequest, kvrpcpb.RawBatchPutResponse> = {
  name: "RawBatchPut",
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawBatchPut(r, m, o, done),
  toBatch: (value) => ({ $case: "rawBatchPut", value }),
  fromBatch: (cmd) => (cmd.$case === "rawBatchPut" ? cmd.value : undefined),
};

export const RAW_DELETE: RawRpc<kvrpcpb.RawDeleteRequest, kvrpcpb.RawDeleteResponse> = {
  name: "RawDelete",
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawDelete(r, m, o, done),
  toBatch: (value) => ({ $case: "rawDelete", value }),
  fromBatch: (cmd) => (cmd.$case === "rawDelete" ? cmd.value : undefined),
};

export const RAW_DELETE_RANGE: RawRpc<kvrpcpb.RawDeleteRangeRequest, kvrpcpb.RawDeleteRangeResponse> = {
  name: "RawDeleteRange",
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawDeleteRange(r, m, o, done),
  toBatch: (value) => ({ $case: "rawDeleteRange", value }),
  fromBatch: (cmd) => (cmd.$case === "rawDeleteRange" ? cmd.value : undefined),
};

export const RAW_SCAN: RawRpc<kvrpcpb.RawScanRequest, kvrpcpb.RawScanResponse> = {
  name: "RawScan",
  idempotent: true,
  invoke: (c, r, m, o, done) => c.rawScan(r, m, o, done),
  toBatch: (value) => ({ $case: "rawScan", value }),
  fromBatch: (cmd) => (cmd.$case === "rawScan" ? cmd.value : undefined),
};

export const RAW_CAS: RawRpc<kvrpcpb.RawCASRequest, kvrpcpb.RawCASResponse> = {
  name: "RawCompareAndSwap",
  idempotent: false,
  invoke: (c, r, m, o, done) => c.rawCompareAndSwap(r, m, o, done),
  toBatch: (value) => ({ $case: "rawCas", value }),
  fromBatch: (cmd) => (cmd.$case === "rawCas" ? cmd.value : undefined),
};
