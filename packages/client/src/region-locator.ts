/**
 * Which region holds a key, a group of keys, or each part of a key range: the region cache first,
 * the scheduler (RegionSource) on a miss. Misses for a range or a batch load the following regions
 * in the same scheduler call (`scanRegions`), so walking N regions costs about N/32 lookups, not N.
 *
 * A lookup that fails (the scheduler is unreachable, or knows no region for the key yet) is
 * retried with backoff within the call's deadline and retry budget.
 */
import type { CallScope, RetryBudget } from "./call-scope.js";
import type { CachedRegion, RegionCache } from "./region-cache.js";
import { regionContains } from "./region-cache.js";
import type { RegionSource, RegionWithLeader } from "./region-source.js";

/** Regions loaded per scheduler call when walking a range or a batch. */
const PREFETCH_REGIONS = 32;

/** Items that fall into one region. */
export interface RegionGroup<T> {
  region: CachedRegion;
  items: T[];
}

/** A region and the part [start, end) of a range that falls into it (empty end = +∞). */
export interface RegionSlice {
  region: CachedRegion;
  start: Buffer;
  end: Buffer;
}

const EMPTY = Buffer.alloc(0);

function cmp(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The smallest key greater than `key` (key + 0x00). */
export function keyAfter(key: Uint8Array): Buffer {
  return Buffer.concat([key, Buffer.of(0)]);
}

export class RegionLocator {
  constructor(
    private readonly cache: RegionCache,
    private readonly source: RegionSource,
  ) {}

  /**
   * The region holding `key`. With `until` (exclusive, empty = +∞), a miss also loads the regions
   * after it up to `until`, for callers about to walk on.
   */
  async locateKey(key: Buffer, scope: CallScope, budget: RetryBudget, until?: Buffer): Promise<CachedRegion> {
    while (true) {
      const hit = this.cache.lookup(key);
      if (hit) return hit;
      const loaded = await this.tryLoad(scope, async () => {
        const found = until === undefined ? [await this.source.getRegion(key)] : await this.source.scanRegions(key, until, PREFETCH_REGIONS);
        return this.remember(found.filter((r): r is RegionWithLeader => r !== undefined)).find((e) => regionContains(e.region, key));
      });
      if (typeof loaded !== "string" && loaded) return this.cache.lookup(key) ?? loaded;
      scope.noteFailure(typeof loaded === "string" ? loaded : `the scheduler knows no region holding key ${describeKey(key)} (is the cluster bootstrapped?)`);
      await scope.retry(budget, true);
    }
  }

  /**
   * The region holding the keys just below `end` (start < end ≤ region end; empty `end` = +∞, the
   * last region): where a reverse walk that has reached `end` continues. `floor` (inclusive) is
   * the lowest key the walk needs; lookups start no lower than it.
   */
  async locateBefore(end: Buffer, floor: Buffer, scope: CallScope, budget: RetryBudget): Promise<CachedRegion> {
    while (true) {
      const hit = this.cache.lookupBefore(end);
      if (hit) return hit;
      const loaded = await this.tryLoad(scope, () => this.loadBefore(end, floor));
      if (typeof loaded !== "string" && loaded) return this.cache.lookupBefore(end) ?? loaded;
      scope.noteFailure(
        typeof loaded === "string" ? loaded : `the scheduler knows no region ending at ${end.length === 0 ? "+∞" : describeKey(end)} (is the cluster bootstrapped?)`,
      );
      await scope.retry(budget, true);
    }
  }

  /**
   * The scheduler has no "previous region" lookup in the client's view, so page forward with
   * scanRegions from a key just below `end` until the region covering the keys below `end`.
   */
  private async loadBefore(end: Buffer, floor: Buffer): Promise<CachedRegion | undefined> {
    let probe = end.length === 0 ? floor : keyBelow(end);
    if (cmp(probe, floor) < 0) probe = floor;
    while (true) {
      const page = this.remember(await this.source.scanRegions(probe, end, PREFETCH_REGIONS));
      const last = page.at(-1);
      if (!last) return undefined;
      const lastEnd = last.region.endKey;
      if (lastEnd.length === 0 || (end.length > 0 && cmp(lastEnd, end) >= 0)) return last;
      if (cmp(lastEnd, probe) <= 0) return undefined; // no progress: a hole in the scheduler's map
      probe = lastEnd;
    }
  }

  /**
   * Split sorted, distinct `items` into groups by region, in key order. `keyOf` gives an item's key.
   */
  async groupByRegion<T>(items: T[], keyOf: (item: T) => Buffer, scope: CallScope, budget: RetryBudget): Promise<RegionGroup<T>[]> {
    const groups: RegionGroup<T>[] = [];
    const lastKey = items.length > 0 ? keyOf(items[items.length - 1]!) : undefined;
    const until = lastKey ? keyAfter(lastKey) : EMPTY;
    let current: RegionGroup<T> | undefined;
    for (const item of items) {
      const key = keyOf(item);
      if (current && regionContains(current.region.region, key)) {
        current.items.push(item);
        continue;
      }
      current = { region: await this.locateKey(key, scope, budget, until), items: [item] };
      groups.push(current);
    }
    return groups;
  }

  /** The regions covering [start, end) (empty end = +∞) in key order, each with its slice of the range. */
  async sliceRange(start: Buffer, end: Buffer, scope: CallScope, budget: RetryBudget): Promise<RegionSlice[]> {
    const slices: RegionSlice[] = [];
    let cursor = start;
    while (true) {
      const region = await this.locateKey(cursor, scope, budget, end);
      const regionEnd = region.region.endKey;
      const last = regionEnd.length === 0 || (end.length > 0 && cmp(regionEnd, end) >= 0);
      slices.push({ region, start: cursor, end: last ? end : regionEnd });
      if (last) return slices;
      cursor = regionEnd;
    }
  }

  /** Cache regions from the scheduler (skipping views older than the cache's); the entries to use. */
  private remember(found: RegionWithLeader[]): CachedRegion[] {
    return found.map(({ region, leader }) => this.cache.maybeInsert(region, leader) ?? { region, leader: leader ?? region.peers[0], tried: new Set() });
  }

  /** Run a scheduler lookup; a failure comes back as text (unless the call is over: then it throws). */
  private async tryLoad<T>(scope: CallScope, load: () => Promise<T>): Promise<T | string> {
    try {
      return await scope.race(load());
    } catch (err) {
      scope.throwIfAborted();
      return `the scheduler lookup failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}

/** A key below `key` and close to it (`key` must be non-empty): its exact predecessor if it ends in 0x00. */
function keyBelow(key: Buffer): Buffer {
  const last = key[key.length - 1]!;
  if (last === 0) return key.subarray(0, key.length - 1);
  const below = Buffer.from(key);
  below[below.length - 1] = last - 1;
  return below;
}

/** A key for messages: printable ASCII as is, else hex; long keys shortened. */
export function describeKey(key: Uint8Array): string {
  const b = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const printable = b.every((c) => c >= 0x20 && c < 0x7f);
  const text = printable ? JSON.stringify(b.toString("latin1")) : `0x${b.toString("hex")}`;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
