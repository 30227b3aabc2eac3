/**
 * The machinery the raw and the transactional clients share: one region cache, locator, store
 * channels and request sender per client; `run` (a CallScope per call: deadline, caller's and
 * client's abort signals, retry budget), `onKey` (a single-key request retried until it lands),
 * `forEachKeyGroup` (a multi-key request split by region and size, sent in parallel, a failed
 * share regrouped), and connecting through the scheduler.
 */
import { setMaxListeners } from "node:events";
import type { kvrpcpb } from "@regionkv/proto";
import { SchedulerRpcClient, type SchedulerRpcClientOptions } from "@regionkv/scheduler/client";
import { CallScope, RetryBudget } from "./call-scope.js";
import { ClientClosedError, InvalidArgumentError, RegionkvError, UnavailableError } from "./errors.js";
import { checkedTimeout } from "./limits.js";
import { silentLogger, type ClientLogger } from "./logger.js";
import type { RawResponse, RawRpc } from "./raw-rpcs.js";
import { RegionCache, type CachedRegion } from "./region-cache.js";
import { RegionLocator } from "./region-locator.js";
import { RegionRequestSender } from "./region-request-sender.js";
import type { RegionSource } from "./region-source.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./retry-policy.js";
import { StoreChannels, type StoreTransport } from "./store-channels.js";

/** Default per-call deadline. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default retry budget of one request chain (a guard against loops: the deadline usually ends a call first). */
export const DEFAULT_MAX_RETRIES = 64;
/** Default time to wait for a connection to a store before trying another peer. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/** Most keys in one batch request to a region. */
export const BATCH_MAX_KEYS = 1_024;
/** Most payload bytes (keys + values) in one batch request to a region; the stores accept 6 MiB. */
export const BATCH_MAX_BYTES = 4 * 1024 * 1024;
/** Most requests of one multi-region call in flight at once. */
export const PARALLELISM = 16;

/** The scheduler client's logger (pino's Logger). */
export type SchedulerLogger = NonNullable<SchedulerRpcClientOptions["logger"]>;

/** Options shared by both clients (beyond the scheduler address). */
export interface RegionClientOptions {
  timeoutMs?: number;
  maxRetries?: number;
  connectTimeoutMs?: number;
  logger?: ClientLogger;
  /** Backoff steps (default 10 ms doubling up to 1 s). */
  backoff?: BackoffPolicy;
  /** Randomness for backoff jitter, in [0, 1) (default Math.random). */
  random?: () => number;
  batchCommands?: boolean;
  /**
   * For tests and embedding: how requests reach the stores, instead of gRPC channels to the
   * addresses the source gives (StoreChannels). The client closes it when it closes.
   */
  transport?: StoreTransport;
}

/** How a client reaches the cluster (both clients' `connect` options). */
export interface ConnectOptions {
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

/** Options of a single call. */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ResolvedOptions {
  timeoutMs: number;
  maxRetries: number;
  connectTimeoutMs: number;
  logger: ClientLogger;
  backoff: BackoffPolicy;
  random: () => number;
  batchCommands: boolean;
  /** "RawClient" or "TxnClient", for messages. */
  clientName: string;
  /** Replaces the gRPC StoreChannels when set (tests, embedding). */
  transport: StoreTransport | undefined;
}

export class RegionClient {
  readonly cache = new RegionCache();
  readonly locator: RegionLocator;
  readonly stores: StoreTransport;
  readonly sender: RegionRequestSender;
  readonly closer = new AbortController();

  constructor(
    readonly source: RegionSource,
    readonly opts: ResolvedOptions,
  ) {
    // Every call in flight listens to it: no listener limit.
    setMaxListeners(0, this.closer.signal);
    this.locator = new RegionLocator(this.cache, source);
    this.stores =
      opts.transport ??
      new StoreChannels(source, {
        connectTimeoutMs: opts.connectTimeoutMs,
        batchCommands: opts.batchCommands,
        logger: opts.logger,
        backoff: opts.backoff,
        random: opts.random,
      });
    this.sender = new RegionRequestSender(this.cache, this.stores, opts.logger);
  }

