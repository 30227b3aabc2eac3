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
import { setMaxListeners } from "node:events";
import type { kvrpcpb } from "@regionkv/proto";
import { SchedulerRpcClient, type SchedulerRpcClientOptions } from "@regionkv/scheduler/client";
import { CallScope, RetryBudget } from "./call-scope.js";
import { ClientClosedError, InvalidArgumentError, RegionkvError, UnavailableError } from "./errors.js";
import { checkedBound, checkedKey, checkedScanLimit, checkedTimeout, checkedValue, checkRange, type Bytes } from "./limits.js";
import { silentLogger, type ClientLogger } from "./logger.js";
import { RAW_BATCH_GET, RAW_BATCH_PUT, RAW_CAS, RAW_DELETE, RAW_DELETE_RANGE, RAW_GET, RAW_PUT, RAW_SCAN, type RawResponse, type RawRpc } from "./raw-rpcs.js";
import { RegionCache, type CachedRegion } from "./region-cache.js";
import { RegionLocator, type RegionSlice } from "./region-locator.js";
import { RegionRequestSender } from "./region-request-sender.js";
import type { RegionSource } from "./region-source.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./retry-policy.js";
import { StoreChannels } from "./store-channels.js";

/** Default per-call deadline. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default retry budget of one request chain (a guard against loops: the deadline usually ends a call first). */
export const DEFAULT_MAX_RETRIES = 64;
/** Default time to wait for a connection to a store before trying another peer. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/** Most keys in one batch request to a region. */
const BATCH_MAX_KEYS = 1_024;
/** Most payload bytes (keys + values) in one batch request to a region; the stores accept 6 MiB. */
const BATCH_MAX_BYTES = 4 * 1024 * 1024;
/** Most requests of one multi-region call in flight at once. */
const PARALLELISM = 16;

const EMPTY = Buffer.alloc(0);

/** The scheduler client's logger (pino's Logger): also used by the raw client. */
type SchedulerLogger = NonNullable<SchedulerRpcClientOptions["logger"]>;

export interface RawClientOptions {
  /** The scheduler's "host:port", or several (tried in turn). */
  scheduler: string | string[];
  /** Per-call deadline in ms, retries included (default 10,000). A call option overrides it. */
  timeoutMs?: number;
  /**
   * How many times one request may be retried after region errors or unreachable stores (default
   * 64); a guard against loops, as the deadline usually ends a failing call first.
   */
  maxRetries?: number;
  /** How long to wait for a connection to a store before trying another peer, in ms (default 3,000). */
  connectTimeoutMs?: number;
  /** A pino logger (retries are logged at debug). */
  logger?: SchedulerLogger;
  /**
   * Send the requests to each store over one long-lived BatchCommands stream, many per message
   * (default true); false sends each as its own unary gRPC call. A store without BatchCommands is
   * sent unary calls either way.
   */
  batchCommands?: boolean;
}

/** Options of `RawClient.withRegionSource` (tests, embedding): no scheduler address, any logger. */
export interface RawClientInternalOptions {
  timeoutMs?: number;
  maxRetries?: number;
  connectTimeoutMs?: number;
  logger?: ClientLogger;
  /** Backoff steps (default 10 ms doubling up to 1 s). */
  backoff?: BackoffPolicy;
  /** Randomness for backoff jitter, in [0, 1) (default Math.random). */
  random?: () => number;
  /** As RawClientOptions.batchCommands (default true). */
  batchCommands?: boolean;
}

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

interface ResolvedOptions {
  timeoutMs: number;
  maxRetries: number;
  connectTimeoutMs: number;
  logger: ClientLogger;
  backoff: BackoffPolicy;
  random: () => number;
  batchCommands: boolean;
}

export class RawClient {
  private readonly cache = new RegionCache();
  private readonly locator: RegionLocator;
  private readonly stores: StoreChannels;
  private readonly sender: RegionRequestSender;
  private readonly closer = new AbortController();

  private constructor(
    private readonly source: RegionSource,
    private readonly opts: ResolvedOptions,
  ) {
    // Every call in flight listens to it: no listener limit.
    setMaxListeners(0, this.closer.signal);
    this.locator = new RegionLocator(this.cache, source);
    this.stores = new StoreChannels(source, {
      connectTimeoutMs: opts.connectTimeoutMs,
      batchCommands: opts.batchCommands,
      logger: opts.logger,
      backoff: opts.backoff,
      random: opts.random,
    });
    this.sender = new RegionRequestSender(this.cache, this.stores, opts.logger);
  }

