/**
 * What a follower does with each message (after the term rules in Raft.step).
 */
import { OK, fail, type RaftResult } from "./errors.js";
import type { Raft } from "./raft.js";
import { MessageType, NONE, type Message } from "./types.js";

export function stepFollower(r: Raft, m: Message): RaftResult {
  switch (m.type) {
    case MessageType.Propose:
      if (r.lead === NONE) return fail("ProposalDropped", `raft ${r.id} knows no leader in term ${r.term}; retry after an election`);
      if (r.cfg.disableProposalForwarding) {
        return fail("ProposalDropped", `raft ${r.id} is not the leader (leader is ${r.lead}) and proposal forwarding is disabled`);
      }
      m.to = r.lead;
      r.send(m);
      return OK;
    case MessageType.Append:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleAppendEntries(m);
      return OK;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleHeartbeat(m);
      return OK;
    case MessageType.Snapshot:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleSnapshot(m);
      return OK;
    case MessageType.TransferLeader:
      if (r.lead === NONE) {
        r.log.debug({ raftId: r.id, term: r.term }, "no leader; dropped leader transfer request");
        return OK;
      }
      m.to = r.lead;
      r.send(m);
      return OK;
    case MessageType.TimeoutNow:
      // The leader chose us: campaign now, even inside its lease and without pre-vote.
      r.log.info({ raftId: r.id, term: r.term, from: m.from }, "received TimeoutNow; campaigning for leader transfer");
      r.campaignForTransfer();
      return OK;
    case MessageType.ReadIndex:
      if (r.lead === NONE) {
        r.log.debug({ raftId: r.id, term: r.term }, "no leader; dropped read index request");
        return OK;
      }
      m.to = r.lead;
      r.send(m);
      return OK;
    case MessageType.ReadIndexResp:
      r.readStates.push({ index: m.index, requestCtx: m.context });
      return OK;
    default:
      return OK;
  }
}
