/**
 * The transport's parts without a network: the store resolver on a driven clock, reconnect
 * backoff, snapshot reassembly, envelope checks, config validation.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eraftpb, metapb, type raft_serverpb } from "@regionkv/proto";
import { seededRandom } from "@regionkv/raft";
import { Gauge, Registry } from "prom-client";
import { Backoff } from "../src/transport/backoff.js";
import { checkRaftMessage, describeProblem, type InputProblem } from "../src/transport/message-check.js";
import { SnapshotAssembly } from "../src/transport/snapshot-assembly.js";
import { StoreResolver, TransportConfigError, TransportMetrics, describeResolveError, resolveTransportConfig } from "../src/transport/index.js";
import { msg, store } from "./transport-helpers.js";

describe("StoreResolver", () => {
  function fixture() {
    const clock = { t: 1_000, now: () => clock.t };
    const stores = new Map<bigint, metapb.Store>([[2n, store(2n, "10.0.0.2:20160")]]);
    let failing = false;
    const resolver = new StoreResolver({
      clock,
      ttlMs: 60_000,
      notFoundTtlMs: 1_000,
      getStore: async (id) => {
        if (failing) throw new Error("scheduler unreachable");
        return stores.get(id);
      },
    });
    return { clock, stores, resolver, setFailing: (f: boolean) => (failing = f) };
  }

  test("caches an address for ttlMs, then asks again", async () => {
    const f = fixture();
    assert.equal(f.resolver.peek(2n), undefined, "nothing cached yet");
    assert.deepEqual(await f.resolver.resolve(2n), { ok: true, address: "10.0.0.2:20160" });
    for (let i = 0; i < 5; i++) await f.resolver.resolve(2n);
    assert.equal(f.resolver.lookups, 1, "served from the cache");
    assert.deepEqual(f.resolver.peek(2n), { ok: true, address: "10.0.0.2:20160" });
    f.stores.set(2n, store(2n, "10.0.0.9:20160"));
    f.clock.t += 59_999;
    assert.equal((await f.resolver.resolve(2n)).ok && f.resolver.lookups, 1, "still fresh");
    f.clock.t += 1;
    assert.deepEqual(await f.resolver.resolve(2n), { ok: true, address: "10.0.0.9:20160" }, "expired: asked again");
    assert.equal(f.resolver.lookups, 2);
  });

  test("invalidate (a connection failed) makes the next resolve ask again", async () => {
    const f = fixture();
    await f.resolver.resolve(2n);
    f.stores.set(2n, store(2n, "10.0.0.7:1"));
    f.resolver.invalidate(2n);
    assert.equal(f.resolver.peek(2n), undefined);
    assert.deepEqual(await f.resolver.resolve(2n), { ok: true, address: "10.0.0.7:1" });
    assert.equal(f.resolver.lookups, 2);
    f.resolver.invalidate(42n); // unknown: nothing to do
  });

  test("concurrent resolves of one store share one lookup", async () => {
    const f = fixture();
    const all = await Promise.all([f.resolver.resolve(2n), f.resolver.resolve(2n), f.resolver.resolve(2n)]);
    assert.equal(f.resolver.lookups, 1);
    assert.ok(all.every((r) => r.ok));
  });

  test("a failed lookup falls back to the last known address; without one it is an error, not cached", async () => {
    const f = fixture();
    await f.resolver.resolve(2n);
    f.resolver.invalidate(2n);
    f.setFailing(true);
    assert.deepEqual(await f.resolver.resolve(2n), { ok: true, address: "10.0.0.2:20160" }, "stale-if-error");
    const r = await f.resolver.resolve(3n);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.kind === "LookupFailed");
    assert.match(describeResolveError(!r.ok ? r.error : { kind: "NotFound", storeId: 0n }), /looking up store 3 failed: scheduler unreachable/);
    f.setFailing(false);
    f.stores.set(3n, store(3n, "10.0.0.3:1"));
    assert.deepEqual(await f.resolver.resolve(3n), { ok: true, address: "10.0.0.3:1" }, "the failure was not cached");
  });

  test("unknown stores are remembered briefly, tombstones for the full ttl, empty addresses are errors", async () => {
    const f = fixture();
    const r = await f.resolver.resolve(5n);
    assert.ok(!r.ok && r.error.kind === "NotFound");
    f.stores.set(5n, store(5n, "10.0.0.5:1"));
    assert.ok(f.resolver.peek(5n)?.ok === false, "within notFoundTtlMs");
    f.clock.t += 1_000;
    assert.deepEqual(await f.resolver.resolve(5n), { ok: true, address: "10.0.0.5:1" }, "a store that registered since is found");

    f.stores.set(6n, store(6n, "10.0.0.6:1", metapb.StoreState.Tombstone));
    const tomb = await f.resolver.resolve(6n);
    assert.ok(!tomb.ok && tomb.error.kind === "Tombstone");
    f.clock.t += 30_000;
    assert.ok(f.resolver.peek(6n)?.ok === false, "a tombstone stays cached");

    f.stores.set(7n, store(7n, ""));
    const none = await f.resolver.resolve(7n);
    assert.ok(!none.ok && none.error.kind === "NoAddress");

    f.stores.set(8n, store(8n, "10.0.0.8:1", metapb.StoreState.Offline));
    assert.equal((await f.resolver.resolve(8n)).ok, true, "an offline store still serves");
  });
});

describe("Backoff", () => {
  test("doubles from base to max with jitter in the upper half, resets on success, replays with the seed", () => {
    const delays = (seed: number) => {
      const b = new Backoff({ baseMs: 50, maxMs: 5_000 }, seededRandom(seed));
      return Array.from({ length: 12 }, () => b.next());
    };
    const d = delays(7);
    const caps = [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000, 5000];
    d.forEach((v, i) => assert.ok(v >= caps[i]! / 2 && v < caps[i]!, `delay ${i} = ${v} within [${caps[i]! / 2}, ${caps[i]})`));
    assert.deepEqual(delays(7), d, "same seed, same delays");
    assert.notDeepEqual(delays(8), d, "another seed, other delays");
    const b = new Backoff({ baseMs: 50, maxMs: 5_000 }, seededRandom(1));
    for (let i = 0; i < 100; i++) b.next();
    assert.ok(b.next() < 5_000, "capped after many failures");
    b.reset();
    assert.equal(b.failuresInARow, 0);
    assert.ok(b.next() < 50);
  });
});

describe("SnapshotAssembly", () => {
  const snap = (o: Parameters<typeof msg>[0] = {}) => msg({ type: eraftpb.MessageType.MsgSnapshot, ...o });
  const data = (s: string): raft_serverpb.SnapshotChunk => ({ chunk: { $case: "data", value: Buffer.from(s) } });
  const head = (m: raft_serverpb.RaftMessage): raft_serverpb.SnapshotChunk => ({ chunk: { $case: "message", value: m } });

  test("message, then data in order → the message with its data back in place", () => {
    const a = new SnapshotAssembly(2n, 100);
    assert.equal(a.add(head(snap({ regionId: 4n }))), undefined);
    assert.equal(a.regionId, 4n);
    assert.equal(a.fromStore, 1n);
    for (const s of ["ab", "cd", "", "e"]) assert.equal(a.add(data(s)), undefined);
    const r = a.finish();
    assert.ok(r.ok);
    assert.equal(r.value.message!.snapshot!.data.toString(), "abcde");
    assert.equal(r.value.message!.snapshot!.metadata!.index, 10n, "metadata kept");
    assert.equal(a.receivedBytes, 5);
  });

  test("inline data in the message chunk counts as the first bytes", () => {
    const a = new SnapshotAssembly(2n, 100);
    a.add(head(snap({ snapshotData: Buffer.from("xy") })));
    a.add(data("z"));
    const r = a.finish();
    assert.ok(r.ok && r.value.message!.snapshot!.data.toString() === "xyz");
  });

  test("exactly maxBytes is fine; one more fails for good and drops the data", () => {
    const ok = new SnapshotAssembly(2n, 4);
    ok.add(head(snap()));
    assert.equal(ok.add(data("abcd")), undefined);
    assert.ok(ok.finish().ok);

    const a = new SnapshotAssembly(2n, 4);
    a.add(head(snap({ regionId: 3n })));
    a.add(data("abc"));
    const p = a.add(data("de"));
    assert.deepEqual(p, { kind: "oversize", regionId: 3n, bytes: 5, limit: 4 });
    assert.match(describeProblem(p!), /exceeds maxSnapshotBytes \(4 bytes\).*raise the receiving store's transport maxSnapshotBytes/);
    assert.deepEqual(a.add(data("f")), p, "stays failed");
    const r = a.finish();
    assert.ok(!r.ok && r.problem.kind === "oversize");
  });

  test("order violations", () => {
    const kinds = (chunks: raft_serverpb.SnapshotChunk[]): string | undefined => {
      const a = new SnapshotAssembly(2n, 100);
      for (const c of chunks) {
        const p = a.add(c);
        if (p) return describeProblem(p);
      }
      const r = a.finish();
      return r.ok ? undefined : describeProblem(r.problem);
    };
    assert.match(kinds([data("x")])!, /data before the message chunk/);
    assert.match(kinds([])!, /ended before the message chunk/);
    assert.match(kinds([head(snap()), head(snap())])!, /a second message chunk/);
    assert.match(kinds([{ chunk: undefined }])!, /neither message nor data/);
    assert.match(kinds([head(snap({ toStore: 3n }))])!, /addressed to store 3, but this is store 2/);
    assert.match(kinds([head(msg())])!, /MsgHeartbeat on the Snapshot stream/);
  });
});

describe("checkRaftMessage", () => {
  const kind = (p: InputProblem | undefined) => p?.kind;
  test("accepts a well-formed message and a tombstone notice", () => {
    assert.equal(checkRaftMessage(msg(), 2n, "raft"), undefined);
    assert.equal(checkRaftMessage({ ...msg(), message: undefined, isTombstone: true }, 2n, "raft"), undefined);
    assert.equal(checkRaftMessage(msg({ type: eraftpb.MessageType.MsgAppend }), 2n, "raft"), undefined);
  });
  test("refuses envelopes that are wrong", () => {
    assert.equal(kind(checkRaftMessage(msg(), 3n, "raft")), "misaddressed");
    assert.equal(kind(checkRaftMessage({ ...msg(), fromPeer: undefined }, 2n, "raft")), "malformed");
    assert.equal(kind(checkRaftMessage({ ...msg(), fromPeer: { id: 1n, storeId: 0n, role: metapb.PeerRole.Voter } }, 2n, "raft")), "malformed");
    assert.equal(kind(checkRaftMessage({ ...msg(), message: undefined }, 2n, "raft")), "malformed");
    assert.equal(kind(checkRaftMessage({ ...msg(), message: { ...msg().message!, from: 9n } }, 2n, "raft")), "malformed");
    assert.equal(kind(checkRaftMessage(msg({ type: eraftpb.MessageType.MsgCheckQuorum }), 2n, "raft")), "malformed");
    assert.equal(kind(checkRaftMessage({ ...msg({ type: eraftpb.MessageType.MsgSnapshot }), message: { ...msg().message!, msgType: eraftpb.MessageType.MsgSnapshot, snapshot: undefined } }, 2n, "snapshot")), "malformed");
  });
});

describe("config and metrics", () => {
  test("config errors name the field", () => {
    assert.equal(resolveTransportConfig().queueCapacity, 4096);
    assert.throws(() => resolveTransportConfig({ queueCapacity: 0 }), (e: unknown) => e instanceof TransportConfigError && /queueCapacity must be a positive integer/.test(e.message));
    assert.throws(() => resolveTransportConfig({ backoffBaseMs: 100, backoffMaxMs: 10 }), /backoffMaxMs \(10\) must be at least backoffBaseMs \(100\)/);
    assert.throws(() => resolveTransportConfig({ snapshotChunkBytes: 8 * 1024 * 1024 }), /snapshotChunkBytes/);
  });

  test("two TransportMetrics on one registry share the metrics; a clash of types is an error", async () => {
    const registry = new Registry();
    const a = new TransportMetrics(registry);
    const b = new TransportMetrics(registry);
    a.messagesReceived.inc();
    b.messagesReceived.inc();
    assert.equal(a.messagesReceived, b.messagesReceived);
    assert.match(await registry.metrics(), /regionkv_transport_messages_received_total 2/);
    const clash = new Registry();
    new Gauge({ name: "regionkv_transport_messages_sent_total", help: "x", registers: [clash] });
    assert.throws(() => new TransportMetrics(clash), /already registered on this registry with another type/);
  });
});