  /**
   * Connect to the cluster through its scheduler. Resolves once a scheduler answered; rejects with
   * UnavailableError if none did within `timeoutMs`, InvalidArgumentError for bad options.
   */
  static async connect(options: RawClientOptions): Promise<RawClient> {
    const resolved = resolveOptions(options);
    const endpoints = typeof options.scheduler === "string" ? [options.scheduler] : options.scheduler;
    if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.some((e) => typeof e !== "string" || e === "")) {
      throw new InvalidArgumentError('scheduler must be a "host:port" string or a non-empty array of them, e.g. { scheduler: "127.0.0.1:2379" }');
    }
    let source: SchedulerRpcClient;
    try {
      source = await SchedulerRpcClient.connect({
        endpoints,
        timeoutMs: resolved.timeoutMs,
        ...(options.logger ? { logger: options.logger } : {}),
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why = err instanceof Error ? err.message : String(err);
      if (code === "INVALID_ARGUMENT") throw new InvalidArgumentError(`RawClient.connect: ${why}`, { cause: err });
      throw new UnavailableError(
        `RawClient.connect could not reach a scheduler at ${endpoints.join(", ")}: ${why}. ` +
          "Check that the scheduler is running (regionkv scheduler / regionkv cluster) and listening on that address.",
        { cause: err },
      );
    }
    return new RawClient(source, resolved);
  }

  /** A client over any RegionSource (a fake scheduler in tests, an existing SchedulerRpcClient). It owns `source` and closes it. */
  static withRegionSource(source: RegionSource, options: RawClientInternalOptions = {}): RawClient {
    return new RawClient(source, resolveOptions(options));
  }

  /** The value of `key`, or undefined if it does not exist. */
  async get(key: Bytes, options?: RawCallOptions): Promise<Buffer | undefined> {
    const k = checkedKey(key);
    return this.run("get", options, async (scope) => {
      const r = await this.onKey(scope, k, RAW_GET, (context) => ({ context, key: k, cf: "" }));
      return r.notFound ? undefined : r.value;
    });
  }

  /** Write `value` (0..4 MiB) at `key` (1 byte..8 KiB). */
  async put(key: Bytes, value: Bytes, options?: RawCallOptions): Promise<void> {
    const k = checkedKey(key);
    const v = checkedValue(value);
    await this.run("put", options, (scope) => this.onKey(scope, k, RAW_PUT, (context) => ({ context, key: k, value: v, cf: "", ttl: 0n })));
  }

  /** Delete `key` (nothing happens if it does not exist). */
  async delete(key: Bytes, options?: RawCallOptions): Promise<void> {
    const k = checkedKey(key);
    await this.run("delete", options, (scope) => this.onKey(scope, k, RAW_DELETE, (context) => ({ context, key: k, cf: "" })));
  }

  /**
   * The keys of `keys` that exist, with their values, in the order of `keys` (each key once,
   * missing keys left out). Keys of different regions are read in parallel (not one snapshot).
   */
  async batchGet(keys: readonly Bytes[], options?: RawCallOptions): Promise<RawKvPair[]> {
    if (!Array.isArray(keys)) throw new InvalidArgumentError("batchGet takes an array of keys");
    const ks = keys.map((k, i) => checkedKey(k, `keys[${i}]`));
    if (ks.length === 0) return [];
    return this.run("batchGet", options, async (scope) => {
      const found = new Map<string, kvrpcpb.KvPair>();
      await this.forEachKeyGroup(scope, new RetryBudget(), sortedDistinct(ks, (k) => k), (k) => k, (k) => k.byteLength, async (region, group, budget) => {
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
    await this.run("batchPut", options, (scope) =>
      this.forEachKeyGroup(scope, new RetryBudget(), sorted, (p) => p.key, (p) => p.key.byteLength + p.value.byteLength, async (region, group, budget) => {
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
    await this.run("deleteRange", options, (scope) => this.deleteSlices(scope, new RetryBudget(), s, e));
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
    return this.run("scan", options, (scope) =>
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
    return this.run("compareAndSwap", options, async (scope) => {
      const r = await this.onKey(scope, k, RAW_CAS, (context) => ({
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
    if (this.closer.signal.aborted) return;
    this.closer.abort();
    this.stores.close();
    this.source.close();
  }

  // ------------------------------------------------------------------------------------------

  private async run<T>(op: string, options: RawCallOptions | undefined, body: (scope: CallScope) => Promise<T>): Promise<T> {
    if (this.closer.signal.aborted) throw new ClientClosedError(`${op}: the RawClient is closed; create a new one with RawClient.connect()`);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError(`${op}: options.signal must be an AbortSignal`);
    const scope = new CallScope({
      op,
      timeoutMs: checkedTimeout(options?.timeoutMs, this.opts.timeoutMs, `${op}: options.timeoutMs`),
      maxRetries: this.opts.maxRetries,
      backoff: this.opts.backoff,
      random: this.opts.random,
      callerSignal: signal,
      clientSignal: this.closer.signal,
    });
    try {
      scope.throwIfAborted();
      return await body(scope);
    } catch (err) {
      // A call that is over reports why (deadline, abort, close) rather than how a step noticed.
      if (scope.aborted && !(err instanceof RegionkvError)) throw scope.abortError();
      throw err;
    } finally {
      scope.dispose();
    }
  }

  /** A single-key request, retried (relocating the key) until it succeeds or the call fails. */
  private async onKey<Req, Resp extends RawResponse>(scope: CallScope, key: Buffer, rpc: RawRpc<Req, Resp>, build: (context: kvrpcpb.Context) => Req): Promise<Resp> {
    const budget = new RetryBudget();
    while (true) {
      const region = await this.locator.locateKey(key, scope, budget);
      const r = await this.sender.send(scope, budget, region, rpc, build);
      if (r.ok) return r.value;
    }
  }

  /**
   * Run `send` for each region's share of `items` (sorted, distinct), split into requests of at
   * most BATCH_MAX_KEYS items and BATCH_MAX_BYTES, in parallel. A share whose request must be
   * retried is located and split again (its region may have split meanwhile).
   */
  private async forEachKeyGroup<T>(
    scope: CallScope,
    budget: RetryBudget,
    items: T[],
    keyOf: (item: T) => Buffer,
    sizeOf: (item: T) => number,
    send: (region: CachedRegion, items: T[], budget: RetryBudget) => Promise<boolean>,
  ): Promise<void> {
    const groups = await this.locator.groupByRegion(items, keyOf, scope, budget);
    const requests = groups.flatMap((g) => chunk(g.items, sizeOf).map((part) => ({ region: g.region, items: part })));
    await runParallel(scope, requests, async (req) => {
      const b = budget.fork();
      if (!(await send(req.region, req.items, b))) await this.forEachKeyGroup(scope, b, req.items, keyOf, sizeOf, send);
    });
  }

  /** deleteRange over [start, end): one request per region, in parallel; a failed slice is sliced again. */
  private async deleteSlices(scope: CallScope, budget: RetryBudget, start: Buffer, end: Buffer): Promise<void> {
    const slices = await this.locator.sliceRange(start, end, scope, budget);
    await runParallel(scope, slices, async (slice: RegionSlice) => {
      const b = budget.fork();
      const r = await this.sender.send(scope, b, slice.region, RAW_DELETE_RANGE, (context) => ({ context, startKey: slice.start, endKey: slice.end, cf: "" }));
      if (!r.ok) await this.deleteSlices(scope, b, slice.start, slice.end);
    });
  }

  /** Walk regions up from `start`, scanning each from the cursor, until `limit` pairs or `end`. */
  private async scanForward(scope: CallScope, start: Buffer, end: Buffer, limit: number, keyOnly: boolean): Promise<RawKvPair[]> {
    const rows: RawKvPair[] = [];
    let cursor = start;
    let budget = new RetryBudget();
    while (rows.length < limit) {
      const region = await this.locator.locateKey(cursor, scope, budget, end);
      const regionEnd = region.region.endKey;
      const last = regionEnd.length === 0 || (end.length > 0 && Buffer.compare(regionEnd, end) >= 0);
      const from = cursor;
      const to = last ? end : regionEnd;
      const want = limit - rows.length;
      const r = await this.sender.send(scope, budget, region, RAW_SCAN, (context) => ({ context, startKey: from, endKey: to, limit: want, keyOnly, cf: "", reverse: false }));
      if (!r.ok) continue;
      for (const p of r.value.kvs) rows.push({ key: p.key, value: p.value });
      if (last) break;
      cursor = regionEnd;
      budget = new RetryBudget();
    }
    return rows.slice(0, limit);
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

function resolveOptions(o: RawClientInternalOptions): ResolvedOptions {
  if (typeof o !== "object" || o === null) throw new InvalidArgumentError("RawClient options must be an object");
  const maxRetries = o.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (o.batchCommands !== undefined && typeof o.batchCommands !== "boolean") throw new InvalidArgumentError(`batchCommands must be true or false, got ${String(o.batchCommands)}`);
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new InvalidArgumentError(`maxRetries must be an integer >= 0, got ${String(o.maxRetries)}`);
  return {
    timeoutMs: checkedTimeout(o.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs"),
    connectTimeoutMs: checkedTimeout(o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, "connectTimeoutMs"),
    maxRetries,
    logger: o.logger ?? silentLogger,
    backoff: o.backoff ?? DEFAULT_BACKOFF,
    random: o.random ?? Math.random,
    batchCommands: o.batchCommands ?? true,
  };
}

/** `items` sorted by key, one per key (the first of equal keys). */
function sortedDistinct<T>(items: T[], keyOf: (item: T) => Buffer): T[] {
  const sorted = [...items].sort((a, b) => Buffer.compare(keyOf(a), keyOf(b)));
  return sorted.filter((item, i) => i === 0 || !keyOf(sorted[i - 1]!).equals(keyOf(item)));
}

/** Split `items` into runs of at most BATCH_MAX_KEYS items and BATCH_MAX_BYTES (each run has ≥ 1 item). */
function chunk<T>(items: T[], sizeOf: (item: T) => number): T[][] {
  const out: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = sizeOf(item);
    if (run.length > 0 && (run.length >= BATCH_MAX_KEYS || bytes + n > BATCH_MAX_BYTES)) {
      out.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += n;
  }
  if (run.length > 0) out.push(run);
  return out;
}

/**
 * `fn` over `items`, at most PARALLELISM at a time. The first failure ends the call's scope, so
 * the other requests stop at their next step, and is what the call rejects with.
 */
async function runParallel<T>(scope: CallScope, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 1) return fn(items[0]!);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        if (err instanceof RegionkvError) scope.fail(err);
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLELISM, items.length) }, worker));
}

