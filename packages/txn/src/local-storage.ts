/**
 * `TxnStorage` over one engine, without raft: the whole key space as one region (id 1). For
 * tests of the command rules on a real engine, and for tools. Writes apply synchronously.
 */
import type { WriteBatch} from "@regionkv/engine";
import { type Engine } from "@regionkv/engine";
import { composeTs, type kvrpcpb, type metapb } from "@regionkv/proto";
import type { SnapshotResult, TxnSnapshot, TxnStorage, WriteResult } from "./storage.js";

export class LocalTxnStorage implements TxnStorage {
  readonly region: metapb.Region = { id: 1n, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: 1n, version: 1n }, peers: [] };
  /** Batches written, in order (tests look at them). */
  readonly written: WriteBatch[] = [];
  private ts = composeTs(1n, 0n);

  constructor(readonly engine: Engine) {}

  async snapshot(_ctx: kvrpcpb.Context): Promise<SnapshotResult> {
    const view = this.engine.snapshot();
    const snapshot: TxnSnapshot = { view, region: this.region, term: 1n, release: () => view.release() };
    return { ok: true, snapshot };
  }

  async write(_ctx: kvrpcpb.Context, _snap: TxnSnapshot, batch: WriteBatch): Promise<WriteResult> {
    this.engine.write(batch);
    this.written.push(batch);
    return { ok: true };
  }

  async tso(): Promise<bigint> {
    this.ts += 1n;
    return this.ts;
  }

  /** Make `tso()` answer above `ts` from now on. */
  advanceTso(ts: bigint): void {
    if (ts > this.ts) this.ts = ts;
  }
}
