/**
 * `TxnStorage` over a RaftStore: a view is a Snap command (ReadIndex on the leader, served once
 * the read index applied; its header carries the leader's term), a write is one raft command of
 * Put/Delete requests over the lock, write and txn_default families with the view's epoch and
 * term. The write is awaited without a deadline and without the caller's cancellation: the
 * command holds its latches until the entry applied or was superseded (StaleCommand), so no
 * later command on the same keys reads a view the write may still land in.
 */
import { CF_NAMES, type WriteBatch } from "@regionkv/engine";
import { raft_cmdpb, type kvrpcpb } from "@regionkv/proto";
import { regionErrorToPb, type ProposalFailure, type RaftStore } from "@regionkv/raftstore";
import type { SnapshotResult, TxnScope, TxnSnapshot, TxnStorage, WriteResult } from "./storage.js";
import { TxnStorageError } from "./storage.js";

export interface RaftTxnStorageOptions {
  store: RaftStore;
  /** A TSO timestamp from the scheduler. */
  tso: () => Promise<bigint>;
}

export class RaftTxnStorage implements TxnStorage {
  private readonly store: RaftStore;
  readonly tso: () => Promise<bigint>;

  constructor(opts: RaftTxnStorageOptions) {
    this.store = opts.store;
    this.tso = opts.tso;
  }

  async snapshot(ctx: kvrpcpb.Context, scope: TxnScope): Promise<SnapshotResult> {
    const header: raft_cmdpb.RaftRequestHeader = { regionId: ctx.regionId, peer: ctx.peer, readQuorum: false, regionEpoch: ctx.regionEpoch, term: ctx.term, uuid: Buffer.alloc(0) };
    const opts = scope.signal ? { deadline: scope.deadline, signal: scope.signal } : { deadline: scope.deadline };
    const r = await this.store.propose({ header, requests: [{ cmdType: raft_cmdpb.CmdType.Snap, snap: {} }], adminRequest: undefined }, opts);
    if (!r.ok) return this.failure(r.error, ctx);
    const err = r.response.header?.error;
    if (err) {
      r.snapshot?.release();
      return { ok: false, regionError: err };
    }
    const region = r.response.responses[0]?.snap?.region;
    const view = r.snapshot;
    if (!region || !view) {
      view?.release();
      throw new Error(`region ${ctx.regionId}: the store answered a snapshot request without a view`);
    }
    const snapshot: TxnSnapshot = { view, region, term: r.response.header?.currentTerm ?? 0n, release: () => view.release() };
    return { ok: true, snapshot };
  }

  async write(ctx: kvrpcpb.Context, snap: TxnSnapshot, batch: WriteBatch): Promise<WriteResult> {
    const requests: raft_cmdpb.Request[] = [];
    for (const op of batch.ops) {
      if (op.kind === "put") requests.push({ cmdType: raft_cmdpb.CmdType.Put, put: { cf: CF_NAMES[op.cf]!, key: Buffer.from(op.key), value: Buffer.from(op.value) } });
      else if (op.kind === "delete") requests.push({ cmdType: raft_cmdpb.CmdType.Delete, delete: { cf: CF_NAMES[op.cf]!, key: Buffer.from(op.key) } });
      else throw new Error(`a transactional write holds only puts and deletes, not ${op.kind}`);
    }
    const header: raft_cmdpb.RaftRequestHeader = {
      regionId: snap.region.id,
      peer: ctx.peer,
      readQuorum: false,
      regionEpoch: snap.region.regionEpoch,
      term: snap.term,
      uuid: Buffer.alloc(0),
    };
    const r = await this.store.propose({ header, requests, adminRequest: undefined }, { deadline: Number.POSITIVE_INFINITY });
    if (!r.ok) return this.failure(r.error, ctx);
    const err = r.response.header?.error;
    return err ? { ok: false, regionError: err } : { ok: true };
  }

  private failure(e: ProposalFailure, ctx: kvrpcpb.Context): { ok: false; regionError: ReturnType<typeof regionErrorToPb> } {
    switch (e.kind) {
      case "Timeout":
        throw new TxnStorageError("Timeout", `region ${ctx.regionId}: ${e.message}`);
      case "Aborted":
        throw new TxnStorageError("Aborted", `region ${ctx.regionId}: ${e.message}`);
      case "InvalidRequest":
        throw new TxnStorageError("InvalidRequest", `region ${ctx.regionId}: ${e.message}`);
      default:
        return { ok: false, regionError: regionErrorToPb(e) };
    }
  }
}
