/**
 * Router: per-region mailboxes and a store mailbox; a message for an unknown region is refused
 * (the caller decides what then); the worker is woken once when work appears, not per message.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import type { PeerMsg } from "../src/messages.js";
import { PeerTick, StoreTick } from "../src/messages.js";
import { Router } from "../src/router.js";

const tick: PeerMsg = { type: "tick", tick: PeerTick.Raft };
const gcDone = (index: number): PeerMsg => ({ type: "raftLogGcDone", index });

describe("router", () => {
  test("a message for a region with no registered peer is refused and wakes nobody", () => {
    let wakes = 0;
    const r = new Router(() => wakes++);
    assert.equal(r.send(7, tick), false);
    assert.equal(r.has(7), false);
    assert.equal(r.hasWork(), false);
    assert.equal(wakes, 0);
    assert.deepEqual(r.takeBusy(), []);
  });

  test("mail is delivered per region in arrival order, and taking it empties the mailboxes", () => {
    const r = new Router();
    r.register(1);
    r.register(2);
    assert.equal(r.send(2, gcDone(20)), true);
    assert.equal(r.send(1, gcDone(10)), true);
    assert.equal(r.send(2, gcDone(21)), true);
    assert.equal(r.hasWork(), true);
    const busy = r.takeBusy();
    assert.deepEqual(busy, [
      [2, [gcDone(20), gcDone(21)]],
      [1, [gcDone(10)]],
    ]);
    assert.equal(r.hasWork(), false);
    assert.deepEqual(r.takeBusy(), []);
    assert.equal(r.send(1, gcDone(11)), true);
    assert.deepEqual(r.takeBusy(), [[1, [gcDone(11)]]]);
  });

  test("the worker is woken once when the router goes from idle to busy, not for every message", () => {
    let wakes = 0;
    const r = new Router();
    r.setOnBusy(() => wakes++);
    r.register(1);
    r.register(2);
    r.send(1, tick);
    r.send(1, tick);
    r.send(2, tick);
    r.sendStore({ type: "start" });
    assert.equal(wakes, 1);
    r.takeBusy();
    assert.equal(r.hasWork(), true, "store mail is still waiting");
    r.takeStoreMail();
    assert.equal(r.hasWork(), false);
    r.sendStore({ type: "tick", tick: StoreTick.SnapGc });
    assert.equal(wakes, 2);
    r.send(2, tick);
    assert.equal(wakes, 2, "already busy with store mail");
  });

  test("broadcast posts to every registered peer; store mail comes out in order", () => {
    const r = new Router();
    for (const id of [3, 1, 2]) r.register(id);
    r.broadcast(tick);
    assert.deepEqual(
      r.takeBusy().map(([id, msgs]) => [id, msgs.length]),
      [
        [3, 1],
        [1, 1],
        [2, 1],
      ],
    );
    r.sendStore({ type: "start" });
    r.sendStore({ type: "tick", tick: StoreTick.SchedulerStoreHeartbeat });
    assert.deepEqual(r.takeStoreMail(), [{ type: "start" }, { type: "tick", tick: StoreTick.SchedulerStoreHeartbeat }]);
    assert.deepEqual(r.takeStoreMail(), []);
  });

  test("markBusy schedules a peer with no mail (a Ready left after advance), only if it is registered", () => {
    let wakes = 0;
    const r = new Router(() => wakes++);
    r.markBusy(5);
    assert.equal(r.hasWork(), false);
    r.register(5);
    r.markBusy(5);
    r.markBusy(5);
    assert.equal(wakes, 1);
    assert.deepEqual(r.takeBusy(), [[5, []]]);
  });

  test("unregistering drops the peer's mailbox and pending mail; registering twice keeps the mailbox", () => {
    const r = new Router();
    r.register(1);
    r.send(1, tick);
    r.register(1);
    assert.deepEqual(r.regionIds(), [1]);
    r.unregister(1);
    assert.equal(r.hasWork(), false);
    assert.equal(r.send(1, tick), false);
    assert.deepEqual(r.regionIds(), []);
    r.register(1);
    assert.deepEqual(r.takeBusy(), [], "old mail does not come back");
  });
});
