// Manual operators and store removal over gRPC through SchedulerRpcClient (what `regionkv ctl
// add-peer / remove-peer / transfer-leader / split / operators / store remove` call).
import { test } from "node:test";
import assert from "node:assert/strict";
import { metapb, schedulerpb } from "@regionkv/proto";
import { SchedulerRpcClient } from "../src/client/index.js";
import { mustStartServer, mustTempDir, newRegion, newStore, silentLogger, unary, rawClient } from "./server-helpers.js";

test("AddOperator, ListOperators and RemoveStore round-trip; refusals carry the scheduler's reason", async (t) => {
  const server = await mustStartServer(t, mustTempDir(t), { scheduling: { maxReplicas: 3 }, autoSchedule: false });
  const raw = rawClient(t, server.address);
  const header = { clusterId: server.core.clusterId };
  await unary((cb) => raw.bootstrap({ header, store: newStore(1n), region: newRegion(2n, "", "", [1n, 2n, 3n]) }, cb));
  for (const id of [2n, 3n, 4n]) await unary((cb) => raw.putStore({ header, store: newStore(id) }, cb));
  for (const id of [1n, 2n, 3n, 4n]) await unary((cb) => raw.storeHeartbeat({ header, stats: schedulerpb.StoreStats.fromPartial({ storeId: id }) }, cb));
  const client = await SchedulerRpcClient.connect({ endpoints: server.address, logger: silentLogger });
  t.after(() => client.close());

  const added = await client.addOperator(2n, { kind: "transfer-leader", storeId: 2n });
  assert.equal(added?.regionId, 2n);
  assert.equal(added?.kind, "admin");
  assert.equal(added?.status, schedulerpb.OperatorStatus.RUNNING);
  assert.match(added!.desc, /leader/);
  const listed = await client.listOperators(10);
  assert.deepEqual(
    listed.running.map((o) => o.regionId),
    [2n],
  );

  // A second operator on a busy region, an unknown region, a bad store: refused with a reason.
  await assert.rejects(client.addOperator(2n, { kind: "add-peer", storeId: 4n }), /wait|running|busy|priority/i);
  await assert.rejects(client.addOperator(77n, { kind: "add-peer", storeId: 4n }), /77/);

  // Removing a store: with 4 Up stores and 3 replicas, one may go; then no more.
  const removed = await client.removeStore(4n);
  assert.equal(removed?.state, metapb.StoreState.Offline);
  assert.equal((await client.getStore(4n))?.state, metapb.StoreState.Offline);
  await assert.rejects(client.removeStore(3n), /leave 2 stores for 3 replicas/);
  await assert.rejects(client.removeStore(99n), /unknown/);
});
