/**
 * Leader transfer: the leader catches the transferee up, sends it TimeoutNow, and refuses
 * proposals meanwhile; a transfer that does not finish within an election timeout is abandoned.
 * A TransferLeader message names its transferee in `from`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfChangeType, MemoryStorage, MessageType, NONE, StateRole, type Message, type Raft } from "../src/index.js";
import { Network, applyCommitted, entry, msg, newTestRaft, readMessages, type TestRaftOptions } from "./harness.js";

function hup(id: number): Message {
  return msg({ type: MessageType.Hup, from: id, to: id });
}

function propose(id: number, data: string): Message {
  return msg({ type: MessageType.Propose, from: id, to: id, entries: [entry(0, 0, data)] });
}

/** Ask node `to` to hand leadership to `transferee`. */
function transfer(transferee: number, to: number): Message {
  return msg({ type: MessageType.TransferLeader, from: transferee, to });
}

/** The state a node must be in once a transfer has finished (or was abandoned): no transfer pending. */
function mustBeAfterTransfer(r: Raft, state: StateRole, lead: number): void {
  assert.equal(r.state, state, `node ${r.id} state`);
  assert.equal(r.lead, lead, `node ${r.id} lead`);
  assert.equal(r.leadTransferee, NONE, `node ${r.id} leadTransferee`);
}

/** Three nodes with node 1 as leader at term 1. */
function threeNodes(opts: TestRaftOptions = {}): Network {
  const nt = new Network([undefined, undefined, undefined], opts);
  nt.send(hup(1));
  assert.equal(nt.raft(1).state, StateRole.Leader);
  return nt;
}

