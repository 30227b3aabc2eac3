/**
 * Tick driver: one base tick drives every tick kind; each kind fires every N base ticks (N from
 * the config), peer ticks go to every registered peer, store ticks to the store mailbox.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { resolveRaftstoreConfig } from "../src/config.js";
import { PeerTick, StoreTick } from "../src/messages.js";
import { Router } from "../src/router.js";
import { TickDriver } from "../src/tick-driver.js";

const cfg = resolveRaftstoreConfig({
  raftLogGcTickInterval: 3,
  splitCheckTickInterval: 5,
  regionHeartbeatTickInterval: 7,
  storeHeartbeatTickInterval: 4,
  snapGcTickInterval: 6,
});

/** Run `n` base ticks; returns, per tick kind, the base-tick numbers at which region `regionId` / the store saw it. */
function drive(n: number, regions: number[]): { peer: Map<number, Map<PeerTick, number[]>>; store: Map<StoreTick, number[]> } {
  const router = new Router();
  for (const id of regions) router.register(id);
  const driver = new TickDriver(cfg, router);
  const peer = new Map<number, Map<PeerTick, number[]>>(regions.map((id) => [id, new Map()]));
  const store = new Map<StoreTick, number[]>();
  for (let i = 1; i <= n; i++) {
    driver.tick();
    assert.equal(driver.ticks, i);
    for (const [id, msgs] of router.takeBusy()) {
      for (const m of msgs) {
        assert.equal(m.type, "tick");
        if (m.type !== "tick") continue;
        const at = peer.get(id)!;
        at.set(m.tick, [...(at.get(m.tick) ?? []), i]);
      }
    }
    for (const m of router.takeStoreMail()) {
      assert.equal(m.type, "tick");
      if (m.type === "tick") store.set(m.tick, [...(store.get(m.tick) ?? []), i]);
    }
  }
  return { peer, store };
}

const multiples = (every: number, n: number) => Array.from({ length: Math.floor(n / every) }, (_, k) => (k + 1) * every);

describe("tick driver", () => {
  test("the raft tick fires on every base tick for every peer", () => {
    const { peer } = drive(10, [1, 2]);
    for (const id of [1, 2]) assert.deepEqual(peer.get(id)!.get(PeerTick.Raft), multiples(1, 10));
  });

  test("each peer tick kind fires at its interval: log GC every 3, split check every 5, region heartbeat every 7", () => {
    const { peer } = drive(42, [1, 9]);
    for (const id of [1, 9]) {
      const at = peer.get(id)!;
      assert.deepEqual(at.get(PeerTick.RaftLogGc), multiples(3, 42));
      assert.deepEqual(at.get(PeerTick.SplitCheck), multiples(5, 42));
      assert.deepEqual(at.get(PeerTick.SchedulerHeartbeat), multiples(7, 42));
    }
  });

  test("store ticks fire at their intervals: store heartbeat every 4, snapshot GC every 6", () => {
    const { store } = drive(42, [1]);
    assert.deepEqual(store.get(StoreTick.SchedulerStoreHeartbeat), multiples(4, 42));
    assert.deepEqual(store.get(StoreTick.SnapGc), multiples(6, 42));
  });

  test("with no regions only store ticks are posted", () => {
    const { peer, store } = drive(12, []);
    assert.equal(peer.size, 0);
    assert.deepEqual(store.get(StoreTick.SchedulerStoreHeartbeat), [4, 8, 12]);
  });

  test("a region registered later receives ticks from then on", () => {
    const router = new Router();
    const driver = new TickDriver(cfg, router);
    driver.tick();
    driver.tick();
    assert.deepEqual(router.takeBusy(), []);
    router.register(4);
    driver.tick();
    const busy = router.takeBusy();
    assert.deepEqual(
      busy.map(([id, msgs]) => [id, msgs.map((m) => (m.type === "tick" ? m.tick : -1))]),
      [[4, [PeerTick.Raft, PeerTick.RaftLogGc]]],
    );
  });
});
