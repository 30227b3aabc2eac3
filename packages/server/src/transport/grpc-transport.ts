/**
 * GrpcTransport: the raftstore's `Transport` over gRPC (the sending side; the receiving side is
 * `raftTransportService`).
 *
 * Flow: the raft worker calls `send(msg)` for each message of a round, then `flush()` once →
 *   - a MsgSnapshot goes to the SnapshotSender (its own stream, result reported to raft);
 *   - any other message goes to the StorePipe of its target store (created on first use): a
 *     bounded queue in front of one long-lived `RaftTransport.Raft` stream;
 *   - `flush()` lets every pipe write one batch.
 * `send` never blocks and never throws on network trouble: it returns false when the message was
 * dropped (queue full, target unreachable or backing off, target unknown or a tombstone), and the
 * raftstore reports the peer unreachable to raft.
 *
 * Address resolution is asynchronous: the first send to a store whose address is not cached queues
 * the message and starts resolving (and connecting); it is written once the stream is up, or
 * dropped if resolution fails. Once the resolver knows a store is a tombstone or unknown, sends to
 * it return false at once.
 *
 * Construction order: the RaftStore needs the transport and the transport reports snapshots to
 * the RaftStore, so pass a reporter that forwards to the store once it exists:
 *   let store: RaftStore | undefined;
 *   const transport = new GrpcTransport({ ..., reporter: { reportSnapshotStatus: (r, p, ok) => store?.reportSnapshotStatus(r, p, ok) } });
 *   store = new RaftStore({ ..., transport });
 */
import crypto from "node:crypto";
import { credentials as grpcCredentials, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { regionkvpb, type raft_serverpb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import type { Clock, SnapshotReporter, Transport } from "@regionkv/raftstore";
import pino, { type Logger } from "pino";
import type { Registry } from "prom-client";
import { resolveTransportConfig, type TransportConfig } from "./config.js";
import { isSnapshotMessage } from "./message-check.js";
import { TransportMetrics, type DropReason } from "./metrics.js";
import { SnapshotSender } from "./snapshot-sender.js";
import { StorePipe, type PipeStats } from "./store-pipe.js";
import type { StoreResolver } from "./store-resolver.js";
import type { TransportContext } from "./transport-context.js";

export interface GrpcTransportOptions {
  /** This store (the sender). */
  storeId: bigint;
  /** Store id → address. */
  resolver: StoreResolver;
  /** Told the outcome of every MsgSnapshot: the RaftStore (see the construction-order note above). */
  reporter: SnapshotReporter;
  config?: Partial<TransportConfig>;
  /** Registry for the transport's metrics (the store's); default: a registry of their own. */
  registry?: Registry;
  /** Or the metrics object itself (wins over `registry`). */
  metrics?: TransportMetrics;
  logger?: Logger;
  /** Backoff deadlines are read from it. Default: wall clock. */
  clock?: Clock;
  /** Uniform [0, 1) for reconnect jitter (the store's seeded RNG). Default: seeded at random. */
  random?: () => number;
  /** Default: insecure (plaintext). */
  credentials?: ChannelCredentials;
  /** Extra gRPC channel options, over the transport's own (keepalive, reconnect backoff, local subchannel pool). */
  channelOptions?: ChannelOptions;
}

export class GrpcTransport implements Transport {
  readonly cfg: TransportConfig;
  readonly metrics: TransportMetrics;
  private readonly ctx: TransportContext;
  private readonly pipes = new Map<bigint, StorePipe>();
  private readonly snapshots: SnapshotSender;
  private closed = false;

  constructor(opts: GrpcTransportOptions) {
    this.cfg = resolveTransportConfig(opts.config);
    this.metrics = opts.metrics ?? new TransportMetrics(opts.registry);
    const creds = opts.credentials ?? grpcCredentials.createInsecure();
    const channelOptions: ChannelOptions = {
      // A channel per pipe and per snapshot: no connection shared with another client, so
      // closing one after a failure really starts the next attempt on a fresh connection.
      "grpc.use_local_subchannel_pool": 1,
      "grpc.keepalive_time_ms": this.cfg.keepaliveTimeMs,
      "grpc.keepalive_timeout_ms": this.cfg.keepaliveTimeoutMs,
      "grpc.initial_reconnect_backoff_ms": this.cfg.backoffBaseMs,
      "grpc.max_reconnect_backoff_ms": this.cfg.backoffMaxMs,
      // Retries would keep copies of written messages; raft retries by itself.
      "grpc.enable_retries": 0,
      ...opts.channelOptions,
    };
    this.ctx = {
      storeId: opts.storeId,
      cfg: this.cfg,
      clock: opts.clock ?? { now: () => Date.now() },
      random: opts.random ?? seededRandom(crypto.randomInt(1, 2 ** 31)),
      log: (opts.logger ?? pino({ level: "warn" })).child({ component: "transport", storeId: String(opts.storeId) }),
      metrics: this.metrics,
      resolver: opts.resolver,
      openClient: (address) => new regionkvpb.RaftTransportClient(address, creds, channelOptions),
    };
    this.snapshots = new SnapshotSender(this.ctx, opts.reporter);
  }

  /** Queue a message for its target store. Returns false if it was dropped. Never blocks. */
  send(msg: raft_serverpb.RaftMessage): boolean {
    if (isSnapshotMessage(msg)) return this.snapshots.send(msg);
    const to = msg.toPeer?.storeId ?? 0n;
    if (this.closed) return this.drop(to, "closed");
    if (to === 0n) return this.drop(to, "malformed");
    const known = this.ctx.resolver.peek(to);
    if (known && !known.ok) return this.drop(to, known.error.kind === "Tombstone" ? "tombstone" : "unresolved");
    let pipe = this.pipes.get(to);
    if (!pipe) {
      pipe = new StorePipe(this.ctx, to);
      this.pipes.set(to, pipe);
    }
    const r = pipe.send(msg);
    return r.ok || this.drop(to, r.reason);
  }

  /** End of a raft round: every pipe writes a batch if it can. */
  flush(): void {
    for (const p of this.pipes.values()) p.flush();
  }

  /** State and queue length of the pipe to `storeId`, if there is one (status pages, tests). */
  pipeStats(storeId: bigint): PipeStats | undefined {
    return this.pipes.get(storeId)?.stats;
  }

  get snapshotStats(): { active: number; waiting: number } {
    return this.snapshots.stats;
  }

  /**
   * Stop sending: queued messages are written where a stream is up, every stream is ended (and
   * cancelled after `closeGraceMs`), snapshot sends are cancelled and reported failed. Resolves
   * when all streams are over; never rejects. Later sends return false.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...[...this.pipes.values()].map((p) => p.close()), this.snapshots.close()]);
  }

  private drop(to: bigint, reason: DropReason): false {
    this.metrics.messagesDropped.inc({ to_store: String(to), reason });
    return false;
  }
}
