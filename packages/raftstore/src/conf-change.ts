/**
 * Membership change of a region (ChangePeer), the rules shared by propose and apply.
 *
 * Flow: the scheduler's operator (or a client) sends an admin ChangePeer → the leader checks
 * conf_ver and `checkChangePeer` → `RawNode.proposeConfChange` with the whole RaftCmdRequest as
 * the conf change's context (so apply knows the peer's store) → at apply: conf_ver checked again,
 * `checkChangePeer` again (a re-sent change that already applied is refused, never applied twice),
 * `changedRegion` gives the new region (peers, conf_ver + 1) which is persisted in the apply
 * batch, raft applies the change, the proposal gets `AdminResponse{ChangePeer{region}}` → a
 * removed peer destroys itself once the apply batch is committed.
 *
 * Invariant: a region's peer list changes only together with `conf_ver`, by exactly one peer.
 */
import { eraftpb, metapb, type raft_cmdpb } from "@regionkv/proto";
import { ConfChangeType } from "@regionkv/raft";
import type { ProposalFailure } from "./region-error.js";
import { cloneRegion, epochOf } from "./region-util.js";

/**
 * Whether `cp` changes `region`: an error for an add of a peer that is already there (or of a
 * second peer on the same store), a removal of a peer that is absent, or a malformed request.
 * Errors are EpochNotMatch (carrying the region) for changes the region already reflects, so a
 * re-sent operator makes the sender refresh; InvalidRequest for the rest.
 */
export function checkChangePeer(region: metapb.Region, cp: raft_cmdpb.ChangePeerRequest | undefined): ProposalFailure | undefined {
  const peer = cp?.peer;
  if (!cp || !peer || peer.id === 0n || peer.storeId === 0n) return { kind: "InvalidRequest", message: "ChangePeer needs a peer with an id and a store id" };
  const already = (why: string): ProposalFailure => ({ kind: "EpochNotMatch", message: `region ${region.id}: ${why}; the change is already reflected (conf_ver ${epochOf(region).confVer})`, currentRegions: [region] });
  switch (cp.changeType) {
    case eraftpb.ConfChangeType.AddNode:
    case eraftpb.ConfChangeType.AddLearnerNode: {
      const sameId = region.peers.find((p) => p.id === peer.id);
      // AddNode of a learner promotes it to voter (a learner joins first, catches up, then votes).
      if (sameId && cp.changeType === eraftpb.ConfChangeType.AddNode && sameId.role === metapb.PeerRole.Learner) {
        return sameId.storeId === peer.storeId ? undefined : { kind: "InvalidRequest", message: `region ${region.id}: learner ${peer.id} is on store ${sameId.storeId}, not ${peer.storeId}` };
      }
      if (sameId) return already(`peer ${peer.id} is already a ${sameId.role === metapb.PeerRole.Learner ? "learner" : "member"}`);
      const sameStore = region.peers.find((p) => p.storeId === peer.storeId);
      if (sameStore) return { kind: "InvalidRequest", message: `region ${region.id} already has peer ${sameStore.id} on store ${peer.storeId}; remove it before adding another` };
      return undefined;
    }
    case eraftpb.ConfChangeType.RemoveNode:
      if (!region.peers.some((p) => p.id === peer.id)) return already(`peer ${peer.id} is not a member`);
      if (region.peers.length === 1) return { kind: "InvalidRequest", message: `region ${region.id}: cannot remove its only peer` };
      return undefined;
    default:
      return { kind: "InvalidRequest", message: `unknown conf change type ${cp.changeType}` };
  }
}

/** The region after `cp` (checked with `checkChangePeer`): one peer added, promoted or removed, conf_ver + 1. */
export function changedRegion(region: metapb.Region, cp: raft_cmdpb.ChangePeerRequest): metapb.Region {
  const out = cloneRegion(region);
  const peer = cp.peer!;
  const existing = out.peers.find((p) => p.id === peer.id);
  if (cp.changeType === eraftpb.ConfChangeType.RemoveNode) {
    out.peers = out.peers.filter((p) => p.id !== peer.id);
  } else if (existing) {
    // Promotion of a learner (checked by checkChangePeer).
    existing.role = metapb.PeerRole.Voter;
  } else {
    const role = cp.changeType === eraftpb.ConfChangeType.AddLearnerNode ? metapb.PeerRole.Learner : metapb.PeerRole.Voter;
    out.peers.push({ id: peer.id, storeId: peer.storeId, role });
  }
  const e = epochOf(region);
  out.regionEpoch = { confVer: e.confVer + 1n, version: e.version };
  return out;
}

/** The raft core's change type for the wire's. */
export function raftChangeType(t: eraftpb.ConfChangeType): ConfChangeType {
  switch (t) {
    case eraftpb.ConfChangeType.AddNode:
      return ConfChangeType.AddNode;
    case eraftpb.ConfChangeType.RemoveNode:
      return ConfChangeType.RemoveNode;
    case eraftpb.ConfChangeType.AddLearnerNode:
      return ConfChangeType.AddLearnerNode;
    default:
      throw new RangeError(`unknown conf change type ${t}`);
  }
}
