/**
 * Region split (BatchSplit), the rules shared by propose and apply.
 *
 * Flow: the split checker (size/keys), the load splitter or a scheduler operator gives split keys
 * → the leader asks the scheduler for ids (`AskBatchSplit`: one new region id and one peer id per
 * peer, per key) → it proposes an admin `BatchSplit` with the epoch it asked under → at apply
 * (every peer, in log order): both counters of the epoch checked, `checkBatchSplit` again,
 * `splitRegions` cuts the range: the original id keeps the leftmost piece (or the rightmost with
 * `right_derive`), new ids take the others; **every** resulting region gets `version + 1`, conf_ver
 * unchanged, and the i-th peer of a new region lives on the store of the i-th peer of the parent.
 * The pieces' states are written in the same apply batch as the applied index, so a crash either
 * replays the split from the log or finds it whole. Data stays where it is: all regions of a store
 * share one engine, so a split moves no bytes.
 *
 * Invariant: the pieces are contiguous, ordered, non-empty and cover the parent's range exactly.
 */
import { type WriteBatch, type Engine } from "@regionkv/engine";
import { metapb, raft_cmdpb, raft_serverpb } from "@regionkv/proto";
import { RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM, writeInitialRegionState } from "./peer-storage.js";
import type { ProposalFailure } from "./region-error.js";
import { cloneRegion, epochOf } from "./region-util.js";

/** Most cuts one BatchSplit may make (the split checker asks for batchSplitLimit at a time). */
export const MAX_SPLIT_KEYS = 1000;

/** The BatchSplit of an admin request; a single `Split` is read as a batch of one. */
export function batchSplitOf(admin: raft_cmdpb.AdminRequest): raft_cmdpb.BatchSplitRequest | undefined {
  if (admin.cmdType === raft_cmdpb.AdminCmdType.BatchSplit) return admin.splits;
  if (admin.cmdType === raft_cmdpb.AdminCmdType.Split && admin.split) return { requests: [admin.split], rightDerive: false };
  return undefined;
}

/**
 * Why `bs` cannot split `region`, or undefined: at least one cut, keys strictly increasing and
 * strictly inside the range, a fresh region id per cut (none equal to the parent's or to another
 * cut's) and one distinct new peer id per parent peer.
 */
export function checkBatchSplit(region: metapb.Region, bs: raft_cmdpb.BatchSplitRequest | undefined, maxCuts: number): ProposalFailure | undefined {
  const bad = (message: string): ProposalFailure => ({ kind: "InvalidRequest", message: `region ${region.id}: ${message}` });
  if (!bs || bs.requests.length === 0) return bad("a split needs at least one split key");
  if (bs.requests.length > maxCuts) return bad(`a split may cut at most ${maxCuts} times, got ${bs.requests.length}`);
  const ids = new Set<bigint>([region.id]);
  const peerIds = new Set<bigint>(region.peers.map((p) => p.id));
  let prev: Buffer = region.startKey;
  for (const [i, r] of bs.requests.entries()) {
    const key = r.splitKey;
    if (key.length === 0) return bad(`split key ${i} is empty`);
    if (Buffer.compare(key, prev) <= 0) {
      return i === 0
        ? bad(`split key ${key.toString("hex")} is not after the region's start key ${region.startKey.toString("hex")}`)
        : bad(`split keys must be strictly increasing: ${key.toString("hex")} after ${prev.toString("hex")}`);
    }
    if (region.endKey.length > 0 && Buffer.compare(key, region.endKey) >= 0) {
      return bad(`split key ${key.toString("hex")} is not before the region's end key ${region.endKey.toString("hex")}`);
    }
    prev = key;
    if (r.newRegionId === 0n || ids.has(r.newRegionId)) return bad(`split ${i} has no fresh region id (${r.newRegionId})`);
    ids.add(r.newRegionId);
    if (r.newPeerIds.length !== region.peers.length) {
      return bad(`split ${i} has ${r.newPeerIds.length} new peer ids for ${region.peers.length} peers; ask the scheduler for ids again`);
    }
    for (const id of r.newPeerIds) {
      if (id === 0n || peerIds.has(id)) return bad(`split ${i} reuses or lacks a peer id (${id})`);
      peerIds.add(id);
    }
  }
  return undefined;
}

