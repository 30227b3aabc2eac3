import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { eraftpb, errorpb, kvrpcpb, metapb, raft_serverpb, regionkvpb, schedulerpb } from "../src/index.js";

const { MessageType, EntryType } = eraftpb;

function peer(id: bigint, storeId: bigint): metapb.Peer {
  return { id, storeId, role: metapb.PeerRole.Voter };
}

function region(id: bigint, start: string, end: string): metapb.Region {
  return {
    id,
    startKey: Buffer.from(start),
    endKey: Buffer.from(end),
    regionEpoch: { confVer: 3n, version: 7n },
    peers: [peer(11n, 1n), peer(12n, 2n), peer(13n, 3n)],
  };
}

test("RaftMessage with entries round-trips", () => {
  const msg: raft_serverpb.RaftMessage = raft_serverpb.RaftMessage.fromPartial({
    regionId: 5n,
    fromPeer: peer(11n, 1n),
    toPeer: peer(12n, 2n),
    regionEpoch: { confVer: 3n, version: 7n },
    message: {
      msgType: MessageType.MsgAppend,
      from: 11n,
      to: 12n,
      term: 9n,
      logTerm: 8n,
      index: 41n,
      commit: 40n,
      entries: [
        { entryType: EntryType.EntryNormal, term: 9n, index: 42n, data: Buffer.from("put k v") },
        { entryType: EntryType.EntryConfChange, term: 9n, index: 43n, data: Buffer.from([0, 1, 2, 255]) },
      ],
    },
  });
  const bytes = raft_serverpb.RaftMessage.encode(msg).finish();
  const back = raft_serverpb.RaftMessage.decode(bytes);
  assert.deepEqual(back, msg);
  assert.equal(back.message?.entries.length, 2);
  assert.equal(back.message?.entries[1]?.entryType, EntryType.EntryConfChange);
  // Defaults are filled in on decode: scalars are never undefined, absent messages are.
  assert.equal(back.isTombstone, false);
  assert.equal(back.message?.snapshot, undefined);
});

test("RaftMessage with a snapshot round-trips, snapshot data nests RaftSnapshotData", () => {
  const snapData: raft_serverpb.RaftSnapshotData = raft_serverpb.RaftSnapshotData.fromPartial({
    region: region(5n, "a", "m"),
    fileSize: 3n,
    meta: { cfFiles: [{ cf: "default", size: 3n, checksum: 0xdeadbeef, kvCount: 1n }] },
  });
  const msg = raft_serverpb.RaftMessage.fromPartial({
    regionId: 5n,
    fromPeer: peer(11n, 1n),
    toPeer: peer(14n, 4n),
    startKey: Buffer.from("a"),
    endKey: Buffer.from("m"),
    message: {
      msgType: MessageType.MsgSnapshot,
      from: 11n,
      to: 14n,
      term: 9n,
      snapshot: {
        data: Buffer.from(raft_serverpb.RaftSnapshotData.encode(snapData).finish()),
        metadata: { index: 100n, term: 9n, confState: { voters: [11n, 12n, 13n], learners: [14n] } },
      },
    },
  });
  const back = raft_serverpb.RaftMessage.decode(raft_serverpb.RaftMessage.encode(msg).finish());
  assert.deepEqual(back, msg);
  const snap = back.message?.snapshot;
  assert.ok(snap);
  assert.deepEqual(snap.metadata?.confState?.learners, [14n]);
  assert.deepEqual(raft_serverpb.RaftSnapshotData.decode(snap.data), snapData);

  // The Snapshot stream: first chunk carries the message, later ones bytes.
  const chunks: raft_serverpb.SnapshotChunk[] = [
    { chunk: { $case: "message", value: msg } },
    { chunk: { $case: "data", value: Buffer.from("abc") } },
  ];
  for (const c of chunks) {
    assert.deepEqual(raft_serverpb.SnapshotChunk.decode(raft_serverpb.SnapshotChunk.encode(c).finish()), c);
  }
});

test("errorpb.Error oneof kind round-trips as a discriminated union", () => {
  const err: errorpb.Error = {
    message: "epoch not match",
    kind: { $case: "epochNotMatch", value: { currentRegions: [region(5n, "a", "m"), region(6n, "m", "")] } },
  };
  const back = errorpb.Error.decode(errorpb.Error.encode(err).finish());
  assert.deepEqual(back, err);
  switch (back.kind?.$case) {
    case "epochNotMatch":
      assert.equal(back.kind.value.currentRegions[1]?.id, 6n);
      break;
    default:
      assert.fail(`unexpected kind ${back.kind?.$case}`);
  }

  // An empty message in the oneof is still present on the wire.
  const stale = errorpb.Error.decode(
    errorpb.Error.encode({ message: "stale", kind: { $case: "staleCommand", value: {} } }).finish(),
  );
  assert.equal(stale.kind?.$case, "staleCommand");

  // No kind: a generic error.
  const generic = errorpb.Error.decode(errorpb.Error.encode({ message: "boom" }).finish());
  assert.equal(generic.kind, undefined);

  // KeyError's kinds include scalars.
  const keyErr: kvrpcpb.KeyError = { kind: { $case: "retryable", value: "write conflict" } };
  assert.deepEqual(kvrpcpb.KeyError.decode(kvrpcpb.KeyError.encode(keyErr).finish()), keyErr);
});

