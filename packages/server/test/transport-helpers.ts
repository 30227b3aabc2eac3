/**
 * Helpers for the transport suites: a receiving store (a real gRPC server on 127.0.0.1, port 0,
 * recording what it is handed), message builders, a map-backed resolver, a recording snapshot
 * reporter and bounded polling.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { eraftpb, metapb, regionkvpb, type raft_serverpb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import { Engine } from "@regionkv/engine";
import { RaftStore, bootstrapStore, firstRegion, prepareBootstrapRegion } from "@regionkv/raftstore";
import pino from "pino";
import { Registry } from "prom-client";
import {
  GrpcTransport,
  RAFT_TRANSPORT_SERVER_OPTIONS,
  StoreResolver,
  TransportMetrics,
  rawRaftTransportService,
  raftTransportService,
  type GrpcTransportOptions,
  type RaftTransportImplementation,
  type TransportConfig,
} from "../src/transport/index.js";

/** The smallest piece of node:test's TestContext these helpers need. */
export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

export const silent = pino({ level: "silent" });

/** Fast reconnects and handshakes for tests. */
export const FAST: Partial<TransportConfig> = { backoffBaseMs: 10, backoffMaxMs: 80, connectTimeoutMs: 2_000, closeGraceMs: 500 };

/**
 * Poll `cond` every few ms until it holds; fail the test after `timeoutMs`. Not a sleep: it returns
 * as soon as the condition is true.
 */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `waitFor` with an asynchronous condition (metrics are read asynchronously). */