  /** A SchedulerRpcClient for `endpoints`, or the client's typed error saying why not. */
  static async connectScheduler(clientName: string, scheduler: unknown, timeoutMs: number, logger: SchedulerLogger | undefined): Promise<SchedulerRpcClient> {
    const endpoints = typeof scheduler === "string" ? [scheduler] : scheduler;
    if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.some((e) => typeof e !== "string" || e === "")) {
      throw new InvalidArgumentError('scheduler must be a "host:port" string or a non-empty array of them, e.g. { scheduler: "127.0.0.1:2379" }');
    }
    try {
      return await SchedulerRpcClient.connect({ endpoints: endpoints as string[], timeoutMs, ...(logger ? { logger } : {}) });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why = err instanceof Error ? err.message : String(err);
      if (code === "INVALID_ARGUMENT") throw new InvalidArgumentError(`${clientName}.connect: ${why}`, { cause: err });
      throw new UnavailableError(
        `${clientName}.connect could not reach a scheduler at ${(endpoints as string[]).join(", ")}: ${why}. ` +
          "Check that the scheduler is running (regionkv scheduler / regionkv cluster) and listening on that address.",
        { cause: err },
      );
    }
  }

  get closed(): boolean {
    return this.closer.signal.aborted;
  }

  /** Close the store channels and the scheduler client. */
  close(): void {
    if (this.closer.signal.aborted) return;
    this.closer.abort();
    this.stores.close();
    this.source.close();
  }

  async run<T>(op: string, options: CallOptions | undefined, body: (scope: CallScope) => Promise<T>): Promise<T> {
    if (this.closer.signal.aborted) throw new ClientClosedError(`${op}: the ${this.opts.clientName} is closed; create a new one with ${this.opts.clientName}.connect()`);
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
  async onKey<Req, Resp extends RawResponse>(scope: CallScope, key: Buffer, rpc: RawRpc<Req, Resp>, build: (context: kvrpcpb.Context) => Req): Promise<Resp> {
    const budget = new RetryBudget();
    while (true) {
      const region = await this.locator.locateKey(key, scope, budget);
      const r = await this.sender.send(scope, budget, region, rpc, build);
      if (r.ok) return r.value;
    }
  }

  /**
   * Walk regions up from `start` until `limit` rows or `end` (empty = +∞): `fetch` reads one
   * region's slice [from, to), at most `want` rows, and returns them, or undefined to read the
   * same slice again (its region changed, or it resolved locks first).
   */
  async scanForward<T>(
    scope: CallScope,
    start: Buffer,
    end: Buffer,
    limit: number,
    fetch: (region: CachedRegion, from: Buffer, to: Buffer, want: number, budget: RetryBudget) => Promise<T[] | undefined>,
  ): Promise<T[]> {
    const rows: T[] = [];
    let cursor = start;
    let budget = new RetryBudget();
    while (rows.length < limit) {
      const region = await this.locator.locateKey(cursor, scope, budget, end);
      const regionEnd = region.region.endKey;
      const last = regionEnd.length === 0 || (end.length > 0 && Buffer.compare(regionEnd, end) >= 0);
      const want = limit - rows.length;
      const got = await fetch(region, cursor, last ? end : regionEnd, want, budget);
      if (got === undefined) continue;
      rows.push(...got);
      if (last || got.length >= want) break;
      cursor = regionEnd;
      budget = new RetryBudget();
    }
    return rows.slice(0, limit);
  }

  /**
   * Run `send` for each region's share of `items` (sorted, distinct), split into requests of at
   * most BATCH_MAX_KEYS items and BATCH_MAX_BYTES, in parallel. A share whose request must be
   * retried is located and split again (its region may have split meanwhile).
   */
  async forEachKeyGroup<T>(
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
}

export function resolveOptions(o: RegionClientOptions, clientName = "RawClient"): ResolvedOptions {
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
    clientName,
    transport: o.transport,
  };
}
/** `items` sorted by key, one per key (the first of equal keys). */
export function sortedDistinct<T>(items: T[], keyOf: (item: T) => Buffer): T[] {
  const sorted = [...items].sort((a, b) => Buffer.compare(keyOf(a), keyOf(b)));
  return sorted.filter((item, i) => i === 0 || !keyOf(sorted[i - 1]!).equals(keyOf(item)));
}

/** Split `items` into runs of at most BATCH_MAX_KEYS items and BATCH_MAX_BYTES (each run has ≥ 1 item). */
export function chunk<T>(items: T[], sizeOf: (item: T) => number): T[][] {
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
export async function runParallel<T>(scope: CallScope, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
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

