/**
 * StorePipe: the raft messages from this store to ONE other store.
 *
 * Flow: `send` → bounded queue → `flush` (once per raft round) → one RaftMessageBatch written on
 * the pipe's long-lived `RaftTransport.Raft` client stream → that write's callback writes the next
 * batch with whatever queued meanwhile. At most one batch is in grpc's hands at a time, and a
 * `write` that returns false waits for 'drain': when the network is slow, messages wait in OUR
 * queue, where the capacity bound applies. Nothing here ever blocks the raft worker.
 *
 * States (PipeState):
 *   idle ──send──▶ connecting ──handshake──▶ ready
 *   connecting | ready ──stream error or end, handshake timeout, wrong store──▶ backoff
 *   backoff ──a send at or after retryAt──▶ connecting
 *   any ──close──▶ closed
 * `connecting` covers resolving the address, opening the channel and the handshake (the
 * receiver's initial metadata naming its store id). `send` queues while connecting or ready — so
 * the message that starts a connection is not lost — and refuses while backing off or closed: the
 * raftstore then reports the peer unreachable and raft probes again later, which is what retries.
 * A failure drops the queue, makes the resolver ask for the address again, and sets a jittered
 * exponential delay (Backoff) before the next attempt.
 */
import { Metadata, status as grpcStatus, type ClientWritableStream, type ServiceError } from "@grpc/grpc-js";
import type { raft_serverpb, regionkvpb } from "@regionkv/proto";
import type { Logger } from "pino";
import { Backoff } from "./backoff.js";
import { approxMessageBytes } from "./message-check.js";
import type { DropReason } from "./metrics.js";
import { describeResolveError, type Resolution } from "./store-resolver.js";
import { FROM_STORE_HEADER, STORE_ID_HEADER, TO_STORE_HEADER, headerValue, type TransportContext } from "./transport-context.js";

export type SendResult = { ok: true } | { ok: false; reason: DropReason };

const QUEUED: SendResult = Object.freeze({ ok: true });
const DROPPED = {
  queue_full: Object.freeze({ ok: false, reason: "queue_full" }),
  disconnected: Object.freeze({ ok: false, reason: "disconnected" }),
  closed: Object.freeze({ ok: false, reason: "closed" }),
} as const satisfies Record<string, SendResult>;

type BatchStream = ClientWritableStream<raft_serverpb.RaftMessageBatch>;

/** One connection attempt and, once it works, the stream it carries. Events of an old one are ignored. */
interface Connection {
  readonly kind: "first" | "reconnect";
  address?: string;
  client?: regionkvpb.RaftTransportClient;
  stream?: BatchStream;
  /** Handshake deadline while connecting; close()'s grace period after. */
  timer?: NodeJS.Timeout;
  /** A batch is written and its callback has not run yet. */
  writing: boolean;
  /** write() returned false: nothing more until 'drain'. */
  blocked: boolean;
  /** Settles when grpc reports the end of the stream (or at once if it never started). */
  readonly ended: Promise<void>;
  settleEnded(): void;
}

export type PipeState =
  | { kind: "idle" }
  | { kind: "connecting"; conn: Connection }
  | { kind: "ready"; conn: Connection; stream: BatchStream }
  | { kind: "backoff"; retryAt: number; why: string }
  | { kind: "closed" };

export interface PipeStats {
  state: PipeState["kind"];
  queued: number;
  address: string | undefined;
}

export class StorePipe {
  private state: PipeState = { kind: "idle" };
  private queue: raft_serverpb.RaftMessage[] = [];
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly label: { to_store: string };

  constructor(
    private readonly ctx: TransportContext,
    readonly target: bigint,
  ) {
    this.backoff = new Backoff({ baseMs: ctx.cfg.backoffBaseMs, maxMs: ctx.cfg.backoffMaxMs }, ctx.random);
    this.log = ctx.log.child({ toStore: String(target) });
    this.label = { to_store: String(target) };
  }

  get stats(): PipeStats {
    const s = this.state;
    return { state: s.kind, queued: this.queue.length, address: s.kind === "connecting" || s.kind === "ready" ? s.conn.address : undefined };
  }

