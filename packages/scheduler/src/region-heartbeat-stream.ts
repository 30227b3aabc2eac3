/**
 * The server side of the `RegionHeartbeat` bidi stream. Responses are not one-to-one with
 * requests: the scheduler speaks only when it has something to say.
 *
 *   RegionHeartbeatRequest → header check → coordinator.onRegionHeartbeat (core: staleness, region
 *   tree; replica checker; operator controller) → the operator's current step, if any, is sent
 *   back (re-sent on every heartbeat until a heartbeat shows it done)
 *
 * - accepted with no operator step to deliver, or stale (logged at debug): nothing is sent;
 * - the stream becomes its leader store's stream: operators created between heartbeats (by the
 *   schedulers, or manual ones) are pushed on it at once;
 * - a cluster id mismatch or another scheduler error (not bootstrapped, invalid region): a response
 *   carrying only the error header, `region_id` and `target_peer`; the stream stays open;
 * - a malformed request (no header, region or leader): the stream ends with INVALID_ARGUMENT.
 */
import type { handleBidiStreamingCall, ServerDuplexStream } from "@grpc/grpc-js";
import { schedulerpb } from "@regionkv/proto";
import type { SchedulerError } from "./errors.js";
import { classifyFailure, type ServiceContext } from "./service-context.js";
import { checkRequestHeader, errorHeader, okHeader, required } from "./service-header.js";

export function regionHeartbeatStreamHandler(
  ctx: ServiceContext,
): handleBidiStreamingCall<schedulerpb.RegionHeartbeatRequest, schedulerpb.RegionHeartbeatResponse> {
  return (call) => {
    ctx.streams.add(call);
    const forget = (): void => {
      for (const [storeId, c] of ctx.storeStreams) if (c === call) ctx.storeStreams.delete(storeId);
    };
    call.once("close", forget);
    call.once("cancelled", forget);
    ctx.log.debug({ peer: call.getPeer() }, "region heartbeat stream opened");
    call.on("data", (req: schedulerpb.RegionHeartbeatRequest) => onRegionHeartbeat(ctx, call, req));
    call.on("end", () => {
      if (call.writable) call.end();
    });
    call.on("error", (e: unknown) => ctx.log.debug({ err: e instanceof Error ? e.message : String(e) }, "region heartbeat stream failed"));
  };
}

function onRegionHeartbeat(
  ctx: ServiceContext,
  call: ServerDuplexStream<schedulerpb.RegionHeartbeatRequest, schedulerpb.RegionHeartbeatResponse>,
  req: schedulerpb.RegionHeartbeatRequest,
): void {
  if (!call.writable) return;
  let error: SchedulerError | undefined;
  try {
    checkRequestHeader("RegionHeartbeat", req.header, ctx.clusterId);
    const region = required(req.region, "RegionHeartbeatRequest.region");
    const leader = required(req.leader, `RegionHeartbeatRequest.leader (region ${region.id})`);
    ctx.storeStreams.set(leader.storeId, call);
    const result = ctx.coordinator.onRegionHeartbeat(req);
    if (result.ok) {
      const resp = result.value.response;
      ctx.log.debug({ regionId: String(region.id), leaderStoreId: String(leader.storeId), changed: result.value.changed, step: resp !== undefined }, "region heartbeat");
      if (resp) call.write({ ...resp, header: okHeader(ctx.clusterId) });
      return;
    }
    if (result.error.code === "StaleEpoch") {
      ctx.log.debug({ regionId: String(region.id), err: result.error.message }, "stale region heartbeat ignored");
      return;
    }
    error = result.error;
  } catch (e) {
    const failure = classifyFailure(ctx, "RegionHeartbeat", e);
    if (failure.kind === "status") {
      call.emit("error", failure.status);
      return;
    }
    error = failure.error;
  }
  ctx.log.debug({ regionId: String(req.region?.id ?? 0n), code: error.code, err: error.message }, "region heartbeat rejected");
  call.write(
    schedulerpb.RegionHeartbeatResponse.fromPartial({
      header: errorHeader(ctx.clusterId, error),
      regionId: req.region?.id ?? 0n,
      targetPeer: req.leader,
    }),
  );
}
