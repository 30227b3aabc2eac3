/**
 * Region range and epoch rules (ARCHITECTURE.md "Region epochs and errors"):
 * - `version` grows on split and merge, `conf_ver` on membership change;
 * - normal requests check version, ChangePeer checks conf_ver, Split/TransferLeader check both,
 *   CompactLog checks nothing; the check is exact equality, at propose and again at apply;
 * - a key outside [start, end) (empty end = +∞) is KeyNotInRegion.
 */
import { eraftpb, metapb, raft_cmdpb, type raft_serverpb } from "@regionkv/proto";
import { parseColumnFamily, userKeyOf } from "@regionkv/engine";
import type { ProposalFailure, RegionError } from "./region-error.js";

export function epochOf(region: metapb.Region): metapb.RegionEpoch {
  return region.regionEpoch ?? { confVer: 0n, version: 0n };
}

/** a is stale relative to b if either counter is behind. */
export function isEpochStale(a: metapb.RegionEpoch, b: metapb.RegionEpoch): boolean {
  return a.version < b.version || a.confVer < b.confVer;
}

/** Whether `key` is in [start, end) (empty end = +∞). */
export function keyInRange(key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  return Buffer.compare(key, start) >= 0 && (end.length === 0 || Buffer.compare(key, end) < 0);
}

export function keyInRegion(key: Uint8Array, region: metapb.Region): boolean {
  return keyInRange(key, region.startKey, region.endKey);
}

/**
 * [start, end) ∩ the region's range (empty end = +∞ on both sides), or undefined if that is empty:
 * a view or a range delete never reaches another region's keys.
 */
export function clampToRegion(start: Buffer, end: Buffer, region: metapb.Region): { start: Buffer; end: Buffer } | undefined {
  const from = Buffer.compare(start, region.startKey) < 0 ? region.startKey : start;
  let to = end;
  if (region.endKey.length > 0 && (to.length === 0 || Buffer.compare(to, region.endKey) > 0)) to = region.endKey;
  if (to.length > 0 && Buffer.compare(from, to) >= 0) return undefined;
  return { start: from, end: to };
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

/**
 * The user keys a normal command touches (for the KeyNotInRegion check): a key of a versioned
 * column family (write, txn_default) is decoded to its user key, since region boundaries are user
 * keys (see @regionkv/engine keys.ts). `malformed` says which key does not decode; such a key is
 * listed as it is.
 */
export function keysOf(req: raft_cmdpb.RaftCmdRequest): { keys: Buffer[]; malformed?: string } {
  const keys: Buffer[] = [];
  let malformed: string | undefined;
  const add = (cfName: string, key: Buffer) => {
    const r = routingKey(cfName, key);
    if (typeof r === "string") malformed ??= r;
    keys.push(typeof r === "string" ? key : r);
  };
  for (const r of req.requests) {
    if (r.get) add(r.get.cf, r.get.key);
    if (r.put) add(r.put.cf, r.put.key);
    if (r.delete) add(r.delete.cf, r.delete.key);
    if (r.compareAndSwap) add(r.compareAndSwap.cf, r.compareAndSwap.key);
  }
  return malformed === undefined ? { keys } : { keys, malformed };
}

/** The user key of `key` in column family `cfName`; a key that does not decode stands for itself. */
export function userKeyOrRaw(cfName: string, key: Buffer): Buffer {
  const k = routingKey(cfName, key);
  return typeof k === "string" ? key : k;
}

/** The user key of `key` in column family `cfName`, or why it does not decode. */
export function routingKey(cfName: string, key: Buffer): Buffer | string {
  const cf = parseColumnFamily(cfName);
  if (!cf) return key;
  try {
    return userKeyOf(cf, key);
  } catch (e) {
    return `key ${key.toString("hex")} of column family "${cf}": ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** The first key of `req` outside `region`, as a KeyNotInRegion error. */
export function checkKeysInRegion(req: raft_cmdpb.RaftCmdRequest, region: metapb.Region): RegionError | undefined {
  return firstKeyNotInRegion(keysOf(req).keys, region);
}

/** At propose: a versioned key that does not decode is InvalidRequest, else as checkKeysInRegion (each key decoded once). */
export function checkProposedKeys(req: raft_cmdpb.RaftCmdRequest, region: metapb.Region): ProposalFailure | undefined {
  const { keys, malformed } = keysOf(req);
  if (malformed !== undefined) return { kind: "InvalidRequest", message: malformed };
  return firstKeyNotInRegion(keys, region);
}

function firstKeyNotInRegion(keys: readonly Buffer[], region: metapb.Region): RegionError | undefined {
  for (const key of keys) {
    const err = checkKeyInRegion(key, region);
    if (err) return err;
  }
  return undefined;
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