  /** Queue a message for the target store; never blocks. */
  send(msg: raft_serverpb.RaftMessage): SendResult {
    switch (this.state.kind) {
      case "closed":
        return DROPPED.closed;
      case "backoff":
        if (this.ctx.clock.now() < this.state.retryAt) return DROPPED.disconnected;
        this.connect("reconnect");
        break;
      case "idle":
        this.connect("first");
        break;
      case "connecting":
      case "ready":
        break;
      default: {
        const never: never = this.state;
        throw new Error(`unknown pipe state ${JSON.stringify(never)}`);
      }
    }
    if (this.queue.length >= this.ctx.cfg.queueCapacity) return DROPPED.queue_full;
    this.queue.push(msg);
    return QUEUED;
  }

  /** The raft round is over: start writing if the stream is idle. */
  flush(): void {
    if (this.state.kind === "ready") this.pump(this.state.conn);
    this.ctx.metrics.queuedMessages.set(this.label, this.queue.length);
  }

  /**
   * Stop: what is queued is written if the stream is up, then the stream is half-closed and,
   * after at most `closeGraceMs`, cancelled. Resolves when the stream is over; never rejects.
   */
  async close(): Promise<void> {
    const s = this.state;
    this.state = { kind: "closed" };
    if (s.kind === "ready") this.ctx.metrics.connectedStores.dec();
    if (s.kind === "ready" && !s.conn.blocked) {
      while (this.queue.length > 0) this.writeBatch(s.stream, this.takeBatch());
    }
    this.dropQueue("closed");
    this.ctx.metrics.queuedMessages.set(this.label, 0);
    if (s.kind !== "connecting" && s.kind !== "ready") return;
    const conn = s.conn;
    clearTimeout(conn.timer);
    if (s.kind === "ready") {
      s.stream.end();
      await new Promise<void>((resolve) => {
        conn.timer = setTimeout(resolve, this.ctx.cfg.closeGraceMs);
        conn.timer.unref();
        void conn.ended.then(resolve);
      });
      clearTimeout(conn.timer);
    }
    this.teardown(conn);
    await conn.ended;
  }

  // ---- connecting ------------------------------------------------------------------------

  private connect(kind: Connection["kind"]): void {
    let settleEnded!: () => void;
    const ended = new Promise<void>((r) => (settleEnded = r));
    const conn: Connection = { kind, writing: false, blocked: false, ended, settleEnded };
    this.state = { kind: "connecting", conn };
    this.ctx.metrics.connects.inc({ ...this.label, kind });
    conn.timer = setTimeout(() => this.fail(conn, `no handshake within connectTimeoutMs (${this.ctx.cfg.connectTimeoutMs} ms)`), this.ctx.cfg.connectTimeoutMs);
    conn.timer.unref();
    this.ctx.resolver.resolve(this.target).then(
      (r) => this.onResolved(conn, r),
      (e: unknown) => this.fail(conn, `resolving the address failed: ${String(e)}`),
    );
  }

  private isCurrent(conn: Connection): boolean {
    return (this.state.kind === "connecting" || this.state.kind === "ready") && this.state.conn === conn;
  }

