/**
 * Region helpers for the transaction e2e tests: split at a key and wait until the scheduler sees
 * the new region; find the store leading the most regions (the one whose kill -9 hurts most); send
 * raw Kv RPCs to a region's leader (LeaderKv), e.g. to list every lock left in the lock column
 * family (KvScanLock) or to try a late commit or rollback of a transaction the client gave up on.
 */
import * as grpc from "@grpc/grpc-js";
import { kvrpcpb, regionkvpb, type metapb } from "@regionkv/proto";
import type { SchedulerRpcClient } from "@regionkv/scheduler/client";
import type { ProcessCluster } from "./processes.js";

const EMPTY = Buffer.alloc(0);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Split the region holding `key` at `key` (a manual split operator on the scheduler, as
 * `regionkv ctl split` adds) and wait until the scheduler knows a region starting there.
 * Resolves with the new region's id; rejects after `timeoutMs`.
 */
export async function mustSplitAt(sched: SchedulerRpcClient, key: string, timeoutMs = 20_000): Promise<bigint> {
  const k = Buffer.from(key);
  const deadline = Date.now() + timeoutMs;
  let askedAt = 0;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    const r = await sched.getRegion(k).catch((e: unknown) => ((lastErr = e), undefined));
    if (r && r.region.startKey.equals(k)) return r.region.id;
    if (r && Date.now() - askedAt > 3_000) {
      askedAt = Date.now();
      // Refused while another operator runs on the region: asked again after 3 s.
      await sched.addOperator(r.region.id, { kind: "split", keys: [k] }).catch((e: unknown) => (lastErr = e));
    }
    await sleep(100);
  }
  throw new Error(`split at ${JSON.stringify(key)} not visible at the scheduler within ${timeoutMs} ms (last error: ${String(lastErr)})`);
}

/** Index of the running store that reports the most region leaders (waits up to `timeoutMs` for any). */
export async function busiestLeaderStore(c: ProcessCluster, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let best = -1;
    let bestCount = 0;
    for (const s of c.stores) {
      if (!s.proc.running) continue;
      const st = await c.status(s.index);
      const n = st?.regions.filter((r) => r.leader).length ?? 0;
      if (n > bestCount) {
        best = s.index;
        bestCount = n;
      }
    }
    if (best >= 0) return best;
    await sleep(100);
  }
  throw new Error(`no store reported a region leader within ${timeoutMs} ms`);
}

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown;

/** The Kv RPCs the tests send by hand (the client's own paths are what they check). */
type LeaderRpc = "kvScanLock" | "kvCommit" | "kvBatchRollback";

/**
 * Raw Kv RPCs to the leader of the region holding a key, routed through the scheduler; region
 * errors and transport failures are retried with fresh routing until the call's deadline.
 */
export class LeaderKv {
  private readonly clients = new Map<string, regionkvpb.KvClient>();

  constructor(private readonly sched: SchedulerRpcClient) {}

  /** `build` gets the routing context and the region; resolves with the first answer that is not a region error. */
  async call<Req, Res extends { regionError?: unknown }>(
    rpc: LeaderRpc,
    key: Buffer,
    build: (context: kvrpcpb.Context, region: metapb.Region) => Req,
    timeoutMs = 15_000,
  ): Promise<{ res: Res; region: metapb.Region }> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = "";
    while (Date.now() < deadline) {
      const [r] = await this.sched.scanRegions(key, EMPTY, 1).catch(() => []);
      const store = r?.leader ? await this.sched.getStore(r.leader.storeId).catch(() => undefined) : undefined;
      if (!r || !r.leader || !store) {
        lastProblem = "the scheduler knows no leader (or its store)";
        await sleep(100);
        continue;
      }
      let kv = this.clients.get(store.address);
      if (!kv) {
        kv = new regionkvpb.KvClient(store.address, grpc.credentials.createInsecure());
        this.clients.set(store.address, kv);
      }
      const fn = (kv[rpc] as unknown as Unary<Req, Res>).bind(kv);
      const req = build({ regionId: r.region.id, regionEpoch: r.region.regionEpoch, peer: r.leader, term: 0n, resolvedLocks: [] }, r.region);
      const { err, res } = await new Promise<{ err: grpc.ServiceError | null; res: Res | undefined }>((resolve) => fn(req, (e, v) => resolve({ err: e, res: v })));
      if (!err && res && !res.regionError) return { res, region: r.region };
      lastProblem = err ? `gRPC ${err.code} ${err.details}` : JSON.stringify(res?.regionError ?? "no response", (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
      await sleep(100);
    }
    throw new Error(`${rpc} for key ${JSON.stringify(key.toString())}: no answer from a leader within ${timeoutMs} ms: ${lastProblem}`);
  }

  close(): void {
    for (const kv of this.clients.values()) kv.close();
    this.clients.clear();
  }
}

/**
 * Every lock in the lock column family of every region, asked of each region's leader with
 * KvScanLock (max version: all). Rejects rather than answer with a partial list.
 */
export async function scanAllLocks(sched: SchedulerRpcClient, timeoutMs = 15_000): Promise<kvrpcpb.LockInfo[]> {
  const kv = new LeaderKv(sched);
  try {
    const out: kvrpcpb.LockInfo[] = [];
    let cursor: Buffer = EMPTY;
    for (;;) {
      const { res, region } = await kv.call<kvrpcpb.ScanLockRequest, kvrpcpb.ScanLockResponse>("kvScanLock", cursor, (context, region) =>
        kvrpcpb.ScanLockRequest.fromPartial({ context, maxVersion: (1n << 63n) - 1n, startKey: region.startKey, endKey: region.endKey, limit: 10_000 }),
        timeoutMs,
      );
      if (res.error) throw new Error(`KvScanLock failed: ${JSON.stringify(res.error.kind)}`);
      out.push(...res.locks);
      if (region.endKey.length === 0) return out;
      cursor = region.endKey;
    }
  } finally {
    kv.close();
  }
}

/** Stable text for a list of locks (test messages). */
export function describeLocks(locks: readonly kvrpcpb.LockInfo[]): string {
  if (locks.length === 0) return "no locks";
  return locks.map((l) => `${JSON.stringify(l.key.toString())}@${l.lockVersion} (primary ${JSON.stringify(l.primaryLock.toString())}, ttl ${l.lockTtl})`).join(", ");
}
