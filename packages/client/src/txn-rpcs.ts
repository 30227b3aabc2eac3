/**
 * The transactional KV RPCs as values the request sender drives (see raw-rpcs.ts). Every one is
 * resendable: the store side makes each idempotent for one transaction (a prewrite finding its
 * own lock does nothing, a commit finding its own commit record succeeds, rollbacks and
 * resolutions leave the same records), so an attempt whose outcome is unknown can be sent again.
 * Only the commit of the primary key decides a transaction; the transactional client reports an
 * ambiguous failure there as UnknownOutcomeError.
 */
import type { kvrpcpb } from "@regionkv/proto";
import type { RawRpc } from "./raw-rpcs.js";

export const KV_GET: RawRpc<kvrpcpb.GetRequest, kvrpcpb.GetResponse> = {
  name: "KvGet",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvGet(r, m, o, done),
  toBatch: (value) => ({ $case: "get", value }),
  fromBatch: (cmd) => (cmd.$case === "get" ? cmd.value : undefined),
};

export const KV_BATCH_GET: RawRpc<kvrpcpb.BatchGetRequest, kvrpcpb.BatchGetResponse> = {
  name: "KvBatchGet",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvBatchGet(r, m, o, done),
  toBatch: (value) => ({ $case: "batchGet", value }),
  fromBatch: (cmd) => (cmd.$case === "batchGet" ? cmd.value : undefined),
};

export const KV_SCAN: RawRpc<kvrpcpb.ScanRequest, kvrpcpb.ScanResponse> = {
  name: "KvScan",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvScan(r, m, o, done),
  toBatch: (value) => ({ $case: "scan", value }),
  fromBatch: (cmd) => (cmd.$case === "scan" ? cmd.value : undefined),
};

export const KV_PREWRITE: RawRpc<kvrpcpb.PrewriteRequest, kvrpcpb.PrewriteResponse> = {
  name: "KvPrewrite",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvPrewrite(r, m, o, done),
  toBatch: (value) => ({ $case: "prewrite", value }),
  fromBatch: (cmd) => (cmd.$case === "prewrite" ? cmd.value : undefined),
};

export const KV_COMMIT: RawRpc<kvrpcpb.CommitRequest, kvrpcpb.CommitResponse> = {
  name: "KvCommit",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvCommit(r, m, o, done),
  toBatch: (value) => ({ $case: "commit", value }),
  fromBatch: (cmd) => (cmd.$case === "commit" ? cmd.value : undefined),
};

export const KV_BATCH_ROLLBACK: RawRpc<kvrpcpb.BatchRollbackRequest, kvrpcpb.BatchRollbackResponse> = {
  name: "KvBatchRollback",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvBatchRollback(r, m, o, done),
  toBatch: (value) => ({ $case: "batchRollback", value }),
  fromBatch: (cmd) => (cmd.$case === "batchRollback" ? cmd.value : undefined),
};

export const KV_CHECK_TXN_STATUS: RawRpc<kvrpcpb.CheckTxnStatusRequest, kvrpcpb.CheckTxnStatusResponse> = {
  name: "KvCheckTxnStatus",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvCheckTxnStatus(r, m, o, done),
  toBatch: (value) => ({ $case: "checkTxnStatus", value }),
  fromBatch: (cmd) => (cmd.$case === "checkTxnStatus" ? cmd.value : undefined),
};

export const KV_CHECK_SECONDARY_LOCKS: RawRpc<kvrpcpb.CheckSecondaryLocksRequest, kvrpcpb.CheckSecondaryLocksResponse> = {
  name: "KvCheckSecondaryLocks",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvCheckSecondaryLocks(r, m, o, done),
  toBatch: (value) => ({ $case: "checkSecondaryLocks", value }),
  fromBatch: (cmd) => (cmd.$case === "checkSecondaryLocks" ? cmd.value : undefined),
};

export const KV_RESOLVE_LOCK: RawRpc<kvrpcpb.ResolveLockRequest, kvrpcpb.ResolveLockResponse> = {
  name: "KvResolveLock",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvResolveLock(r, m, o, done),
  toBatch: (value) => ({ $case: "resolveLock", value }),
  fromBatch: (cmd) => (cmd.$case === "resolveLock" ? cmd.value : undefined),
};

export const KV_TXN_HEART_BEAT: RawRpc<kvrpcpb.TxnHeartBeatRequest, kvrpcpb.TxnHeartBeatResponse> = {
  name: "KvTxnHeartBeat",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvTxnHeartBeat(r, m, o, done),
  toBatch: (value) => ({ $case: "txnHeartBeat", value }),
  fromBatch: (cmd) => (cmd.$case === "txnHeartBeat" ? cmd.value : undefined),
};

export const KV_SCAN_LOCK: RawRpc<kvrpcpb.ScanLockRequest, kvrpcpb.ScanLockResponse> = {
  name: "KvScanLock",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvScanLock(r, m, o, done),
  toBatch: (value) => ({ $case: "scanLock", value }),
  fromBatch: (cmd) => (cmd.$case === "scanLock" ? cmd.value : undefined),
};

export const KV_GC: RawRpc<kvrpcpb.GCRequest, kvrpcpb.GCResponse> = {
  name: "KvGC",
  resendable: true,
  invoke: (c, r, m, o, done) => c.kvGc(r, m, o, done),
  toBatch: (value) => ({ $case: "gc", value }),
  fromBatch: (cmd) => (cmd.$case === "gc" ? cmd.value : undefined),
};
