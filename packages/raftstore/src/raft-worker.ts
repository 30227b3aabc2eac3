/**
 * The raft worker: one round handles every busy peer of the store.
 *
 *   1. drain the mailboxes of busy peers and step their messages (peer.handle);
 *   2. collect every peer's Ready: their entries, hard states and snapshots go into ONE write
 *      batch, committed with one fsync (group commit);
 *   3. only then send their messages (durability before visibility);
 *   4. apply every peer's committed entries into one apply batch (effects + applied index per
 *      region, in log order), committed without fsync: it is redone from the log after a crash;
 *   5. settle proposals and reads, run side effects, advance each RawNode.
 *
 * A failing engine write is fatal for the store (thrown to the caller): continuing after a lost
 * write would break the durability contract.
 */
import { WriteBatch } from "@regionkv/engine";
import type { ApplyOutput } from "./apply.js";
import type { PeerMsg } from "./messages.js";
import type { Peer, PendingReady } from "./peer.js";
import type { StoreContext } from "./store-context.js";

export class RaftWorker {
  /** Rounds run and peers handled, for tests and metrics. */
  rounds = 0;

  constructor(
    private readonly ctx: StoreContext,
    private readonly peers: Map<number, Peer>,
    private readonly onUnknownRegion: (regionId: number, msgs: PeerMsg[]) => void,
  ) {}

  /** Run one round. Returns false when there was nothing to do. */
  poll(): boolean {
    const busy = this.ctx.router.takeBusy();
    if (busy.length === 0) return false;
    const t0 = performance.now();
    this.rounds++;

    const active: Peer[] = [];
    for (const [regionId, msgs] of busy) {
      const peer = this.peers.get(regionId);
      if (!peer) {
        this.onUnknownRegion(regionId, msgs);
        continue;
      }
      for (const m of msgs) peer.handle(m);
      active.push(peer);
    }

    // Group commit of the Readies.
    const raftWb = new WriteBatch();
    const pending: Array<[Peer, PendingReady]> = [];
    for (const peer of active) {
      if (peer.stopped) continue;
      const p = peer.collectReady(raftWb);
      if (p) pending.push([peer, p]);
    }
    if (pending.length === 0) {
      this.ctx.metrics.readyHandling.observe((performance.now() - t0) / 1000);
      return true;
    }
    if (!raftWb.isEmpty) {
      // fsync only when some Ready needs it (new entries, a vote or term, a snapshot). A Ready that
      // only moves the commit index may be lost in a crash: commit is recomputed, and WAL commits
      // are durable in order, so an applied index never outlives the commit it depends on.
      const stats = this.ctx.engine.write(raftWb, { sync: pending.some(([, p]) => p.rd.mustSync) });
      if (stats.synced) this.ctx.metrics.fsyncs.inc();
      this.ctx.metrics.groupCommitBatchPeers.observe(pending.length);
      this.ctx.metrics.groupCommitBatchBytes.observe(stats.bytes);
      this.ctx.metrics.groupCommitFsync.observe(stats.durationMs / 1000);
    }

    for (const [peer, p] of pending) peer.sendMessages(p);
    this.ctx.transport.flush();

    const applyWb = new WriteBatch();
    const outs: Array<ApplyOutput | undefined> = [];
    for (const [peer, p] of pending) outs.push(peer.applyCommitted(p, applyWb));
    if (!applyWb.isEmpty) this.ctx.engine.write(applyWb, { sync: false });

    pending.forEach(([peer, p], i) => {
      peer.afterApply(p, outs[i]);
      if (peer.raw.hasReady()) this.ctx.router.markBusy(peer.regionId);
    });
    this.ctx.metrics.readyHandling.observe((performance.now() - t0) / 1000);
    return true;
  }
}
