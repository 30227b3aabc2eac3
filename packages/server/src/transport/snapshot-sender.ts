/**
 * SnapshotSender: MsgSnapshot messages, each on a `RaftTransport.Snapshot` stream of its own
 * (never on a store pipe: a large snapshot must not hold up heartbeats and appends).
 *
 * Flow: `send` → waiting list → a free slot (at most `maxConcurrentSnapshotSends`) → resolve the
 * target's address → a client with its own connection → first chunk: the RaftMessage with
 * snapshot.data emptied → the data in `snapshotChunkBytes` chunks (waiting for 'drain' whenever a
 * write returns false) → half-close → the receiver's Done (it has the whole message and handed it
 * to its raftstore) → `reportSnapshotStatus(ok = true)`. Any error, the deadline
 * (`snapshotSendTimeoutMs`) or close() → `reportSnapshotStatus(ok = false)`.
 *
 * Invariant: every MsgSnapshot given to `send` is reported exactly once (raft keeps the follower
 * paused until it hears), including those refused at once (`send` returned false).
 */
import { Metadata, type ClientWritableStream } from "@grpc/grpc-js";
import type { raft_serverpb, regionkvpb } from "@regionkv/proto";
import type { SnapshotReporter } from "@regionkv/raftstore";
import { describeServiceError } from "./store-pipe.js";
import { describeResolveError } from "./store-resolver.js";
import { FROM_STORE_HEADER, TO_STORE_HEADER, type TransportContext } from "./transport-context.js";

type ChunkStream = ClientWritableStream<raft_serverpb.SnapshotChunk>;
type Outcome = { ok: true } | { ok: false; error: string };

/** One snapshot being sent. */
interface SnapshotSend {
  readonly msg: raft_serverpb.RaftMessage;
  readonly toStore: bigint;
  client?: regionkvpb.RaftTransportClient;
  call?: ChunkStream;
  /** close() asked to stop. */
  cancelled: boolean;
}

export class SnapshotSender {
  private readonly waiting: raft_serverpb.RaftMessage[] = [];
  private readonly active = new Set<SnapshotSend>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly ctx: TransportContext,
    private readonly reporter: SnapshotReporter,
  ) {}

  /** Snapshots streaming now and waiting for a slot. */
  get stats(): { active: number; waiting: number } {
    return { active: this.active.size, waiting: this.waiting.length };
  }

  /**
   * Take a MsgSnapshot. Returns false when it cannot even be queued (closed, too many waiting);
   * the failure is then reported at once.
   */
  send(msg: raft_serverpb.RaftMessage): boolean {
    if (this.closed || this.waiting.length >= this.ctx.cfg.maxQueuedSnapshotSends) {
      this.report(msg, { ok: false, error: this.closed ? "transport closed" : `${this.waiting.length} snapshots already wait (maxQueuedSnapshotSends)` });
      return false;
    }
    this.waiting.push(msg);
    this.maybeStart();
    return true;
  }

  /** Fail what waits, cancel what streams; resolves when every send has been reported. */
  async close(): Promise<void> {
    this.closed = true;
    for (const msg of this.waiting.splice(0)) this.report(msg, { ok: false, error: "transport closed" });
    for (const s of this.active) {
      s.cancelled = true;
      s.call?.cancel();
    }
    await Promise.all(this.running);
  }

  private maybeStart(): void {
    while (!this.closed && this.active.size < this.ctx.cfg.maxConcurrentSnapshotSends && this.waiting.length > 0) {
      const msg = this.waiting.shift()!;
      const s: SnapshotSend = { msg, toStore: msg.toPeer?.storeId ?? 0n, cancelled: false };
      this.active.add(s);
      this.ctx.metrics.snapshotsInFlight.inc({ direction: "send" });
      const p = this.run(s)
        .catch((e: unknown): Outcome => ({ ok: false, error: `unexpected: ${e instanceof Error ? e.stack : String(e)}` }))
        .then((outcome) => {
          s.client?.close();
          this.active.delete(s);
          this.running.delete(p);
          this.ctx.metrics.snapshotsInFlight.dec({ direction: "send" });
          this.report(s.msg, outcome);
          this.maybeStart();
        });
      this.running.add(p);
    }
  }

  private async run(s: SnapshotSend): Promise<Outcome> {
    const r = await this.ctx.resolver.resolve(s.toStore);
    if (!r.ok) return { ok: false, error: describeResolveError(r.error) };
    if (s.cancelled) return { ok: false, error: "transport closed" };
    const m = s.msg.message;
    const data = m?.snapshot?.data ?? Buffer.alloc(0);
    const head: raft_serverpb.RaftMessage = m?.snapshot ? { ...s.msg, message: { ...m, snapshot: { ...m.snapshot, data: Buffer.alloc(0) } } } : s.msg;

    const md = new Metadata();
    md.set(FROM_STORE_HEADER, String(this.ctx.storeId));
    md.set(TO_STORE_HEADER, String(s.toStore));
    s.client = this.ctx.openClient(r.address);
    let finish!: (o: Outcome) => void;
    const finished = new Promise<Outcome>((resolve) => (finish = resolve));
    let done = false;
    const call = s.client.snapshot(md, { deadline: Date.now() + this.ctx.cfg.snapshotSendTimeoutMs }, (err) => {
      done = true;
      if (err) {
        this.ctx.resolver.invalidate(s.toStore);
        finish({ ok: false, error: `${r.address}: ${describeServiceError(err)}` });
      } else {
        finish({ ok: true });
      }
    });
    s.call = call;
    call.on("error", (e: Error) => {
      done = true;
      finish({ ok: false, error: `stream error: ${e.message}` });
    });

    // Write the chunks, pausing on backpressure; stop early if the call ended (error, cancel).
    call.write({ chunk: { $case: "message", value: head } });
    const step = this.ctx.cfg.snapshotChunkBytes;
    for (let off = 0; off < data.length && !done; off += step) {
      const part = data.subarray(off, Math.min(off + step, data.length));
      const more = call.write({ chunk: { $case: "data", value: part } });
      this.ctx.metrics.snapshotBytes.inc({ direction: "send" }, part.length);
      if (!more) await drainOrDone(call, finished);
    }
    if (!done) call.end();
    return finished;
  }

  private report(msg: raft_serverpb.RaftMessage, outcome: Outcome): void {
    const regionId = Number(msg.regionId);
    const toPeerId = Number(msg.toPeer?.id ?? 0n);
    this.ctx.metrics.snapshots.inc({ direction: "send", result: outcome.ok ? "ok" : "failed" });
    if (outcome.ok) {
      this.ctx.log.info({ regionId, toPeerId, toStore: String(msg.toPeer?.storeId), bytes: msg.message?.snapshot?.data.length }, "snapshot sent");
    } else {
      this.ctx.log.warn({ regionId, toPeerId, toStore: String(msg.toPeer?.storeId), err: outcome.error }, "snapshot send failed");
    }
    this.reporter.reportSnapshotStatus(regionId, toPeerId, outcome.ok);
  }
}

/** Resolves on the stream's next 'drain' or when the call is over, whichever comes first. */
function drainOrDone(call: ChunkStream, finished: Promise<Outcome>): Promise<void> {
  return new Promise<void>((resolve) => {
    const onDrain = (): void => resolve();
    call.once("drain", onDrain);
    void finished.then(() => {
      call.removeListener("drain", onDrain);
      resolve();
    });
  });
}
