/**
 * First start of a store: join the cluster and, if there is none yet, create its first region.
 *
 * Flow (ARCHITECTURE.md "bootstrap"):
 *   1. Identity: a data directory without a store identity gets a fresh store id from the
 *      scheduler (AllocID) and the scheduler's cluster id; one with an identity must belong to
 *      the scheduler's cluster.
 *   2. First region (only while this store has no region at all):
 *      - the cluster is bootstrapped and its first region, still in its initial epoch (1, 1),
 *        lists a peer on this store → write the region's initial state locally (the same state
 *        every initial peer starts from: log index 5, term 5), and start;
 *      - the cluster is not bootstrapped → wait until `initialStores` stores have registered; the
 *        one with the lowest id creates the region with a voter on each of the `initialStores`
 *        lowest-id stores (ids from AllocID), bootstraps the scheduler with it, then writes it
 *        locally (the others find it through the first case);
 *      - otherwise the store starts empty (it gets regions when the scheduler moves them here).
 *   The scheduler's Bootstrap is atomic, so two bootstrappers cannot both win; a bootstrapper
 *   that crashes after Bootstrap but before its local write takes the first case on restart.
 */
import type { Engine } from "@regionkv/engine";
import { metapb } from "@regionkv/proto";
import { bootstrapStore, prepareBootstrapRegion, readStoreIdent } from "@regionkv/raftstore";
import type { SchedulerRpcClient } from "@regionkv/scheduler/client";
import type { Logger } from "pino";

export class StoreStartError extends Error {
  override readonly name = "StoreStartError";
}

/** Give this data directory a store identity in the scheduler's cluster; returns the store id. */
export async function ensureStoreIdent(engine: Engine, scheduler: SchedulerRpcClient, dataDir: string): Promise<bigint> {
  const ident = readStoreIdent(engine);
  if (ident) {
    if (ident.clusterId !== scheduler.clusterId) {
      throw new StoreStartError(
        `${dataDir} belongs to cluster ${ident.clusterId}, but the scheduler serves cluster ${scheduler.clusterId}: point --scheduler at that cluster's scheduler, or use another --data directory`,
      );
    }
    return ident.storeId;
  }
  const storeId = await scheduler.allocId();
  bootstrapStore(engine, scheduler.clusterId, storeId);
  return storeId;
}

export interface FirstRegionOptions {
  engine: Engine;
  scheduler: SchedulerRpcClient;
  storeId: bigint;
  /** How many stores must register before the first region is created (its replica count). */
  initialStores: number;
  logger: Logger;
  /** Poll interval while waiting for the other stores. */
  pollMs?: number;
  signal?: AbortSignal;
}

function isInitialEpoch(r: metapb.Region): boolean {
  return r.regionEpoch?.confVer === 1n && r.regionEpoch.version === 1n;
}

/** Create or adopt the first region if this store has none (see the file comment). */
export async function ensureFirstRegion(opts: FirstRegionOptions): Promise<void> {
  const { engine, scheduler, storeId, logger } = opts;
  if (engine.allRegionStates().size > 0) return;
  const pollMs = opts.pollMs ?? 200;
  let announced = false;
  for (;;) {
    if (opts.signal?.aborted) throw new StoreStartError("store start was cancelled while waiting for the cluster to bootstrap");
    if (await scheduler.isBootstrapped()) {
      const first = await scheduler.getRegion(Buffer.alloc(0));
      const region = first?.region;
      if (region && isInitialEpoch(region) && region.peers.some((p) => p.storeId === storeId)) {
        prepareBootstrapRegion(engine, region);
        logger.info({ regionId: String(region.id) }, "joined the cluster's first region");
      }
      return;
    }
    const stores = (await scheduler.getAllStores({ excludeTombstones: true })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (stores.length >= opts.initialStores) {
      const chosen = stores.slice(0, opts.initialStores);
      if (chosen[0]!.id === storeId) {
        await bootstrapFirstRegion(opts, chosen);
        return;
      }
    } else if (!announced) {
      announced = true;
      logger.info({ registered: stores.length, initialStores: opts.initialStores }, "waiting for the initial stores to register before the cluster is bootstrapped");
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function bootstrapFirstRegion(opts: FirstRegionOptions, stores: metapb.Store[]): Promise<void> {
  const { scheduler, engine, logger, storeId } = opts;
  const regionId = await scheduler.allocId();
  const peers: metapb.Peer[] = [];
  for (const s of stores) peers.push({ id: await scheduler.allocId(), storeId: s.id, role: metapb.PeerRole.Voter });
  const region: metapb.Region = {
    id: regionId,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1n, version: 1n },
    peers,
  };
  const me = stores.find((s) => s.id === storeId)!;
  try {
    await scheduler.bootstrap(me, region);
  } catch (err) {
    if ((err as { code?: string }).code === "ALREADY_BOOTSTRAPPED") return ensureFirstRegion(opts);
    throw err;
  }
  prepareBootstrapRegion(engine, region);
  logger.info({ regionId: String(regionId), stores: stores.map((s) => String(s.id)) }, "bootstrapped the cluster with its first region");
}
