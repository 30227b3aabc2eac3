/**
 * Prometheus metrics of the raft transport, on a registry the caller passes in (the store's; never
 * the global one). The sending (`GrpcTransport`) and receiving (`raftTransportService`) sides of
 * a store may each be given the same registry: metrics already registered there are reused, not
 * registered twice.
 */
import { Counter, Gauge, Registry } from "prom-client";

/** Why a raft message did not make it onto a stream. */
export type DropReason =
  /** The target's queue held `queueCapacity` messages. */
  | "queue_full"
  /** The target is unreachable: backing off after a failed or broken connection. */
  | "disconnected"
  /** Queued, then lost because the connection failed before the messages were written. */
  | "connection_lost"
  /** The resolver does not know the target store (or it has no address). */
  | "unresolved"
  /** The target store is a tombstone. */
  | "tombstone"
  /** The message names no target store. */
  | "malformed"
  /** The transport is closed. */
  | "closed";

/** Why the receiving side refused a stream (see `InputProblem` in message-check.ts). */
export type RejectReason = "undecodable" | "misaddressed" | "malformed" | "out_of_order" | "oversize" | "busy" | "idle" | "handler_failed";

export class TransportMetrics {
  readonly registry: Registry;
  // sending
  readonly messagesSent: Counter<"to_store">;
  readonly messagesDropped: Counter<"to_store" | "reason">;
  readonly batchesSent: Counter<"to_store">;
  readonly queuedMessages: Gauge<"to_store">;
  readonly connects: Counter<"to_store" | "kind">;
  readonly connectionFailures: Counter<"to_store">;
  readonly connectedStores: Gauge;
  // receiving
  readonly messagesReceived: Counter;
  readonly batchesReceived: Counter;
  readonly streamsRejected: Counter<"stream" | "reason">;
  // snapshots, both directions
  readonly snapshots: Counter<"direction" | "result">;
  readonly snapshotBytes: Counter<"direction">;
  readonly snapshotsInFlight: Gauge<"direction">;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      reuse(registry, name, Counter) ?? new Counter({ name, help, labelNames, registers: [registry] });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> =>
      reuse(registry, name, Gauge) ?? new Gauge({ name, help, labelNames, registers: [registry] });

    this.messagesSent = counter("regionkv_transport_messages_sent_total", "Raft messages written to a store-to-store stream", ["to_store"]);
    this.messagesDropped = counter(
      "regionkv_transport_messages_dropped_total",
      "Raft messages not sent, by reason (queue_full, disconnected, connection_lost, unresolved, tombstone, malformed, closed)",
      ["to_store", "reason"],
    );
    this.batchesSent = counter("regionkv_transport_batches_sent_total", "RaftMessageBatches written", ["to_store"]);
    this.queuedMessages = gauge("regionkv_transport_queued_messages", "Raft messages waiting in a store pipe (sampled each raft round)", ["to_store"]);
    this.connects = counter("regionkv_transport_connects_total", "Raft stream connection attempts: kind=first for a pipe's first, reconnect after a failure", ["to_store", "kind"]);
    this.connectionFailures = counter("regionkv_transport_connection_failures_total", "Raft streams that failed to connect or broke", ["to_store"]);
    this.connectedStores = gauge("regionkv_transport_connected_stores", "Stores with a working raft stream from this store");
    this.messagesReceived = counter("regionkv_transport_messages_received_total", "Raft messages received and handed to the raftstore");
    this.batchesReceived = counter("regionkv_transport_batches_received_total", "RaftMessageBatches received");
    this.streamsRejected = counter("regionkv_transport_streams_rejected_total", "Incoming raft or snapshot streams ended with an error, by reason", ["stream", "reason"]);
    this.snapshots = counter("regionkv_transport_snapshots_total", "Snapshots sent or received, by result", ["direction", "result"]);
    this.snapshotBytes = counter("regionkv_transport_snapshot_bytes_total", "Snapshot data bytes sent or received", ["direction"]);
    this.snapshotsInFlight = gauge("regionkv_transport_snapshots_in_flight", "Snapshot streams open now", ["direction"]);
  }
}

/** The metric already registered under `name`, if it is of the expected kind. */
function reuse<M>(registry: Registry, name: string, kind: abstract new (...args: never[]) => M): M | undefined {
  const m: unknown = registry.getSingleMetric(name);
  if (m === undefined) return undefined;
  if (m instanceof kind) return m;
  throw new Error(`metric ${name} is already registered on this registry with another type; use a registry of the transport's own`);
}
