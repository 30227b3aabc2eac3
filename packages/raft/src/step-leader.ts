/**
 * What the leader does with each message (after the term rules in Raft.step).
 */
import { OK, fail, type RaftResult } from "./errors.js";
import { ProgressState } from "./progress.js";
import type { Raft } from "./raft.js";
import { ReadOnlyOption } from "./read-only.js";
import { MessageType, NONE, type Message } from "./types.js";

export function stepLeader(r: Raft, m: Message): RaftResult {
  // Messages that need no progress of the sender.
  switch (m.type) {
    case MessageType.Beat:
      r.bcastHeartbeat();
      return OK;
    case MessageType.CheckQuorum:
      if (!r.prs.quorumActive(r.id)) {
        r.log.warn({ raftId: r.id, term: r.term }, "stepped down: a quorum was not active during the last election timeout");
        r.becomeFollower(r.term, NONE);
      }
      // Activity is measured per election timeout: start the next window.
      for (const [id, pr] of r.prs.progress) if (id !== r.id) pr.recentActive = false;
      return OK;
    case MessageType.Propose:
      return stepLeaderPropose(r, m);
    case MessageType.ReadIndex:
      if (!r.committedEntryInCurrentTerm()) {
        // Until an entry of this term commits, our commit index may be behind the true one (the
        // previous leader's): answering now could serve a stale read. Hold the request.
        r.pendingReadIndexMessages.push(m);
        return OK;
      }
      r.handleReadIndexOnLeader(m);
      return OK;
    default:
      break;
  }

  const pr = r.prs.progress.get(m.from);
  if (!pr) {
    r.log.debug({ raftId: r.id, term: r.term, from: m.from, type: m.type }, "no progress available for sender; ignored");
    return OK;
  }

  switch (m.type) {
    case MessageType.AppendResponse: {
      pr.recentActive = true;
      if (m.reject) {
        r.log.debug({ raftId: r.id, from: m.from, index: m.index, hint: m.rejectHint, hintTerm: m.logTerm }, "append rejected");
        let nextProbe = m.rejectHint;
        if (m.logTerm > 0) {
          // The follower's log at rejectHint has term m.logTerm: find our last index with a term
          // ≤ that; everything after it differs, so probe there.
          nextProbe = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
        }
        if (pr.maybeDecrTo(m.index, nextProbe)) {
          if (pr.state === ProgressState.Replicate) pr.becomeProbe();
          r.sendAppend(m.from);
        }
        return OK;
      }
      const oldPaused = pr.isPaused();
      if (pr.maybeUpdate(m.index)) {
        switch (pr.state) {
          case ProgressState.Probe:
            pr.becomeReplicate();
            break;
          case ProgressState.Snapshot:
            if (pr.match >= pr.pendingSnapshot || pr.match + 1 >= r.raftLog.firstIndex()) {
              // The follower caught up (through the snapshot or otherwise): stream again.
              pr.becomeProbe();
              pr.becomeReplicate();
            }
            break;
          case ProgressState.Replicate:
            pr.inflights.freeLE(m.index);
            break;
        }
        if (r.maybeCommit()) {
          r.releasePendingReadIndexMessages();
          r.bcastAppend();
        } else if (oldPaused) {
          // The follower was paused and has room again: it may be missing entries.
          r.sendAppend(m.from);
        }
        // Fill the window while there are entries to send.
        while (r.maybeSendAppend(m.from, false)) {
          /* keep sending */
        }
        if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) {
          r.log.info({ raftId: r.id, term: r.term, transferee: m.from }, "transferee caught up; sending TimeoutNow");
          r.sendTimeoutNow(m.from);
        }
      }
      return OK;
    }
    case MessageType.HeartbeatResponse: {
      pr.recentActive = true;
      pr.probeSent = false;
      // A full window with a live follower: free a slot so replication cannot stall for good.
      if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
      if (pr.match < r.raftLog.lastIndex()) r.sendAppend(m.from);
      if (r.readOnly.option !== ReadOnlyOption.Safe || m.context.length === 0) return OK;
      const acks = r.readOnly.recvAck(m.from, m.context);
      if (!acks || !r.prs.hasQuorum(acks)) return OK;
      r.respondToReadIndexStatuses(r.readOnly.advance(m.context));
      return OK;
    }
    case MessageType.SnapStatus:
      if (pr.state !== ProgressState.Snapshot) return OK;
      if (m.reject) {
        // The snapshot did not arrive: forget it and probe again (a new snapshot may be needed).
        pr.pendingSnapshot = 0;
        r.log.debug({ raftId: r.id, to: m.from }, "snapshot failed; probing");
      } else {
        r.log.debug({ raftId: r.id, to: m.from, index: pr.pendingSnapshot }, "snapshot succeeded; probing");
      }
      pr.becomeProbe();
      // Wait for the follower's answer (an append response or a heartbeat response) before probing.
      pr.probeSent = true;
      return OK;
    case MessageType.Unreachable:
      // Messages to it were likely lost: stop streaming optimistically and probe.
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      r.log.debug({ raftId: r.id, to: m.from }, "follower unreachable; probing");
      return OK;
    case MessageType.TransferLeader: {
      if (pr.isLearner) {
        r.log.debug({ raftId: r.id, transferee: m.from }, "ignored transfer of leadership to a learner");
        return OK;
      }
      const transferee = m.from;
      const last = r.leadTransferee;
      if (last !== NONE) {
        if (last === transferee) {
          r.log.debug({ raftId: r.id, transferee }, "leader transfer to the same node already in progress; ignored");
          return OK;
        }
        r.abortLeaderTransfer();
      }
      if (transferee === r.id) {
        r.log.debug({ raftId: r.id }, "already leader; transfer to self ignored");
        return OK;
      }
      // The transfer must complete within one election timeout, or it is aborted (tickHeartbeat).
      r.electionElapsed = 0;
      r.leadTransferee = transferee;
      if (pr.match === r.raftLog.lastIndex()) {
        r.sendTimeoutNow(transferee);
      } else {
        r.sendAppend(transferee);
      }
      return OK;
    }
    default:
      // Other types (stale vote responses, a TimeoutNow to a leader, ...) mean nothing to a leader.
      return OK;
  }
}

function stepLeaderPropose(r: Raft, m: Message): RaftResult {
  const local = m.from === NONE || m.from === r.id;
  if (m.entries.length === 0) return fail("InvalidMessage", "proposal without entries");
  if (!r.prs.progress.has(r.id)) {
    // Removed from the configuration; the caller should stop this node.
    return fail("ProposalDropped", `raft ${r.id} is no longer a member of the group`);
  }
  if (r.leadTransferee !== NONE) {
    return fail("ProposalDropped", `leadership is being transferred to ${r.leadTransferee}; retry on the new leader`);
  }
  const checked = r.checkConfChangeProposal(m.entries, local);
  if (!checked.ok) return checked;
  if (!r.appendEntry(m.entries)) {
    return fail("ProposalDropped", `too many uncommitted bytes (limit maxUncommittedEntriesSize=${r.cfg.maxUncommittedEntriesSize}); retry later`);
  }
  r.bcastAppend();
  return OK;
}
