/**
 * The receiving side of the raft transport: the `RaftTransport` gRPC service of a store.
 *
 * Raft stream: handshake (initial metadata naming this store) → for each RaftMessageBatch: decode,
 * check every message's envelope (message-check.ts), then hand them, in order, to
 * `handler.onRaftMessage` → Done when the sender half-closes.
 * Snapshot stream: a receive slot (at most `maxConcurrentSnapshotReceives`, else
 * RESOURCE_EXHAUSTED) → chunks into a SnapshotAssembly (bounded by `maxSnapshotBytes`; no chunk
 * for `snapshotRecvIdleTimeoutMs` → DEADLINE_EXCEEDED) → at the end, the whole MsgSnapshot to
 * `onRaftMessage` → Done (the sender reports success to its raft only then).
 *
 * Bad input never crashes the store: it is logged (with regionId and fromStore where known) and
 * the stream is ended with INVALID_ARGUMENT naming the problem; partial snapshot data is dropped.
 *
 * Register it with `rawRaftTransportService` so that decoding happens here:
 *   server.addService(rawRaftTransportService, raftTransportService(store, { storeId, metrics }));
 * With the generated `regionkvpb.RaftTransportService` it works too, but grpc-js then decodes
 * requests itself and answers undecodable ones with INTERNAL before this code sees them.
 */
import { Metadata, status as grpcStatus, type ServerReadableStream, type handleClientStreamingCall, type sendUnaryData } from "@grpc/grpc-js";
import { regionkvpb, type raft_serverpb } from "@regionkv/proto";
import pino, { type Logger } from "pino";
import type { Registry } from "prom-client";
import { resolveTransportConfig, type TransportConfig } from "./config.js";
import { checkRaftMessage, decodeBatch, decodeChunk, describeProblem, problemRegionId, type InputProblem, type Incoming } from "./message-check.js";
import { TransportMetrics, type RejectReason } from "./metrics.js";
import { SnapshotAssembly } from "./snapshot-assembly.js";
import { FROM_STORE_HEADER, STORE_ID_HEADER, TO_STORE_HEADER, headerValue } from "./transport-context.js";

/** What the service delivers to: the store's RaftStore. */
export interface RaftMessageHandler {
  /** A raft message from another store, addressed to this one; a MsgSnapshot arrives complete. */
  onRaftMessage(msg: raft_serverpb.RaftMessage): void;
}

export interface RaftTransportServiceOptions {
  /** This store: messages for any other store are refused. */
  storeId: bigint;
  config?: Partial<TransportConfig>;
  /** Registry for the service's metrics (the store's; may be the GrpcTransport's too). */
  registry?: Registry;
  /** Or the metrics object itself (wins over `registry`). */
  metrics?: TransportMetrics;
  logger?: Logger;
}

/**
 * The generated `RaftTransportService` with request decoding left to the handler (requests
 * arrive as Buffers), so that undecodable input is logged and answered with INVALID_ARGUMENT.
 */
export const rawRaftTransportService = {
  raft: { ...regionkvpb.RaftTransportService.raft, requestDeserialize: (b: Buffer): Buffer => b },
  snapshot: { ...regionkvpb.RaftTransportService.snapshot, requestDeserialize: (b: Buffer): Buffer => b },
} as const;

/**
 * The service's handlers. Requests are Buffers under `rawRaftTransportService` and decoded
 * messages under the generated definition; both are handled. (A type alias, not an interface, so
 * that it fits grpc-js's `UntypedServiceImplementation` and the generated `RaftTransportServer`.)
 */
export type RaftTransportImplementation = {
  raft: handleClientStreamingCall<Incoming<raft_serverpb.RaftMessageBatch>, raft_serverpb.Done>;
  snapshot: handleClientStreamingCall<Incoming<raft_serverpb.SnapshotChunk>, raft_serverpb.Done>;
};