  private onResolved(conn: Connection, r: Resolution): void {
    if (!this.isCurrent(conn)) return;
    if (!r.ok) {
      this.fail(conn, describeResolveError(r.error), r.error.kind === "Tombstone" ? "tombstone" : "unresolved");
      return;
    }
    conn.address = r.address;
    const md = new Metadata();
    md.set(FROM_STORE_HEADER, String(this.ctx.storeId));
    md.set(TO_STORE_HEADER, String(this.target));
    let stream: BatchStream;
    try {
      conn.client = this.ctx.openClient(r.address);
      stream = conn.client.raft(md, (err) => {
        conn.settleEnded();
        this.fail(conn, err ? describeServiceError(err) : "the receiver ended the stream");
      });
    } catch (e) {
      conn.settleEnded();
      this.fail(conn, `cannot open a stream to ${r.address}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    conn.stream = stream;
    stream.on("metadata", (m: Metadata) => this.onHandshake(conn, stream, m));
    stream.on("error", (e: Error) => this.fail(conn, `stream error: ${e.message}`));
  }

  private onHandshake(conn: Connection, stream: BatchStream, md: Metadata): void {
    if (this.state.kind !== "connecting" || this.state.conn !== conn) return;
    const served = headerValue(md, STORE_ID_HEADER);
    if (served !== String(this.target)) {
      this.fail(conn, served === undefined ? `${conn.address} is not a regionkv raft transport (no ${STORE_ID_HEADER} header)` : `${conn.address} is store ${served}, not store ${this.target}`);
      return;
    }
    clearTimeout(conn.timer);
    conn.timer = undefined;
    this.state = { kind: "ready", conn, stream };
    this.ctx.metrics.connectedStores.inc();
    if (this.backoff.failuresInARow > 0) this.log.info({ address: conn.address, after: this.backoff.failuresInARow }, "raft stream reconnected");
    else this.log.debug({ address: conn.address }, "raft stream connected");
    this.backoff.reset();
    this.pump(conn);
  }

  /**
   * The connection attempt failed or the stream broke: drop what was queued, invalidate the
   * address, back off. Ignored for a connection that is no longer the current one.
   */
  private fail(conn: Connection, why: string, reason: DropReason = "connection_lost"): void {
    if (!this.isCurrent(conn)) return;
    const wasReady = this.state.kind === "ready";
    if (wasReady) this.ctx.metrics.connectedStores.dec();
    const delay = this.backoff.next();
    this.state = { kind: "backoff", retryAt: this.ctx.clock.now() + delay, why };
    this.teardown(conn);
    const lost = this.dropQueue(reason);
    this.ctx.resolver.invalidate(this.target);
    this.ctx.metrics.connectionFailures.inc(this.label);
    const fields = { address: conn.address, why, retryInMs: delay, dropped: lost, failuresInARow: this.backoff.failuresInARow };
    if (wasReady) this.log.warn(fields, "raft stream broke; backing off");
    else if (this.backoff.failuresInARow === 1) this.log.warn(fields, "cannot reach store; backing off");
    else this.log.debug(fields, "cannot reach store; backing off");
  }

  /** Cancel the stream (if still open) and close the connection's own channel. */
  private teardown(conn: Connection): void {
    clearTimeout(conn.timer);
    conn.timer = undefined;
    if (conn.stream) conn.stream.cancel();
    else conn.settleEnded();
    conn.client?.close();
  }

  private dropQueue(reason: DropReason): number {
    const n = this.queue.length;
    if (n > 0) {
      this.queue = [];
      this.ctx.metrics.messagesDropped.inc({ ...this.label, reason }, n);
    }
    return n;
  }

  // ---- writing ---------------------------------------------------------------------------

  /** Write the next batch if the stream is ready and idle; the write's callback comes back here. */
  private pump(conn: Connection): void {
    if (this.state.kind !== "ready" || this.state.conn !== conn) return;
    if (conn.writing || conn.blocked || this.queue.length === 0) return;
    const stream = this.state.stream;
    conn.writing = true;
    const more = this.writeBatch(stream, this.takeBatch(), () => {
      conn.writing = false;
      this.pump(conn);
    });
    if (!more) {
      conn.blocked = true;
      stream.once("drain", () => {
        conn.blocked = false;
        this.pump(conn);
      });
    }
  }

  private writeBatch(stream: BatchStream, msgs: raft_serverpb.RaftMessage[], written?: () => void): boolean {
    this.ctx.metrics.batchesSent.inc(this.label);
    this.ctx.metrics.messagesSent.inc(this.label, msgs.length);
    return stream.write({ msgs }, written);
  }

  /** The longest queue prefix within maxBatchBytes (at least one message). */
  private takeBatch(): raft_serverpb.RaftMessage[] {
    const q = this.queue;
    let n = 0;
    let bytes = 0;
    while (n < q.length) {
      const b = approxMessageBytes(q[n]!);
      if (n > 0 && bytes + b > this.ctx.cfg.maxBatchBytes) break;
      bytes += b;
      n++;
    }
    if (n === q.length) {
      this.queue = [];
      return q;
    }
    return q.splice(0, n);
  }
}

export function describeServiceError(e: ServiceError): string {
  return `${grpcStatus[e.code] ?? e.code}: ${e.details}`;
}
