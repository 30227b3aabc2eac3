/**
 * The client-facing KV service (`regionkvpb.Kv`), raw API. Flow of one call:
 *   gRPC handler → validate at the edge (limits.ts; INVALID_ARGUMENT naming the limit) →
 *   build a RaftCmdRequest with the request's Context (region id, epoch, peer, term) →
 *   `RaftStore.propose` (writes through the log; reads through ReadIndex on the leader) →
 *   a region error goes back in the response's `region_error` for the client to re-route;
 *   timeouts and cancellations become gRPC statuses (the outcome of a write is then unknown).
 *
 * The same methods serve the unary RPCs and the requests of a BatchCommands stream
 * (batch-commands.ts): `handle` runs one request of either kind, counts it in the same metrics and
 * turns its failure into the same gRPC status, returned as a value.
 *
 * Compare-and-swap is one raft command decided when it applies (see raftstore apply.ts), so it is
 * linearizable with every other write of the region.
 *
 * The transactional methods (KvGet … KvCheckSecondaryLocks) are validated here and run by
 * `@regionkv/txn`'s TxnCommands (latches, ReadIndex views, one raft command per request).
 */
import * as grpc from "@grpc/grpc-js";
import type { EngineSnapshot } from "@regionkv/engine";
import type { errorpb, kvrpcpb, regionkvpb } from "@regionkv/proto";
import { raft_cmdpb } from "@regionkv/proto";
import { clampToRegion, describeRegionError, regionErrorToPb, type ProposalFailure, type RaftStore } from "@regionkv/raftstore";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import { TxnStorageError, type TxnCommands } from "@regionkv/txn";
import { BatchCommandsMetrics, batchCommandsHandler } from "./batch-commands.js";
import {
  checkBatch,
  checkContext,
  checkKey,
  checkKeys,
  checkLockTtl,
  checkMutationOp,
  checkRange,
  checkRawCf,
  checkScanLimit,
  checkTs,
  checkTtl,
  checkValue,
  MAX_SCAN_LIMIT,
} from "./limits.js";

/** A failure that is not a region error: becomes the call's gRPC status. */
export class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = "StatusError";
  }
}

function invalid(violation: string | undefined): void {
  if (violation !== undefined) throw new StatusError(grpc.status.INVALID_ARGUMENT, violation);
}

export interface KvServiceOptions {
  store: RaftStore;
  logger: Logger;
  /** Metrics registry (the store's). */
  registry?: Registry;
  /** The transactional commands; without them the Kv* methods answer UNIMPLEMENTED. */
  txn?: TxnCommands;
}

type CmdOutcome = { ok: true; response: raft_cmdpb.RaftCmdResponse; snapshot?: EngineSnapshot } | { ok: false; regionError: errorpb.Error };

/** What a request runs under: the unary call's, or one request's of a BatchCommands stream. */
export interface KvRequestScope {
  /** Epoch ms by which the request must be done; already capped by the proposal timeout (`capDeadline`). */
  deadline: number;
  /** Fires if the caller goes away (call or stream cancelled). */
  signal: AbortSignal;
}

/** The raw methods, by their gRPC names (the `method` label of the metrics). */
export type KvMethod =
  | "RawGet"
  | "RawBatchGet"
  | "RawPut"
  | "RawBatchPut"
  | "RawDelete"
  | "RawBatchDelete"
  | "RawDeleteRange"
  | "RawScan"
  | "RawCompareAndSwap"
  | TxnMethod;

/** The transactional methods, by their gRPC names. */
export type TxnMethod =
  | "KvGet"
  | "KvScan"
  | "KvBatchGet"
  | "KvPrewrite"
  | "KvCommit"
  | "KvBatchRollback"
  | "KvCheckTxnStatus"
  | "KvResolveLock"
  | "KvTxnHeartBeat"
  | "KvScanLock"
  | "KvGC"
  | "KvCheckSecondaryLocks";

/** How one request ended: its response (which may carry a region error), or the gRPC status it failed with. */
export type KvOutcome<Res> = { ok: true; response: Res } | { ok: false; code: grpc.status; message: string };

const noRegionError = { regionError: undefined, error: "" };

export class KvService {
  private readonly store: RaftStore;
  private readonly log: Logger;
  private readonly requests: Counter<"method" | "result">;
  private readonly latency: Histogram<"method">;
  private readonly batchMetrics: BatchCommandsMetrics;
  private readonly txn: TxnCommands | undefined;

