/**
 * What the sending parts of the transport (store pipes, snapshot sender) share: this store's id,
 * config, clock, RNG, logger, metrics, the resolver, and how to open a gRPC client. One per
 * `GrpcTransport`; no module-level state.
 *
 * Stream headers: a store names itself and its target in the request metadata of every stream
 * (for the receiver's logs and an early misaddress check); the receiver answers a Raft stream at
 * once with initial metadata naming itself, which is the handshake that marks a pipe ready.
 */
import type { Metadata } from "@grpc/grpc-js";
import type { regionkvpb } from "@regionkv/proto";
import type { Clock } from "@regionkv/raftstore";
import type { Logger } from "pino";
import type { TransportConfig } from "./config.js";
import type { TransportMetrics } from "./metrics.js";
import type { StoreResolver } from "./store-resolver.js";

export interface TransportContext {
  /** This store: the sender. */
  readonly storeId: bigint;
  readonly cfg: TransportConfig;
  readonly clock: Clock;
  /** Uniform [0, 1): reconnect jitter. */
  readonly random: () => number;
  readonly log: Logger;
  readonly metrics: TransportMetrics;
  readonly resolver: StoreResolver;
  /** A client with a channel (and connection) of its own to `address`; closing it affects nothing else. */
  openClient(address: string): regionkvpb.RaftTransportClient;
}

/** Request header: the sending store's id. */
export const FROM_STORE_HEADER = "regionkv-from-store";
/** Request header: the store the sender means to reach. */
export const TO_STORE_HEADER = "regionkv-to-store";
/** Initial response header on a Raft stream: the receiving store's id (the handshake). */
export const STORE_ID_HEADER = "regionkv-store-id";

/** The first value of a text header, if any. */
export function headerValue(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return typeof v === "string" ? v : undefined;
}
