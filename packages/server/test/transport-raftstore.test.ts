/**
 * Three real RaftStores (production mode: their own tick timers and raft worker loops) on real
 * engines, talking only through GrpcTransport and the RaftTransport service on 127.0.0.1: they
 * elect a leader and replicate writes; a store that was down while the leader compacted its log
 * comes back at a new address and catches up through a snapshot streamed over gRPC.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { Engine } from "@regionkv/engine";
import { raft_cmdpb, type metapb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import { RaftStore, bootstrapStore, firstRegion, prepareBootstrapRegion, type RaftstoreConfig } from "@regionkv/raftstore";
import { Registry } from "prom-client";
import { GrpcTransport, RAFT_TRANSPORT_SERVER_OPTIONS, TransportMetrics, rawRaftTransportService, raftTransportService } from "../src/transport/index.js";
import { FAST, mapResolver, metricValue, silent, waitFor, waitForAsync, type AfterHook } from "./transport-helpers.js";

const CONFIG: Partial<RaftstoreConfig> = {
  raftBaseTickMs: 10,
  raftHeartbeatTicks: 2,
  raftElectionTimeoutTicks: 10,
  raftLogGcTickInterval: 2,
  raftLogGcCountLimit: 10,
  splitCheckTickInterval: 100_000,
  regionHeartbeatTickInterval: 100_000,
  storeHeartbeatTickInterval: 100_000,
  proposalTimeoutMs: 10_000,
};

interface Node {
  id: number;
  engine: Engine;
  store: RaftStore;
  transport: GrpcTransport;
  server: Server;
  address: string;
  metrics: TransportMetrics;
}

class GrpcCluster {
  readonly region: metapb.Region;
  readonly addresses = new Map<bigint, string>();
  readonly nodes = new Map<number, Node>();
  readonly dirs = new Map<number, string>();

  constructor(
    t: AfterHook,
    readonly ids: number[],
  ) {
    this.region = firstRegion(ids);
    for (const id of ids) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-transport-"));
      this.dirs.set(id, dir);
      const e = Engine.open(dir);
      bootstrapStore(e, 1n, BigInt(id));
      prepareBootstrapRegion(e, this.region);
      e.close();
    }
    t.after(async () => {
      for (const id of [...this.nodes.keys()]) await this.stop(id);
      for (const dir of this.dirs.values()) fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  /** Open the store's engine, bind its gRPC port (a new one each time), start its RaftStore. */
  async start(id: number): Promise<Node> {
    const engine = Engine.open(this.dirs.get(id)!);
    const server = new Server(RAFT_TRANSPORT_SERVER_OPTIONS);
    const metrics = new TransportMetrics(new Registry());
    // The service and the transport are built before the store they forward to.
    const ref: { store?: RaftStore } = {};
    server.addService(
      rawRaftTransportService,
      raftTransportService({ onRaftMessage: (m) => ref.store?.onRaftMessage(m) }, { storeId: BigInt(id), metrics, logger: silent }),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const address = `127.0.0.1:${port}`;
    this.addresses.set(BigInt(id), address);
    const transport = new GrpcTransport({
      storeId: BigInt(id),
      resolver: mapResolver(this.addresses),
      reporter: { reportSnapshotStatus: (r, p, ok) => ref.store?.reportSnapshotStatus(r, p, ok) },
      metrics,
      logger: silent,
      random: seededRandom(id),
      config: FAST,
    });
    const store = new RaftStore({ storeId: BigInt(id), engine, transport, config: CONFIG, seed: id, logger: silent });
    ref.store = store;
    const node: Node = { id, engine, store, transport, server, address, metrics };
    this.nodes.set(id, node);
    store.start();
    return node;
  }

  async stop(id: number): Promise<void> {
    const n = this.nodes.get(id);
    if (!n) return;
    this.nodes.delete(id);
    n.store.stop();
    n.server.forceShutdown();
    await n.transport.close();
    n.engine.close();
  }

  leader(): Node | undefined {
    return [...this.nodes.values()].find((n) => n.store.peers.get(Number(this.region.id))?.isLeader);
  }

  async mustPut(key: string, value: string): Promise<void> {
    const l = this.leader();
    assert.ok(l, "no leader");
    const peer = this.region.peers.find((p) => Number(p.storeId) === l.id);
    const r = await l.store.propose({
      header: { regionId: this.region.id, peer, readQuorum: false, regionEpoch: this.region.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
      requests: [{ cmdType: raft_cmdpb.CmdType.Put, put: { cf: "", key: Buffer.from(key), value: Buffer.from(value) } }],
      adminRequest: undefined,
    });
    assert.ok(r.ok, `put ${key}: ${r.ok ? "" : r.error.kind}`);
  }
}

function valueOf(n: Node, key: string): string | undefined {
  return n.engine.get("default", Buffer.from(key))?.toString();
}

test("three RaftStores over gRPC elect a leader, replicate, and catch a returning store up by snapshot", async (t) => {
  const c = new GrpcCluster(t, [1, 2, 3]);
  for (const id of c.ids) await c.start(id);
  await waitFor(() => c.leader() !== undefined, "a leader is elected");
  await c.mustPut("k1", "v1");
  await waitFor(() => [...c.nodes.values()].every((n) => valueOf(n, "k1") === "v1"), "k1 is applied on every store");

  // A follower goes down; the others write on and compact their logs past it.
  const lagging = c.ids.find((id) => id !== c.leader()!.id)!;
  await c.stop(lagging);
  for (let i = 0; i < 40; i++) await c.mustPut(`k${100 + i}`, `v${i}`);
  const leader = c.leader()!;
  await waitFor(() => Number(leader.engine.getApplyState(1)?.truncatedState?.index ?? 0n) > 20, "the leader compacts its log");

  // It comes back at a new address: the leader's pipe re-resolves, and a snapshot brings it up to date.
  const back = await c.start(lagging);
  await waitFor(() => valueOf(back, "k139") === "v39", "the returning store has the data written while it was down", 20_000);
  assert.equal(valueOf(back, "k1"), "v1");
  assert.ok((await metricValue(back.metrics, "regionkv_transport_snapshots_total", { direction: "receive", result: "ok" })) >= 1, "it came by snapshot");
  const sentOk = async (): Promise<number> => {
    let n = 0;
    for (const node of c.nodes.values()) n += await metricValue(node.metrics, "regionkv_transport_snapshots_total", { direction: "send", result: "ok" });
    return n;
  };
  await waitForAsync(async () => (await sentOk()) >= 1, "the sender hears the receiver's Done and reports the snapshot sent");

  // And replication carries on normally afterwards.
  await c.mustPut("after", "snap");
  await waitFor(() => valueOf(back, "after") === "snap", "replication continues after the snapshot");
});
