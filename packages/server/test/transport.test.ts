/**
 * GrpcTransport and the RaftTransport service over real gRPC on 127.0.0.1: ordered batches on one
 * stream per store pair, dead and returning targets, the bounded queue, chunked snapshots and
 * their reports, hostile input on the raft port, address resolution.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import { credentials, makeGenericClientConstructor, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { eraftpb, raft_serverpb, type regionkvpb } from "@regionkv/proto";
import {
  FROM_STORE_HEADER,
  TO_STORE_HEADER,
  raftTransportService,
  type RaftTransportImplementation,
} from "../src/transport/index.js";
import { deadAddress, mapResolver, metricValue, msg, seededBytes, startReceiver, startSender, waitFor } from "./transport-helpers.js";

const MiB = 1024 * 1024;

describe("raft batches", () => {
  test("many messages arrive in order, both ways, on one stream per store pair", async (t) => {
    const r1 = await startReceiver(t, 1n);
    const r2 = await startReceiver(t, 2n);
    const addrs = new Map([
      [1n, r1.address],
      [2n, r2.address],
    ]);
    const s1 = startSender(t, 1n, mapResolver(addrs));
    const s2 = startSender(t, 2n, mapResolver(addrs));
    const rounds = 50;
    const perRound = 40;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < perRound; i++) {
        const seq = BigInt(round * perRound + i);
        assert.equal(s1.transport.send(msg({ fromStore: 1n, toStore: 2n, index: seq, regionId: BigInt(1 + (i % 3)) })), true);
        assert.equal(s2.transport.send(msg({ fromStore: 2n, toStore: 1n, index: seq })), true);
      }
      s1.transport.flush();
      s2.transport.flush();
      // Let the network move between rounds, as the raft worker's event loop does.
      await new Promise((r) => setImmediate(r));
    }
    const total = rounds * perRound;
    await waitFor(() => r2.received.length === total && r1.received.length === total, `${total} messages each way`);
    assert.deepEqual(
      r2.received.map((m) => m.message!.index),
      Array.from({ length: total }, (_, i) => BigInt(i)),
      "store 2 got store 1's messages in send order",
    );
    assert.deepEqual(
      r1.received.map((m) => m.message!.index),
      Array.from({ length: total }, (_, i) => BigInt(i)),
    );
    assert.equal(r2.raftStreams, 1, "one stream from store 1 to store 2");
    assert.equal(r1.raftStreams, 1, "one stream from store 2 to store 1");
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_connects_total"), 1);
    const batches = await metricValue(s1.metrics, "regionkv_transport_batches_sent_total");
    assert.ok(batches >= 1 && batches < total, `messages travel in batches (${batches} batches for ${total} messages)`);
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_sent_total", { to_store: "2" }), total);
    assert.equal(await metricValue(r2.metrics, "regionkv_transport_messages_received_total"), total);
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total"), 0);
  });

  test("large messages are cut into several batches under maxBatchBytes, still in order", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])), { config: { maxBatchBytes: 64 * 1024 } });
    const entry = (i: number): eraftpb.Entry => ({ entryType: eraftpb.EntryType.EntryNormal, term: 2n, index: BigInt(i), data: seededBytes(20_000, i) });
    for (let i = 0; i < 30; i++) s1.transport.send(msg({ type: eraftpb.MessageType.MsgAppend, index: BigInt(i), entries: [entry(i)] }));
    await waitFor(() => s1.transport.pipeStats(2n)?.state === "ready", "the pipe is ready");
    s1.transport.flush();
    await waitFor(() => r2.received.length === 30, "30 appends");
    assert.deepEqual(
      r2.received.map((m) => m.message!.index),
      Array.from({ length: 30 }, (_, i) => BigInt(i)),
    );
    assert.ok(r2.received.every((m, i) => m.message!.entries[0]!.data.equals(entry(i).data)), "entry data intact");
    const batches = await metricValue(s1.metrics, "regionkv_transport_batches_sent_total");
    assert.ok(batches >= 10, `~3 messages per 64 KiB batch: ${batches} batches`);
  });

  test("the queue is bounded: sends beyond queueCapacity are refused, the rest is delivered", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])), { config: { queueCapacity: 8 } });
    const results = Array.from({ length: 20 }, (_, i) => s1.transport.send(msg({ index: BigInt(i) })));
    assert.deepEqual(results, [...Array<boolean>(8).fill(true), ...Array<boolean>(12).fill(false)]);
    assert.equal(s1.transport.pipeStats(2n)?.queued, 8);
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total", { reason: "queue_full" }), 12);
    await waitFor(() => r2.received.length === 8, "the 8 queued messages are written once the stream is up");
    assert.deepEqual(
      r2.received.map((m) => m.message!.index),
      [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n],
    );
  });

  test("a receiver that stops reading: flow control holds the pipe, the queue fills and refuses, nothing blocks; reading again drains it", async (t) => {
    let resume: (() => void) | undefined;
    const r2 = await startReceiver(t, 2n, {
      wrap: (impl): RaftTransportImplementation => ({
        ...impl,
        raft: (call, cb) => {
          impl.raft(call, cb);
          call.pause();
          resume = () => call.resume();
        },
      }),
    });
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])), { config: { queueCapacity: 16, maxBatchBytes: 64 * 1024 } });
    const big = seededBytes(50_000, 4);
    const accepted: bigint[] = [];
    let seq = 0n;
    let refused = 0;
    await waitFor(() => {
      for (let i = 0; i < 4; i++) {
        const index = seq++;
        const t0 = performance.now();
        const ok = s1.transport.send(msg({ type: eraftpb.MessageType.MsgAppend, index, entries: [{ entryType: eraftpb.EntryType.EntryNormal, term: 2n, index, data: big }] }));
        assert.ok(performance.now() - t0 < 50, "send returns at once");
        if (ok) accepted.push(index);
        else refused++;
      }
      s1.transport.flush();
      assert.ok(s1.transport.pipeStats(2n)!.queued <= 16, "the queue stays within queueCapacity");
      return refused >= 20;
    }, "the stalled stream backs up into the queue, which refuses more");
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total", { reason: "queue_full" }), refused);
    assert.equal(s1.transport.pipeStats(2n)?.state, "ready", "a slow receiver is not a broken one");
    assert.ok(r2.received.length < accepted.length, "the receiver has not read everything");

    resume!();
    await waitFor(() => {
      s1.transport.flush();
      return r2.received.length === accepted.length;
    }, "everything accepted is delivered once the receiver reads again");
    assert.deepEqual(
      r2.received.map((m) => m.message!.index),
      accepted,
      "in order, nothing lost",
    );
  });

  test("a dead target: sends fail fast without queueing; after it comes up, messages flow again", async (t) => {
    const dead = await deadAddress(t);
    const resolver = mapResolver(new Map([[2n, dead.address]]));
    const s1 = startSender(t, 1n, resolver, { config: { queueCapacity: 64 } });
    assert.equal(s1.transport.send(msg({ index: 0n })), true, "the first send starts connecting and is queued");
    await waitFor(() => s1.transport.pipeStats(2n)?.state === "backoff", "the connection fails");
    assert.equal(s1.transport.pipeStats(2n)?.queued, 0, "the queue is dropped on failure");

    // Raft keeps sending: every send returns at once; the queue never grows past one attempt's worth.
    let refused = 0;
    const until = Date.now() + 300;
    let maxQueued = 0;
    while (Date.now() < until) {
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) if (!s1.transport.send(msg())) refused++;
      assert.ok(performance.now() - t0 < 100, "100 sends take well under 100 ms");
      s1.transport.flush();
      maxQueued = Math.max(maxQueued, s1.transport.pipeStats(2n)!.queued);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(refused > 0, "sends are refused while the target is down");
    assert.ok(maxQueued <= 64, `queue stays bounded (max ${maxQueued})`);
    assert.ok((await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total", { reason: "disconnected" })) > 0);
    assert.ok((await metricValue(s1.metrics, "regionkv_transport_connection_failures_total")) >= 1);

    // The target comes up where it was; raft's next sends reconnect.
    const r2 = await startReceiver(t, 2n, { port: dead.port });
    let seq = 1000n;
    await waitFor(() => {
      s1.transport.send(msg({ index: seq++ }));
      s1.transport.flush();
      return r2.received.length > 0;
    }, "a message reaches the revived store");
    const fresh = Array.from({ length: 10 }, () => seq++);
    for (const index of fresh) assert.equal(s1.transport.send(msg({ index })), true, "connected: sends are queued");
    s1.transport.flush();
    await waitFor(() => r2.received.at(-1)?.message?.index === fresh.at(-1), "the queue drains");
    assert.deepEqual(
      r2.received.slice(-10).map((m) => m.message!.index),
      fresh,
    );
    assert.equal(s1.transport.pipeStats(2n)?.queued, 0);
    assert.ok((await metricValue(s1.metrics, "regionkv_transport_connects_total", { kind: "reconnect" })) >= 1);
  });

  test("a receiver that goes away mid-stream: the pipe backs off, then reconnects to the restarted store", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ index: 1n }));
    await waitFor(() => r2.received.length === 1, "first message");
    r2.stop();
    await waitFor(() => {
      s1.transport.send(msg());
      s1.transport.flush();
      return s1.transport.pipeStats(2n)?.state === "backoff";
    }, "the broken stream is noticed");
    const again = await startReceiver(t, 2n, { port: r2.port });
    await waitFor(() => {
      s1.transport.send(msg({ index: 7n }));
      s1.transport.flush();
      return again.received.length > 0;
    }, "messages reach the restarted store");
    assert.equal(again.received[0]!.message!.index, 7n);
  });
});

describe("snapshots", () => {
  test("a snapshot of several MiB arrives intact in 1 MiB chunks and is reported ok", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    const data = seededBytes(5 * MiB + 12345, 7);
    assert.equal(s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, regionId: 9n, toPeer: 22n, snapshotData: data })), true);
    await waitFor(() => s1.reports.length === 1, "the snapshot is reported");
    assert.deepEqual(s1.reports, [{ regionId: 9, toPeerId: 22, ok: true }]);
    assert.equal(r2.received.length, 1, "delivered once, as one message");
    const got = r2.received[0]!;
    assert.equal(got.message!.msgType, eraftpb.MessageType.MsgSnapshot);
    assert.equal(got.message!.snapshot!.metadata!.index, 10n);
    assert.ok(got.message!.snapshot!.data.equals(data), "snapshot data intact");
    assert.equal(s1.transport.pipeStats(2n), undefined, "snapshots do not use the batch stream");
    assert.equal(r2.raftStreams, 0);
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_snapshot_bytes_total", { direction: "send" }), data.length);
    assert.equal(await metricValue(r2.metrics, "regionkv_transport_snapshot_bytes_total", { direction: "receive" }), data.length);
    assert.equal(await metricValue(r2.metrics, "regionkv_transport_snapshots_total", { direction: "receive", result: "ok" }), 1);
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_snapshots_total", { direction: "send", result: "ok" }), 1);
  });

  test("an oversize snapshot is refused with INVALID_ARGUMENT, reported failed, and the receiver carries on", async (t) => {
    const r2 = await startReceiver(t, 2n, { config: { maxSnapshotBytes: 1 * MiB } });
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, snapshotData: seededBytes(3 * MiB, 1) }));
    await waitFor(() => s1.reports.length === 1, "the snapshot is reported");
    assert.equal(s1.reports[0]!.ok, false);
    assert.equal(r2.received.length, 0, "nothing delivered");
    assert.equal(await metricValue(r2.metrics, "regionkv_transport_streams_rejected_total", { stream: "snapshot", reason: "oversize" }), 1);
    // A snapshot within the limit and a plain message still go through.
    s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, snapshotData: seededBytes(MiB / 2, 2) }));
    s1.transport.send(msg({ index: 5n }));
    s1.transport.flush();
    await waitFor(() => s1.reports.length === 2 && r2.received.length === 2, "both delivered");
    assert.equal(s1.reports[1]!.ok, true);
  });

  test("a receiver that dies mid-snapshot: reported failed", async (t) => {
    const r2 = await startReceiver(t, 2n, {
      wrap: (impl, server): RaftTransportImplementation => ({
        ...impl,
        snapshot: (call, cb) => {
          impl.snapshot(call, cb);
          let chunks = 0;
          call.on("data", () => {
            if (++chunks === 2) server.forceShutdown();
          });
        },
      }),
    });
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, snapshotData: seededBytes(6 * MiB, 3) }));
    await waitFor(() => s1.reports.length === 1, "the snapshot is reported");
    assert.equal(s1.reports[0]!.ok, false);
    assert.equal(r2.received.length, 0);
  });

  test("an unreachable or unknown target: the snapshot is reported failed", async (t) => {
    const dead = await deadAddress(t);
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, dead.address]])));
    assert.equal(s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, toStore: 2n, snapshotData: seededBytes(1000, 1) })), true);
    assert.equal(s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, toStore: 3n, toPeer: 33n, snapshotData: seededBytes(1000, 1) })), true);
    await waitFor(() => s1.reports.length === 2, "both reported");
    assert.deepEqual(
      s1.reports.map((r) => r.ok),
      [false, false],
    );
  });

  test("sends are limited to maxConcurrentSnapshotSends; all complete", async (t) => {
    let open = 0;
    let maxOpen = 0;
    const r2 = await startReceiver(t, 2n, {
      wrap: (impl): RaftTransportImplementation => ({
        ...impl,
        snapshot: (call, cb) => {
          open++;
          maxOpen = Math.max(maxOpen, open);
          impl.snapshot(call, (err, res) => {
            open--;
            cb(err, res);
          });
        },
      }),
    });
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])), { config: { maxConcurrentSnapshotSends: 1 } });
    for (let i = 0; i < 4; i++) s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, regionId: BigInt(i + 1), snapshotData: seededBytes(2 * MiB, i) }));
    assert.deepEqual(s1.transport.snapshotStats, { active: 1, waiting: 3 });
    await waitFor(() => s1.reports.length === 4, "all four reported");
    assert.ok(s1.reports.every((r) => r.ok));
    assert.equal(maxOpen, 1, "one snapshot stream at a time");
    assert.deepEqual(
      r2.received.map((m) => m.regionId),
      [1n, 2n, 3n, 4n],
    );
  });

  test("a receiver at maxConcurrentSnapshotReceives refuses more (RESOURCE_EXHAUSTED)", async (t) => {
    let started = 0;
    const r2 = await startReceiver(t, 2n, {
      config: { maxConcurrentSnapshotReceives: 1 },
      wrap: (impl): RaftTransportImplementation => ({
        ...impl,
        snapshot: (call, cb) => {
          impl.snapshot(call, cb);
          started++;
        },
      }),
    });
    const client = rawClient(r2.address);
    t.after(() => client.close());
    const first = openSnapshotStream(client);
    first.call.write(chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot })));
    // The first stream holds the only slot until it ends.
    await waitFor(() => started === 1, "the first stream holds the slot");
    const second = openSnapshotStream(client);
    const err = await second.result;
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED);
    assert.match(err!.details, /maxConcurrentSnapshotReceives/);
    first.call.write(chunkData(Buffer.from("payload")));
    first.call.end();
    assert.equal(await first.result, undefined, "the first completes");
    assert.equal(r2.received.length, 1);
    assert.equal(r2.received[0]!.message!.snapshot!.data.toString(), "payload");
    // The slot is free again.
    const third = openSnapshotStream(client);
    third.call.write(chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot })));
    third.call.end();
    assert.equal(await third.result, undefined);
  });
});

describe("registration", () => {
  test("the implementation also serves under the generated RaftTransportService (requests decoded by grpc-js)", async (t) => {
    const r2 = await startReceiver(t, 2n, { generated: true });
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ index: 1n }));
    s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, snapshotData: seededBytes(3 * MiB, 11) }));
    await waitFor(() => r2.received.length === 2 && s1.reports.length === 1, "message and snapshot delivered");
    assert.equal(s1.reports[0]!.ok, true);
    assert.ok(r2.received.some((m) => m.message!.snapshot?.data.equals(seededBytes(3 * MiB, 11))));
    // Envelope checks still apply; only undecodable bytes are grpc-js's to answer (INTERNAL).
    const client = rawClient(r2.address);
    t.after(() => client.close());
    const bad = openRaftStream(client);
    bad.call.write(batch(msg({ toStore: 3n })));
    bad.call.end();
    assert.equal((await bad.result)?.code, status.INVALID_ARGUMENT);
    // The implementation's type fits the generated server interface.
    const typed: regionkvpb.RaftTransportServer = raftTransportService({ storeId: 2n, onRaftMessage: () => {} });
    assert.equal(typeof typed.raft, "function");
  });
});

describe("hostile input on the raft port", () => {
  test("garbage bytes on a raw TCP connection do not hurt the receiver", async (t) => {
    const r2 = await startReceiver(t, 2n);
    for (const junk of [seededBytes(4096, 5), Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\xff".repeat(500), "binary"), Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]) {
      const sock = net.connect(r2.port, "127.0.0.1");
      t.after(() => void sock.destroy());
      sock.on("error", () => {});
      sock.resume(); // read (and ignore) the server's GOAWAY so the close is seen
      await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
      sock.write(junk);
      await waitFor(() => sock.closed, "the server drops the junk connection");
    }
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ index: 1n }));
    await waitFor(() => r2.received.length === 1, "a well-formed stream still works");
  });

  test("malformed gRPC streams end with INVALID_ARGUMENT naming the problem; other streams keep working", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const client = rawClient(r2.address);
    t.after(() => client.close());
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ index: 1n }));
    await waitFor(() => r2.received.length === 1, "a healthy stream is up");

    const cases: Array<{ name: string; stream: "raft" | "snapshot"; frames: Buffer[]; details: RegExp; md?: Metadata }> = [
      { name: "undecodable batch", stream: "raft", frames: [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])], details: /undecodable RaftMessageBatch/ },
      { name: "wire type 7", stream: "raft", frames: [Buffer.from([0x0f, 1, 2])], details: /undecodable RaftMessageBatch/ },
      { name: "for another store", stream: "raft", frames: [batch(msg({ toStore: 3n }))], details: /addressed to store 3, but this is store 2/ },
      { name: "no region", stream: "raft", frames: [batch(msg({ regionId: 0n }))], details: /region id is 0/ },
      { name: "no target peer", stream: "raft", frames: [batch({ ...msg(), toPeer: undefined })], details: /no target peer/ },
      { name: "peer mismatch", stream: "raft", frames: [batch({ ...msg(), message: { ...msg().message!, to: 77n } })], details: /message.to 77 is not to_peer 2/ },
      { name: "local message type", stream: "raft", frames: [batch(msg({ type: eraftpb.MessageType.MsgHup }))], details: /local to a node/ },
      { name: "unknown message type", stream: "raft", frames: [batch({ ...msg(), message: { ...msg().message!, msgType: 99 as eraftpb.MessageType } })], details: /unknown raft message type 99/ },
      { name: "snapshot on the raft stream", stream: "raft", frames: [batch(msg({ type: eraftpb.MessageType.MsgSnapshot }))], details: /MsgSnapshot on the Raft stream/ },
      { name: "header names another store", stream: "raft", frames: [], details: /stream for store 5 reached store 2/, md: toStoreHeader(5n) },
      { name: "undecodable chunk", stream: "snapshot", frames: [Buffer.from([0x0f, 1, 2])], details: /undecodable SnapshotChunk/ },
      { name: "data before message", stream: "snapshot", frames: [chunkData(Buffer.from("abc"))], details: /data before the message chunk/ },
      { name: "no message at all", stream: "snapshot", frames: [], details: /ended before the message chunk/ },
      { name: "two messages", stream: "snapshot", frames: [chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot })), chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot }))], details: /a second message chunk/ },
      { name: "not a snapshot", stream: "snapshot", frames: [chunkMsg(msg())], details: /MsgHeartbeat on the Snapshot stream/ },
      { name: "snapshot for another store", stream: "snapshot", frames: [chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot, toStore: 4n }))], details: /addressed to store 4/ },
    ];
    for (const c of cases) {
      const s = c.stream === "raft" ? openRaftStream(client, c.md) : openSnapshotStream(client, c.md);
      for (const f of c.frames) s.call.write(f);
      s.call.end();
      const err = await s.result;
      assert.ok(err, `${c.name}: expected an error`);
      assert.equal(err.code, status.INVALID_ARGUMENT, `${c.name}: ${err.details}`);
      assert.match(err.details, c.details, c.name);
    }
    assert.equal(r2.received.length, 1, "nothing malformed was delivered");
    assert.equal(await metricValue(r2.metrics, "regionkv_transport_streams_rejected_total"), cases.length);

    // The healthy stream was never disturbed, and new ones open fine.
    s1.transport.send(msg({ index: 2n }));
    s1.transport.flush();
    await waitFor(() => r2.received.length === 2, "the healthy stream still delivers");
    assert.equal(r2.raftStreams, 1 + cases.filter((c) => c.stream === "raft").length);
    const ok = openRaftStream(client);
    ok.call.write(batch(msg({ index: 3n })));
    ok.call.end();
    assert.equal(await ok.result, undefined, "a well-formed raw stream ends with Done");
    assert.equal(r2.received.length, 3);
  });

  test("a snapshot stream that stalls is failed after snapshotRecvIdleTimeoutMs and frees its slot", async (t) => {
    const r2 = await startReceiver(t, 2n, { config: { snapshotRecvIdleTimeoutMs: 100, maxConcurrentSnapshotReceives: 1 } });
    const client = rawClient(r2.address);
    t.after(() => client.close());
    const stalled = openSnapshotStream(client);
    stalled.call.write(chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot })));
    stalled.call.write(chunkData(Buffer.from("partial")));
    const err = await stalled.result;
    assert.equal(err?.code, status.DEADLINE_EXCEEDED);
    assert.match(err!.details, /no snapshot chunk for snapshotRecvIdleTimeoutMs \(100 ms\) after 7 bytes/);
    const next = openSnapshotStream(client);
    next.call.write(chunkMsg(msg({ type: eraftpb.MessageType.MsgSnapshot })));
    next.call.end();
    assert.equal(await next.result, undefined, "the slot is free again");
    assert.equal(r2.received.length, 1);
    stalled.call.end();
  });

  test("a handler that throws fails the stream with INTERNAL, not the process", async (t) => {
    const r2 = await startReceiver(t, 2n, {
      onRaftMessage: () => {
        throw new Error("raftstore bug");
      },
    });
    const client = rawClient(r2.address);
    t.after(() => client.close());
    const s = openRaftStream(client);
    s.call.write(batch(msg()));
    s.call.end();
    const err = await s.result;
    assert.equal(err?.code, status.INTERNAL);
    assert.match(err!.details, /store 2 failed to take a raft message for region 1: raftstore bug/);
  });

  test("a batch with one bad message delivers none of it", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const client = rawClient(r2.address);
    t.after(() => client.close());
    const s = openRaftStream(client);
    s.call.write(batch(msg({ index: 1n }), msg({ index: 2n, toStore: 3n })));
    s.call.end();
    assert.equal((await s.result)?.code, status.INVALID_ARGUMENT);
    assert.equal(r2.received.length, 0);
  });
});

describe("addresses", () => {
  test("an address now served by another store: the handshake refuses it, the resolver is asked again, messages reach the right store", async (t) => {
    const r2 = await startReceiver(t, 2n);
    const r3 = await startReceiver(t, 3n);
    const addrs = new Map([[3n, r2.address]]); // stale: store 2 listens there
    const resolver = mapResolver(addrs);
    const s1 = startSender(t, 1n, resolver);
    s1.transport.send(msg({ toStore: 3n, index: 1n }));
    await waitFor(() => s1.transport.pipeStats(3n)?.state === "backoff", "the handshake names the wrong store");
    assert.equal(r2.received.length, 0, "nothing delivered to the wrong store");
    const lookups = resolver.lookups;
    addrs.set(3n, r3.address);
    await waitFor(() => {
      s1.transport.send(msg({ toStore: 3n, index: 2n }));
      s1.transport.flush();
      return r3.received.length > 0;
    }, "messages reach store 3 at its new address");
    assert.ok(resolver.lookups > lookups, "the failure made the resolver ask again");
    assert.equal(r2.received.length, 0);
  });

  test("a tombstone or unknown store: messages are dropped, send returns false once known", async (t) => {
    const resolver = mapResolver(new Map([[4n, "127.0.0.1:1"]]), { tombstones: new Set([4n]) });
    const s1 = startSender(t, 1n, resolver);
    assert.equal(s1.transport.send(msg({ toStore: 4n })), true, "unknown yet: queued while resolving");
    assert.equal(s1.transport.send(msg({ toStore: 5n })), true);
    await waitFor(() => s1.transport.pipeStats(4n)?.state === "backoff" && s1.transport.pipeStats(5n)?.state === "backoff", "resolution fails");
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total", { reason: "tombstone" }), 1);
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total", { reason: "unresolved" }), 1);
    await resolver.resolve(4n);
    assert.equal(s1.transport.send(msg({ toStore: 4n })), false, "a known tombstone: refused at once");
    assert.equal(await metricValue(s1.metrics, "regionkv_transport_messages_dropped_total", { reason: "tombstone" }), 2);
    assert.equal(s1.transport.send(msg({ toStore: 0n })), false, "no target store");
  });
});

describe("close", () => {
  test("close() writes what is queued, ends the streams, fails snapshots in flight; later sends return false", async (t) => {
    let snapshotStarted = false;
    const r2 = await startReceiver(t, 2n, {
      wrap: (impl): RaftTransportImplementation => ({
        ...impl,
        snapshot: (call, cb) => {
          snapshotStarted = true;
          impl.snapshot(call, cb);
          call.pause(); // never reads: the sender stays blocked on flow control
        },
      }),
    });
    const s1 = startSender(t, 1n, mapResolver(new Map([[2n, r2.address]])));
    s1.transport.send(msg({ index: 1n }));
    await waitFor(() => r2.received.length === 1, "connected");
    s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot, snapshotData: seededBytes(8 * MiB, 9) }));
    await waitFor(() => snapshotStarted, "a snapshot is streaming");
    s1.transport.send(msg({ index: 2n })); // queued, not flushed
    await s1.transport.close();
    assert.deepEqual(
      r2.received.map((m) => m.message!.index),
      [1n, 2n],
      "the queued message was written before the stream ended",
    );
    assert.deepEqual(
      s1.reports.map((r) => r.ok),
      [false],
      "the snapshot in flight is reported failed",
    );
    assert.equal(s1.transport.send(msg()), false);
    assert.equal(s1.transport.send(msg({ type: eraftpb.MessageType.MsgSnapshot })), false);
    assert.equal(s1.reports.length, 2, "a snapshot after close is reported failed too");
    await s1.transport.close(); // twice is fine
  });
});

// ---- a raw client: bytes in, Done (or an error) out ---------------------------------------

const RawRaftTransport = makeGenericClientConstructor(
  {
    raft: {
      path: "/regionkvpb.RaftTransport/Raft",
      requestStream: true,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
    snapshot: {
      path: "/regionkvpb.RaftTransport/Snapshot",
      requestStream: true,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  "RawRaftTransport",
);

type RawClient = InstanceType<typeof RawRaftTransport>;
type RawCall = { write(b: Buffer): boolean; end(): void };

function rawClient(address: string): RawClient {
  return new RawRaftTransport(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
}

function openStream(client: RawClient, method: "raft" | "snapshot", md = new Metadata()): { call: RawCall; result: Promise<ServiceError | undefined> } {
  let call!: RawCall;
  const result = new Promise<ServiceError | undefined>((resolve) => {
    const fn = client[method] as (md: Metadata, cb: (err: ServiceError | null) => void) => RawCall;
    call = fn.call(client, md, (err) => resolve(err ?? undefined));
  });
  return { call, result };
}

function openRaftStream(client: RawClient, md?: Metadata) {
  return openStream(client, "raft", md);
}

function openSnapshotStream(client: RawClient, md?: Metadata) {
  return openStream(client, "snapshot", md);
}

function toStoreHeader(to: bigint): Metadata {
  const md = new Metadata();
  md.set(FROM_STORE_HEADER, "1");
  md.set(TO_STORE_HEADER, String(to));
  return md;
}

function batch(...msgs: raft_serverpb.RaftMessage[]): Buffer {
  return Buffer.from(raft_serverpb.RaftMessageBatch.encode({ msgs }).finish());
}

function chunkMsg(m: raft_serverpb.RaftMessage): Buffer {
  return Buffer.from(raft_serverpb.SnapshotChunk.encode({ chunk: { $case: "message", value: m } }).finish());
}

function chunkData(b: Buffer): Buffer {
  return Buffer.from(raft_serverpb.SnapshotChunk.encode({ chunk: { $case: "data", value: b } }).finish());
}
