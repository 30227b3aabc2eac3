/**
 * Region range and epoch rules (ARCHITECTURE.md "Region epochs and errors"):
 * - `version` grows on split and merge, `conf_ver` on membership change;
 * - normal requests check version, ChangePeer checks conf_ver, Split/TransferLeader check both,
 *   CompactLog checks nothing; the check is exact equality, at propose and again at apply;
 * - a key outside [start, end) (empty end = +∞) is KeyNotInRegion.
 */
import { eraftpb, metapb, raft_cmdpb, type raft_serverpb } from "@regionkv/proto";
import type { RegionError } from "./region-error.js";

export function epochOf(region: metapb.Region): metapb.RegionEpoch {
  return region.regionEpoch ?? { confVer: 0n, version: 0n };
}

/** a is stale relative to b if either counter is behind. */
export function isEpochStale(a: metapb.RegionEpoch, b: metapb.RegionEpoch): boolean {
  return a.version < b.version || a.confVer < b.confVer;
}

export function keyInRegion(key: Uint8Array, region: metapb.Region): boolean {
  return Buffer.compare(key, region.startKey) >= 0 && (region.endKey.length === 0 || Buffer.compare(key, region.endKey) < 0);
}

export function checkKeyInRegion(key: Uint8Array, region: metapb.Region): RegionError | undefined {
  if (keyInRegion(key, region)) return undefined;
  return { kind: "KeyNotInRegion", key: Buffer.from(key), regionId: region.id, startKey: region.startKey, endKey: region.endKey };
}

/** Which epoch fields a command is checked against. */
export function epochChecksOf(req: raft_cmdpb.RaftCmdRequest): { version: boolean; confVer: boolean } {
  const admin = req.adminRequest;
  if (!admin) return { version: true, confVer: false };
  switch (admin.cmdType) {
    case raft_cmdpb.AdminCmdType.ChangePeer:
      return { version: false, confVer: true };
    case raft_cmdpb.AdminCmdType.Split:
    case raft_cmdpb.AdminCmdType.BatchSplit:
    case raft_cmdpb.AdminCmdType.TransferLeader:
      return { version: true, confVer: true };
    case raft_cmdpb.AdminCmdType.CompactLog:
    case raft_cmdpb.AdminCmdType.InvalidAdmin:
    default:
      return { version: false, confVer: false };
  }
}

/**
 * Check the request header's epoch against the region. Returns EpochNotMatch carrying the
 * current region (and any `siblings`, e.g. the other half of a split) so the client can update.
 */
export function checkRegionEpoch(req: raft_cmdpb.RaftCmdRequest, region: metapb.Region, siblings: metapb.Region[] = []): RegionError | undefined {
  const checks = epochChecksOf(req);
  if (!checks.version && !checks.confVer) return undefined;
  const fromReq = req.header?.regionEpoch;
  const cur = epochOf(region);
  if (!fromReq) {
    return { kind: "EpochNotMatch", message: `request for region ${region.id} carries no epoch`, currentRegions: [region, ...siblings] };
  }
  if ((checks.version && fromReq.version !== cur.version) || (checks.confVer && fromReq.confVer !== cur.confVer)) {
    return {
      kind: "EpochNotMatch",
      message: `epoch of region ${region.id} does not match: request (conf_ver ${fromReq.confVer}, version ${fromReq.version}), current (conf_ver ${cur.confVer}, version ${cur.version}); refresh the region`,
      currentRegions: [region, ...siblings],
    };
  }
  return undefined;
}

/** Every key a normal command touches (for the KeyNotInRegion check). */
export function keysOf(req: raft_cmdpb.RaftCmdRequest): Buffer[] {
  const keys: Buffer[] = [];
  for (const r of req.requests) {
    if (r.get) keys.push(r.get.key);
    if (r.put) keys.push(r.put.key);
    if (r.delete) keys.push(r.delete.key);
    if (r.compareAndSwap) keys.push(r.compareAndSwap.key);
  }
  return keys;
}

export function cloneRegion(r: metapb.Region): metapb.Region {
  return metapb.Region.fromPartial(r);
}

/** A vote or a pre-vote. */
export function isVote(m: eraftpb.Message): boolean {
  return m.msgType === eraftpb.MessageType.MsgRequestVote || m.msgType === eraftpb.MessageType.MsgRequestPreVote;
}

/**
 * A GC message (`is_tombstone`) from `from`, a member of `region`, telling `to` that it is no
 * longer in the region (the region's epoch shows it): the receiver destroys itself.
 */
export function gcMessage(region: metapb.Region, from: metapb.Peer, to: metapb.Peer): raft_serverpb.RaftMessage {
  return {
    regionId: region.id,
    fromPeer: from,
    toPeer: to,
    message: undefined,
    regionEpoch: region.regionEpoch,
    isTombstone: true,
    startKey: region.startKey,
    endKey: region.endKey,
  };
}
