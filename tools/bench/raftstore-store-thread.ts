/**
 * One store of the threaded raftstore benchmark, in its own worker thread: a production-mode
 * RaftStore on its own SQLite file, talking to the other stores over MessagePorts (protobuf-
 * encoded RaftMessages, as on the wire). The main thread asks it for its role, to run a load
 * (when it leads the region), for stats, and to close.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { Engine } from "@regionkv/engine";
import type { metapb} from "@regionkv/proto";
import { raft_cmdpb, raft_serverpb } from "@regionkv/proto";
import { MessageType } from "@regionkv/raft";
import { RaftStore, bootstrapStore, firstRegion, prepareBootstrapRegion } from "@regionkv/raftstore";

interface Init {
  storeId: number;
  dir: string;
  storeIds: number[];
  ports: Record<string, MessagePort>;
}

export type ThreadRequest =
  | { op: "isLeader" }
  | { op: "run"; inFlight: number; total: number; tag: string; valueBytes: number }
  | { op: "stats" }
  | { op: "close" };

const init = workerData as Init;
const region: metapb.Region = firstRegion(init.storeIds);
const engine = Engine.open(init.dir);
bootstrapStore(engine, 1n, BigInt(init.storeId));
prepareBootstrapRegion(engine, region);

const store: RaftStore = new RaftStore({
  storeId: BigInt(init.storeId),
  engine,
  seed: init.storeId,
  transport: {
    send(msg) {
      const port = init.ports[String(msg.toPeer?.storeId)];
      if (!port) return false;
      port.postMessage(raft_serverpb.RaftMessage.encode(msg).finish());
      if (msg.message?.msgType === (MessageType.Snapshot as number)) store.reportSnapshotStatus(1, Number(msg.toPeer!.id), true);
      return true;
    },
    flush() {},
  },
});
for (const port of Object.values(init.ports)) {
  port.on("message", (bytes: Uint8Array) => store.onRaftMessage(raft_serverpb.RaftMessage.decode(bytes)));
}
store.start();

async function runLoad(inFlight: number, total: number, tag: string, valueBytes: number): Promise<{ ok: number; secs: number; failures: Record<string, number> }> {
  const peer = region.peers.find((p) => Number(p.storeId) === init.storeId)!;
  const value = Buffer.alloc(valueBytes, 0x61);
  let next = 0;
  let ok = 0;
  const failures: Record<string, number> = {};
  const t0 = performance.now();
  const loop = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const r = await store.propose({
        header: { regionId: 1n, peer, readQuorum: false, regionEpoch: region.regionEpoch, term: 0n, uuid: Buffer.alloc(0) },
        requests: [{ cmdType: raft_cmdpb.CmdType.Put, put: { cf: "", key: Buffer.from(`${tag}-${String(i).padStart(8, "0")}`), value } }],
        adminRequest: undefined,
      });
      if (r.ok && !r.response.header?.error) ok++;
      else {
        const kind = r.ok ? (r.response.header?.error?.message ?? "error") : r.error.kind;
        failures[kind] = (failures[kind] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, () => loop()));
  return { ok, secs: (performance.now() - t0) / 1000, failures };
}

parentPort!.on("message", (req: ThreadRequest) => {
  void (async () => {
    switch (req.op) {
      case "isLeader":
        parentPort!.postMessage({ isLeader: store.peers.get(1)?.isLeader ?? false });
        return;
      case "run":
        parentPort!.postMessage(await runLoad(req.inFlight, req.total, req.tag, req.valueBytes));
        return;
      case "stats": {
        const v = await store.metrics.groupCommitBatchPeers.get();
        const count = v.values.find((s) => (s as { metricName?: string }).metricName?.endsWith("_count"))?.value ?? 0;
        const fsyncs = (await store.metrics.fsyncs.get()).values[0]?.value ?? 0;
        parentPort!.postMessage({ groupCommits: count, fsyncs, lastIndex: store.peers.get(1)!.storage.lastIndex() });
        return;
      }
      case "close":
        store.stop();
        engine.close();
        for (const port of Object.values(init.ports)) port.close();
        parentPort!.postMessage({ closed: true });
        return;
    }
  })();
});
