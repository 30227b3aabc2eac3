// Operators end to end over the real gRPC service: a fake store drives region heartbeats on the
// RegionHeartbeat stream, receives an AddPeer operator, "applies" it and reports the result; the
// scheduler moves on and finally reports the operator as SUCCESS through GetOperator.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eraftpb, metapb, schedulerpb } from "@regionkv/proto";
import { mustStartServer, mustTempDir, newRegion, newStore, rawClient, unary, waitFor } from "./server-helpers.js";

test("a fake store receives AddNode (voters directly, addLearnerFirst off), acknowledges it by heartbeats; GetOperator says SUCCESS", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t), { scheduling: { maxReplicas: 2, addLearnerFirst: false }, autoSchedule: false });
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  await unary((cb) => c.bootstrap({ header, store: newStore(1n), region: newRegion(2n, "", "", [1n]) }, cb));
  await unary((cb) => c.putStore({ header, store: newStore(2n) }, cb));
  for (const id of [1n, 2n]) await unary((cb) => c.storeHeartbeat({ header, stats: schedulerpb.StoreStats.fromPartial({ storeId: id }) }, cb));

  const stream = c.regionHeartbeat();
  t.after(() => stream.cancel());
  const responses: schedulerpb.RegionHeartbeatResponse[] = [];
  stream.on("data", (r: schedulerpb.RegionHeartbeatResponse) => responses.push(r));
  stream.on("error", () => {});
  let region: metapb.Region = newRegion(2n, "", "", [1n]);
  const leader = region.peers[0]!;
  const send = (pending: metapb.Peer[] = []): void => {
    stream.write(schedulerpb.RegionHeartbeatRequest.fromPartial({ header, region, leader, pendingPeers: pending }));
  };

  send();
  await waitFor("AddNode", () => responses.length >= 1);
  const add = responses[0]!;
  assert.equal(add.header?.error, undefined);
  assert.equal(add.header?.clusterId, header.clusterId);
  assert.equal(add.regionId, 2n);
  assert.deepEqual(add.regionEpoch, region.regionEpoch);
  assert.deepEqual(add.targetPeer, leader);
  assert.equal(add.changePeer?.changeType, eraftpb.ConfChangeType.AddNode);
  const peer = add.changePeer!.peer!;
  assert.equal(peer.storeId, 2n);
  assert.equal(peer.role, metapb.PeerRole.Voter);
  const running = await unary<schedulerpb.GetOperatorResponse>((cb) => c.getOperator({ header, regionId: 2n }, cb));
  assert.equal(running.status, schedulerpb.OperatorStatus.RUNNING);
  assert.equal(running.kind, "replica");

  // not applied yet: the same step again
  send();
  await waitFor("AddNode re-sent", () => responses.length >= 2);
  assert.deepEqual(responses[1]!.changePeer, add.changePeer);

  // applied; the new peer is still being caught up (pending): nothing is sent, the operator runs on
  region = { ...region, regionEpoch: { version: 1n, confVer: 2n }, peers: [...region.peers, peer] };
  send([peer]);
  await waitFor("heartbeat processed", () => server.core.getRegionById(2n)?.pendingPeers.length === 1);
  assert.equal(server.coordinator.getOperator(2n)?.status, "STARTED");

  // caught up: done
  send();
  await waitFor("operator success", () => server.coordinator.getOperator(2n)?.status === "SUCCESS");
  const done = await unary<schedulerpb.GetOperatorResponse>((cb) => c.getOperator({ header, regionId: 2n }, cb));
  assert.equal(done.status, schedulerpb.OperatorStatus.SUCCESS);
  assert.match(done.desc, /add voter .* on store 2/);
  assert.equal(responses.length, 2, "nothing more for a region with max-replicas healthy replicas");

  // a manual operator is pushed on the leader store's stream without waiting for a heartbeat
  const tl = server.coordinator.addManualOperator({ kind: "transfer-leader", regionId: 2n, storeId: 2n });
  assert.ok(tl.ok);
  await waitFor("pushed transfer-leader", () => responses.length >= 3);
  assert.equal(responses[2]!.transferLeader?.peer?.storeId, 2n);

  const none = await unary<schedulerpb.GetOperatorResponse>((cb) => c.getOperator({ header, regionId: 99n }, cb));
  assert.equal(none.header?.error?.type, schedulerpb.ErrorType.REGION_NOT_FOUND);
});

test("with addLearnerFirst the fake store gets AddLearnerNode, then the promotion", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t), { scheduling: { maxReplicas: 2, addLearnerFirst: true }, autoSchedule: false });
  const c = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  await unary((cb) => c.bootstrap({ header, store: newStore(1n), region: newRegion(2n, "", "", [1n]) }, cb));
  await unary((cb) => c.putStore({ header, store: newStore(2n) }, cb));
  for (const id of [1n, 2n]) await unary((cb) => c.storeHeartbeat({ header, stats: schedulerpb.StoreStats.fromPartial({ storeId: id }) }, cb));
  const stream = c.regionHeartbeat();
  t.after(() => stream.cancel());
  const responses: schedulerpb.RegionHeartbeatResponse[] = [];
  stream.on("data", (r: schedulerpb.RegionHeartbeatResponse) => responses.push(r));
  stream.on("error", () => {});
  let region: metapb.Region = newRegion(2n, "", "", [1n]);
  const leader = region.peers[0]!;
  const send = (): void => void stream.write(schedulerpb.RegionHeartbeatRequest.fromPartial({ header, region, leader }));
  send();
  await waitFor("AddLearnerNode", () => responses.length >= 1);
  assert.equal(responses[0]!.changePeer?.changeType, eraftpb.ConfChangeType.AddLearnerNode);
  const learner = responses[0]!.changePeer!.peer!;
  assert.equal(learner.role, metapb.PeerRole.Learner);
  region = { ...region, regionEpoch: { version: 1n, confVer: 2n }, peers: [...region.peers, learner] };
  send();
  await waitFor("promote", () => responses.length >= 2);
  assert.equal(responses[1]!.changePeer?.changeType, eraftpb.ConfChangeType.AddNode);
  assert.deepEqual(responses[1]!.changePeer?.peer, { ...learner, role: metapb.PeerRole.Voter });
  region = { ...region, regionEpoch: { version: 1n, confVer: 3n }, peers: region.peers.map((p) => (p.id === learner.id ? { ...p, role: metapb.PeerRole.Voter } : p)) };
  send();
  await waitFor("operator success", () => server.coordinator.getOperator(2n)?.status === "SUCCESS");
});
