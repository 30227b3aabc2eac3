/**
 * The scheduler's gRPC service (`schedulerpb.Scheduler`) over `SchedulerCore`.
 *
 * Every unary call: header check (present, cluster_id = ours; not for GetMembers and Bootstrap)
 * → required fields → core operation → response with an OK header. Failures: a `SchedulerError`
 * is answered in `ResponseHeader.error`, a missing required field with gRPC INVALID_ARGUMENT
 * naming it, a bug with INTERNAL (logged); no input stops the process.
 *
 * Not implemented yet, answered with gRPC UNIMPLEMENTED: ReportBatchSplit, GetClusterConfig,
 * PutClusterConfig, ScatterRegion (region heartbeats already carry what ReportBatchSplit would).
 * GetOperator answers with the region's running operator, else its last finished one.
 */
import { status, type handleUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { schedulerpb } from "@regionkv/proto";
import { SchedulerError } from "./errors.js";
import { regionHeartbeatStreamHandler } from "./region-heartbeat-stream.js";
import type { RegionInfo } from "./region-tree.js";
import { GcSafePointError, type SchedulerCore } from "./scheduler.js";
import { classifyFailure, OpenStreams, type ServiceContext } from "./service-context.js";
import { MalformedRequest, checkRequestHeader, errorHeader, okHeader, required } from "./service-header.js";
import { allocSplitIds } from "./split-ids.js";
import { tsoStreamHandler } from "./tso-stream.js";
import { Coordinator, type ManualOperator } from "./schedule/coordinator.js";
import type { Operator } from "./schedule/operator.js";
import type { SchedulerConfig } from "./schedule/config.js";
import type { OpStatus } from "./schedule/operator.js";

export interface SchedulerServiceOptions {
  core: SchedulerCore;
  logger: Logger;
  /** This scheduler as GetMembers reports it; called per request (the address is known only after bind). */
  member: () => schedulerpb.Member;
  /** The coordinator region heartbeats go through; default a new one over `core` with `config` (not started). */
  coordinator?: Coordinator;
  /** Scheduling settings for the default coordinator. */
  config?: Partial<SchedulerConfig>;
}

export interface SchedulerServiceHandle {
  /** The handlers, for `grpc.Server.addService(SchedulerService, implementation)`. */
  implementation: schedulerpb.SchedulerServer;
  /** End every open Tso / RegionHeartbeat stream with status OK (before a shutdown). */
  endStreams(): void;
  /** Number of open bidi streams. */
  openStreams(): number;
  readonly coordinator: Coordinator;
}

type Request = { header?: schedulerpb.RequestHeader | undefined };
type Response = { header?: schedulerpb.ResponseHeader | undefined };

export function createSchedulerService(opts: SchedulerServiceOptions): SchedulerServiceHandle {
  const { core } = opts;
  const coordinator = opts.coordinator ?? new Coordinator({ core, config: opts.config, log: opts.logger });
  const ctx: ServiceContext = { core, coordinator, clusterId: core.clusterId, log: opts.logger, streams: new OpenStreams(), storeStreams: new Map() };
  coordinator.setSink({
    send: (storeId, resp) => {
      const call = ctx.storeStreams.get(storeId);
      if (!call?.writable) return false;
      call.write({ ...resp, header: okHeader(ctx.clusterId) });
      return true;
    },
  });
  const ok = (): schedulerpb.ResponseHeader => okHeader(ctx.clusterId);

  /**
   * A unary handler: `run` builds the successful response; a thrown failure is classified
   * (header error in an otherwise empty `codec` response, or a gRPC status).
   */
  function unary<Req extends Request, Res extends Response>(
    method: string,
    codec: schedulerpb.MessageFns<Res>,
    run: (req: Req) => Res,
    checkCluster = true,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let res: Res;
      try {
        if (checkCluster) checkRequestHeader(method, call.request.header, ctx.clusterId);
        res = run(call.request);
      } catch (e) {
        const failure = classifyFailure(ctx, method, e);
        if (failure.kind === "status") {
          callback(failure.status, null);
          return;
        }
        res = { ...codec.create(), header: errorHeader(ctx.clusterId, failure.error) };
      }
      callback(null, res);
    };
  }

  function unimplemented(method: string, why: string): handleUnaryCall<unknown, never> {
    return (_call, callback) => {
      ctx.log.debug({ method }, "unimplemented method called");
      callback({ code: status.UNIMPLEMENTED, details: `${method} is not implemented by this scheduler: ${why}` }, null);
    };
  }

  const regionResponse = (info: RegionInfo | undefined, notFound: string): schedulerpb.GetRegionResponse => {
    if (!info) throw new SchedulerError("RegionNotFound", notFound);
    return { header: ok(), region: info.region, leader: info.leader, downPeers: info.downPeers, pendingPeers: info.pendingPeers };
  };

  const implementation: schedulerpb.SchedulerServer = {
    getMembers: unary(
      "GetMembers",
      schedulerpb.GetMembersResponse,
      () => {
        const me = opts.member();
        return { header: ok(), members: [me], leader: me };
      },
      false,
    ),

    tso: tsoStreamHandler(ctx),

    bootstrap: unary(
      "Bootstrap",
      schedulerpb.BootstrapResponse,
      (req: schedulerpb.BootstrapRequest) => {
        const store = required(req.store, "BootstrapRequest.store");
        const region = required(req.region, "BootstrapRequest.region");
        core.bootstrap(store, region);
        ctx.log.info({ storeId: String(store.id), address: store.address, regionId: String(region.id) }, "cluster bootstrapped");
        return { header: ok() };
      },
      false,
    ),

    isBootstrapped: unary("IsBootstrapped", schedulerpb.IsBootstrappedResponse, () => ({ header: ok(), bootstrapped: core.isBootstrapped() })),

    allocId: unary("AllocID", schedulerpb.AllocIDResponse, () => ({ header: ok(), id: core.allocId() })),

    getStore: unary("GetStore", schedulerpb.GetStoreResponse, (req: schedulerpb.GetStoreRequest) => {
      const store = core.getStore(req.storeId);
      // The wire has no STORE_NOT_FOUND: an unknown store is answered with UNKNOWN (as PD does).
      if (!store) throw new SchedulerError("StoreNotFound", `store ${req.storeId} is unknown to the scheduler; it registers itself with PutStore when it starts`);
      return { header: ok(), store, stats: core.getStoreInfo(req.storeId)?.stats };
    }),

    putStore: unary("PutStore", schedulerpb.PutStoreResponse, (req: schedulerpb.PutStoreRequest) => {
      const store = required(req.store, "PutStoreRequest.store");
      const known = core.getStore(store.id) !== undefined;
      core.putStore(store);
      ctx.log.info({ storeId: String(store.id), address: store.address, state: store.state, known }, known ? "store updated" : "store registered");
      return { header: ok() };
    }),

    getAllStores: unary("GetAllStores", schedulerpb.GetAllStoresResponse, (req: schedulerpb.GetAllStoresRequest) => ({
      header: ok(),
      stores: core.getAllStores(req.excludeTombstoneStores),
    })),

    storeHeartbeat: unary("StoreHeartbeat", schedulerpb.StoreHeartbeatResponse, (req: schedulerpb.StoreHeartbeatRequest) => {
      core.storeHeartbeat(required(req.stats, "StoreHeartbeatRequest.stats"));
      return { header: ok() };
    }),

    regionHeartbeat: regionHeartbeatStreamHandler(ctx),

    getRegion: unary("GetRegion", schedulerpb.GetRegionResponse, (req: schedulerpb.GetRegionRequest) =>
      regionResponse(core.getRegion(req.regionKey), `no region contains key ${req.regionKey.toString("hex")} yet`),
    ),

    getPrevRegion: unary("GetPrevRegion", schedulerpb.GetRegionResponse, (req: schedulerpb.GetRegionRequest) =>
      regionResponse(core.getPrevRegion(req.regionKey), `no region before key ${req.regionKey.toString("hex")}`),
    ),

    getRegionById: unary("GetRegionByID", schedulerpb.GetRegionResponse, (req: schedulerpb.GetRegionByIDRequest) =>
      regionResponse(core.getRegionById(req.regionId), `region ${req.regionId} is unknown to the scheduler`),
    ),

    scanRegions: unary("ScanRegions", schedulerpb.ScanRegionsResponse, (req: schedulerpb.ScanRegionsRequest) => ({
      header: ok(),
      regions: core.scanRegions(req.startKey, req.endKey, req.limit).map((r) => ({
        region: r.region,
        leader: r.leader,
        downPeers: r.downPeers,
        pendingPeers: r.pendingPeers,
        approximateSize: r.approximateSize,
        approximateKeys: r.approximateKeys,
      })),
    })),

    askSplit: unary("AskSplit", schedulerpb.AskSplitResponse, (req: schedulerpb.AskSplitRequest) => {
      const [ids] = allocSplitIds(core, required(req.region, "AskSplitRequest.region"), 1);
      return { header: ok(), newRegionId: ids?.newRegionId ?? 0n, newPeerIds: ids?.newPeerIds ?? [] };
    }),

    askBatchSplit: unary("AskBatchSplit", schedulerpb.AskBatchSplitResponse, (req: schedulerpb.AskBatchSplitRequest) => {
      return { header: ok(), ids: allocSplitIds(core, required(req.region, "AskBatchSplitRequest.region"), req.splitCount) };
    }),

    reportBatchSplit: unimplemented("ReportBatchSplit", "the region tree learns splits from region heartbeats"),
    getClusterConfig: unimplemented("GetClusterConfig", "cluster settings arrive with the scheduling issue"),
    putClusterConfig: unimplemented("PutClusterConfig", "cluster settings arrive with the scheduling issue"),
    scatterRegion: unimplemented("ScatterRegion", "operators arrive with the scheduling issue"),
    getOperator: unary("GetOperator", schedulerpb.GetOperatorResponse, (req: schedulerpb.GetOperatorRequest) => {
      const op = coordinator.getOperator(req.regionId);
      if (!op) throw new SchedulerError("OperatorNotFound", `no operator is known for region ${req.regionId} (finished ones are kept for the last ${coordinator.config.operatorHistory})`);
      return { header: ok(), regionId: op.regionId, desc: op.describe(), status: wireStatus(op.status), kind: op.kind };
    }),

    addOperator: unary("AddOperator", schedulerpb.AddOperatorResponse, (req: schedulerpb.AddOperatorRequest) => {
      const op = required(req.op, "AddOperatorRequest.op");
      let manual: ManualOperator;
      switch (op.$case) {
        case "addPeerStoreId":
          manual = { kind: "add-peer", regionId: req.regionId, storeId: op.value };
          break;
        case "removePeerStoreId":
          manual = { kind: "remove-peer", regionId: req.regionId, storeId: op.value };
          break;
        case "transferLeaderStoreId":
          manual = { kind: "transfer-leader", regionId: req.regionId, storeId: op.value };
          break;
        case "split":
          manual = { kind: "split", regionId: req.regionId, keys: op.value.keys };
          break;
        default: {
          const never: never = op;
          throw new SchedulerError("InvalidArgument", `unknown operator ${JSON.stringify(never)}`);
        }
      }
      const r = coordinator.addManualOperator(manual);
      if (!r.ok) throw r.error;
      return { header: ok(), operator: operatorInfo(r.value) };
    }),

    listOperators: unary("ListOperators", schedulerpb.ListOperatorsResponse, (req: schedulerpb.ListOperatorsRequest) => {
      const finished = coordinator.operators.finishedOperators();
      return {
        header: ok(),
        running: coordinator.operators.runningOperators().map(operatorInfo),
        finished: req.finishedLimit === 0 ? [] : finished.slice(Math.max(0, finished.length - req.finishedLimit)).reverse().map(operatorInfo),
      };
    }),

    removeStore: unary("RemoveStore", schedulerpb.RemoveStoreResponse, (req: schedulerpb.RemoveStoreRequest) => {
      const r = coordinator.removeStore(req.storeId);
      if (!r.ok) throw r.error;
      return { header: ok(), store: r.value };
    }),

    getGcSafePoint: unary("GetGCSafePoint", schedulerpb.GetGCSafePointResponse, () => ({ header: ok(), safePoint: core.getGcSafePoint() })),

    updateGcSafePoint: unary("UpdateGCSafePoint", schedulerpb.UpdateGCSafePointResponse, (req: schedulerpb.UpdateGCSafePointRequest) => {
      const before = core.getGcSafePoint();
      let now: bigint;
      try {
        now = core.updateGcSafePoint(req.safePoint);
      } catch (e) {
        if (e instanceof GcSafePointError) throw new MalformedRequest(e.message);
        throw e;
      }
      if (now !== before) ctx.log.info({ safePoint: String(now) }, "GC safe point raised");
      return { header: ok(), newSafePoint: now };
    }),
  };

  return { implementation, endStreams: () => ctx.streams.endAll(), openStreams: () => ctx.streams.size, coordinator };
}

/** The wire has no CREATED or EXPIRED: a created operator is RUNNING, an expired one CANCEL. */
export function wireStatus(s: OpStatus): schedulerpb.OperatorStatus {
  switch (s) {
    case "CREATED":
    case "STARTED":
      return schedulerpb.OperatorStatus.RUNNING;
    case "SUCCESS":
      return schedulerpb.OperatorStatus.SUCCESS;
    case "TIMEOUT":
      return schedulerpb.OperatorStatus.TIMEOUT;
    case "CANCELED":
    case "EXPIRED":
      return schedulerpb.OperatorStatus.CANCEL;
    case "REPLACED":
      return schedulerpb.OperatorStatus.REPLACE;
    default: {
      const never: never = s;
      throw new Error(`unknown operator status ${String(never)}`);
    }
  }
}

/** An operator as the wire lists it. */
function operatorInfo(op: Operator): schedulerpb.OperatorInfo {
  return {
    regionId: op.regionId,
    kind: op.kind,
    desc: op.describe(),
    status: wireStatus(op.status),
    currentStep: op.currentStep,
    createdAtMs: BigInt(op.createdAtMs),
    finishedAtMs: BigInt(op.finishedAtMs),
    reason: op.reason,
  };
}
