/**
 * StoreResolver: store id → gRPC address, through the scheduler (`getStore`, plugged in by the
 * caller) with a cache.
 *
 * - A known store's address is cached for `ttlMs`; a tombstone too (it never comes back); an
 *   unknown store for `notFoundTtlMs` only (it may just be registering).
 * - `invalidate` (called on a connection failure) makes the next `resolve` ask again, so a store
 *   that moved is found at its new address.
 * - If asking fails (scheduler unreachable) the last known address is used, stale or not.
 * - Lookups for one store are shared: one `getStore` in flight per store.
 * - `resolve` never rejects; failures are values.
 */
import { metapb } from "@regionkv/proto";
import type { Clock } from "@regionkv/raftstore";
import type { Logger } from "pino";

export type StoreLookup = (storeId: bigint) => Promise<metapb.Store | undefined>;

export type ResolveError =
  | { kind: "NotFound"; storeId: bigint }
  | { kind: "NoAddress"; storeId: bigint }
  | { kind: "Tombstone"; storeId: bigint }
  | { kind: "LookupFailed"; storeId: bigint; message: string };

export type Resolution = { ok: true; address: string } | { ok: false; error: ResolveError };

export function describeResolveError(e: ResolveError): string {
  switch (e.kind) {
    case "NotFound":
      return `store ${e.storeId} is unknown to the scheduler`;
    case "NoAddress":
      return `store ${e.storeId} has no address in the scheduler`;
    case "Tombstone":
      return `store ${e.storeId} is a tombstone`;
    case "LookupFailed":
      return `looking up store ${e.storeId} failed: ${e.message}`;
    default: {
      const never: never = e;
      throw new Error(`unknown resolve error ${JSON.stringify(never)}`);
    }
  }
}

export interface StoreResolverOptions {
  getStore: StoreLookup;
  /** How long a store's address (or tombstone state) is trusted. Default 60 s. */
  ttlMs?: number;
  /** How long "unknown store" is remembered. Default 1 s. */
  notFoundTtlMs?: number;
  clock?: Clock;
  /** Lookup failures are logged at debug (the transport logs what they cause). */
  logger?: Logger;
}

interface Entry {
  result: Resolution;
  expiresAt: number;
}

export class StoreResolver {
  private readonly cache = new Map<bigint, Entry>();
  private readonly inflight = new Map<bigint, Promise<Resolution>>();
  private readonly getStore: StoreLookup;
  private readonly ttlMs: number;
  private readonly notFoundTtlMs: number;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  /** getStore calls made (tests and debugging). */
  lookups = 0;

  constructor(opts: StoreResolverOptions) {
    this.getStore = opts.getStore;
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.notFoundTtlMs = opts.notFoundTtlMs ?? 1_000;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.log = opts.logger?.child({ component: "store-resolver" });
  }

  /** A fresh cached answer, or undefined when `resolve` would have to ask. */
  peek(storeId: bigint): Resolution | undefined {
    const e = this.cache.get(storeId);
    return e && e.expiresAt > this.clock.now() ? e.result : undefined;
  }

  /** The store's address, from the cache while fresh, else from the scheduler. Never rejects. */
  resolve(storeId: bigint): Promise<Resolution> {
    const fresh = this.peek(storeId);
    if (fresh) return Promise.resolve(fresh);
    let p = this.inflight.get(storeId);
    if (!p) {
      p = this.lookup(storeId).finally(() => this.inflight.delete(storeId));
      this.inflight.set(storeId, p);
    }
    return p;
  }

  /** The cached answer is suspect (a connection to it failed): ask again next time. */
  invalidate(storeId: bigint): void {
    const e = this.cache.get(storeId);
    if (e) e.expiresAt = 0;
  }

  private async lookup(storeId: bigint): Promise<Resolution> {
    this.lookups++;
    let store: metapb.Store | undefined;
    try {
      store = await this.getStore(storeId);
    } catch (err) {
      this.log?.debug({ toStore: String(storeId), err: err instanceof Error ? err.message : String(err) }, "store lookup failed");
      // Stale-if-error: the last known address is a better guess than nothing.
      const stale = this.cache.get(storeId)?.result;
      if (stale?.ok) return stale;
      return { ok: false, error: { kind: "LookupFailed", storeId, message: err instanceof Error ? err.message : String(err) } };
    }
    const now = this.clock.now();
    let result: Resolution;
    let ttl = this.ttlMs;
    if (!store) {
      result = { ok: false, error: { kind: "NotFound", storeId } };
      ttl = this.notFoundTtlMs;
    } else if (store.state === metapb.StoreState.Tombstone) {
      result = { ok: false, error: { kind: "Tombstone", storeId } };
    } else if (!store.address) {
      result = { ok: false, error: { kind: "NoAddress", storeId } };
      ttl = this.notFoundTtlMs;
    } else {
      result = { ok: true, address: store.address };
    }
    this.cache.set(storeId, { result, expiresAt: now + ttl });
    return result;
  }
}