  constructor(opts: KvServiceOptions) {
    this.store = opts.store;
    this.txn = opts.txn;
    this.log = opts.logger;
    const registers = opts.registry ? [opts.registry] : [];
    this.requests = new Counter({
      name: "regionkv_kv_requests_total",
      help: "KV API requests by method and result (ok, region_error, or a gRPC status name)",
      labelNames: ["method", "result"],
      registers,
    });
    this.latency = new Histogram({
      name: "regionkv_kv_request_seconds",
      help: "KV API request latency by method",
      labelNames: ["method"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.batchMetrics = new BatchCommandsMetrics(registers);
  }

  // ------------------------------------------------------------------------------------------
  // Raw API

  async rawGet(req: kvrpcpb.RawGetRequest, scope: KvRequestScope): Promise<kvrpcpb.RawGetResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkKey(req.key));
    const out = await this.run(req.context, [{ cmdType: raft_cmdpb.CmdType.Get, get: { cf: req.cf, key: req.key } }], scope);
    if (!out.ok) return { regionError: out.regionError, error: "", value: Buffer.alloc(0), notFound: false };
    const r = out.response.responses[0];
    if (!r || isAbsent(r)) return { ...noRegionError, value: Buffer.alloc(0), notFound: true };
    return { ...noRegionError, value: r.get!.value, notFound: false };
  }

  async rawBatchGet(req: kvrpcpb.RawBatchGetRequest, scope: KvRequestScope): Promise<kvrpcpb.RawBatchGetResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkBatch(req.keys.length, req.keys.reduce((n, k) => n + k.byteLength, 0)));
    for (const k of req.keys) invalid(checkKey(k));
    const out = await this.run(
      req.context,
      req.keys.map((key) => ({ cmdType: raft_cmdpb.CmdType.Get, get: { cf: req.cf, key } })),
      scope,
    );
    if (!out.ok) return { regionError: out.regionError, error: "", pairs: [] };
    const pairs: kvrpcpb.KvPair[] = [];
    out.response.responses.forEach((r, i) => {
      if (!isAbsent(r)) pairs.push({ error: undefined, key: req.keys[i]!, value: r.get!.value });
    });
    return { ...noRegionError, pairs };
  }

  async rawPut(req: kvrpcpb.RawPutRequest, scope: KvRequestScope): Promise<kvrpcpb.RawPutResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkTtl(req.ttl));
    invalid(checkKey(req.key));
    invalid(checkValue(req.value));
    const out = await this.run(req.context, [{ cmdType: raft_cmdpb.CmdType.Put, put: { cf: req.cf, key: req.key, value: req.value } }], scope);
    return out.ok ? { ...noRegionError } : { regionError: out.regionError, error: "" };
  }

  async rawBatchPut(req: kvrpcpb.RawBatchPutRequest, scope: KvRequestScope): Promise<kvrpcpb.RawBatchPutResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkBatch(req.pairs.length, req.pairs.reduce((n, p) => n + p.key.byteLength + p.value.byteLength, 0)));
    for (const p of req.pairs) {
      invalid(checkKey(p.key));
      invalid(checkValue(p.value));
    }
    const out = await this.run(
      req.context,
      req.pairs.map((p) => ({ cmdType: raft_cmdpb.CmdType.Put, put: { cf: req.cf, key: p.key, value: p.value } })),
      scope,
    );
    return out.ok ? { ...noRegionError } : { regionError: out.regionError, error: "" };
  }

  async rawDelete(req: kvrpcpb.RawDeleteRequest, scope: KvRequestScope): Promise<kvrpcpb.RawDeleteResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkKey(req.key));
    const out = await this.run(req.context, [{ cmdType: raft_cmdpb.CmdType.Delete, delete: { cf: req.cf, key: req.key } }], scope);
    return out.ok ? { ...noRegionError } : { regionError: out.regionError, error: "" };
  }

  async rawBatchDelete(req: kvrpcpb.RawBatchDeleteRequest, scope: KvRequestScope): Promise<kvrpcpb.RawBatchDeleteResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkBatch(req.keys.length, req.keys.reduce((n, k) => n + k.byteLength, 0)));
    for (const k of req.keys) invalid(checkKey(k));
    const out = await this.run(
      req.context,
      req.keys.map((key) => ({ cmdType: raft_cmdpb.CmdType.Delete, delete: { cf: req.cf, key } })),
      scope,
    );
    return out.ok ? { ...noRegionError } : { regionError: out.regionError, error: "" };
  }

  async rawDeleteRange(req: kvrpcpb.RawDeleteRangeRequest, scope: KvRequestScope): Promise<kvrpcpb.RawDeleteRangeResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkRange(req.startKey, req.endKey, "delete-range"));
    const out = await this.run(
      req.context,
      [{ cmdType: raft_cmdpb.CmdType.DeleteRange, deleteRange: { cf: req.cf, startKey: req.startKey, endKey: req.endKey } }],
      scope,
    );
    return out.ok ? { ...noRegionError } : { regionError: out.regionError, error: "" };
  }

  async rawScan(req: kvrpcpb.RawScanRequest, scope: KvRequestScope): Promise<kvrpcpb.RawScanResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkScanLimit(req.limit));
    // Forward: [start_key, end_key). Reverse: [end_key, start_key), descending.
    const [lo, hi] = req.reverse ? [req.endKey, req.startKey] : [req.startKey, req.endKey];
    invalid(checkRange(lo, hi, "scan"));
    const out = await this.run(req.context, [{ cmdType: raft_cmdpb.CmdType.Snap, snap: {} }], scope);
    if (!out.ok) return { regionError: out.regionError, error: "", kvs: [] };
    const snap = out.snapshot;
    try {
      if (req.limit === 0) return { ...noRegionError, kvs: [] };
      const region = out.response.responses[0]?.snap?.region;
      if (!snap || !region) throw new StatusError(grpc.status.INTERNAL, "the store answered a scan without a snapshot");
      // Clamped to the region: the snapshot holds other regions' keys too.
      const range = clampToRegion(lo, hi, region);
      if (!range) return { ...noRegionError, kvs: [] };
      const rows = snap.scan("default", range.start, range.end, { limit: Math.min(req.limit, MAX_SCAN_LIMIT), reverse: req.reverse });
      return {
        ...noRegionError,
        kvs: rows.map((r) => ({ error: undefined, key: r.key, value: req.keyOnly ? Buffer.alloc(0) : r.value })),
      };
    } finally {
      snap?.release();
    }
  }

  async rawCompareAndSwap(req: kvrpcpb.RawCASRequest, scope: KvRequestScope): Promise<kvrpcpb.RawCASResponse> {
    invalid(checkRawCf(req.cf));
    invalid(checkTtl(req.ttl));
    invalid(checkKey(req.key));
    invalid(checkValue(req.value));
    if (!req.previousNotExist) invalid(checkValue(req.previousValue));
    const out = await this.run(
      req.context,
      [
        {
          cmdType: raft_cmdpb.CmdType.CompareAndSwap,
          compareAndSwap: {
            cf: req.cf,
            key: req.key,
            value: req.value,
            previousNotExist: req.previousNotExist,
            previousValue: req.previousValue,
            delete: req.delete,
          },
        },
      ],
      scope,
    );
    if (!out.ok) return { regionError: out.regionError, error: "", succeed: false, previousNotExist: false, previousValue: Buffer.alloc(0) };
    const c = out.response.responses[0]?.compareAndSwap;
    if (!c) throw new StatusError(grpc.status.INTERNAL, "the store answered a compare-and-swap without its result");
    return { ...noRegionError, succeed: c.succeed, previousNotExist: c.previousNotExist, previousValue: c.previousValue };
  }

  // ------------------------------------------------------------------------------------------
  // Transactional API (validated here, run by TxnCommands)

  async kvGet(req: kvrpcpb.GetRequest, scope: KvRequestScope): Promise<kvrpcpb.GetResponse> {
    invalid(checkContext(req.context));
    invalid(checkKey(req.key));
    return this.txnRun("KvGet", (t) => t.get(req, scope));
  }

  async kvBatchGet(req: kvrpcpb.BatchGetRequest, scope: KvRequestScope): Promise<kvrpcpb.BatchGetResponse> {
    invalid(checkContext(req.context));
    invalid(checkBatch(req.keys.length, req.keys.reduce((n, k) => n + k.byteLength, 0)));
    for (const k of req.keys) invalid(checkKey(k));
    return this.txnRun("KvBatchGet", (t) => t.batchGet(req, scope));
  }

  async kvScan(req: kvrpcpb.ScanRequest, scope: KvRequestScope): Promise<kvrpcpb.ScanResponse> {
    invalid(checkContext(req.context));
    invalid(checkScanLimit(req.limit));
    const [lo, hi] = req.reverse ? [req.endKey, req.startKey] : [req.startKey, req.endKey];
    invalid(checkRange(lo, hi, "scan"));
    return this.txnRun("KvScan", (t) => t.scan(req, scope));
  }

  async kvPrewrite(req: kvrpcpb.PrewriteRequest, scope: KvRequestScope): Promise<kvrpcpb.PrewriteResponse> {
    invalid(checkContext(req.context));
    invalid(checkTs(req.startVersion, "start_version"));
    invalid(checkBatch(req.mutations.length, req.mutations.reduce((n, m) => n + m.key.byteLength + m.value.byteLength, 0)));
    for (const m of req.mutations) {
      invalid(checkKey(m.key));
      invalid(checkValue(m.value));
      invalid(checkMutationOp(m.op));
    }
    invalid(checkKey(req.primaryLock, "primary_lock"));
    invalid(checkLockTtl(req.lockTtl));
    if (req.secondaries.length > 0) {
      invalid(checkBatch(req.secondaries.length, req.secondaries.reduce((n, k) => n + k.byteLength, 0)));
      for (const k of req.secondaries) invalid(checkKey(k, "secondary key"));
    }
    return this.txnRun("KvPrewrite", (t) => t.prewrite(req, scope));
  }

  async kvCommit(req: kvrpcpb.CommitRequest, scope: KvRequestScope): Promise<kvrpcpb.CommitResponse> {
    invalid(checkContext(req.context));
    invalid(checkTs(req.startVersion, "start_version"));
    invalid(checkTs(req.commitVersion, "commit_version"));
    invalid(checkKeys(req.keys));
    return this.txnRun("KvCommit", (t) => t.commit(req, scope));
  }

  async kvBatchRollback(req: kvrpcpb.BatchRollbackRequest, scope: KvRequestScope): Promise<kvrpcpb.BatchRollbackResponse> {
    invalid(checkContext(req.context));
    invalid(checkTs(req.startVersion, "start_version"));
    invalid(checkKeys(req.keys));
    return this.txnRun("KvBatchRollback", (t) => t.batchRollback(req, scope));
  }

  async kvCheckTxnStatus(req: kvrpcpb.CheckTxnStatusRequest, scope: KvRequestScope): Promise<kvrpcpb.CheckTxnStatusResponse> {
    invalid(checkContext(req.context));
    invalid(checkKey(req.primaryKey, "primary_key"));
    invalid(checkTs(req.lockTs, "lock_ts"));
    return this.txnRun("KvCheckTxnStatus", (t) => t.checkTxnStatus(req, scope));
  }

  async kvCheckSecondaryLocks(req: kvrpcpb.CheckSecondaryLocksRequest, scope: KvRequestScope): Promise<kvrpcpb.CheckSecondaryLocksResponse> {
    invalid(checkContext(req.context));
    invalid(checkTs(req.startVersion, "start_version"));
    invalid(checkKeys(req.keys));
    return this.txnRun("KvCheckSecondaryLocks", (t) => t.checkSecondaryLocks(req, scope));
  }

  async kvResolveLock(req: kvrpcpb.ResolveLockRequest, scope: KvRequestScope): Promise<kvrpcpb.ResolveLockResponse> {
    invalid(checkContext(req.context));
    invalid(checkTs(req.startVersion, "start_version"));
    if (req.commitVersion !== 0n && req.commitVersion <= req.startVersion) invalid(`commit_version ${req.commitVersion} must be above start_version ${req.startVersion} (or 0 to roll back)`);
    if (req.keys.length > 0) invalid(checkKeys(req.keys));
    return this.txnRun("KvResolveLock", (t) => t.resolveLock(req, scope));
  }

  async kvTxnHeartBeat(req: kvrpcpb.TxnHeartBeatRequest, scope: KvRequestScope): Promise<kvrpcpb.TxnHeartBeatResponse> {
    invalid(checkContext(req.context));
    invalid(checkKey(req.primaryLock, "primary_lock"));
    invalid(checkTs(req.startVersion, "start_version"));
    invalid(checkLockTtl(req.adviseLockTtl));
    return this.txnRun("KvTxnHeartBeat", (t) => t.txnHeartBeat(req, scope));
  }

  async kvScanLock(req: kvrpcpb.ScanLockRequest, scope: KvRequestScope): Promise<kvrpcpb.ScanLockResponse> {
    invalid(checkContext(req.context));
    invalid(checkScanLimit(req.limit));
    invalid(checkRange(req.startKey, req.endKey, "scan-lock"));
    return this.txnRun("KvScanLock", (t) => t.scanLock(req, scope));
  }

  async kvGc(req: kvrpcpb.GCRequest, scope: KvRequestScope): Promise<kvrpcpb.GCResponse> {
    invalid(checkContext(req.context));
    invalid(checkTs(req.safePoint, "safe_point"));
    return this.txnRun("KvGC", async (t) => {
      const r = await t.gc(req, scope);
      return { regionError: r.regionError, error: r.error };
    });
  }

  /** Run a transactional command; storage failures become gRPC statuses. */
  private async txnRun<Res>(method: TxnMethod, fn: (t: TxnCommands) => Promise<Res>): Promise<Res> {
    const txn = this.txn;
    if (!txn) throw new StatusError(grpc.status.UNIMPLEMENTED, `${method}: this store was started without the transactional API`);
    try {
      return await fn(txn);
    } catch (e) {
      if (e instanceof TxnStorageError) {
        const code = e.kind === "Timeout" ? grpc.status.DEADLINE_EXCEEDED : e.kind === "Aborted" ? grpc.status.CANCELLED : grpc.status.INVALID_ARGUMENT;
        throw new StatusError(code, `${method}: ${e.message}`);
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------------

  /**
   * Propose `requests` on the region named by `ctx`. Region errors come back as values; anything
   * else that is not a success throws a StatusError.
   */
  private async run(ctx: kvrpcpb.Context | undefined, requests: raft_cmdpb.Request[], scope: KvRequestScope): Promise<CmdOutcome> {
    if (!ctx || ctx.regionId === 0n) throw new StatusError(grpc.status.INVALID_ARGUMENT, "context.region_id is missing: route the request with the region from the scheduler");
    const header: raft_cmdpb.RaftRequestHeader = {
      regionId: ctx.regionId,
      peer: ctx.peer,
      readQuorum: false,
      regionEpoch: ctx.regionEpoch,
      term: ctx.term,
      uuid: Buffer.alloc(0),
    };
    const result = await this.store.propose({ header, requests, adminRequest: undefined }, { deadline: scope.deadline, signal: scope.signal });
    if (result.ok) {
      const err = result.response.header?.error;
      if (err) {
        result.snapshot?.release();
        return { ok: false, regionError: err };
      }
      return result.snapshot ? { ok: true, response: result.response, snapshot: result.snapshot } : { ok: true, response: result.response };
    }
    return this.failure(result.error, ctx);
  }

  private failure(e: ProposalFailure, ctx: kvrpcpb.Context): CmdOutcome {
    switch (e.kind) {
      case "Timeout":
        throw new StatusError(grpc.status.DEADLINE_EXCEEDED, `region ${ctx.regionId}: ${e.message}; the write may or may not have been applied`);
      case "Aborted":
        throw new StatusError(grpc.status.CANCELLED, `region ${ctx.regionId}: ${e.message}`);
      case "InvalidRequest":
        throw new StatusError(grpc.status.INVALID_ARGUMENT, `region ${ctx.regionId}: ${e.message}`);
      default:
        this.log.debug({ regionId: String(ctx.regionId), err: describeRegionError(e) }, "region error");
        return { ok: false, regionError: regionErrorToPb(e) };
    }
  }

  /**
   * A request's deadline in epoch ms (`undefined` or infinite: none), capped by the store's
   * proposal timeout.
   */
  capDeadline(deadline: number | undefined): number {
    const cap = Date.now() + this.store.cfg.proposalTimeoutMs;
    return deadline !== undefined && Number.isFinite(deadline) ? Math.min(deadline, cap) : cap;
  }

  /**
   * Run one request of `method` and report how it ended, never rejecting: a StatusError becomes
   * its status, anything else INTERNAL (logged). Counted in regionkv_kv_requests_total (by method
   * and result) and timed in regionkv_kv_request_seconds, whether it came unary or in a batch.
   */
  async handle<Res extends { regionError?: errorpb.Error | undefined }>(method: KvMethod, fn: () => Promise<Res>): Promise<KvOutcome<Res>> {
    const end = this.latency.startTimer({ method });
    let outcome: KvOutcome<Res>;
    try {
      const response = await fn();
      this.requests.inc({ method, result: response.regionError ? "region_error" : "ok" });
      outcome = { ok: true, response };
    } catch (err) {
      if (err instanceof StatusError) {
        this.requests.inc({ method, result: grpc.status[err.code] ?? String(err.code) });
        outcome = { ok: false, code: err.code, message: err.message };
      } else {
        this.requests.inc({ method, result: "INTERNAL" });
        this.log.error({ err, method }, "KV request failed unexpectedly");
        outcome = { ok: false, code: grpc.status.INTERNAL, message: `${method} failed inside the store: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    end();
    return outcome;
  }

  // ------------------------------------------------------------------------------------------

  /** The grpc-js service implementation. */
  service(): regionkvpb.KvServer {
    return {
      rawGet: this.unary("RawGet", (r, c) => this.rawGet(r, c)),
      rawBatchGet: this.unary("RawBatchGet", (r, c) => this.rawBatchGet(r, c)),
      rawPut: this.unary("RawPut", (r, c) => this.rawPut(r, c)),
      rawBatchPut: this.unary("RawBatchPut", (r, c) => this.rawBatchPut(r, c)),
      rawDelete: this.unary("RawDelete", (r, c) => this.rawDelete(r, c)),
      rawBatchDelete: this.unary("RawBatchDelete", (r, c) => this.rawBatchDelete(r, c)),
      rawDeleteRange: this.unary("RawDeleteRange", (r, c) => this.rawDeleteRange(r, c)),
      rawScan: this.unary("RawScan", (r, c) => this.rawScan(r, c)),
      rawCompareAndSwap: this.unary("RawCompareAndSwap", (r, c) => this.rawCompareAndSwap(r, c)),
      batchCommands: batchCommandsHandler(this, { logger: this.log, metrics: this.batchMetrics }),
      kvGet: this.unary("KvGet", (r, c) => this.kvGet(r, c)),
      kvScan: this.unary("KvScan", (r, c) => this.kvScan(r, c)),
      kvBatchGet: this.unary("KvBatchGet", (r, c) => this.kvBatchGet(r, c)),
      kvPrewrite: this.unary("KvPrewrite", (r, c) => this.kvPrewrite(r, c)),
      kvCommit: this.unary("KvCommit", (r, c) => this.kvCommit(r, c)),
      kvBatchRollback: this.unary("KvBatchRollback", (r, c) => this.kvBatchRollback(r, c)),
      kvCheckTxnStatus: this.unary("KvCheckTxnStatus", (r, c) => this.kvCheckTxnStatus(r, c)),
      kvResolveLock: this.unary("KvResolveLock", (r, c) => this.kvResolveLock(r, c)),
      kvTxnHeartBeat: this.unary("KvTxnHeartBeat", (r, c) => this.kvTxnHeartBeat(r, c)),
      kvScanLock: this.unary("KvScanLock", (r, c) => this.kvScanLock(r, c)),
      kvGc: this.unary("KvGC", (r, c) => this.kvGc(r, c)),
      kvCheckSecondaryLocks: this.unary("KvCheckSecondaryLocks", (r, c) => this.kvCheckSecondaryLocks(r, c)),
    };
  }

  private unary<Req, Res extends { regionError?: errorpb.Error | undefined }>(
    method: KvMethod,
    fn: (req: Req, scope: KvRequestScope) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const ac = new AbortController();
      call.once("cancelled", () => ac.abort());
      const d = call.getDeadline();
      const scope: KvRequestScope = { deadline: this.capDeadline(d instanceof Date ? d.getTime() : d), signal: ac.signal };
      void this.handle(method, () => fn(call.request, scope)).then((o) => (o.ok ? callback(null, o.response) : callback({ code: o.code, details: o.message })));
    };
  }
}

/** Whether a Get response says the key is absent. */
function isAbsent(r: raft_cmdpb.Response): boolean {
  return r.get === undefined || r.get.notFound;
}
