import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, test, type TestContext } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { errorpb } from "@regionkv/proto";
import {
  AbortedError,
  ClientClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  RawClient,
  ServerError,
  UnavailableError,
  UnknownOutcomeError,
  type RawClientInternalOptions,
} from "../src/index.js";
import { FakeCluster, FakeRegionSource, type FakeClusterOptions } from "./support/fake-cluster.js";

const b = (s: string) => Buffer.from(s);
const str = (v: Buffer | undefined) => v?.toString("utf8");

interface Setup {
  cluster: FakeCluster;
  source: FakeRegionSource;
  client: RawClient;
}

/** A fake cluster, its fake scheduler and a client; all closed when the test ends. */
async function setupCluster(t: TestContext, cluster: FakeClusterOptions = {}, options: RawClientInternalOptions = {}): Promise<Setup> {
  const c = await FakeCluster.start(cluster);
  const source = new FakeRegionSource(c);
  const client = RawClient.withRegionSource(source, {
    timeoutMs: 3_000,
    backoff: { baseMs: 2, capMs: 20 },
    random: () => 0.5,
    ...options,
  });
  t.after(async () => {
    await client.close();
    c.close();
  });
  return { cluster: c, source, client };
}

async function mustReject<E extends Error>(p: Promise<unknown>, cls: new (...args: never[]) => E, pattern?: RegExp): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${cls.name}, but the call resolved`);
}

const regionError = (kind: errorpb.Error["kind"], message = "injected"): { kind: "regionError"; error: errorpb.Error } => ({
  kind: "regionError",
  error: { message, kind },
});

/**
 * The client's behaviour, the same whether its requests travel over BatchCommands streams (the
 * default) or as unary RPCs (`batchCommands: false`): every suite below runs in both modes.
 */
function suites(batchCommands: boolean): void {
  const setup = (t: TestContext, cluster: FakeClusterOptions = {}, options: RawClientInternalOptions = {}): Promise<Setup> =>
    setupCluster(t, cluster, { batchCommands, ...options });
  const mode = batchCommands ? " (BatchCommands)" : " (unary)";

  describe("RawClient: the raw API on one region" + mode, () => {
    test("put, get and delete; keys and values as strings or bytes; values come back as Buffers", async (t) => {
      const { client } = await setup(t);
      await client.put("k1", "v1");
      await client.put(new Uint8Array([0, 1, 2]), new Uint8Array([9, 8]));
      const v = await client.get("k1");
      assert.ok(Buffer.isBuffer(v));
      assert.equal(str(v), "v1");
      assert.deepEqual(await client.get(Buffer.from([0, 1, 2])), Buffer.from([9, 8]));
      assert.equal(await client.get("missing"), undefined);
      await client.put("empty", "");
      assert.deepEqual(await client.get("empty"), Buffer.alloc(0), "an empty value is not a missing key");
      await client.delete("k1");
      assert.equal(await client.get("k1"), undefined);
      await client.delete("k1"); // deleting a missing key is fine
    });

    test("batchPut and batchGet: found keys in request order, each once, missing keys left out; the last of duplicate puts wins", async (t) => {
      const { client, cluster } = await setup(t);
      await client.batchPut([
        { key: "b", value: "1" },
        { key: "a", value: "2" },
        { key: "b", value: "3" },
      ]);
      assert.deepEqual(cluster.dump(), { a: "2", b: "3" });
      const rows = await client.batchGet(["b", "x", "a", "b"]);
      assert.deepEqual(
        rows.map((r) => [r.key.toString(), r.value.toString()]),
        [
          ["b", "3"],
          ["a", "2"],
        ],
      );
      assert.deepEqual(await client.batchGet([]), []);
      await client.batchPut([]);
      assert.equal(cluster.sent("RawBatchPut").length, 1, "an empty batch sends nothing");
    });

    test("scan: range, limit, keyOnly, reverse, empty bounds", async (t) => {
      const { client } = await setup(t);
      await client.batchPut(["a", "b", "c", "d", "e"].map((k) => ({ key: k, value: k.toUpperCase() })));
      const keys = (rows: { key: Buffer }[]) => rows.map((r) => r.key.toString()).join("");
      assert.equal(keys(await client.scan("b", "e")), "bcd");
      assert.equal(keys(await client.scan("", "")), "abcde");
      assert.equal(keys(await client.scan("b", "", { limit: 2 })), "bc");
      assert.equal(keys(await client.scan("b", "e", { reverse: true })), "dcb");
      assert.equal(keys(await client.scan("", "", { reverse: true, limit: 2 })), "ed");
      const ko = await client.scan("a", "c", { keyOnly: true });
      assert.deepEqual(ko.map((r) => r.value.length), [0, 0]);
      assert.deepEqual((await client.scan("a", "b")).map((r) => r.value.toString()), ["A"]);
      assert.deepEqual(await client.scan("c", "c"), [], "an empty range");
    });

    test("deleteRange deletes [start, end); an empty end means to the end of the key space", async (t) => {
      const { client, cluster } = await setup(t);
      await client.batchPut(["a", "b", "c", "d"].map((k) => ({ key: k, value: "v" })));
      await client.deleteRange("b", "d");
      assert.deepEqual(Object.keys(cluster.dump()), ["a", "d"]);
      await client.deleteRange("b", "b");
      await client.deleteRange("c", "");
      assert.deepEqual(Object.keys(cluster.dump()), ["a"]);
    });

    test("compareAndSwap: expected undefined means the key must be absent; the previous value comes back either way", async (t) => {
      const { client } = await setup(t);
      assert.deepEqual(await client.compareAndSwap("k", undefined, "v1"), { swapped: true, previous: undefined });
      const again = await client.compareAndSwap("k", undefined, "v2");
      assert.equal(again.swapped, false);
      assert.equal(str(again.previous), "v1");
      const wrong = await client.compareAndSwap("k", "nope", "v2");
      assert.equal(wrong.swapped, false);
      assert.equal(str(wrong.previous), "v1");
      const right = await client.compareAndSwap("k", "v1", "v2");
      assert.equal(right.swapped, true);
      assert.equal(str(right.previous), "v1");
      assert.equal(str(await client.get("k")), "v2");
    });

    test("requests carry the region id, epoch and leader peer; the store address is looked up once and the channel reused", async (t) => {
      const { client, cluster, source } = await setup(t);
      for (let i = 0; i < 5; i++) await client.put(`k${i}`, "v");
      assert.deepEqual(
        cluster.sent().map((r) => [r.storeId, r.regionId, r.peerId]),
        Array.from({ length: 5 }, () => [1n, 1n, 101n]),
      );
      assert.equal(source.calls.filter((c) => c.startsWith("getStore")).length, 1);
      assert.equal(source.calls.filter((c) => c.startsWith("getRegion")).length, 1, "the region is cached after the first lookup");
    });
  });

  describe("RawClient: following the cluster" + mode, () => {
    test("NotLeader with a hint: the client follows the hint and keeps sending to the new leader", async (t) => {
      const { client, cluster, source } = await setup(t);
      cluster.setLeader(1n, 3n);
      source.leaderOverride.set(1n, 1n); // the scheduler has not heard of the new leader yet
      await client.put("k", "v");
      assert.deepEqual(cluster.sent().map((r) => r.storeId), [1n, 3n]);
      await client.get("k");
      assert.deepEqual(cluster.sent().map((r) => r.storeId), [1n, 3n, 3n], "the cache learned the leader");
    });

    test("NotLeader without a hint: the client tries the region's other peers in turn", async (t) => {
      const { client, cluster, source } = await setup(t);
      cluster.setLeader(1n, 3n);
      cluster.hideLeaderHint = true;
      source.leaderOverride.set(1n, 1n);
      await client.put("k", "v");
      assert.deepEqual(cluster.sent().map((r) => r.storeId), [1n, 2n, 3n]);
    });

    test("EpochNotMatch: the cache takes the store's current regions and the retry goes to the right region, without the scheduler", async (t) => {
      const { client, cluster, source } = await setup(t);
      await client.put("a", "1"); // caches region 1 = (-∞, +∞)
      const right = cluster.split(1n, "m");
      const lookups = source.calls.length;
      await client.put("z", "2");
      assert.deepEqual(
        cluster.sent("RawPut").map((r) => r.regionId),
        [1n, 1n, right],
        "the stale epoch was refused, then the put went to the new right half",
      );
      assert.equal(source.calls.slice(lookups).filter((c) => c.startsWith("get") && !c.startsWith("getStore")).length, 0, "no region lookup needed");
      await client.put("b", "3");
      assert.equal(cluster.sent("RawPut").at(-1)?.regionId, 1n);
    });

    test("a stale scheduler view (pre-split region) is corrected by EpochNotMatch", async (t) => {
      const { client, cluster, source } = await setup(t);
      const stale = cluster.allRegions();
      const right = cluster.split(1n, "m");
      source.staleRegions = stale;
      await client.put("x", "1");
      assert.equal(cluster.sent("RawPut").at(-1)?.regionId, right);
      assert.deepEqual(cluster.dump(), { x: "1" });
    });

    test("RegionNotFound moves on to the next peer; KeyNotInRegion reloads the region from the scheduler", async (t) => {
      const { client, cluster, source } = await setup(t);
      let injected = 0;
      cluster.hook = (ev) => {
        if (ev.method !== "RawPut") return undefined;
        injected++;
        if (injected === 1) return regionError({ $case: "regionNotFound", value: { regionId: 1n } });
        if (injected === 3) {
          return regionError({ $case: "keyNotInRegion", value: { key: b("k"), regionId: 1n, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) } });
        }
        return undefined;
      };
      await client.put("k", "v");
      assert.deepEqual(
        cluster.sent().map((r) => r.storeId),
        [1n, 2n, 1n, 1n],
        "RegionNotFound on 1 → peer 2 → NotLeader hint → 1 → KeyNotInRegion → reload → 1",
      );
      assert.equal(source.calls.filter((c) => c.startsWith("getRegion")).length, 2, "KeyNotInRegion dropped the region: looked up again");
      assert.deepEqual(cluster.dump(), { k: "v" });
    });

    test("ServerIsBusy is retried after the store's backoff; StaleCommand (may have applied) makes a write's outcome unknown", async (t) => {
      const { client, cluster } = await setup(t);
      let n = 0;
      cluster.hook = () => (++n === 1 ? regionError({ $case: "serverIsBusy", value: { reason: "apply queue full", backoffMs: 30n } }) : undefined);
      const t0 = performance.now();
      await client.put("k", "v");
      assert.ok(performance.now() - t0 >= 25, "the store's backoff hint was honoured");
      assert.equal(cluster.sent("RawPut").length, 2);
      cluster.hook = (ev) => (ev.method === "RawPut" ? regionError({ $case: "staleCommand", value: {} }) : undefined);
      await mustReject(client.put("k2", "v"), UnknownOutcomeError, /StaleCommand/);
      assert.equal(cluster.sent("RawPut").length, 3, "not resent");
      cluster.hook = undefined;
    });

    test("a store that is down: the client moves to the next peer at once (connection refused), and the store address is looked up again", async (t) => {
      const { client, cluster, source } = await setup(t, {}, { timeoutMs: 5_000 });
      await client.put("a", "1"); // connected to store 1
      cluster.store(1n).stop();
      cluster.setLeader(1n, 2n);
      source.leaderOverride.set(1n, 1n);
      const t0 = performance.now();
      // A read: resendable whatever happened to the first attempt (a write in flight on the
      // failed store would have an unknown outcome).
      assert.deepEqual(await client.get("a"), Buffer.from("1"));
      const ms = performance.now() - t0;
      assert.ok(ms < 1_500, `failed over in ${Math.round(ms)} ms`);
      assert.deepEqual(cluster.sent().map((r) => r.storeId), [1n, 2n]);

      // The store comes back on another port and leads again: its address is looked up afresh.
      await cluster.store(1n).start();
      cluster.setLeader(1n, 1n);
      await client.put("c", "3");
      assert.deepEqual(cluster.sent().map((r) => r.storeId), [1n, 2n, 2n, 1n]);
      assert.equal(source.calls.filter((c) => c === "getStore 1").length, 2, "the failed store's address was forgotten and resolved again");
    });

    test("the leader's store crashes: followers keep naming it until an election ends; the client backs off and finds the new leader", async (t) => {
      const { client, cluster } = await setup(t, {}, { timeoutMs: 5_000 });
      await client.put("a", "1");
      cluster.store(1n).stop();
      setTimeout(() => cluster.setLeader(1n, 3n), 300); // the election
      const t0 = performance.now();
      assert.deepEqual(await client.get("a"), Buffer.from("1"));
      const ms = performance.now() - t0;
      assert.ok(ms >= 290 && ms < 2_000, `succeeded after ${Math.round(ms)} ms`);
      assert.equal(cluster.sent().at(-1)?.storeId, 3n);
    });

    test("a failing scheduler lookup is retried with backoff", async (t) => {
      const { client, source } = await setup(t);
      source.failNext = 2;
      await client.put("k", "v");
      assert.equal(source.calls.filter((c) => c.startsWith("getRegion")).length, 3);
    });
  });

  describe("RawClient: bounded retries and deadlines" + mode, () => {
    test("retries stop after maxRetries with an UnavailableError naming the last failure", async (t) => {
      const { client, cluster } = await setup(t, {}, { maxRetries: 3 });
      cluster.hook = () => regionError({ $case: "serverIsBusy", value: { reason: "overloaded", backoffMs: 0n } });
      const err = await mustReject(client.put("k", "v"), UnavailableError, /gave up after 3 retries \(maxRetries\).*ServerIsBusy \(overloaded\)/);
      assert.equal(err.code, "UNAVAILABLE");
      assert.equal(cluster.sent().length, 4, "the first attempt and 3 retries");
    });

    test("a region without a leader: the call rejects with DeadlineExceededError soon after timeoutMs", async (t) => {
      const { client, cluster } = await setup(t, {}, { maxRetries: 1_000, timeoutMs: 300 });
      cluster.setLeader(1n, undefined);
      cluster.hideLeaderHint = true;
      const t0 = performance.now();
      const err = await mustReject(client.get("k"), DeadlineExceededError, /within 300 ms \(timeoutMs\).*NotLeader/);
      const ms = performance.now() - t0;
      assert.ok(ms >= 290 && ms < 800, `rejected after ${Math.round(ms)} ms`);
      assert.equal(err.code, "DEADLINE_EXCEEDED");
    });

    test("a store that never answers: the per-call timeout option ends the call", async (t) => {
      const { client, cluster } = await setup(t);
      cluster.hook = () => ({ kind: "hang" });
      const t0 = performance.now();
      await mustReject(client.get("k", { timeoutMs: 200 }), DeadlineExceededError, /200 ms/);
      const ms = performance.now() - t0;
      assert.ok(ms >= 190 && ms < 700, `rejected after ${Math.round(ms)} ms`);
    });

    test("an AbortSignal ends the call with AbortedError", async (t) => {
      const { client, cluster } = await setup(t);
      cluster.hook = () => ({ kind: "hang" });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await mustReject(client.get("k", { signal: ac.signal }), AbortedError);
      await mustReject(client.get("k", { signal: AbortSignal.abort() }), AbortedError);
    });

    test("a put whose proposal timed out at the store is not resent: its outcome is unknown (A, B, A would not be linearizable)", async (t) => {
      const { client, cluster } = await setup(t);
      let n = 0;
      cluster.hook = () => (++n === 1 ? { kind: "status", code: GrpcStatus.DEADLINE_EXCEEDED, details: "proposal timed out" } : undefined);
      await mustReject(client.put("k", "v"), UnknownOutcomeError, /DEADLINE_EXCEEDED/);
      assert.equal(cluster.sent("RawPut").length, 1);
      // A read after the same failure is simply retried.
      n = 0;
      await client.get("k");
      assert.equal(cluster.sent("RawGet").length, 2);
    });
  });

  describe("RawClient: compareAndSwap is never retried blindly" + mode, () => {
    test("no answer before the deadline: UnknownOutcomeError, and the request was sent once", async (t) => {
      const { client, cluster } = await setup(t);
      cluster.hook = (ev) => (ev.method === "RawCompareAndSwap" ? { kind: "hang" } : undefined);
      const err = await mustReject(client.compareAndSwap("k", undefined, "v", { timeoutMs: 200 }), UnknownOutcomeError, /may or may not have been applied.*Read the key/);
      assert.equal(err.code, "UNKNOWN_OUTCOME");
      assert.equal(cluster.sent("RawCompareAndSwap").length, 1);
    });

    test("StaleCommand (the proposal may have applied): UnknownOutcomeError after one attempt; a put would be retried", async (t) => {
      const { client, cluster } = await setup(t);
      cluster.hook = (ev) => (ev.method === "RawCompareAndSwap" ? regionError({ $case: "staleCommand", value: {} }) : undefined);
      await mustReject(client.compareAndSwap("k", undefined, "v"), UnknownOutcomeError, /StaleCommand/);
      assert.equal(cluster.sent("RawCompareAndSwap").length, 1);
    });

    test("the store failing after the request was sent (UNAVAILABLE, store timeout): UnknownOutcomeError", async (t) => {
      const { client, cluster } = await setup(t);
      cluster.hook = () => ({ kind: "status", code: GrpcStatus.UNAVAILABLE, details: "connection reset" });
      await mustReject(client.compareAndSwap("k", undefined, "v"), UnknownOutcomeError, /UNAVAILABLE/);
      cluster.hook = () => ({ kind: "status", code: GrpcStatus.DEADLINE_EXCEEDED, details: "proposal timed out" });
      await mustReject(client.compareAndSwap("k", undefined, "v"), UnknownOutcomeError, /DEADLINE_EXCEEDED/);
      assert.equal(cluster.sent("RawCompareAndSwap").length, 2);
    });

    test("the store crashing with the request in flight: UnknownOutcomeError", async (t) => {
      const { client, cluster } = await setup(t);
      await client.put("warm", "up");
      cluster.hook = () => {
        setTimeout(() => cluster.store(1n).stop(), 10);
        return { kind: "hang" };
      };
      await mustReject(client.compareAndSwap("k", undefined, "v"), UnknownOutcomeError);
    });

    test("region errors that guarantee nothing was applied are retried: NotLeader, EpochNotMatch", async (t) => {
      const { client, cluster, source } = await setup(t);
      await client.put("a", "1");
      cluster.setLeader(1n, 2n);
      const right = cluster.split(1n, "m");
      source.leaderOverride.set(1n, 1n);
      const r = await client.compareAndSwap("z", undefined, "v");
      assert.deepEqual(r, { swapped: true, previous: undefined });
      assert.deepEqual(
        cluster.sent("RawCompareAndSwap").map((e) => [e.regionId, e.storeId]),
        [
          [1n, 1n],
          [right, 1n],
          [right, 2n],
        ],
        "EpochNotMatch, then NotLeader, then success",
      );
    });

    test("a store that cannot be reached was never sent the request: the next peer is tried", async (t) => {
      const { client, cluster, source } = await setup(t);
      cluster.store(1n).stop();
      cluster.setLeader(1n, 2n);
      source.leaderOverride.set(1n, 1n);
      assert.deepEqual(await client.compareAndSwap("k", undefined, "v"), { swapped: true, previous: undefined });
      assert.deepEqual(cluster.sent().map((r) => r.storeId), [2n]);
    });
  });

  describe("RawClient: many regions" + mode, () => {
    // Regions: 1 = (-∞, "g") led by store 1, 2 = ["g", "t") by store 2, 3 = ["t", +∞) by store 3.
    const threeRegions = { splitKeys: ["g", "t"], leaders: [1n, 2n, 3n] };

    test("batchPut and batchGet group keys by region and send to each region's leader", async (t) => {
      const { client, cluster } = await setup(t, threeRegions);
      await client.batchPut(["z", "a", "h", "b", "u", "s"].map((k) => ({ key: k, value: k + k })));
      const puts = cluster.sent("RawBatchPut").map((r) => [r.storeId, r.regionId, r.keys.join("")]);
      puts.sort((x, y) => Number(x[1]) - Number(y[1]));
      assert.deepEqual(puts, [
        [1n, 1n, "ab"],
        [2n, 2n, "hs"],
        [3n, 3n, "uz"],
      ]);
      const rows = await client.batchGet(["u", "a", "nope", "s"]);
      assert.deepEqual(rows.map((r) => `${r.key}=${r.value}`), ["u=uu", "a=aa", "s=ss"]);
      assert.equal(cluster.sent("RawBatchGet").length, 3);
    });

    test("scan walks the regions in key order and stops at the limit without visiting further regions", async (t) => {
      const { client, cluster } = await setup(t, threeRegions);
      await client.batchPut(["a", "c", "h", "k", "s", "t", "x"].map((k) => ({ key: k, value: k })));
      const keys = (rows: { key: Buffer }[]) => rows.map((r) => r.key.toString()).join("");
      assert.equal(keys(await client.scan("", "")), "achkstx");
      assert.equal(keys(await client.scan("b", "u")), "chkst");
      const before = cluster.sent("RawScan").length;
      assert.equal(keys(await client.scan("b", "", { limit: 3 })), "chk");
      assert.deepEqual(
        cluster.sent("RawScan").slice(before).map((r) => [r.regionId, r.keys]),
        [
          [1n, ["b", "g"]],
          [2n, ["g", "t"]],
        ],
        "region 3 was not asked; the slices are clamped to the regions and the range",
      );
    });

    test("reverse scan walks the regions downwards", async (t) => {
      const { client, cluster } = await setup(t, threeRegions);
      await client.batchPut(["a", "c", "h", "k", "s", "t", "x"].map((k) => ({ key: k, value: k })));
      const keys = (rows: { key: Buffer }[]) => rows.map((r) => r.key.toString()).join("");
      assert.equal(keys(await client.scan("", "", { reverse: true })), "xtskhca");
      assert.equal(keys(await client.scan("b", "t", { reverse: true })), "skhc");
      const before = cluster.sent("RawScan").length;
      assert.equal(keys(await client.scan("", "", { reverse: true, limit: 3 })), "xts");
      assert.deepEqual(
        cluster.sent("RawScan").slice(before).map((r) => [r.regionId, r.keys]),
        [
          [3n, ["", "t"]],
          [2n, ["t", "g"]],
        ],
        "on the wire a reverse scan sends (exclusive upper, inclusive lower); region 1 was not asked",
      );
      assert.equal(keys(await client.scan("d", "zz", { reverse: true, limit: 4 })), "xtsk");
      assert.equal(keys(await client.scan("", "g", { reverse: true })), "ca", "an end on a region boundary");
    });

    test("reverse scan with a cold cache finds the region before a boundary through the scheduler", async (t) => {
      const { client, cluster, source } = await setup(t, { splitKeys: ["g", "g\x00", "gz", "t"] });
      await client.batchPut(["a", "g", "gy", "h"].map((k) => ({ key: k, value: k })));
      const fresh = RawClient.withRegionSource(source, { backoff: { baseMs: 2, capMs: 20 } });
      t.after(() => fresh.close());
      const keys = (rows: { key: Buffer }[]) => rows.map((r) => r.key.toString()).join("");
      assert.equal(keys(await fresh.scan("", "h", { reverse: true })), "gyga");
      assert.equal(keys(await fresh.scan("a", "t", { reverse: true })), "hgyga");
      assert.equal(cluster.sent("RawScan").length >= 4, true);
    });

    test("deleteRange clears each region's part of the range", async (t) => {
      const { client, cluster } = await setup(t, threeRegions);
      await client.batchPut(["a", "c", "h", "k", "s", "t", "x"].map((k) => ({ key: k, value: k })));
      await client.deleteRange("b", "u");
      assert.deepEqual(Object.keys(cluster.dump()), ["a", "x"]);
      assert.deepEqual(
        cluster.sent("RawDeleteRange").map((r) => [r.regionId, r.keys]).sort((x, y) => Number(x[0]) - Number(y[0])),
        [
          [1n, ["b", "g"]],
          [2n, ["g", "t"]],
          [3n, ["t", "u"]],
        ],
      );
    });

    test("a region that splits during a batch: the refused part is regrouped and sent to both halves", async (t) => {
      const { client, cluster, source } = await setup(t, threeRegions);
      await client.put("h", "warm the cache for region 2");
      source.staleRegions = cluster.allRegions(); // the scheduler has not heard of the split yet
      const right = cluster.split(2n, "m");
      cluster.setLeader(right, 3n);
      await client.batchPut(["a", "h", "n", "p", "u"].map((k) => ({ key: k, value: "v" })));
      assert.deepEqual(Object.keys(cluster.dump()), ["a", "h", "n", "p", "u"]);
      const sent = cluster
        .sent("RawBatchPut")
        .filter((r) => r.regionId === 2n || r.regionId === right)
        .map((r) => `region ${r.regionId === 2n ? "2" : "right"} store ${r.storeId}: ${r.keys.join("")}`);
      assert.deepEqual(sent.slice(0, 1), ["region 2 store 2: hnp"], "the first attempt used the pre-split region");
      assert.deepEqual(
        sent.slice(1).sort(),
        ["region 2 store 2: h", "region right store 2: np", "region right store 3: np"],
        "then each half got its keys (the new half tried on the old leader's store first, then its leader through NotLeader)",
      );
      const scan = await client.scan("", "");
      assert.equal(scan.length, 5);
    });

    test("a failure in one region fails the whole batch call", async (t) => {
      const { client, cluster } = await setup(t, threeRegions);
      cluster.hook = (ev) => (ev.regionId === 2n ? { kind: "responseError", error: "disk full" } : undefined);
      await mustReject(client.batchPut(["a", "h", "u"].map((k) => ({ key: k, value: "v" }))), ServerError, /disk full/);
    });
  });

  describe("RawClient: input validation and errors" + mode, () => {
    test("bad input is refused before anything is sent, with the limit named", async (t) => {
      const { client, cluster } = await setup(t);
      await mustReject(client.put("", "v"), InvalidArgumentError, /key is empty/);
      await mustReject(client.get(Buffer.alloc(8 * 1024 + 1)), InvalidArgumentError, /over the key size limit of 8 KiB \(MAX_KEY_BYTES\)/);
      await client.put(Buffer.alloc(8 * 1024, 1), "ok at the limit");
      await mustReject(client.put("k", Buffer.alloc(4 * 1024 * 1024 + 1)), InvalidArgumentError, /value size limit of 4 MiB \(MAX_VALUE_BYTES\)/);
      await mustReject(client.batchPut([{ key: "a", value: "1" }, { key: "", value: "2" }]), InvalidArgumentError, /pairs\[1\]\.key is empty/);
      await mustReject(client.batchGet(["a", Buffer.alloc(9000)]), InvalidArgumentError, /keys\[1\]/);
      await mustReject(client.scan("a", "b", { limit: 0 }), InvalidArgumentError, /1\.\.10000 \(MAX_SCAN_LIMIT\)/);
      await mustReject(client.scan("a", "b", { limit: 10_001 }), InvalidArgumentError, /MAX_SCAN_LIMIT/);
      await mustReject(client.scan("a", "b", { limit: 1.5 }), InvalidArgumentError, /MAX_SCAN_LIMIT/);
      await mustReject(client.scan("b", "a"), InvalidArgumentError, /start sorts after end/);
      await mustReject(client.deleteRange("b", "a"), InvalidArgumentError, /start sorts after end/);
      await mustReject(client.compareAndSwap("k", Buffer.alloc(4 * 1024 * 1024 + 1), "v"), InvalidArgumentError, /expected is/);
      await mustReject(client.get("k", { timeoutMs: -1 }), InvalidArgumentError, /timeoutMs/);
      await mustReject(client.get(42 as unknown as string), InvalidArgumentError, /string or a Uint8Array/);
      assert.deepEqual(cluster.sent().map((r) => r.method), ["RawPut"], "only the valid put was sent");
      assert.throws(() => RawClient.withRegionSource(new FakeRegionSource(cluster), { maxRetries: -1 }), InvalidArgumentError);
    });

    test("INVALID_ARGUMENT from a store is an InvalidArgumentError; a response error is a ServerError; neither is retried", async (t) => {
      const { client, cluster } = await setup(t);
      cluster.hook = () => ({ kind: "status", code: GrpcStatus.INVALID_ARGUMENT, details: "batch over the batch limit of 10000 (MAX_BATCH_KEYS)" });
      await mustReject(client.put("k", "v"), InvalidArgumentError, /MAX_BATCH_KEYS/);
      cluster.hook = () => ({ kind: "responseError", error: "engine is read-only" });
      const err = await mustReject(client.get("k"), ServerError, /engine is read-only/);
      assert.equal(err.code, "SERVER_ERROR");
      cluster.hook = () => regionError({ $case: "raftEntryTooLarge", value: { regionId: 1n, entrySize: 9_000_000n } });
      await mustReject(client.put("k", "v"), InvalidArgumentError, /raft entry limit/);
      assert.equal(cluster.sent().length, 3);
    });
  });

  describe("RawClient: close" + mode, () => {
    test("close rejects calls in flight and later calls with ClientClosedError, and closes the scheduler client once", async (t) => {
      const { client, cluster, source } = await setup(t);
      await client.put("k", "v");
      cluster.hook = () => ({ kind: "hang" });
      const inFlight = client.get("k");
      await new Promise((r) => setTimeout(r, 30));
      await client.close();
      const err = await mustReject(inFlight, ClientClosedError);
      assert.equal(err.code, "CLIENT_CLOSED");
      await mustReject(client.get("k"), ClientClosedError, /RawClient\.connect/);
      await mustReject(client.scan("", ""), ClientClosedError);
      await client.close();
      assert.equal(source.closed, 1);
    });

    test("connect rejects with UnavailableError naming the address when no scheduler answers", async () => {
      const t0 = performance.now();
      await mustReject(RawClient.connect({ scheduler: "127.0.0.1:1", timeoutMs: 300 }), UnavailableError, /127\.0\.0\.1:1/);
      assert.ok(performance.now() - t0 < 2_000);
      await mustReject(RawClient.connect({ scheduler: [] }), InvalidArgumentError, /host:port/);
    });
  });
}

suites(true);
suites(false);

describe("RawClient over BatchCommands streams", () => {
  test("concurrent calls to one store travel together: one stream, few messages, every request served once", async (t) => {
    const { client, cluster } = await setupCluster(t);
    await client.put("warm", "up"); // region, store address and stream in place
    const before = cluster.batchMessagesTo(1n).length;
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.put(`k${i}`, `v${i}`)));
    const messages = cluster.batchMessagesTo(1n).slice(before);
    assert.ok(messages.length <= 2, `100 concurrent puts in ${messages.length} messages`);
    assert.equal(messages.flatMap((m) => m.commands).length, 100);
    assert.equal(cluster.sent("RawPut").length, 101, "each put sent once");
    assert.equal(cluster.batchStreams.get(1n), 1, "one long-lived stream");
    assert.equal(str(await client.get("k42")), "v42");
  });

  test("different kinds go together: get, put, compareAndSwap, scan, batchGet in one message", async (t) => {
    const { client, cluster } = await setupCluster(t);
    await client.put("a", "1");
    const before = cluster.batchMessagesTo(1n).length;
    const [v, , cas, rows, found] = await Promise.all([
      client.get("a"),
      client.put("b", "2"),
      client.compareAndSwap("c", undefined, "3"),
      client.scan("a", "b"),
      client.batchGet(["a", "zz"]),
    ]);
    assert.equal(str(v), "1");
    assert.equal(cas.swapped, true);
    assert.deepEqual(rows.map((r) => r.key.toString()), ["a"]);
    assert.deepEqual(found.map((r) => r.key.toString()), ["a"]);
    assert.deepEqual(cluster.batchMessagesTo(1n).slice(before).map((m) => [...m.commands].sort()), [["rawBatchGet", "rawCas", "rawGet", "rawPut", "rawScan"]]);
  });

  test("a multi-region batchPut sends one message to each region's leader", async (t) => {
    const { client, cluster } = await setupCluster(t, { splitKeys: ["g", "t"], leaders: [1n, 2n, 3n] });
    await client.batchPut(["a", "b", "h", "i", "u", "v"].map((k) => ({ key: k, value: k })));
    assert.deepEqual(
      cluster.batchMessages.map((m) => [m.storeId, m.commands]).sort((x, y) => Number(x[0]) - Number(y[0])),
      [
        [1n, ["rawBatchPut"]],
        [2n, ["rawBatchPut"]],
        [3n, ["rawBatchPut"]],
      ],
    );
  });

  test("batchCommands: false sends unary RPCs only", async (t) => {
    const { client, cluster } = await setupCluster(t, {}, { batchCommands: false });
    await Promise.all([client.put("a", "1"), client.get("a"), client.compareAndSwap("c", undefined, "3")]);
    assert.equal(cluster.batchMessages.length, 0);
    assert.equal(cluster.batchStreams.size, 0);
    assert.equal(cluster.sent().length, 3);
    assert.throws(() => RawClient.withRegionSource(new FakeRegionSource(cluster), { batchCommands: "yes" as unknown as boolean }), InvalidArgumentError);
  });

  test("the stream breaks with requests on it: writes that were sent (put, compareAndSwap) reject with UnknownOutcomeError", async (t) => {
    const { client, cluster } = await setupCluster(t);
    await client.put("warm", "up");
    let broken = 0;
    cluster.streamHook = (ev) => (ev.storeId === 1n && ev.commands.includes("rawCas") && broken++ === 0 ? { kind: "failStream", code: GrpcStatus.UNAVAILABLE, details: "connection reset (injected)" } : undefined);
    const [put, cas] = await Promise.allSettled([client.put("p", "v"), client.compareAndSwap("k", undefined, "v")]);
    assert.ok(put.status === "rejected" && put.reason instanceof UnknownOutcomeError, put.status === "rejected" ? String(put.reason) : "put resolved");
    assert.equal(cas.status, "rejected");
    assert.ok(cas.status === "rejected" && cas.reason instanceof UnknownOutcomeError, String(cas.status === "rejected" ? cas.reason : ""));
    assert.match((cas as PromiseRejectedResult).reason.message, /UNAVAILABLE.*connection reset/);
    assert.deepEqual(cluster.dump(), { warm: "up" }, "the broken message was never served, and nothing was resent");
    assert.equal(cluster.sent("RawCompareAndSwap").length, 0);
    // The client opens a new stream and carries on.
    assert.deepEqual(await client.compareAndSwap("k", undefined, "v"), { swapped: true, previous: undefined });
    assert.ok((cluster.batchStreams.get(1n) ?? 0) >= 2);
  });

  test("a per-request status is decided as the unary call's gRPC status", async (t) => {
    const { client, cluster } = await setupCluster(t);
    let n = 0;
    cluster.hook = (ev) => (ev.method === "RawPut" && ++n === 1 ? { kind: "status", code: GrpcStatus.DEADLINE_EXCEEDED, details: "proposal timed out" } : undefined);
    await mustReject(client.put("k", "v"), UnknownOutcomeError, /DEADLINE_EXCEEDED proposal timed out/);
    assert.equal(cluster.sent("RawPut").length, 1, "a put is not resent after an unknown outcome");
    cluster.hook = (ev) => (ev.method === "RawCompareAndSwap" ? { kind: "status", code: GrpcStatus.DEADLINE_EXCEEDED, details: "proposal timed out" } : undefined);
    await mustReject(client.compareAndSwap("c", undefined, "v"), UnknownOutcomeError, /DEADLINE_EXCEEDED proposal timed out/);
    cluster.hook = () => ({ kind: "status", code: GrpcStatus.INVALID_ARGUMENT, details: "key is empty (MAX_KEY_BYTES)" });
    await mustReject(client.get("k"), InvalidArgumentError, /MAX_KEY_BYTES/);
  });

  test("stores without BatchCommands (UNIMPLEMENTED): the client falls back to unary RPCs for them, each request sent once", async (t) => {
    const { client, cluster } = await setupCluster(t, { splitKeys: ["m"], leaders: [1n, 2n] });
    // Store 1 is an older store; store 2 serves BatchCommands.
    cluster.store(1n).stop();
    cluster.store(1n).batchCommands = false;
    await cluster.store(1n).start();
    await Promise.all([client.put("a", "1"), client.put("b", "2"), client.put("x", "3"), client.compareAndSwap("c", undefined, "4")]);
    await client.put("d", "5");
    assert.deepEqual(cluster.dump(), { a: "1", b: "2", c: "4", d: "5", x: "3" });
    assert.equal(cluster.sent().length, 5, "no request was sent twice");
    assert.equal(cluster.batchMessagesTo(1n).length, 0);
    assert.equal(cluster.batchMessagesTo(2n).length, 1, "store 2 got its put over the stream");
  });

  test("a store that never answers: the call's deadline ends the request on the stream; a compareAndSwap then has an unknown outcome", async (t) => {
    const { client, cluster } = await setupCluster(t);
    cluster.hook = (ev) => (ev.method === "RawGet" || ev.method === "RawCompareAndSwap" ? { kind: "hang" } : undefined);
    const t0 = performance.now();
    const [get, cas, put] = await Promise.allSettled([client.get("k", { timeoutMs: 200 }), client.compareAndSwap("c", undefined, "v", { timeoutMs: 200 }), client.put("p", "v")]);
    const ms = performance.now() - t0;
    assert.ok(get.status === "rejected" && get.reason instanceof DeadlineExceededError, String(get.status === "rejected" ? get.reason : ""));
    assert.ok(cas.status === "rejected" && cas.reason instanceof UnknownOutcomeError);
    assert.equal(put.status, "fulfilled", "a neighbour on the same stream is not held up");
    assert.ok(ms >= 190 && ms < 700, `${Math.round(ms)} ms`);
  });

  test("a store shutting down gracefully is not held up by the client's idle stream", async (t) => {
    const { client, cluster } = await setupCluster(t);
    await client.put("a", "1");
    const t0 = performance.now();
    await cluster.store(1n).shutdownGracefully();
    const ms = performance.now() - t0;
    assert.ok(ms < 2_000, `shut down in ${Math.round(ms)} ms`);
    await cluster.store(1n).start();
    cluster.setLeader(1n, 1n);
    await client.put("b", "2");
    assert.deepEqual(cluster.dump(), { a: "1", b: "2" });
  });
});
