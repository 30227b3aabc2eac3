/**
 * Test helpers for the raftstore suites: temp data directories, region and command builders, and
 * `TestCluster`, N stores in manual mode on real engines driven by hand (simulated clock, a queue
 * transport that delivers on `pump()`, filters to cut a store off).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { Engine } from "@regionkv/engine";
import { metapb, raft_cmdpb, type raft_serverpb } from "@regionkv/proto";
import { MessageType } from "@regionkv/raft";
import pino from "pino";
import { RaftStore, bootstrapStore, prepareBootstrapRegion, type ProposalResult, type RaftstoreConfig } from "../src/index.js";
import type { SchedulerClient } from "../src/scheduler-client.js";

/** The smallest piece of node:test's TestContext these helpers need. */
export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export function tempDir(t: AfterHook, prefix = "regionkv-raftstore-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An engine in a fresh temp dir, closed (then removed) when the test ends. */
export function openEngine(t: AfterHook): Engine {
  const e = Engine.open(tempDir(t));
  t.after(() => e.close());
  return e;
}

export function b(s: string): Buffer {
  return Buffer.from(s);
}

/** A region with one voter per store id (peer id = store id), epoch 1/1. */
export function makeRegion(storeIds: number[], opts: { id?: number; start?: string; end?: string; confVer?: bigint; version?: bigint } = {}): metapb.Region {
  return {
    id: BigInt(opts.id ?? 1),
    startKey: b(opts.start ?? ""),
    endKey: b(opts.end ?? ""),
    regionEpoch: { confVer: opts.confVer ?? 1n, version: opts.version ?? 1n },
    peers: storeIds.map((i) => ({ id: BigInt(i), storeId: BigInt(i), role: metapb.PeerRole.Voter })),
  };
}

export function header(region: metapb.Region, peer: metapb.Peer | undefined, epoch = region.regionEpoch): raft_cmdpb.RaftRequestHeader {
  return { regionId: region.id, peer, readQuorum: false, regionEpoch: epoch, term: 0n, uuid: Buffer.alloc(0) };
}

export function putReq(region: metapb.Region, peer: metapb.Peer | undefined, key: string | Buffer, value: string | Buffer, cf = ""): raft_cmdpb.RaftCmdRequest {
  return {
    header: header(region, peer),
    requests: [{ cmdType: raft_cmdpb.CmdType.Put, put: { cf, key: Buffer.from(key), value: Buffer.from(value) } }],
    adminRequest: undefined,
  };
}

export function getReq(region: metapb.Region, peer: metapb.Peer | undefined, key: string | Buffer, cf = ""): raft_cmdpb.RaftCmdRequest {
  return { header: header(region, peer), requests: [{ cmdType: raft_cmdpb.CmdType.Get, get: { cf, key: Buffer.from(key) } }], adminRequest: undefined };
}

export function deleteReq(region: metapb.Region, peer: metapb.Peer | undefined, key: string, cf = ""): raft_cmdpb.RaftCmdRequest {
  return { header: header(region, peer), requests: [{ cmdType: raft_cmdpb.CmdType.Delete, delete: { cf, key: b(key) } }], adminRequest: undefined };
}

export function deleteRangeReq(region: metapb.Region, peer: metapb.Peer | undefined, start: string, end: string, cf = ""): raft_cmdpb.RaftCmdRequest {
  return {
    header: header(region, peer),
    requests: [{ cmdType: raft_cmdpb.CmdType.DeleteRange, deleteRange: { cf, startKey: b(start), endKey: b(end) } }],
    adminRequest: undefined,
  };
}

/** The result must be a success; returns its response. */
export function mustOk(r: ProposalResult): raft_cmdpb.RaftCmdResponse {
  if (!r.ok) assert.fail(`expected success, got ${r.error.kind}: ${"message" in r.error ? r.error.message : JSON.stringify(r.error, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
  assert.equal(r.response.header?.error, undefined, `response carries an error: ${r.response.header?.error?.message}`);
  return r.response;
}

/** The result must be a failure of `kind`; returns the failure. */
export function mustFail<K extends string>(r: ProposalResult, kind: K): Extract<Exclude<ProposalResult, { ok: true }>["error"], { kind: K }> {
  assert.equal(r.ok, false, `expected ${kind}, got success`);
  if (r.ok) throw new Error("unreachable");
  assert.equal(r.error.kind, kind, `expected ${kind}, got ${r.error.kind}`);
  return r.error as Extract<Exclude<ProposalResult, { ok: true }>["error"], { kind: K }>;
}

/** The region of `regionId` as the peer on `storeId` sees it. */
export function regionOn(c: TestCluster, storeId: number, regionId = 1): metapb.Region {
  const p = c.store(storeId).peers.get(regionId);
  assert.ok(p, `store ${storeId} has no peer of region ${regionId}`);
  return p.region;
}

/** Tick and run workers until `cond` holds (snapshots and splits need the workers), or fail with `what`. */
export async function until(c: TestCluster, cond: () => boolean, what: string, ticks = 60): Promise<void> {
  for (let i = 0; i < ticks && !cond(); i++) {
    c.tick();
    await c.runWorkers();
  }
  assert.ok(cond(), what);
}

/** Let promise callbacks run (not a sleep: one turn of the event loop). */
export function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A promise whose settlement can be checked synchronously, counting how often it settled. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  settled: boolean;
  value: T | undefined;
}

export function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { promise: p, settled: false, value: undefined };
  void p.then((v) => {
    t.settled = true;
    t.value = v;
  });
  return t;
}

/** Returns false to drop a message. */
export type MessageFilter = (m: raft_serverpb.RaftMessage) => boolean;

export interface ClusterOptions {
  config?: Partial<RaftstoreConfig>;
  /** The bootstrap region (default: all stores, whole key space). */
  region?: metapb.Region;
  /** Stores whose engine gets the bootstrap region (default: every store); the others start empty. */
  bootstrapOn?: number[];
  /** The scheduler client each store gets (by store id); default none. */
  scheduler?: (storeId: number) => SchedulerClient;
  seed?: number;
}

export const TEST_CONFIG: Partial<RaftstoreConfig> = {
  raftBaseTickMs: 100,
  raftHeartbeatTicks: 2,
  raftElectionTimeoutTicks: 10,
  raftLogGcTickInterval: 10,
  raftLogGcCountLimit: 1000,
  splitCheckTickInterval: 1000,
  regionHeartbeatTickInterval: 1000,
  storeHeartbeatTickInterval: 1000,
  proposalTimeoutMs: 60_000,
};

/**
 * N stores (ids 1..N) with real engines, all in manual mode and on one simulated clock. Messages
 * queue in `queue` and are delivered by `pump()`; a MsgSnapshot's delivery is reported back to
 * the sending store, as the transport must.
 */
export class TestCluster {
  now = 1_000_000;
  readonly stores = new Map<number, RaftStore>();
  readonly engines = new Map<number, Engine>();
  readonly dirs = new Map<number, string>();
  readonly region: metapb.Region;
  readonly cfg: Partial<RaftstoreConfig>;
  queue: raft_serverpb.RaftMessage[] = [];
  filters: MessageFilter[] = [];
  delivered = 0;
  private readonly seed: number;
  private readonly scheduler: ((storeId: number) => SchedulerClient) | undefined;

  constructor(
    t: AfterHook,
    readonly storeIds: number[],
    opts: ClusterOptions = {},
  ) {
    this.region = opts.region ?? makeRegion(storeIds);
    this.cfg = { ...TEST_CONFIG, ...opts.config };
    this.seed = opts.seed ?? 1;
    this.scheduler = opts.scheduler;
    // One after-hook closes every engine and then removes the directories.
    t.after(() => this.shutdown());
    for (const id of storeIds) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-raftstore-"));
      this.dirs.set(id, dir);
      const e = Engine.open(dir);
      bootstrapStore(e, 1n, BigInt(id));
      if (!opts.bootstrapOn || opts.bootstrapOn.includes(id)) prepareBootstrapRegion(e, this.region);
      this.engines.set(id, e);
    }
    for (const id of storeIds) this.startStore(id);
  }

  private makeStore(id: number): RaftStore {
    const engine = this.engines.get(id)!;
    return new RaftStore({
      storeId: BigInt(id),
      engine,
      transport: {
        send: (m) => {
          this.queue.push(m);
          return true;
        },
        flush() {},
      },
      mode: "manual",
      seed: this.seed * 1000 + id,
      clock: { now: () => this.now },
      config: this.cfg,
      logger: pino({ level: "silent" }),
      ...(this.scheduler ? { scheduler: this.scheduler(id) } : {}),
    });
  }

  startStore(id: number): RaftStore {
    if (!this.engines.has(id)) this.engines.set(id, Engine.open(this.dirs.get(id)!));
    const s = this.makeStore(id);
    this.stores.set(id, s);
    s.start();
    return s;
  }

  /** Stop a store and close its engine (its data stays on disk). */
  stopStore(id: number): void {
    this.stores.get(id)?.stop();
    this.stores.delete(id);
    this.engines.get(id)?.close();
    this.engines.delete(id);
  }

  /** Stop every store, close every engine and remove the data directories. */
  shutdown(): void {
    for (const id of [...this.stores.keys()]) this.stopStore(id);
    for (const e of this.engines.values()) e.close();
    this.engines.clear();
    for (const dir of this.dirs.values()) fs.rmSync(dir, { recursive: true, force: true });
  }

  store(id: number): RaftStore {
    const s = this.stores.get(id);
    assert.ok(s, `store ${id} is not running`);
    return s;
  }

  engine(id: number): Engine {
    const e = this.engines.get(id);
    assert.ok(e, `engine of store ${id} is not open`);
    return e;
  }

  /** Cut `id` off from every other store (both directions). */
  isolate(id: number): void {
    this.filters.push((m) => Number(m.fromPeer?.storeId) !== id && Number(m.toPeer?.storeId) !== id);
  }

  clearFilters(): void {
    this.filters = [];
  }

  /** Poll every store and deliver messages until nothing moves. */
  pump(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const s of this.stores.values()) if (s.poll()) busy = true;
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        busy = true;
        const from = Number(m.fromPeer?.storeId);
        const to = this.stores.get(Number(m.toPeer?.storeId));
        const ok = to !== undefined && this.filters.every((f) => f(m));
        if (ok) {
          to.onRaftMessage(m);
          this.delivered++;
        }
        if (m.message?.msgType === (MessageType.Snapshot as number)) {
          this.stores.get(from)?.reportSnapshotStatus(Number(m.regionId), Number(m.toPeer?.id), ok);
        }
      }
      if (!busy) return;
    }
    throw new Error(`cluster did not settle within ${maxRounds} rounds`);
  }

  /** Advance the clock by `n` base ticks, ticking every store and pumping after each. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      this.now += this.cfg.raftBaseTickMs ?? 100;
      for (const s of this.stores.values()) s.tick();
      this.pump();
    }
  }

  /** Run every store's queued background tasks, then pump. */
  async runWorkers(): Promise<number> {
    let n = 0;
    for (const s of this.stores.values()) n += await s.runWorkers();
    this.pump();
    return n;
  }

  /** The store whose peer of region 1 leads, if any. */
  leaderStore(regionId = 1): number | undefined {
    for (const [id, s] of this.stores) if (s.peers.get(regionId)?.isLeader) return id;
    return undefined;
  }

  /** Tick until a leader is elected (fails the test after 100 ticks). */
  mustElect(regionId = 1): number {
    for (let i = 0; i < 100; i++) {
      const l = this.leaderStore(regionId);
      if (l !== undefined) return l;
      this.tick();
    }
    assert.fail(`no leader of region ${regionId} after 100 ticks`);
  }

  peerOf(storeId: number): metapb.Peer {
    const p = this.region.peers.find((x) => Number(x.storeId) === storeId);
    assert.ok(p, `store ${storeId} has no peer of the region`);
    return p;
  }

  /** Propose on `storeId`, driving the cluster (pump, then ticks) until the proposal settles. */
  async propose(storeId: number, req: raft_cmdpb.RaftCmdRequest, opts: { maxTicks?: number; signal?: AbortSignal } = {}): Promise<ProposalResult> {
    const p = track(this.store(storeId).propose(req, { signal: opts.signal }));
    this.pump();
    await turn();
    for (let i = 0; !p.settled && i < (opts.maxTicks ?? 50); i++) {
      this.tick();
      await turn();
    }
    assert.ok(p.settled, "proposal did not settle");
    return p.value!;
  }

  async mustPut(storeId: number, key: string | Buffer, value: string | Buffer, cf = ""): Promise<void> {
    mustOk(await this.propose(storeId, putReq(this.region, this.peerOf(storeId), key, value, cf)));
  }

  async mustGet(storeId: number, key: string | Buffer, cf = ""): Promise<string | undefined> {
    const resp = mustOk(await this.propose(storeId, getReq(this.region, this.peerOf(storeId), key, cf)));
    const v = resp.responses[0]?.get?.value;
    return v && v.byteLength > 0 ? v.toString() : undefined;
  }
}
