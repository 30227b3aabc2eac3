/**
 * What the transactional commands need from the store: a consistent view of one region (read
 * through ReadIndex on its leader) and a way to write one command's changes to that region as a
 * single raft command. `RaftTxnStorage` (raft-storage.ts) is the store's; `LocalTxnStorage`
 * (local-storage.ts) serves one engine as a single region, for tests of the command rules.
 */
import type { WriteBatch } from "@regionkv/engine";
import type { errorpb, kvrpcpb, metapb } from "@regionkv/proto";
import type { MvccView } from "./mvcc.js";

/** How long a command may take and whether its caller is still there. */
export interface TxnScope {
  /** Epoch ms by which the command must be done (the read part; a write, once proposed, is awaited). */
  deadline: number;
  signal?: AbortSignal;
}

/** A consistent view of one region. */
export interface TxnSnapshot {
  readonly view: MvccView;
  /** The region as it was when the view was taken (its epoch goes with the write). */
  readonly region: metapb.Region;
  /** The leader's term when the view was taken; a write from it is refused if leadership changed since. */
  readonly term: bigint;
  release(): void;
}

export type SnapshotResult = { ok: true; snapshot: TxnSnapshot } | { ok: false; regionError: errorpb.Error };
export type WriteResult = { ok: true } | { ok: false; regionError: errorpb.Error };

export interface TxnStorage {
  /** A view of the region named by `ctx` that reflects every write acknowledged before the call. */
  snapshot(ctx: kvrpcpb.Context, scope: TxnScope): Promise<SnapshotResult>;
  /**
   * Write `batch` to the region as one raft command, at the view's epoch and term. Resolves only
   * when the command applied or certainly will not (never on a timeout): the command keeps its
   * latches until then, so no later command on the same keys reads a view without it.
   */
  write(ctx: kvrpcpb.Context, snap: TxnSnapshot, batch: WriteBatch): Promise<WriteResult>;
  /** A timestamp from the scheduler's TSO (to bound the store's max_ts when leadership arrives). */
  tso(): Promise<bigint>;
}

/** A failure that is not a region error: the server turns it into a gRPC status. */
export class TxnStorageError extends Error {
  override readonly name = "TxnStorageError";
  constructor(
    readonly kind: "Timeout" | "Aborted" | "InvalidRequest",
    message: string,
  ) {
    super(message);
  }
}