/**
 * The regions `bs` cuts `region` into, ordered by start key. The parent's id keeps the leftmost
 * piece (rightmost with `rightDerive`); all get version + 1.
 */
export function splitRegions(region: metapb.Region, bs: raft_cmdpb.BatchSplitRequest): { derived: metapb.Region; created: metapb.Region[]; all: metapb.Region[] } {
  const epoch = epochOf(region);
  const newEpoch: metapb.RegionEpoch = { confVer: epoch.confVer, version: epoch.version + 1n };
  const bounds = [region.startKey, ...bs.requests.map((r) => r.splitKey), region.endKey];
  // Piece i covers [bounds[i], bounds[i + 1]). Ids: with left derive the parent takes piece 0 and
  // request i takes piece i + 1; with right derive request i takes piece i and the parent the last.
  const all: metapb.Region[] = [];
  const created: metapb.Region[] = [];
  let derived: metapb.Region | undefined;
  const n = bs.requests.length;
  for (let i = 0; i <= n; i++) {
    const startKey = Buffer.from(bounds[i]!);
    const endKey = Buffer.from(bounds[i + 1]!);
    const parentPiece = bs.rightDerive ? i === n : i === 0;
    if (parentPiece) {
      derived = { ...cloneRegion(region), startKey, endKey, regionEpoch: { ...newEpoch } };
      all.push(derived);
      continue;
    }
    const req = bs.requests[bs.rightDerive ? i : i - 1]!;
    const r: metapb.Region = {
      id: req.newRegionId,
      startKey,
      endKey,
      regionEpoch: { ...newEpoch },
      peers: region.peers.map((p, j) => metapb.Peer.fromPartial({ id: req.newPeerIds[j]!, storeId: p.storeId, role: p.role })),
    };
    created.push(r);
    all.push(r);
  }
  return { derived: derived!, created, all };
}

/** What to do with a piece of a split on this store. */
export type NewRegionAction =
  /** Write its initial state (keeping a vote an uninitialized peer here already cast). */
  | { kind: "create" }
  /** A peer here already holds it (created by a snapshot, or the split was applied before): leave it. */
  | { kind: "skip"; why: string }
  /** It was removed from this store since (a tombstone): its data here belongs to no one. */
  | { kind: "tombstone" };

export function newRegionAction(engine: Engine, region: metapb.Region): NewRegionAction {
  const state = engine.getRegionState(Number(region.id));
  if (!state) return { kind: "create" };
  if (state.state === raft_serverpb.PeerState.Tombstone) return { kind: "tombstone" };
  return { kind: "skip", why: `region ${region.id} already has state on this store (a snapshot got here first)` };
}

/**
 * Write the initial state of a new piece of a split into `wb`. An uninitialized peer created here
 * by a vote of the new region (before this store applied the split) may have voted in a term past
 * the initial one: that term and vote are kept, or this store could vote twice in one term.
 */
export function writeSplitRegionState(engine: Engine, wb: WriteBatch, region: metapb.Region): void {
  writeInitialRegionState(wb, region);
  const rs = engine.getRaftState(Number(region.id));
  const hs = rs?.hardState;
  if (hs && hs.term > BigInt(RAFT_INIT_LOG_TERM)) {
    wb.setRaftState(Number(region.id), {
      hardState: { term: hs.term, vote: hs.vote, commit: BigInt(RAFT_INIT_LOG_INDEX) },
      lastIndex: BigInt(RAFT_INIT_LOG_INDEX),
      lastTerm: BigInt(RAFT_INIT_LOG_TERM),
    });
  }
}