test("64-bit fields are bigints and keep TSO-sized values exactly", () => {
  const physicalMs = 1_790_000_000_000n;
  const ts = (physicalMs << 18n) | 12_345n;
  assert.ok(ts > BigInt(Number.MAX_SAFE_INTEGER));

  const req: kvrpcpb.GetRequest = { context: { regionId: 1n, term: 0n, resolvedLocks: [] }, key: Buffer.from("k"), version: ts };
  const back = kvrpcpb.GetRequest.decode(kvrpcpb.GetRequest.encode(req).finish());
  assert.equal(typeof back.version, "bigint");
  assert.equal(back.version, ts);

  const maxU64 = 2n ** 64n - 1n;
  const commit = kvrpcpb.CommitRequest.fromPartial({ startVersion: ts, commitVersion: maxU64, keys: [Buffer.from("k")] });
  assert.equal(kvrpcpb.CommitRequest.decode(kvrpcpb.CommitRequest.encode(commit).finish()).commitVersion, maxU64);

  const tso: schedulerpb.TsoResponse = {
    count: 10,
    timestamp: { physical: physicalMs, logical: 12_345n },
  };
  const tsoBack = schedulerpb.TsoResponse.decode(schedulerpb.TsoResponse.encode(tso).finish());
  assert.equal((tsoBack.timestamp!.physical << 18n) | tsoBack.timestamp!.logical, ts);
});

test("grpc-js service definitions have the expected paths and stream flags", () => {
  type Def = { path: string; requestStream: boolean; responseStream: boolean };
  const check = (def: Def, path: string, requestStream: boolean, responseStream: boolean): void => {
    assert.deepEqual(
      { path: def.path, requestStream: def.requestStream, responseStream: def.responseStream },
      { path, requestStream, responseStream },
    );
  };

  check(regionkvpb.RaftTransportService.raft, "/regionkvpb.RaftTransport/Raft", true, false);
  check(regionkvpb.RaftTransportService.snapshot, "/regionkvpb.RaftTransport/Snapshot", true, false);
  check(schedulerpb.SchedulerService.regionHeartbeat, "/schedulerpb.Scheduler/RegionHeartbeat", true, true);
  check(schedulerpb.SchedulerService.tso, "/schedulerpb.Scheduler/Tso", true, true);
  check(schedulerpb.SchedulerService.allocId, "/schedulerpb.Scheduler/AllocID", false, false);
  check(schedulerpb.SchedulerService.askBatchSplit, "/schedulerpb.Scheduler/AskBatchSplit", false, false);
  check(regionkvpb.KvService.rawCompareAndSwap, "/regionkvpb.Kv/RawCompareAndSwap", false, false);
  check(regionkvpb.KvService.batchCommands, "/regionkvpb.Kv/BatchCommands", true, true);

  // Every other Kv RPC is unary and named after its method.
  const kvMethods = (Object.values(regionkvpb.KvService) as Def[]).filter((m) => m.path !== "/regionkvpb.Kv/BatchCommands");
  assert.equal(kvMethods.length, 21);
  for (const m of kvMethods) {
    assert.match(m.path, /^\/regionkvpb\.Kv\/(Kv|Raw)[A-Za-z]+$/);
    assert.equal(m.requestStream, false, m.path);
    assert.equal(m.responseStream, false, m.path);
  }
  assert.equal(Object.keys(schedulerpb.SchedulerService).length, 26);
});

test("Raft client stream works end to end over grpc-js on loopback", async () => {
  const received: raft_serverpb.RaftMessage[] = [];
  const impl: regionkvpb.RaftTransportServer = {
    raft(call, callback) {
      call.on("data", (batch: raft_serverpb.RaftMessageBatch) => received.push(...batch.msgs));
      call.on("end", () => callback(null, {}));
    },
    snapshot(_call, callback) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" });
    },
  };
  const server = new grpc.Server();
  server.addService(regionkvpb.RaftTransportService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const client = new regionkvpb.RaftTransportClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const heartbeat = (to: bigint): raft_serverpb.RaftMessage =>
      raft_serverpb.RaftMessage.fromPartial({
        regionId: 1n,
        fromPeer: peer(1n, 1n),
        toPeer: peer(to, to),
        message: { msgType: MessageType.MsgHeartbeat, from: 1n, to, term: 3n },
      });
    const done = await new Promise<raft_serverpb.Done>((resolve, reject) => {
      const stream = client.raft((err, res) => (err ? reject(err) : resolve(res!)));
      stream.write({ msgs: [heartbeat(2n), heartbeat(3n)] });
      stream.write({ msgs: [heartbeat(4n)] });
      stream.end();
    });
    assert.deepEqual(done, {});
    assert.deepEqual(
      received.map((m) => m.toPeer?.id),
      [2n, 3n, 4n],
    );
  } finally {
    client.close();
    server.forceShutdown();
  }
});
