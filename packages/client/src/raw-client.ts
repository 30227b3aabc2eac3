/**
 * `RawClient`: the public raw (non-transactional) key-value client.
 *
 *   const client = await RawClient.connect({ scheduler: "127.0.0.1:2379" });
 *   await client.put("k", "v");
 *   const v = await client.get("k");                 // Buffer | undefined
 *   await client.close();
 *
 * Flow of every call: validate the input (limits.ts) → a CallScope (deadline, abort signal,
 * retry budget) → the region(s) of the key(s) (RegionLocator: region cache, scheduler on a miss)
 * → one request per region to its leader (RegionRequestSender: region errors correct the cache and
 * the request is retried with backoff) → the results, merged in key order. Requests to one store
 * travel together over one BatchCommands stream (batch-commands-stream.ts) unless
 * `batchCommands: false` asks for one unary gRPC call each.
 *
 * Multi-key calls split by region: batchGet, batchPut and deleteRange send to their regions in
 * parallel; scan walks regions in key order (descending for `reverse`) until `limit` pairs. None of
 * them is atomic across regions, and batchPut/batchGet also split a region's keys into requests of
 * at most 1,024 keys and 4 MiB.
 *
 * Retries: reads are retried after any retryable failure. Writes (put, delete, batchPut,
 * deleteRange, compareAndSwap) are retried only when the failure guarantees they were not applied
 * (a connection that never opened; the region errors NotLeader, EpochNotMatch, RegionNotFound,
 * KeyNotInRegion, ServerIsBusy, StoreNotMatch); otherwise they reject with UnknownOutcomeError —
 * resending a put that may have applied could apply it twice around another client's write,
 * which breaks linearizability (see raw-rpcs.ts).
 */
import type { kvrpcpb } from "@regionkv/proto";
import { RetryBudget, type CallScope } from "./call-scope.js";
import { InvalidArgumentError } from "./errors.js";
import { checkedBound, checkedKey, checkedScanLimit, checkedValue, checkRange, type Bytes } from "./limits.js";
import { RAW_BATCH_GET, RAW_BATCH_PUT, RAW_CAS, RAW_DELETE, RAW_DELETE_RANGE, RAW_GET, RAW_PUT, RAW_SCAN } from "./raw-rpcs.js";
import { RegionClient, resolveOptions, runParallel, sortedDistinct, type ConnectOptions, type RegionClientOptions } from "./region-client.js";
import type { RegionSlice } from "./region-locator.js";
import type { RegionSource } from "./region-source.js";

export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS } from "./region-client.js";

const EMPTY = Buffer.alloc(0);

/** Options of `RawClient.connect`: where the scheduler is, deadlines, retries, batching. */
export type RawClientOptions = ConnectOptions;

/** Options of `RawClient.withRegionSource` (tests, embedding): no scheduler address, any logger. */
export type RawClientInternalOptions = RegionClientOptions;

/** Options of a single call (the trailing argument of every method). */
export interface RawCallOptions {
  /** This call's deadline in ms, retries included (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /**
   * Aborts the call: a read rejects with AbortedError; a write already sent rejects with
   * UnknownOutcomeError (it may still be applied).
   */
  signal?: AbortSignal;
}

export interface ScanOptions extends RawCallOptions {
  /** Most pairs returned, 1..10,000 (default 10,000). */
  limit?: number;
  /** Return keys only: every value is an empty Buffer. */
  keyOnly?: boolean;
  /** Return the range's pairs in descending key order (the last `limit` keys of [start, end)). */
  reverse?: boolean;
}

/** A key and its value. */
export interface RawKvPair {
  key: Buffer;
  value: Buffer;
}

/** A pair to write (strings are UTF-8). */
export interface RawKvInput {
  key: Bytes;
  value: Bytes;
}

export interface CompareAndSwapResult {
  /** Whether the key held the expected value (or was absent, if expected was undefined) and now holds the new one. */
  swapped: boolean;
  /** The value before the call, whether or not it swapped; undefined if the key was absent. */
  previous: Buffer | undefined;
}

export class RawClient {
  private readonly core: RegionClient;
  private readonly locator: RegionClient["locator"];
  private readonly sender: RegionClient["sender"];

  private constructor(source: RegionSource, opts: ReturnType<typeof resolveOptions>) {
    this.core = new RegionClient(source, opts);
    this.locator = this.core.locator;
    this.sender = this.core.sender;
  }

  /**
   * Connect to the cluster through its scheduler. Resolves once a scheduler answered; rejects with
   * UnavailableError if none did within `timeoutMs`, InvalidArgumentError for bad options.
   */
  static async connect(options: RawClientOptions): Promise<RawClient> {
    const resolved = resolveOptions(options);
    const source = await RegionClient.connectScheduler("RawClient", options.scheduler, resolved.timeoutMs, options.logger);
    return new RawClient(source, resolved);
  }

