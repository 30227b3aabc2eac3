/**
 * Linearizable reads through ReadIndex, batched. Reads arriving during one raft worker round are
 * queued (`push`); at the end of the round the peer issues ONE ReadIndex for all of them
 * (`issue`), so a single quorum round of heartbeats confirms leadership for the whole batch. When
 * the read state comes back (`onReadState`), the batch waits until the region has applied up to
 * the read index, then every read runs on a consistent engine snapshot (`serveApplied`).
 */
import type { Engine, EngineSnapshot } from "@regionkv/engine";
import { parseColumnFamily } from "@regionkv/engine";
import { raft_cmdpb, type metapb } from "@regionkv/proto";
import type { RaftstoreMetrics } from "./metrics.js";
import type { ProposalCallback } from "./proposal.js";
import type { ProposalFailure } from "./region-error.js";
import { checkKeysInRegion, checkRegionEpoch } from "./region-util.js";

interface PendingRead {
  request: raft_cmdpb.RaftCmdRequest;
  callback: ProposalCallback;
  deadline: number;
  done: boolean;
}

interface ReadBatch {
  ctx: Uint8Array;
  key: string;
  reads: PendingRead[];
  /** The read index, once a quorum confirmed it. */
  index: number | undefined;
}

export class ReadQueue {
  private unsent: PendingRead[] = [];
  private batches: ReadBatch[] = [];
  private seq = 0;

  constructor(private readonly regionId: number) {}

  push(request: raft_cmdpb.RaftCmdRequest, callback: ProposalCallback, deadline: number): void {
    this.unsent.push({ request, callback, deadline, done: false });
  }

  hasUnsent(): boolean {
    return this.unsent.length > 0;
  }

  /** Move the queued reads into a new batch and return the ReadIndex context for it. */
  issue(): Uint8Array {
    const ctx = Buffer.alloc(16);
    ctx.writeBigUInt64BE(BigInt(this.regionId), 0);
    ctx.writeBigUInt64BE(BigInt(++this.seq), 8);
    this.batches.push({ ctx, key: ctx.toString("hex"), reads: this.unsent, index: undefined });
    this.unsent = [];
    return ctx;
  }

  onReadState(index: number, ctx: Uint8Array): void {
    const key = Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString("hex");
    const b = this.batches.find((x) => x.key === key);
    if (b && b.index === undefined) b.index = index;
  }

  /** Serve every confirmed batch whose read index is applied. */
  serveApplied(applied: number, engine: Engine, metrics: RaftstoreMetrics, region: metapb.Region, siblings: () => metapb.Region[] = () => [], term = 0): void {
    if (this.batches.length === 0 || this.batches[0]!.index === undefined) return;
    let snap: EngineSnapshot | undefined;
    try {
      while (this.batches.length > 0) {
        const b = this.batches[0]!;
        if (b.index === undefined || b.index > applied) break;
        this.batches.shift();
        snap ??= engine.snapshot();
        metrics.readIndexBatch.observe(b.reads.length);
        for (const r of b.reads) {
          if (r.done) continue;
          r.done = true;
          metrics.proposals.inc({ kind: "read", result: "ok" });
          r.callback(this.execute(r.request, snap, engine, region, siblings, term));
        }
      }
    } finally {
      snap?.release();
    }
  }

  /**
   * Serve one read. The response header's `current_term` is the leader's term: a command that
   * writes what it computed from this read proposes with that term, and is refused as stale if
   * leadership changed hands in between (peer.ts).
   */
  private execute(req: raft_cmdpb.RaftCmdRequest, snap: EngineSnapshot, engine: Engine, region: metapb.Region, siblings: () => metapb.Region[], term: number): Parameters<ProposalCallback>[0] {
    // Checked again at serve time: a split (or a membership change) applied between the ReadIndex
    // request and now may have moved the keys to another region, whose leader may hold newer
    // writes than this store's copy.
    const epochErr = checkRegionEpoch(req, region, siblings());
    if (epochErr) return { ok: false, error: epochErr };
    const keyErr = checkKeysInRegion(req, region);
  if (keyErr) return { ok: false, error: keyErr };
    const resp: raft_cmdpb.RaftCmdResponse = { header: { error: undefined, uuid: Buffer.alloc(0), currentTerm: BigInt(term) }, responses: [], adminResponse: undefined };
    let own: EngineSnapshot | undefined;
    for (const r of req.requests) {
      if (r.cmdType === raft_cmdpb.CmdType.Get) {
        const g = r.get!;
        const v = snap.get(parseColumnFamily(g.cf) ?? "default", g.key);
        resp.responses.push({ cmdType: r.cmdType, get: { value: v ?? Buffer.alloc(0), notFound: v === undefined } });
      } else {
        // Snap: the caller gets its own consistent view (it outlives this batch).
        own ??= engine.snapshot();
        resp.responses.push({ cmdType: raft_cmdpb.CmdType.Snap, snap: { region } });
      }
    }
    return own ? { ok: true, response: resp, snapshot: own } : { ok: true, response: resp };
  }

  failAll(error: ProposalFailure): void {
    for (const r of this.unsent) this.fail(r, error);
    for (const b of this.batches) for (const r of b.reads) this.fail(r, error);
    this.unsent = [];
    this.batches = [];
  }

  expire(now: number): void {
    const timeout = (r: PendingRead) => {
      if (!r.done && r.deadline <= now) this.fail(r, { kind: "Timeout", message: `region ${this.regionId}: read not confirmed before its deadline` });
    };
    for (const r of this.unsent) timeout(r);
    for (const b of this.batches) for (const r of b.reads) timeout(r);
    this.unsent = this.unsent.filter((r) => !r.done);
    this.batches = this.batches.filter((b) => b.reads.some((r) => !r.done));
  }

  private fail(r: PendingRead, error: ProposalFailure): void {
    if (r.done) return;
    r.done = true;
    r.callback({ ok: false, error });
  }
}
