/** Latches: overlapping commands serialize (FIFO per key), disjoint ones do not wait, no deadlock. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Latches } from "../src/index.js";

const b = (s: string) => Buffer.from(s);
const turn = () => new Promise<void>((r) => setImmediate(r));

describe("latches", () => {
  test("a second command on a latched key waits until the first releases; disjoint keys do not wait; duplicates count once", async () => {
    const l = new Latches();
    const g1 = await l.acquire([b("a"), b("b"), b("a")]);
    assert.equal(l.heldCount, 2);
    let second = false;
    const p2 = l.acquire([b("b"), b("c")]).then((g) => ((second = true), g));
    const g3 = await l.acquire([b("x")]);
    await turn();
    assert.equal(second, false, "waits on b");
    g1.release();
    const g2 = await p2;
    assert.equal(second, true);
    g1.release(); // a second release does nothing
    g2.release();
    g3.release();
    assert.equal(l.heldCount, 0);
  });

  test("waiters on one key are served in arrival order", async () => {
    const l = new Latches();
    const g = await l.acquire([b("k")]);
    const order: number[] = [];
    const ps = [1, 2, 3].map((i) => l.acquire([b("k")]).then((h) => (order.push(i), h.release())));
    await turn();
    g.release();
    await Promise.all(ps);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(l.heldCount, 0);
  });

  test("many commands on random overlapping key sets (seeded) all finish, and never two at once on a key", async () => {
    const l = new Latches();
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff), s / 0x7fffffff);
    const busy = new Set<string>();
    let done = 0;
    const cmds = Array.from({ length: 300 }, async () => {
      const keys = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => `k${Math.floor(rnd() * 8)}`);
      const g = await l.acquire(keys.map(b));
      const uniq = [...new Set(keys)];
      for (const k of uniq) {
        assert.ok(!busy.has(k), `two commands hold ${k}`);
        busy.add(k);
      }
      await turn();
      for (const k of uniq) busy.delete(k);
      g.release();
      done++;
    });
    await Promise.all(cmds);
    assert.equal(done, 300);
    assert.equal(l.heldCount, 0);
  });
});
