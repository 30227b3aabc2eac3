/**
 * First start of a store and of the cluster's first region.
 * - `bootstrapStore` records the store's identity (cluster id, store id) in an empty engine;
 *   a store refuses to start with another identity.
 * - `prepareBootstrapRegion` writes the first region (covering the whole key space, epoch 1/1,
 *   one peer per initial store) at the initial log position on one store's engine.
 */
import { WriteBatch, type Engine } from "@regionkv/engine";
import { metapb, raft_serverpb } from "@regionkv/proto";
import { writeInitialRegionState } from "./peer-storage.js";

const STORE_IDENT_KEY = "store_ident";

export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
}

export function readStoreIdent(engine: Engine): raft_serverpb.StoreIdent | undefined {
  const v = engine.getMeta(STORE_IDENT_KEY);
  return v ? raft_serverpb.StoreIdent.decode(v) : undefined;
}

export function bootstrapStore(engine: Engine, clusterId: bigint, storeId: bigint): void {
  const existing = readStoreIdent(engine);
  if (existing) {
    if (existing.clusterId === clusterId && existing.storeId === storeId) return;
    throw new BootstrapError(
      `${engine.file} belongs to store ${existing.storeId} of cluster ${existing.clusterId}, not store ${storeId} of cluster ${clusterId}; use that store's identity or another --data directory`,
    );
  }
  if (engine.allRegionStates().size > 0) {
    throw new BootstrapError(`${engine.file} holds regions but no store identity; it is not a regionkv store directory`);
  }
  const wb = new WriteBatch().setMeta(STORE_IDENT_KEY, raft_serverpb.StoreIdent.encode({ clusterId, storeId }).finish());
  engine.write(wb, { sync: true });
}

export function prepareBootstrapRegion(engine: Engine, region: metapb.Region): void {
  if (engine.getRegionState(Number(region.id))) return;
  const wb = new WriteBatch();
  writeInitialRegionState(wb, region);
  engine.write(wb, { sync: true });
}

/**
 * The cluster's first region: the whole key space, epoch (conf_ver 1, version 1), one voter per
 * initial store, with peer id = store id (as TinyKV's bootstrap does).
 */
export function firstRegion(storeIds: readonly number[], regionId = 1n): metapb.Region {
  return {
    id: regionId,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1n, version: 1n },
    peers: storeIds.map((i) => ({ id: BigInt(i), storeId: BigInt(i), role: metapb.PeerRole.Voter })),
  };
}
