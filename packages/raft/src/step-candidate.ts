/**
 * What a candidate or pre-candidate does with each message (after the term rules in Raft.step).
 */
import { OK, fail, type RaftResult } from "./errors.js";
import { VoteResult } from "./quorum.js";
import { CampaignType, type Raft } from "./raft.js";
import { MessageType, NONE, StateRole, type Message } from "./types.js";

export function stepCandidate(r: Raft, m: Message): RaftResult {
  // A pre-candidate counts only pre-vote responses and a candidate only vote responses, so a
  // late answer from a previous round cannot be mistaken for one of this round.
  const myVoteResp = r.state === StateRole.PreCandidate ? MessageType.RequestPreVoteResponse : MessageType.RequestVoteResponse;
  switch (m.type) {
    case MessageType.Propose:
      return fail("ProposalDropped", `raft ${r.id} is campaigning in term ${r.term}; no leader to take the proposal`);
    case MessageType.Append:
      // A leader of our term (or newer, already handled by Raft.step) exists.
      r.becomeFollower(m.term, m.from);
      r.handleAppendEntries(m);
      return OK;
    case MessageType.Heartbeat:
      r.becomeFollower(m.term, m.from);
      r.handleHeartbeat(m);
      return OK;
    case MessageType.Snapshot:
      r.becomeFollower(m.term, m.from);
      r.handleSnapshot(m);
      return OK;
    case MessageType.RequestPreVoteResponse:
    case MessageType.RequestVoteResponse: {
      if (m.type !== myVoteResp) return OK;
      const result = r.poll(m.from, !m.reject);
      r.log.debug({ raftId: r.id, term: r.term, from: m.from, granted: !m.reject, type: m.type }, "received vote response");
      if (result === VoteResult.Won) {
        if (r.state === StateRole.PreCandidate) {
          r.campaign(CampaignType.Election);
        } else {
          r.becomeLeader();
          r.bcastAppend();
        }
      } else if (result === VoteResult.Lost) {
        // m.term is not newer (Raft.step handled that), so we stay in our term.
        r.becomeFollower(r.term, NONE);
      }
      return OK;
    }
    case MessageType.TimeoutNow:
      r.log.debug({ raftId: r.id, term: r.term, from: m.from }, "ignored TimeoutNow while campaigning");
      return OK;
    default:
      return OK;
  }
}