/** How a stream ends with an error: the gRPC status, the metric reason and the details. */
interface Rejection {
  code: grpcStatus;
  reason: RejectReason;
  details: string;
  regionId?: bigint;
}

function rejectionOf(p: InputProblem): Rejection {
  return { code: grpcStatus.INVALID_ARGUMENT, reason: p.kind, details: describeProblem(p), regionId: problemRegionId(p) };
}

/**
 * The service implementation delivering to `handler` (the RaftStore). Options and handler may also
 * come as one object: `raftTransportService({ storeId, onRaftMessage: (m) => store.onRaftMessage(m) })`.
 */
export function raftTransportService(opts: RaftTransportServiceOptions & RaftMessageHandler): RaftTransportImplementation;
export function raftTransportService(handler: RaftMessageHandler, opts: RaftTransportServiceOptions): RaftTransportImplementation;
export function raftTransportService(handler: RaftMessageHandler, options?: RaftTransportServiceOptions): RaftTransportImplementation {
  const opts = options ?? (handler as RaftTransportServiceOptions & RaftMessageHandler);
  const cfg = resolveTransportConfig(opts.config);
  const metrics = opts.metrics ?? new TransportMetrics(opts.registry);
  const baseLog = (opts.logger ?? pino({ level: "warn" })).child({ component: "transport", storeId: String(opts.storeId) });
  const myStore = opts.storeId;
  let receiving = 0;

  /**
   * One incoming stream's lifetime: the answer is given once (Done or an error), after which
   * further input is ignored.
   */
  function streamScope(stream: "raft" | "snapshot", call: ServerReadableStream<unknown, raft_serverpb.Done>, callback: sendUnaryData<raft_serverpb.Done>) {
    const fromStore = headerValue(call.metadata, FROM_STORE_HEADER);
    const log = baseLog.child({ stream, fromStore, peer: call.getPeer() });
    let over = false;
    const scope = {
      log,
      fromStore,
      get over(): boolean {
        return over;
      },
      /** End with Done. */
      done(): boolean {
        if (over) return false;
        over = true;
        callback(null, {});
        return true;
      },
      /** End with an error, logged. */
      reject(r: Rejection): void {
        if (over) return;
        over = true;
        metrics.streamsRejected.inc({ stream, reason: r.reason });
        const fields = { regionId: r.regionId === undefined ? undefined : String(r.regionId), fromStore, code: grpcStatus[r.code], reason: r.reason };
        if (r.reason === "busy") log.info(fields, r.details);
        else log.warn(fields, `refused ${stream} stream: ${r.details}`);
        callback({ code: r.code, details: r.details, metadata: new Metadata() });
      },
      /** The sender went away (cancelled, connection lost). */
      abandon(): void {
        over = true;
      },
    };
    call.on("cancelled", () => scope.abandon());
    call.on("error", (e: Error) => {
      log.debug({ err: e.message }, "incoming stream error");
      scope.abandon();
    });
    return scope;
  }

  /** A store addressed by the sender's header that is not this one: refuse before reading anything. */
  function misaddressedStream(call: ServerReadableStream<unknown, raft_serverpb.Done>): Rejection | undefined {
    const to = headerValue(call.metadata, TO_STORE_HEADER);
    if (to === undefined || to === String(myStore)) return undefined;
    return {
      code: grpcStatus.INVALID_ARGUMENT,
      reason: "misaddressed",
      details: `stream for store ${to} reached store ${myStore}; the sender should re-resolve the address`,
    };
  }

  /** Hand one message to the raftstore; a throw is a bug there, reported as INTERNAL, never a crash. */
  function deliver(msg: raft_serverpb.RaftMessage): Rejection | undefined {
    try {
      handler.onRaftMessage(msg);
      metrics.messagesReceived.inc();
      return undefined;
    } catch (e) {
      return {
        code: grpcStatus.INTERNAL,
        reason: "handler_failed",
        details: `store ${myStore} failed to take a raft message for region ${msg.regionId}: ${e instanceof Error ? e.message : String(e)}`,
        regionId: msg.regionId,
      };
    }
  }

  return {
    raft(call, callback) {
      const s = streamScope("raft", call, callback);
      const wrongStore = misaddressedStream(call);
      if (wrongStore) return s.reject(wrongStore);
      const hello = new Metadata();
      hello.set(STORE_ID_HEADER, String(myStore));
      call.sendMetadata(hello);
      s.log.debug("raft stream opened");
      call.on("data", (input: Incoming<raft_serverpb.RaftMessageBatch>) => {
        if (s.over) return;
        const d = decodeBatch(input);
        if (!d.ok) return s.reject(rejectionOf(d.problem));
        // The whole batch is checked before any of it is delivered.
        for (const msg of d.value.msgs) {
          const p = checkRaftMessage(msg, myStore, "raft");
          if (p) return s.reject(rejectionOf(p));
        }
        metrics.batchesReceived.inc();
        for (const msg of d.value.msgs) {
          const failed = deliver(msg);
          if (failed) return s.reject(failed);
        }
      });
      call.on("end", () => {
        if (s.done()) s.log.debug("raft stream ended by the sender");
      });
    },

    snapshot(call, callback) {
      const s = streamScope("snapshot", call, callback);
      const wrongStore = misaddressedStream(call);
      if (wrongStore) return s.reject(wrongStore);
      if (receiving >= cfg.maxConcurrentSnapshotReceives) {
        metrics.snapshots.inc({ direction: "receive", result: "busy" });
        return s.reject({
          code: grpcStatus.RESOURCE_EXHAUSTED,
          reason: "busy",
          details: `store ${myStore} is already receiving ${receiving} snapshots (maxConcurrentSnapshotReceives); retry later`,
        });
      }
      receiving++;
      metrics.snapshotsInFlight.inc({ direction: "receive" });
      const asm = new SnapshotAssembly(myStore, cfg.maxSnapshotBytes);
      const idle = setTimeout(() => onIdle(), cfg.snapshotRecvIdleTimeoutMs);
      idle.unref();
      let released = false;
      const release = (result: "ok" | "failed"): void => {
        if (released) return;
        released = true;
        clearTimeout(idle);
        asm.discard();
        receiving--;
        metrics.snapshotsInFlight.dec({ direction: "receive" });
        metrics.snapshots.inc({ direction: "receive", result });
      };
      const fail = (r: Rejection): void => {
        s.reject({ ...r, regionId: r.regionId ?? asm.regionId });
        release("failed");
      };
      const onIdle = (): void =>
        fail({
          code: grpcStatus.DEADLINE_EXCEEDED,
          reason: "idle",
          details: `no snapshot chunk for snapshotRecvIdleTimeoutMs (${cfg.snapshotRecvIdleTimeoutMs} ms) after ${asm.receivedBytes} bytes; data dropped`,
        });

      call.on("cancelled", () => release("failed"));
      call.on("error", () => release("failed"));
      call.on("data", (input: Incoming<raft_serverpb.SnapshotChunk>) => {
        if (s.over) return;
        idle.refresh();
        const d = decodeChunk(input);
        if (!d.ok) return fail(rejectionOf(d.problem));
        const before = asm.receivedBytes;
        const p = asm.add(d.value);
        if (p) return fail(rejectionOf(p));
        metrics.snapshotBytes.inc({ direction: "receive" }, asm.receivedBytes - before);
      });
      call.on("end", () => {
        if (s.over) return;
        const r = asm.finish();
        if (!r.ok) return fail(rejectionOf(r.problem));
        const failed = deliver(r.value);
        if (failed) return fail(failed);
        release("ok");
        s.log.info({ regionId: String(r.value.regionId), bytes: asm.receivedBytes }, "snapshot received");
        s.done();
      });
    },
  };
}