export async function waitForAsync(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface MsgOptions {
  regionId?: bigint;
  fromStore?: bigint;
  toStore?: bigint;
  /** Peer ids default to the store ids. */
  fromPeer?: bigint;
  toPeer?: bigint;
  type?: eraftpb.MessageType;
  index?: bigint;
  entries?: eraftpb.Entry[];
  snapshotData?: Buffer;
}

/** A raft message between two stores; `index` is a handy sequence number for order checks. */
export function msg(o: MsgOptions = {}): raft_serverpb.RaftMessage {
  const fromStore = o.fromStore ?? 1n;
  const toStore = o.toStore ?? 2n;
  const from = o.fromPeer ?? fromStore;
  const to = o.toPeer ?? toStore;
  const type = o.type ?? eraftpb.MessageType.MsgHeartbeat;
  return {
    regionId: o.regionId ?? 1n,
    fromPeer: { id: from, storeId: fromStore, role: metapb.PeerRole.Voter },
    toPeer: { id: to, storeId: toStore, role: metapb.PeerRole.Voter },
    message: {
      msgType: type,
      to,
      from,
      term: 2n,
      logTerm: 2n,
      index: o.index ?? 0n,
      entries: o.entries ?? [],
      commit: 0n,
      snapshot:
        type === eraftpb.MessageType.MsgSnapshot
          ? { data: o.snapshotData ?? Buffer.alloc(0), metadata: { index: 10n, term: 2n, confState: { voters: [1n, 2n, 3n], learners: [] } } }
          : undefined,
      reject: false,
      rejectHint: 0n,
      context: Buffer.alloc(0),
    },
    regionEpoch: { confVer: 1n, version: 1n },
    isTombstone: false,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
  };
}

/** `n` bytes from a seeded generator. */
export function seededBytes(n: number, seed: number): Buffer {
  const r = seededRandom(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

export interface Receiver {
  storeId: bigint;
  address: string;
  port: number;
  received: raft_serverpb.RaftMessage[];
  metrics: TransportMetrics;
  /** Raft streams opened so far. */
  raftStreams: number;
  server: Server;
  stop(): void;
}

export interface ReceiverOptions {
  config?: Partial<TransportConfig>;
  /** Bind this port (a receiver coming back where a dead one was). */
  port?: number;
  /** Instead of recording (a handler that misbehaves). */
  onRaftMessage?: (m: raft_serverpb.RaftMessage) => void;
  /** Register under the generated `RaftTransportService` (grpc-js decodes) instead of the raw one. */
  generated?: boolean;
  /** Wrap the implementation (to watch or disturb streams). */
  wrap?: (impl: RaftTransportImplementation, server: Server) => RaftTransportImplementation;
}

/** A store's receiving side alone: the RaftTransport service recording what it delivers. */
export async function startReceiver(t: AfterHook, storeId: bigint, opts: ReceiverOptions = {}): Promise<Receiver> {
  const server = new Server(RAFT_TRANSPORT_SERVER_OPTIONS);
  const metrics = new TransportMetrics(new Registry());
  const rec: Receiver = {
    storeId,
    address: "",
    port: 0,
    received: [],
    metrics,
    raftStreams: 0,
    server,
    stop: () => server.forceShutdown(),
  };
  const impl = raftTransportService({ onRaftMessage: opts.onRaftMessage ?? ((m) => rec.received.push(m)) }, { storeId, metrics, config: opts.config, logger: silent });
  const counted: RaftTransportImplementation = {
    ...impl,
    raft: (call, cb) => {
      rec.raftStreams++;
      impl.raft(call, cb);
    },
  };
  server.addService(opts.generated ? regionkvpb.RaftTransportService : rawRaftTransportService, opts.wrap ? opts.wrap(counted, server) : counted);
  rec.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  rec.address = `127.0.0.1:${rec.port}`;
  t.after(() => server.forceShutdown());
  return rec;
}

/** A 127.0.0.1 port that nothing listens on (bound, then released). */
export async function deadAddress(t: AfterHook): Promise<{ address: string; port: number }> {
  const r = await startReceiver(t, 99n);
  r.stop();
  return { address: r.address, port: r.port };
}

/** A resolver over a mutable map of addresses (missing → unknown store). */
export function mapResolver(addresses: Map<bigint, string>, extra: { tombstones?: Set<bigint>; ttlMs?: number } = {}): StoreResolver {
  return new StoreResolver({
    ttlMs: extra.ttlMs ?? 60_000,
    getStore: (id) => {
      const address = addresses.get(id);
      if (extra.tombstones?.has(id)) return Promise.resolve(store(id, address ?? "", metapb.StoreState.Tombstone));
      return Promise.resolve(address === undefined ? undefined : store(id, address));
    },
  });
}

export function store(id: bigint, address: string, state = metapb.StoreState.Up): metapb.Store {
  return { id, address, state, labels: [], version: "0.1.0", statusAddress: "", startTimestamp: 0n };
}

export interface SnapshotReport {
  regionId: number;
  toPeerId: number;
  ok: boolean;
}

export interface Sender {
  transport: GrpcTransport;
  reports: SnapshotReport[];
  metrics: TransportMetrics;
}

/** A sending store: a GrpcTransport with a recording reporter, closed when the test ends. */
export function startSender(t: AfterHook, storeId: bigint, resolver: StoreResolver, opts: Partial<GrpcTransportOptions> = {}): Sender {
  const reports: SnapshotReport[] = [];
  const metrics = new TransportMetrics(new Registry());
  const transport = new GrpcTransport({
    storeId,
    resolver,
    reporter: { reportSnapshotStatus: (regionId, toPeerId, ok) => reports.push({ regionId, toPeerId, ok }) },
    logger: silent,
    random: seededRandom(Number(storeId)),
    metrics,
    ...opts,
    config: { ...FAST, ...opts.config },
  });
  t.after(() => transport.close());
  return { transport, reports, metrics };
}

/** Sum of a metric's values whose labels include `labels`. */
export async function metricValue(metrics: TransportMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  assert.ok(m, `no metric ${name}`);
  const got = await m.get();
  return got.values.filter((v) => Object.entries(labels).every(([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val)).reduce((s, v) => s + v.value, 0);
}

/**
 * A real single-store RaftStore on a fresh data directory: one region over the whole key space,
 * one peer, leading (awaited). Stopped and removed when the test ends.
 */
export async function leadingSingleStore(t: AfterHook, dirPrefix: string): Promise<{ store: RaftStore; engine: Engine; region: metapb.Region }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix));
  const region: metapb.Region = firstRegion([1]);
  const setup = Engine.open(dir);
  bootstrapStore(setup, 1n, 1n);
  prepareBootstrapRegion(setup, region);
  setup.close();
  const engine = Engine.open(dir);
  const store = new RaftStore({
    storeId: 1n,
    engine,
    transport: { send: () => true, flush: () => undefined },
    config: { raftBaseTickMs: 10, raftHeartbeatTicks: 2, raftElectionTimeoutTicks: 10, proposalTimeoutMs: 5_000 },
    seed: 1,
    logger: silent,
  });
  t.after(() => {
    store.stop();
    engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  store.start();
  await waitFor(() => store.peers.get(1)?.isLeader === true, "the single peer leads");
  return { store, engine, region };
}