describe("leader transfer", () => {
  test("leadership moves to an up-to-date follower, and back (TestLeaderTransferToUpToDateNode)", () => {
    const nt = threeNodes();
    nt.send(transfer(2, 1));
    mustBeAfterTransfer(nt.raft(1), StateRole.Follower, 2);
    mustBeAfterTransfer(nt.raft(2), StateRole.Leader, 2);
    assert.equal(nt.raft(2).term, 2);

    // The new leader's entry commits, then leadership goes back to 1.
    nt.send(propose(2, "x"));
    nt.send(transfer(1, 2));
    mustBeAfterTransfer(nt.raft(1), StateRole.Leader, 1);
    mustBeAfterTransfer(nt.raft(2), StateRole.Follower, 1);
    assert.equal(nt.raft(1).term, 3);
  });

  test("a follower forwards a transfer request to the leader (TestLeaderTransferToUpToDateNodeFromFollower)", () => {
    const nt = threeNodes();
    // Asked on node 2 itself, which forwards to leader 1.
    nt.send(transfer(2, 2));
    mustBeAfterTransfer(nt.raft(1), StateRole.Follower, 2);
    mustBeAfterTransfer(nt.raft(2), StateRole.Leader, 2);

    nt.send(propose(2, "x"));
    // Asked on node 3 on behalf of node 1.
    nt.send(transfer(1, 3));
    mustBeAfterTransfer(nt.raft(1), StateRole.Leader, 1);
    mustBeAfterTransfer(nt.raft(3), StateRole.Follower, 1);
  });

  test("a follower that knows no leader drops a transfer request", () => {
    const r = newTestRaft(2, [1, 2, 3]);
    r.step(transfer(2, 2));
    assert.deepEqual(readMessages(r), []);
    assert.equal(r.state, StateRole.Follower);
  });

  test("a transfer to a lagging follower first sends it the missing entries, then TimeoutNow (TestLeaderTransferToSlowFollower)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    nt.send(propose(1, "x"));
    nt.recover();
    const lead = nt.raft(1);
    assert.equal(lead.prs.progress.get(3)!.match, 1);

    const sent: MessageType[] = [];
    nt.msgHook = (m) => {
      if (m.from === 1 && m.to === 3) sent.push(m.type);
      return true;
    };
    nt.send(transfer(3, 1));
    mustBeAfterTransfer(lead, StateRole.Follower, 3);
    mustBeAfterTransfer(nt.raft(3), StateRole.Leader, 3);
    assert.ok(sent.indexOf(MessageType.Append) < sent.indexOf(MessageType.TimeoutNow), `sent: ${sent.join(",")}`);
    assert.equal(nt.raft(3).raftLog.lastIndex(), 3);
  });

  test("a transfer to a follower behind the compaction point waits for the snapshot to be applied (TestLeaderTransferAfterSnapshot)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    nt.send(propose(1, "x"));
    const lead = nt.raft(1);
    applyCommitted(lead);
    const st = nt.storage.get(1)!;
    st.createSnapshot(lead.raftLog.applied, lead.prs.confState(), new Uint8Array(0));
    st.compact(lead.raftLog.applied);
    nt.recover();
    assert.equal(lead.prs.progress.get(3)!.match, 1);

    // Hold the follower's answer to the snapshot.
    let held: Message | undefined;
    nt.msgHook = (m) => {
      if (m.type === MessageType.AppendResponse && m.from === 3 && !m.reject) {
        held = m;
        return false;
      }
      return true;
    };
    nt.send(transfer(3, 1));
    assert.equal(lead.state, StateRole.Leader);
    assert.equal(lead.leadTransferee, 3);
    assert.ok(held, "node 3 answered the snapshot");
    assert.equal(nt.raft(3).raftLog.firstIndex(), 3);

    nt.msgHook = undefined;
    nt.send(held);
    mustBeAfterTransfer(lead, StateRole.Follower, 3);
    mustBeAfterTransfer(nt.raft(3), StateRole.Leader, 3);
  });

  test("a transfer to the leader itself does nothing (TestLeaderTransferToSelf)", () => {
    const nt = threeNodes();
    nt.send(transfer(1, 1));
    mustBeAfterTransfer(nt.raft(1), StateRole.Leader, 1);
    assert.equal(nt.raft(1).term, 1);
  });

  test("a transfer to a node outside the group is ignored (TestLeaderTransferToNonExistingNode)", () => {
    const nt = threeNodes();
    nt.raft(1).step(transfer(4, 1));
    mustBeAfterTransfer(nt.raft(1), StateRole.Leader, 1);
    assert.deepEqual(readMessages(nt.raft(1)), []);
  });

  test("a transfer to a learner is ignored", () => {
    const st = (): MemoryStorage => MemoryStorage.withPeers([1, 2], [3]);
    const nt = new Network([newTestRaft(1, [1, 2], {}, st()), newTestRaft(2, [1, 2], {}, st()), newTestRaft(3, [1, 2], {}, st())]);
    nt.send(hup(1));
    nt.send(transfer(3, 1));
    mustBeAfterTransfer(nt.raft(1), StateRole.Leader, 1);
    mustBeAfterTransfer(nt.raft(3), StateRole.Follower, 1);
    assert.equal(nt.raft(3).term, 1);
  });

  test("a transfer that does not finish within an election timeout is abandoned (TestLeaderTransferTimeout)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);

    for (let i = 0; i < lead.cfg.heartbeatTick; i++) lead.tick();
    assert.equal(lead.leadTransferee, 3);
    for (let i = lead.cfg.heartbeatTick; i < lead.cfg.electionTick; i++) lead.tick();
    mustBeAfterTransfer(lead, StateRole.Leader, 1);
  });

  test("the leader refuses proposals while a transfer is in progress (TestLeaderTransferIgnoreProposal)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);

    const last = lead.raftLog.lastIndex();
    const res = lead.step(propose(1, "x"));
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "ProposalDropped");
    assert.equal(lead.raftLog.lastIndex(), last);
    assert.equal(lead.prs.progress.get(1)!.match, last);

    // Once the transfer is abandoned, proposals are taken again.
    for (let i = 0; i < lead.cfg.electionTick; i++) lead.tick();
    assert.equal(lead.step(propose(1, "x")).ok, true);
    assert.equal(lead.raftLog.lastIndex(), last + 1);
  });

  test("a pending transfer ends when another node wins a higher-term election (TestLeaderTransferReceiveHigherTermVote)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);

    nt.send(hup(2));
    mustBeAfterTransfer(nt.raft(2), StateRole.Leader, 2);
    mustBeAfterTransfer(lead, StateRole.Follower, 2);
    assert.equal(lead.term, 2);
  });

  test("removing the transferee aborts the transfer (TestLeaderTransferRemoveNode)", () => {
    const nt = threeNodes();
    // The TimeoutNow is lost, so the transfer stays pending.
    nt.ignore(MessageType.TimeoutNow);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);

    lead.applyConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3, context: new Uint8Array(0) });
    mustBeAfterTransfer(lead, StateRole.Leader, 1);
    assert.deepEqual(lead.prs.voters, [1, 2]);
  });

  test("a transfer back to the leader cancels a pending transfer (TestLeaderTransferBack)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);

    nt.send(transfer(1, 1));
    mustBeAfterTransfer(lead, StateRole.Leader, 1);
    assert.equal(lead.step(propose(1, "x")).ok, true);
  });

  test("a second transfer to another node replaces a pending one (TestLeaderTransferSecondTransferToAnotherNode)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);

    nt.send(transfer(2, 1));
    mustBeAfterTransfer(lead, StateRole.Follower, 2);
    mustBeAfterTransfer(nt.raft(2), StateRole.Leader, 2);
  });

  test("repeating a pending transfer does not restart its timeout (TestLeaderTransferSecondTransferToSameNode)", () => {
    const nt = threeNodes();
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(transfer(3, 1));
    for (let i = 0; i < lead.cfg.heartbeatTick; i++) lead.tick();
    nt.send(transfer(3, 1));
    assert.equal(lead.leadTransferee, 3);
    // The timeout still counts from the first request.
    for (let i = lead.cfg.heartbeatTick; i < lead.cfg.electionTick; i++) lead.tick();
    mustBeAfterTransfer(lead, StateRole.Leader, 1);
  });

  test("TimeoutNow makes the transferee win at once, bypassing pre-vote and the other voters' leader lease", () => {
    const nt = threeNodes({ checkQuorum: true, preVote: true });
    // Without a transfer, node 2 cannot depose a leader whose lease the others still honour.
    nt.send(hup(2));
    assert.equal(nt.raft(1).state, StateRole.Leader);
    assert.equal(nt.raft(2).term, 1);
    // The leader's heartbeat turns the pre-candidate back into a follower.
    nt.send(msg({ type: MessageType.Beat, from: 1, to: 1 }));
    assert.equal(nt.raft(2).state, StateRole.Follower);

    const types: MessageType[] = [];
    nt.msgHook = (m) => {
      types.push(m.type);
      return true;
    };
    nt.send(transfer(2, 1));
    mustBeAfterTransfer(nt.raft(2), StateRole.Leader, 2);
    mustBeAfterTransfer(nt.raft(1), StateRole.Follower, 2);
    mustBeAfterTransfer(nt.raft(3), StateRole.Follower, 2);
    assert.equal(nt.raft(2).term, 2);
    assert.ok(types.includes(MessageType.TimeoutNow));
    assert.ok(types.includes(MessageType.RequestVote));
    assert.equal(types.includes(MessageType.RequestPreVote), false);
  });

  test("a node that is not a voter ignores TimeoutNow (TestTransferNonMember)", () => {
    const r = newTestRaft(1, [2, 3, 4]);
    r.step(msg({ type: MessageType.TimeoutNow, from: 2, to: 1, term: 1 }));
    r.step(msg({ type: MessageType.RequestVoteResponse, from: 2, to: 1, term: 1 }));
    r.step(msg({ type: MessageType.RequestVoteResponse, from: 3, to: 1, term: 1 }));
    assert.equal(r.state, StateRole.Follower);
    assert.deepEqual(
      readMessages(r).filter((m) => m.type === MessageType.RequestVote),
      [],
    );
  });
});