  /** A client over any RegionSource (a fake scheduler in tests, an existing SchedulerRpcClient). It owns `source` and closes it. */
  static withRegionSource(source: RegionSource, options: RawClientInternalOptions = {}): RawClient {
    return new RawClient(source, resolveOptions(options));
  }

  /** The value of `key`, or undefined if it does not exist. */
  async get(key: Bytes, options?: RawCallOptions): Promise<Buffer | undefined> {
    const k = checkedKey(key);
    return this.core.run("get", options, async (scope) => {
      const r = await this.core.onKey(scope, k, RAW_GET, (context) => ({ context, key: k, cf: "" }));
      return r.notFound ? undefined : r.value;
    });
  }

  /** Write `value` (0..4 MiB) at `key` (1 byte..8 KiB). */
  async put(key: Bytes, value: Bytes, options?: RawCallOptions): Promise<void> {
    const k = checkedKey(key);
    const v = checkedValue(value);
    await this.core.run("put", options, (scope) => this.core.onKey(scope, k, RAW_PUT, (context) => ({ context, key: k, value: v, cf: "", ttl: 0n })));
  }

  /** Delete `key` (nothing happens if it does not exist). */
  async delete(key: Bytes, options?: RawCallOptions): Promise<void> {
    const k = checkedKey(key);
    await this.core.run("delete", options, (scope) => this.core.onKey(scope, k, RAW_DELETE, (context) => ({ context, key: k, cf: "" })));
  }

  /**
   * The keys of `keys` that exist, with their values, in the order of `keys` (each key once,
   * missing keys left out). Keys of different regions are read in parallel (not one snapshot).
   */
  async batchGet(keys: readonly Bytes[], options?: RawCallOptions): Promise<RawKvPair[]> {
    if (!Array.isArray(keys)) throw new InvalidArgumentError("batchGet takes an array of keys");
    const ks = keys.map((k, i) => checkedKey(k, `keys[${i}]`));
    if (ks.length === 0) return [];
    return this.core.run("batchGet", options, async (scope) => {
      const found = new Map<string, kvrpcpb.KvPair>();
      await this.core.forEachKeyGroup(scope, new RetryBudget(), sortedDistinct(ks, (k) => k), (k) => k, (k) => k.byteLength, async (region, group, budget) => {
        const r = await this.sender.send(scope, budget, region, RAW_BATCH_GET, (context) => ({ context, keys: group, cf: "" }));
        if (r.ok) for (const p of r.value.pairs) found.set(p.key.toString("latin1"), p);
        return r.ok;
      });
      const out: RawKvPair[] = [];
      for (const k of ks) {
        const id = k.toString("latin1");
        const p = found.get(id);
        if (!p) continue;
        found.delete(id);
        out.push({ key: p.key, value: p.value });
      }
      return out;
    });
  }

  /**
   * Write several pairs; for a key given twice the last value wins. Atomic per request only:
   * pairs of different regions (and batches over 1,024 keys or 4 MiB) are written by separate
   * requests, so after a failure some pairs may be written and others not; retrying is safe.
   */
  async batchPut(pairs: readonly RawKvInput[], options?: RawCallOptions): Promise<void> {
    if (!Array.isArray(pairs)) throw new InvalidArgumentError("batchPut takes an array of { key, value } pairs");
    const byKey = new Map<string, { key: Buffer; value: Buffer }>();
    pairs.forEach((p, i) => {
      if (typeof p !== "object" || p === null) throw new InvalidArgumentError(`pairs[${i}] must be a { key, value } object`);
      const key = checkedKey(p.key, `pairs[${i}].key`);
      const value = checkedValue(p.value, `pairs[${i}].value`);
      byKey.set(key.toString("latin1"), { key, value });
    });
    if (byKey.size === 0) return;
    const sorted = [...byKey.values()].sort((a, b) => Buffer.compare(a.key, b.key));
    await this.core.run("batchPut", options, (scope) =>
      this.core.forEachKeyGroup(scope, new RetryBudget(), sorted, (p) => p.key, (p) => p.key.byteLength + p.value.byteLength, async (region, group, budget) => {
        const r = await this.sender.send(scope, budget, region, RAW_BATCH_PUT, (context) => ({
          context,
          pairs: group.map((p) => ({ error: undefined, key: p.key, value: p.value })),
          cf: "",
        }));
        return r.ok;
      }),
    );
  }

  /**
   * Delete every key in [start, end); an empty `end` means "to the end of the key space" (so
   * deleteRange("", "") deletes everything). Regions are cleared in parallel, each atomically.
   */
  async deleteRange(start: Bytes, end: Bytes, options?: RawCallOptions): Promise<void> {
    const s = checkedBound(start, "start");
    const e = checkedBound(end, "end");
    if (!checkRange(s, e, "deleteRange")) return;
    await this.core.run("deleteRange", options, (scope) => this.deleteSlices(scope, new RetryBudget(), s, e));
  }

