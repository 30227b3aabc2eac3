/**
 * What every peer of a store shares: config, engine, transport, router, clock, logger, metrics
 * and the worker queues. Passed to peers instead of module-level state, so a test can run many
 * stores in one process with their own clocks.
 */
import type { Engine } from "@regionkv/engine";
import type { metapb } from "@regionkv/proto";
import type { Logger } from "pino";
import type { AppliedSplit } from "./apply.js";
import type { LoadSplitter } from "./load-split.js";
import type { RaftstoreConfig } from "./config.js";
import type { RaftstoreMetrics } from "./metrics.js";
import type { Router } from "./router.js";
import type { Transport } from "./transport.js";
import type { WorkerTask } from "./workers/tasks.js";

export interface Clock {
  /** Milliseconds (wall clock in production, simulated in tests). */
  now(): number;
}

/** The store's view of its regions that peers may consult, and the store-level effects peers cause. */
export interface StoreMeta {
  /**
   * A split applied on region `regionId` (after its apply batch is committed): create and start
   * peers for the new regions here; they campaign at once if `parentWasLeader`.
   */
  splitApplied(regionId: number, split: AppliedSplit, parentWasLeader: boolean): void;
  /** The region of an initialized peer on this store, if any. */
  regionOf(regionId: number): metapb.Region | undefined;
  /**
   * Why `[startKey, endKey)` may not be taken by region `regionId` on this store (another
   * initialized region, or the range of a destroyed peer whose data is still being deleted
   * overlaps it), or undefined if it may.
   */
  rangeConflict(regionId: number, startKey: Buffer, endKey: Buffer): string | undefined;
}

export interface StoreContext {
  readonly storeId: bigint;
  readonly cfg: RaftstoreConfig;
  readonly engine: Engine;
  readonly transport: Transport;
  readonly router: Router;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: RaftstoreMetrics;
  /** Uniform [0, 1): seeds each raft node's election-timeout randomness. */
  readonly random: () => number;
  readonly meta: StoreMeta;
  /** Request rates and sampled keys per region, for load-based split (shared by the store's peers). */
  readonly loadSplitter: LoadSplitter;
  /** Bytes and keys applied on this store since the last store heartbeat (peers add, the heartbeat resets). */
  readonly traffic: { bytesWritten: number; keysWritten: number };
  /** Queue background work (region snapshots, log GC, split check, scheduler calls). */
  schedule(task: WorkerTask): void;
}
