import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageType, StateRole } from "../src/index.js";
import { Network, bytes, msg } from "./harness.js";

test("smoke: three nodes elect a leader and commit a proposal", () => {
  const nt = new Network([undefined, undefined, undefined]);
  nt.send(msg({ from: 1, to: 1, type: MessageType.Hup }));
  assert.equal(nt.raft(1).state, StateRole.Leader);
  nt.send(msg({ from: 1, to: 1, type: MessageType.Propose, entries: [{ type: 0, term: 0, index: 0, data: bytes("x") }] }));
  for (const id of [1, 2, 3]) assert.equal(nt.raft(id).raftLog.committed, 2, `node ${id}`);
});