  /**
   * Pairs of [start, end) in key order, at most `limit` (default and maximum 10,000): empty
   * `start` = from the first key, empty `end` = to the last. With `reverse`, the same range in
   * descending order (so the last `limit` keys). To page, scan again from the last key + "\0"
   * (or, reverse, up to the last key).
   */
  async scan(start: Bytes, end: Bytes, options?: ScanOptions): Promise<RawKvPair[]> {
    const s = checkedBound(start, "start");
    const e = checkedBound(end, "end");
    const limit = checkedScanLimit(options?.limit);
    if (!checkRange(s, e, "scan")) return [];
    const keyOnly = options?.keyOnly === true;
    return this.core.run("scan", options, (scope) =>
      options?.reverse === true ? this.scanBackward(scope, s, e, limit, keyOnly) : this.scanForward(scope, s, e, limit, keyOnly),
    );
  }

  /**
   * Atomically set `key` to `next` if it currently holds `expected` (or, with `expected` undefined,
   * if it does not exist). Resolves with whether it swapped and the value before the call.
   * Rejects with UnknownOutcomeError if the request may have been applied but no answer came back:
   * read the key before trying again.
   */
  async compareAndSwap(key: Bytes, expected: Bytes | undefined, next: Bytes, options?: RawCallOptions): Promise<CompareAndSwapResult> {
    const k = checkedKey(key);
    const exp = expected === undefined ? undefined : checkedValue(expected, "expected");
    const v = checkedValue(next, "next");
    return this.core.run("compareAndSwap", options, async (scope) => {
      const r = await this.core.onKey(scope, k, RAW_CAS, (context) => ({
        context,
        key: k,
        value: v,
        previousNotExist: exp === undefined,
        previousValue: exp ?? EMPTY,
        cf: "",
        ttl: 0n,
        delete: false,
      }));
      return { swapped: r.succeed, previous: r.previousNotExist ? undefined : r.previousValue };
    });
  }

  /** Close the store channels and the scheduler client. Calls in flight and later calls reject with ClientClosedError. */
  async close(): Promise<void> {
    this.core.close();
  }

  // ------------------------------------------------------------------------------------------

  /** deleteRange over [start, end): one request per region, in parallel; a failed slice is sliced again. */
  private async deleteSlices(scope: CallScope, budget: RetryBudget, start: Buffer, end: Buffer): Promise<void> {
    const slices = await this.locator.sliceRange(start, end, scope, budget);
    await runParallel(scope, slices, async (slice: RegionSlice) => {
      const b = budget.fork();
      const r = await this.sender.send(scope, b, slice.region, RAW_DELETE_RANGE, (context) => ({ context, startKey: slice.start, endKey: slice.end, cf: "" }));
      if (!r.ok) await this.deleteSlices(scope, b, slice.start, slice.end);
    });
  }

  /** Regions up from `start`, each scanned from the cursor, until `limit` pairs or `end`. */
  private scanForward(scope: CallScope, start: Buffer, end: Buffer, limit: number, keyOnly: boolean): Promise<RawKvPair[]> {
    return this.core.scanForward(scope, start, end, limit, async (region, from, to, want, budget) => {
      const r = await this.sender.send(scope, budget, region, RAW_SCAN, (context) => ({ context, startKey: from, endKey: to, limit: want, keyOnly, cf: "", reverse: false }));
      return r.ok ? r.value.kvs.map((p) => ({ key: p.key, value: p.value })) : undefined;
    });
  }

  /** Walk regions down from `end`, scanning each in reverse below the cursor, until `limit` pairs or `start`. */
  private async scanBackward(scope: CallScope, start: Buffer, end: Buffer, limit: number, keyOnly: boolean): Promise<RawKvPair[]> {
    const rows: RawKvPair[] = [];
    let cursor = end; // exclusive; empty = +∞
    let budget = new RetryBudget();
    while (rows.length < limit) {
      const region = await this.locator.locateBefore(cursor, start, scope, budget);
      const regionStart = region.region.startKey;
      const last = Buffer.compare(regionStart, start) <= 0;
      const upper = cursor;
      const lower = last ? start : regionStart;
      const want = limit - rows.length;
      // Reverse on the wire: start_key is the exclusive upper bound, end_key the inclusive lower one.
      const r = await this.sender.send(scope, budget, region, RAW_SCAN, (context) => ({ context, startKey: upper, endKey: lower, limit: want, keyOnly, cf: "", reverse: true }));
      if (!r.ok) continue;
      for (const p of r.value.kvs) rows.push({ key: p.key, value: p.value });
      if (last) break;
      cursor = regionStart;
      budget = new RetryBudget();
    }
    return rows.slice(0, limit);
  }
}

