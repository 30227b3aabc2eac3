/**
 * Membership change and the peer life cycle (conf-change.ts, peer.ts, raft-store.ts): ChangePeer
 * at propose and apply, re-sent changes, peers created by initial messages and caught up by
 * snapshot, destroy and tombstones (also over a restart), stale peer rules, overlap refusal,
 * operators from heartbeat responses.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { eraftpb, metapb, raft_cmdpb, raft_serverpb, type schedulerpb } from "@regionkv/proto";
import { checkChangePeer, changedRegion } from "../src/conf-change.js";
import type { RegionHeartbeat, SchedulerClient } from "../src/scheduler-client.js";
import { TestCluster, b, header, makeRegion, mustFail, mustOk, putReq, regionOn, until } from "./helpers.js";

const peer = (id: number, storeId: number): metapb.Peer => ({ id: BigInt(id), storeId: BigInt(storeId), role: metapb.PeerRole.Voter });

function changePeerReq(region: metapb.Region, from: metapb.Peer, type: eraftpb.ConfChangeType, target: metapb.Peer): raft_cmdpb.RaftCmdRequest {
  return { header: header(region, from), requests: [], adminRequest: { cmdType: raft_cmdpb.AdminCmdType.ChangePeer, changePeer: { changeType: type, peer: target } } };
}

function heartbeat(regionId: number, from: metapb.Peer, to: metapb.Peer, epoch: metapb.RegionEpoch, start = "", end = "", commit = 0n): raft_serverpb.RaftMessage {
  return {
    regionId: BigInt(regionId),
    fromPeer: from,
    toPeer: to,
    regionEpoch: epoch,
    isTombstone: false,
    startKey: b(start),
    endKey: b(end),
    message: {
      msgType: eraftpb.MessageType.MsgHeartbeat,
      to: to.id,
      from: from.id,
      term: 7n,
      logTerm: 0n,
      index: 0n,
      entries: [],
      commit,
      snapshot: undefined,
      reject: false,
      rejectHint: 0n,
      context: Buffer.alloc(0),
    },
  };
}

describe("conf-change rules", () => {
  test("an add of a member, a second peer on a store, or a removal of an absent peer is refused; a change bumps conf_ver by one", () => {
    const r = makeRegion([1, 2]);
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 3) }), undefined);
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(2, 2) })?.kind, "EpochNotMatch");
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(9, 2) })?.kind, "InvalidRequest");
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.RemoveNode, peer: peer(3, 3) })?.kind, "EpochNotMatch");
    assert.equal(checkChangePeer(makeRegion([1]), { changeType: eraftpb.ConfChangeType.RemoveNode, peer: peer(1, 1) })?.kind, "InvalidRequest");
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: undefined })?.kind, "InvalidRequest");
    const added = changedRegion(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 3) });
    assert.deepEqual(added.regionEpoch, { confVer: 2n, version: 1n });
    assert.deepEqual(added.peers.map((p) => p.id), [1n, 2n, 3n]);
    const removed = changedRegion(added, { changeType: eraftpb.ConfChangeType.RemoveNode, peer: peer(1, 1) });
    assert.deepEqual(removed.peers.map((p) => p.id), [2n, 3n]);
    assert.equal(removed.regionEpoch?.confVer, 3n);
    assert.deepEqual(r.peers.length, 2, "the input region is not changed");
  });

  test("AddNode of a learner promotes it (conf_ver + 1, same id, voter); a second promotion or a learner add over it is refused", () => {
    const learner = { ...peer(3, 3), role: metapb.PeerRole.Learner };
    const r = changedRegion(makeRegion([1, 2]), { changeType: eraftpb.ConfChangeType.AddLearnerNode, peer: learner });
    assert.deepEqual(r.peers.map((p) => [Number(p.id), p.role]), [[1, metapb.PeerRole.Voter], [2, metapb.PeerRole.Voter], [3, metapb.PeerRole.Learner]]);
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 3) }), undefined);
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 4) })?.kind, "InvalidRequest");
    assert.equal(checkChangePeer(r, { changeType: eraftpb.ConfChangeType.AddLearnerNode, peer: learner })?.kind, "EpochNotMatch");
    const promoted = changedRegion(r, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 3) });
    assert.deepEqual(promoted.peers.map((p) => [Number(p.id), p.role]), [[1, metapb.PeerRole.Voter], [2, metapb.PeerRole.Voter], [3, metapb.PeerRole.Voter]]);
    assert.equal(promoted.regionEpoch?.confVer, r.regionEpoch!.confVer + 1n);
    assert.equal(r.peers[2]!.role, metapb.PeerRole.Learner, "the input region is not changed");
    assert.equal(checkChangePeer(promoted, { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 3) })?.kind, "EpochNotMatch");
  });
});

describe("raftstore: membership change", () => {
  test("AddNode applies everywhere with conf_ver + 1, answers with the region, and the new store's peer is created by a heartbeat and caught up by snapshot", async (t) => {
    const c = new TestCluster(t, [1, 2, 3], { region: makeRegion([1, 2]), bootstrapOn: [1, 2] });
    const leader = c.mustElect();
    await c.mustPut(leader, "k1", "v1");
    assert.equal(c.store(3).peers.size, 0);
    const resp = mustOk(await c.propose(leader, changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.AddNode, peer(3, 3))));
    const region = resp.adminResponse?.changePeer?.region;
    assert.ok(region);
    assert.deepEqual(region.regionEpoch, { confVer: 2n, version: 1n });
    assert.deepEqual(region.peers.map((p) => Number(p.storeId)), [1, 2, 3]);
    assert.deepEqual(c.engine(leader).getRegionState(1)?.region?.regionEpoch, { confVer: 2n, version: 1n }, "persisted with the apply");
    await until(c, () => c.engine(3).get("default", b("k1"))?.toString() === "v1", "store 3 catches up by snapshot");
    assert.ok(c.store(3).peers.get(1)?.isInitialized);
    assert.deepEqual(regionOn(c, 3).regionEpoch, { confVer: 2n, version: 1n });
    await c.mustPut(leader, "k2", "v2");
    await until(c, () => c.engine(3).get("default", b("k2"))?.toString() === "v2", "store 3 follows the log");
  });

  test("TransferLeader to a peer not heard from lately is refused (ServerIsBusy naming why); proposals are not blocked", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    const gone = [1, 2, 3].find((s) => s !== leader)!;
    c.isolate(gone);
    c.tick(25);
    const r = await c.propose(leader, { header: header(c.region, c.peerOf(leader)), requests: [], adminRequest: { cmdType: raft_cmdpb.AdminCmdType.TransferLeader, transferLeader: { peer: c.peerOf(gone) } } });
    const busy = mustFail(r, "ServerIsBusy");
    assert.match(busy.reason, /not transferring leadership to peer \d+: nothing heard from it for \d+ ms/);
    await c.mustPut(leader, "k", "v");
    assert.equal(c.leaderStore(), leader);
  });

  test("a removed learner that missed its removal (it never campaigns) asks the scheduler after maxLeaderMissingMs and destroys itself; a member that is merely cut off stays", async (t) => {
    const ref: { c?: TestCluster } = {};
    const lookups: number[] = [];
    const scheduler = (): SchedulerClient => ({
      regionHeartbeat: () => Promise.resolve(),
      storeHeartbeat: () => Promise.resolve(),
      askBatchSplit: () => Promise.resolve([]),
      getStore: () => Promise.resolve(undefined),
      // The scheduler's view: the region as its current leader has it.
      getRegionById: (id) => {
        lookups.push(Number(id));
        const l = ref.c!.leaderStore(Number(id));
        return Promise.resolve(l === undefined ? undefined : { region: ref.c!.store(l).peers.get(Number(id))!.region });
      },
    });
    const c = new TestCluster(t, [1, 2, 3, 4], { region: makeRegion([1, 2, 4]), bootstrapOn: [1, 2, 4], scheduler, config: { maxLeaderMissingMs: 3_000 } });
    ref.c = c;
    const leader = c.mustElect();
    await c.mustPut(leader, "k1", "v1");
    const learner = { ...peer(3, 3), role: metapb.PeerRole.Learner };
    mustOk(await c.propose(leader, changePeerReq(regionOn(c, leader), c.peerOf(leader), eraftpb.ConfChangeType.AddLearnerNode, learner)));
    await until(c, () => c.engine(3).get("default", b("k1"))?.toString() === "v1", "the learner catches up");
    // Stores 3 (the learner) and 4 (a voter) get no raft traffic from now on.
    const cutOff = (m: raft_serverpb.RaftMessage) => ![3, 4].includes(Number(m.toPeer?.storeId ?? 0n));
    c.filters.push(cutOff);
    mustOk(await c.propose(leader, changePeerReq(regionOn(c, leader), c.peerOf(leader), eraftpb.ConfChangeType.RemoveNode, learner)));
    await until(c, () => !c.store(3).peers.has(1), "the removed learner destroyed itself", 80);
    assert.equal(c.engine(3).getRegionState(1)?.state, raft_serverpb.PeerState.Tombstone);
    assert.ok(lookups.length > 0, "it asked the scheduler");
    // Store 4's voter is still a member: it asked too, and stays.
    assert.ok(c.store(4).peers.get(1)?.isInitialized, "a member that is merely cut off is not destroyed");
  });

  test("a learner joins, is caught up by snapshot without a vote, and is then promoted to voter on every store", async (t) => {
    const c = new TestCluster(t, [1, 2, 3], { region: makeRegion([1, 2]), bootstrapOn: [1, 2] });
    const leader = c.mustElect();
    await c.mustPut(leader, "k1", "v1");
    const learner = { ...peer(3, 3), role: metapb.PeerRole.Learner };
    mustOk(await c.propose(leader, changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.AddLearnerNode, learner)));
    await until(c, () => c.engine(3).get("default", b("k1"))?.toString() === "v1", "the learner catches up by snapshot");
    const l = c.store(leader).peers.get(1)!;
    assert.ok(l.raw.raft.prs.isLearner(3), "raft on the leader has 3 as a learner");
    assert.equal(regionOn(c, 3).peers.find((p) => p.id === 3n)?.role, metapb.PeerRole.Learner);
    const other = leader === 1 ? 2 : 1;
    const region = regionOn(c, leader);
    mustOk(await c.propose(leader, changePeerReq(region, c.peerOf(leader), eraftpb.ConfChangeType.AddNode, peer(3, 3))));
    await until(c, () => [1, 2, 3].every((s) => regionOn(c, s).peers.every((p) => p.role === metapb.PeerRole.Voter)), "promotion applied everywhere");
    assert.deepEqual(regionOn(c, 3).regionEpoch, { confVer: 3n, version: 1n });
    assert.ok(c.store(leader).peers.get(1)!.raw.raft.prs.isVoter(3));
    // Now a voter: the region survives the loss of the other original voter.
    c.isolate(other);
    const r = regionOn(c, leader);
    mustOk(await c.propose(leader, putReq(r, c.peerOf(leader), "k2", "v2")));
    await until(c, () => c.engine(3).get("default", b("k2"))?.toString() === "v2", "a write commits with the leader and the promoted peer");
  });

  test("a re-sent ChangePeer is harmless: the old epoch gets EpochNotMatch, the current epoch a no-op refusal, conf_ver moves once", async (t) => {
    const c = new TestCluster(t, [1, 2, 3], { region: makeRegion([1, 2]), bootstrapOn: [1, 2] });
    const leader = c.mustElect();
    const req = changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.AddNode, peer(3, 3));
    mustOk(await c.propose(leader, req));
    mustFail(await c.propose(leader, req), "EpochNotMatch");
    const now = regionOn(c, leader);
    const again = changePeerReq(now, c.peerOf(leader), eraftpb.ConfChangeType.AddNode, peer(3, 3));
    assert.match(mustFail(await c.propose(leader, again), "EpochNotMatch").message, /already a member/);
    const absent = changePeerReq(now, c.peerOf(leader), eraftpb.ConfChangeType.RemoveNode, peer(7, 3));
    mustFail(await c.propose(leader, absent), "EpochNotMatch");
    assert.equal(regionOn(c, leader).regionEpoch?.confVer, 2n);
  });

  test("two changes in a row: the second waits until the first applies (one pending conf change)", async (t) => {
    const c = new TestCluster(t, [1, 2, 3, 4], { region: makeRegion([1, 2]), bootstrapOn: [1, 2] });
    const leader = c.mustElect();
    const first = c.store(leader).propose(changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.AddNode, peer(3, 3)));
    const second = c.store(leader).propose(changePeerReq({ ...c.region, regionEpoch: { confVer: 2n, version: 1n } }, c.peerOf(leader), eraftpb.ConfChangeType.AddNode, peer(4, 4)));
    c.pump();
    c.tick(3);
    mustOk(await first);
    const r2 = await second;
    assert.equal(r2.ok, false, "the second change is refused while the first is pending");
    assert.equal(regionOn(c, leader).regionEpoch?.confVer, 2n);
  });

  test("a removed follower destroys itself: tombstone, data deleted, peer gone; a restart keeps the tombstone", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    await c.mustPut(leader, "k1", "v1");
    c.tick(3);
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    assert.equal(c.engine(victim).get("default", b("k1"))?.toString(), "v1");
    mustOk(await c.propose(leader, changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.RemoveNode, c.peerOf(victim))));
    await until(c, () => !c.store(victim).peers.has(1), "the removed peer leaves its store");
    await c.runWorkers();
    assert.equal(c.engine(victim).getRegionState(1)?.state, raft_serverpb.PeerState.Tombstone);
    assert.equal(c.engine(victim).getApplyState(1), undefined, "raft meta cleared");
    assert.equal(c.engine(victim).get("default", b("k1")), undefined, "data deleted");
    c.stopStore(victim);
    c.startStore(victim);
    assert.equal(c.store(victim).peers.size, 0, "a tombstone is not loaded as a peer");
    // Old-epoch traffic for the region does not resurrect it.
    c.store(victim).onRaftMessage(heartbeat(1, c.peerOf(leader), c.peerOf(victim), { confVer: 1n, version: 1n }));
    c.pump();
    assert.equal(c.store(victim).peers.size, 0);
    await c.mustPut(leader, "k2", "v2");
  });

  test("a destroyed peer's data deletion lost in a crash runs again at restart", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    await c.mustPut(leader, "k1", "v1");
    c.tick(3);
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    mustOk(await c.propose(leader, changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.RemoveNode, c.peerOf(victim))));
    for (let i = 0; i < 20 && c.store(victim).peers.has(1); i++) c.tick();
    assert.equal(c.store(victim).peers.has(1), false);
    assert.equal(c.engine(victim).get("default", b("k1"))?.toString(), "v1", "the deletion is still queued");
    c.stopStore(victim);
    c.startStore(victim);
    await c.runWorkers();
    assert.equal(c.engine(victim).get("default", b("k1")), undefined, "deleted after the restart");
    assert.equal(c.engine(leader).get("default", b("k1"))?.toString(), "v1");
  });

  test("the leader asked to remove itself hands leadership on first (NotLeader with the hint); the new leader removes it", async (t) => {
    const c = new TestCluster(t, [1, 2]);
    const leader = c.mustElect();
    c.tick(2);
    const other = leader === 1 ? 2 : 1;
    const req = changePeerReq(c.region, c.peerOf(leader), eraftpb.ConfChangeType.RemoveNode, c.peerOf(leader));
    const err = mustFail(await c.propose(leader, req), "NotLeader");
    assert.equal(err.leader?.id, BigInt(other));
    c.tick(3);
    assert.equal(c.leaderStore(), other);
    mustOk(await c.propose(other, { ...req, header: header(c.region, c.peerOf(other)) }));
    await until(c, () => !c.store(leader).peers.has(1), "the old leader is removed and destroyed");
    await c.mustPut(other, "k", "v");
  });
});

describe("raftstore: a leader that applies its own removal", () => {
  test("it shares the commit before it goes, so the others apply the removal too, and the region serves again", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const l = c.mustElect();
    c.tick(2);
    const [f, third] = [1, 2, 3].filter((id) => id !== l) as [number, number];
    const idx = c.store(l).peers.get(1)!.raw.raft.raftLog.lastIndex() + 1;
    // The old leader never tells anyone that the removal committed; the third store cannot win an election.
    c.filters.push((m) => !(Number(m.fromPeer?.storeId) === l && (m.message?.commit ?? 0n) >= BigInt(idx)));
    c.filters.push((m) => !(Number(m.fromPeer?.storeId) === third && (m.message?.msgType === eraftpb.MessageType.MsgRequestVote || m.message?.msgType === eraftpb.MessageType.MsgRequestPreVote)));
    const p = c.store(l).propose(changePeerReq(c.region, c.peerOf(l), eraftpb.ConfChangeType.RemoveNode, c.peerOf(f)));
    c.pump();
    c.tick(2);
    mustOk(await p);
    assert.equal(c.store(f).peers.get(1)!.storage.applyState.appliedIndex < idx, true, "the removed peer has not applied its removal");
    c.stopStore(l);
    // The removed peer wins an election with the entry in its log, commits it and applies its own removal as leader.
    await until(c, () => !c.store(f).peers.has(1), "the removed peer destroys itself", 100);
    assert.equal(c.engine(f).getRegionState(1)?.state, raft_serverpb.PeerState.Tombstone);
    const r = regionOn(c, third);
    assert.equal(r.regionEpoch?.confVer, 2n, "the third store learned the commit from the departing leader");
    assert.deepEqual(r.peers.map((x) => Number(x.storeId)).sort(), [l, third].sort());
    c.clearFilters();
    c.startStore(l);
    const lead = c.mustElect();
    await c.mustPut(lead, "k", "v");
  });
});

describe("raftstore: peer creation and stale peers", () => {
  test("only an initial message to this store creates a peer, and not over another region's range", async (t) => {
    const left = makeRegion([1], { id: 1, end: "m" });
    const c = new TestCluster(t, [1], { region: left });
    c.mustElect();
    const s = c.store(1);
    const from = peer(20, 2);
    // Not an initial message (a heartbeat with commit > 0).
    s.onRaftMessage(heartbeat(2, from, peer(21, 1), { confVer: 2n, version: 1n }, "m", "", 5n));
    c.pump();
    assert.equal(s.peers.has(2), false);
    // For another store.
    s.onRaftMessage(heartbeat(2, from, peer(21, 3), { confVer: 2n, version: 1n }, "m", ""));
    c.pump();
    assert.equal(s.peers.has(2), false);
    // Overlapping region 1 ([, m)).
    s.onRaftMessage(heartbeat(3, from, peer(31, 1), { confVer: 2n, version: 1n }, "a", "z"));
    c.pump();
    assert.equal(s.peers.has(3), false);
    // Initial, ours, free range: an uninitialized peer.
    s.onRaftMessage(heartbeat(2, from, peer(21, 1), { confVer: 2n, version: 1n }, "m", ""));
    c.pump();
    const p = s.peers.get(2);
    assert.ok(p);
    assert.equal(p.peerId, 21);
    assert.equal(p.isInitialized, false);
  });

  test("a message for a lower peer id is dropped; one for a higher id replaces the stale peer", async (t) => {
    const left = makeRegion([1], { id: 1, end: "m" });
    const c = new TestCluster(t, [1], { region: left });
    c.mustElect();
    const s = c.store(1);
    const from = peer(20, 2);
    s.onRaftMessage(heartbeat(2, from, peer(21, 1), { confVer: 2n, version: 1n }, "m", ""));
    c.pump();
    assert.equal(s.peers.get(2)?.peerId, 21);
    s.onRaftMessage(heartbeat(2, from, peer(19, 1), { confVer: 2n, version: 1n }, "m", ""));
    c.pump();
    assert.equal(s.peers.get(2)?.peerId, 21, "lower id: dropped");
    s.onRaftMessage(heartbeat(2, from, peer(25, 1), { confVer: 4n, version: 1n }, "m", ""));
    c.pump();
    assert.equal(s.peers.get(2)?.peerId, 25, "higher id: the stale peer is destroyed and the newer one created");
  });

  test("a snapshot whose range overlaps another region on this store is refused; the peer stays uninitialized", async (t) => {
    const left = makeRegion([1], { id: 1, end: "m" });
    const c = new TestCluster(t, [1], { region: left });
    c.mustElect();
    const s = c.store(1);
    const from = peer(20, 2);
    s.onRaftMessage(heartbeat(2, from, peer(21, 1), { confVer: 2n, version: 1n }, "m", ""));
    c.pump();
    const snapRegion: metapb.Region = { id: 2n, startKey: b("k"), endKey: b(""), regionEpoch: { confVer: 2n, version: 1n }, peers: [from, peer(21, 1)] };
    const data = raft_serverpb.RaftSnapshotData.encode({ region: snapRegion, fileSize: 0n, data: [{ cf: "default", key: b("x"), value: b("y") }], meta: undefined }).finish();
    const msg = heartbeat(2, from, peer(21, 1), { confVer: 2n, version: 1n }, "k", "");
    msg.message = {
      ...msg.message!,
      msgType: eraftpb.MessageType.MsgSnapshot,
      snapshot: { data: Buffer.from(data), metadata: { index: 10n, term: 7n, confState: { voters: [20n, 21n], learners: [] } } },
    };
    s.onRaftMessage(msg);
    c.pump();
    assert.equal(s.peers.get(2)?.isInitialized, false, "refused: [k, ∞) overlaps region 1 [, m)");
    assert.equal(c.engine(1).get("default", b("x")), undefined);
    // The same snapshot for a free range installs.
    const free = { ...snapRegion, startKey: b("m") };
    const data2 = raft_serverpb.RaftSnapshotData.encode({ region: free, fileSize: 0n, data: [{ cf: "default", key: b("x"), value: b("y") }], meta: undefined }).finish();
    msg.message = { ...msg.message, snapshot: { ...msg.message.snapshot!, data: Buffer.from(data2) } };
    s.onRaftMessage(msg);
    c.pump();
    assert.equal(s.peers.get(2)?.isInitialized, true);
    assert.equal(c.engine(1).get("default", b("x"))?.toString(), "y");
  });

  test("a GC message with a newer epoch destroys the peer it names; one with an older epoch does not", async (t) => {
    const c = new TestCluster(t, [1, 2, 3]);
    const leader = c.mustElect();
    c.tick(2);
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    const gc = (confVer: bigint): raft_serverpb.RaftMessage => ({ ...heartbeat(1, c.peerOf(leader), c.peerOf(victim), { confVer, version: 1n }), isTombstone: true, message: undefined });
    c.store(victim).onRaftMessage(gc(1n));
    c.pump();
    assert.ok(c.store(victim).peers.has(1), "same epoch: kept");
    c.store(victim).onRaftMessage(gc(3n));
    c.pump();
    assert.equal(c.store(victim).peers.has(1), false, "newer epoch: destroyed");
    assert.equal(c.engine(victim).getRegionState(1)?.state, raft_serverpb.PeerState.Tombstone);
  });
});

describe("raftstore: operators from region heartbeat responses", () => {
  /** A scheduler that records each store's response handler and every region heartbeat. */
  function fakeScheduler() {
    const handlers = new Map<number, (resp: schedulerpb.RegionHeartbeatResponse) => void>();
    const heartbeats: RegionHeartbeat[] = [];
    const clientFor = (storeId: number): SchedulerClient => ({
      regionHeartbeat: (hb) => {
        heartbeats.push(hb);
        return Promise.resolve();
      },
      storeHeartbeat: () => Promise.resolve(),
      askBatchSplit: () => Promise.resolve([]),
      getStore: () => Promise.resolve(undefined),
      onRegionHeartbeatResponse: (cb) => {
        handlers.set(storeId, cb);
      },
    });
    return { handlers, heartbeats, clientFor };
  }

  const response = (region: metapb.Region, step: Partial<schedulerpb.RegionHeartbeatResponse>): schedulerpb.RegionHeartbeatResponse => ({
    header: undefined,
    regionId: region.id,
    regionEpoch: region.regionEpoch,
    targetPeer: undefined,
    changePeer: undefined,
    transferLeader: undefined,
    splitRegion: undefined,
    ...step,
  });

  test("the leader carries out ChangePeer and TransferLeader steps; a step re-sent with the old epoch changes nothing; the new region is reported at once", async (t) => {
    const sched = fakeScheduler();
    const c = new TestCluster(t, [1, 2, 3], { region: makeRegion([1, 2]), bootstrapOn: [1, 2], scheduler: sched.clientFor });
    const leader = c.mustElect();
    const follower = leader === 1 ? 2 : 1;
    const add = response(c.region, { changePeer: { changeType: eraftpb.ConfChangeType.AddNode, peer: peer(3, 3) } });
    // A follower ignores steps.
    sched.handlers.get(follower)!(add);
    c.pump();
    c.tick(2);
    assert.equal(regionOn(c, leader).peers.length, 2);
    sched.handlers.get(leader)!(add);
    c.pump();
    c.tick(2);
    assert.equal(regionOn(c, leader).peers.length, 3);
    await c.runWorkers();
    assert.ok(
      sched.heartbeats.some((hb) => hb.region.regionEpoch?.confVer === 2n && hb.region.peers.length === 3),
      "the leader reported the new region right after the change applied",
    );
    // The scheduler re-sends the step until it sees the result: harmless.
    for (let i = 0; i < 3; i++) {
      sched.handlers.get(leader)!(add);
      c.pump();
      c.tick();
    }
    assert.deepEqual(regionOn(c, leader).regionEpoch, { confVer: 2n, version: 1n });
    await until(c, () => c.store(3).peers.get(1)?.isInitialized === true, "store 3's new peer catches up");
    sched.handlers.get(leader)!(response(regionOn(c, leader), { transferLeader: { peer: peer(3, 3) } }));
    c.pump();
    await until(c, () => c.leaderStore() === 3, "leadership moves to store 3");
  });
});
