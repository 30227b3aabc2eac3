/**
 * The server side of the `Tso` bidi stream: one response per request, in order.
 *
 *   TsoRequest{count} → header check → core.tso(count) → TsoResponse{count, timestamp = LAST of the range}
 *
 * A cluster id mismatch or a scheduler error is answered with a response carrying only the error
 * header, and the stream stays open; a malformed request (no header, count 0) ends the stream with
 * INVALID_ARGUMENT.
 */
import type { handleBidiStreamingCall, ServerDuplexStream } from "@grpc/grpc-js";
import type { schedulerpb } from "@regionkv/proto";
import { classifyFailure, type ServiceContext } from "./service-context.js";
import { checkRequestHeader, errorHeader, MalformedRequest, okHeader } from "./service-header.js";
import { tsToTimestamp } from "./tso.js";

export function tsoStreamHandler(ctx: ServiceContext): handleBidiStreamingCall<schedulerpb.TsoRequest, schedulerpb.TsoResponse> {
  return (call) => {
    ctx.streams.add(call);
    call.on("data", (req: schedulerpb.TsoRequest) => onTsoRequest(ctx, call, req));
    call.on("end", () => {
      if (call.writable) call.end();
    });
    call.on("error", (e: unknown) => ctx.log.debug({ err: e instanceof Error ? e.message : String(e) }, "tso stream failed"));
  };
}

function onTsoRequest(ctx: ServiceContext, call: ServerDuplexStream<schedulerpb.TsoRequest, schedulerpb.TsoResponse>, req: schedulerpb.TsoRequest): void {
  if (!call.writable) return;
  let resp: schedulerpb.TsoResponse;
  try {
    checkRequestHeader("Tso", req.header, ctx.clusterId);
    if (req.count < 1) throw new MalformedRequest("TsoRequest.count is required and must be >= 1");
    const last = ctx.core.tso(req.count);
    resp = { header: okHeader(ctx.clusterId), count: req.count, timestamp: tsToTimestamp(last) };
  } catch (e) {
    const failure = classifyFailure(ctx, "Tso", e);
    if (failure.kind === "status") {
      call.emit("error", failure.status);
      return;
    }
    resp = { header: errorHeader(ctx.clusterId, failure.error), count: 0, timestamp: undefined };
  }
  call.write(resp);
}
