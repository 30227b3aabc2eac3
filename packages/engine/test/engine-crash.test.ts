/**
 * Durability under SIGKILL (ARCHITECTURE.md, "Storage": kill -9 at any moment loses no
 * acknowledged write). A child process (fixtures/crash-writer.ts) commits batch after batch —
 * batch i = ten keys k<i>-0..9 = v<i>, raft log entry i and region 1's apply state at i — and
 * prints "ack <i>" after each synced write returns. The parent kills it with SIGKILL after a
 * seeded-random number of acks, reopens the store and checks that the data is exactly batches
 * 1..k for some k ≥ the last ack: nothing acknowledged is lost and no batch is half-applied.
 * This is also the engine's batch-atomicity test under a real crash.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../src/index.js";
import { killIfRunning, seededRandom, spawnFixture, tempDir, type FixtureProcess } from "./helpers.js";

/** Bound on one round: tsx start-up plus a few hundred fsynced batches, with a wide margin. */
const ROUND_TIMEOUT_MS = 20_000;
/** The child stops by itself after this many batches if it is never killed. */
const MAX_BATCHES = 3000;

interface Round {
  /** Acks the child had printed (all of them, including any that arrived after the kill was sent). */
  acks: number[];
  /** The batches found after reopening: 1..k. */
  k: number;
}

/**
 * Run the writer in `mode` until `killAfterAcks` acks have been read, SIGKILL it, reopen the store
 * and check the prefix property. Returns what was seen for the test's diagnostics.
 */
async function crashRound(t: { after(fn: () => void): void }, mode: string, killAfterAcks: number): Promise<Round> {
  const dir = tempDir(t, "regionkv-crash-");
  const acks: number[] = [];
  let proc: FixtureProcess | undefined = undefined;
  proc = spawnFixture("crash-writer.ts", [dir, String(MAX_BATCHES), mode], (line) => {
    if (!line.startsWith("ack ")) return;
    acks.push(Number(line.slice("ack ".length)));
    if (acks.length === killAfterAcks) proc!.child.kill("SIGKILL");
  });
  t.after(() => killIfRunning(proc));
  const exit = await proc.exited(ROUND_TIMEOUT_MS);
  assert.equal(exit.signal, "SIGKILL", `the writer was not killed mid-run (exit ${JSON.stringify(exit)}, ${acks.length} acks); stderr:\n${proc.stderr()}`);
  assert.ok(acks.length >= killAfterAcks, `only ${acks.length} acks before the kill`);
  for (let i = 1; i < acks.length; i++) assert.ok(acks[i]! > acks[i - 1]!, `acks out of order: ${acks.join(",")}`);
  const lastAck = acks[acks.length - 1]!;

  const e = Engine.open(dir);
  try {
    const k = Number(e.getApplyState(1)?.appliedIndex ?? 0n);
    assert.ok(k >= lastAck, `acknowledged batch ${lastAck} lost: the store's apply state is ${k}`);
    assertExactlyBatches(e, k);
    return { acks, k };
  } finally {
    e.close();
  }
}

/** The store holds batches 1..k completely and nothing of any later batch. */
function assertExactlyBatches(e: Engine, k: number): void {
  const perBatch = new Map<number, number>();
  for (const { key, value } of e.scan("default", Buffer.alloc(0), Buffer.alloc(0))) {
    const m = /^k(\d+)-(\d)$/.exec(key.toString());
    assert.ok(m, `unexpected key ${key.toString()}`);
    const i = Number(m[1]);
    assert.equal(value.toString(), `v${i}`, `key ${key.toString()} has the wrong value`);
    perBatch.set(i, (perBatch.get(i) ?? 0) + 1);
  }
  for (const [i, n] of perBatch) {
    assert.ok(i <= k, `batch ${i} is (partly) present but the apply state says ${k}: a batch beyond the apply state leaked`);
    assert.equal(n, 10, `batch ${i} is half-applied: ${n} of its 10 keys`);
  }
  for (let i = 1; i <= k; i++) assert.ok(perBatch.has(i), `batch ${i} ≤ ${k} is missing entirely`);
  const log = e.logEntries(1, 0, k + 10, Infinity);
  assert.deepEqual(
    log.map((x) => `${x.index}:${x.data.toString()}`),
    Array.from({ length: k }, (_, j) => `${j + 1}:e${j + 1}`),
    "the raft log must hold exactly entries 1..k",
  );
}

describe("durability under SIGKILL", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`synced batches (seed ${seed}): every acked batch survives SIGKILL and the store is an exact prefix of whole batches`, async (t) => {
      const rng = seededRandom(seed);
      const killAfterAcks = 1 + Math.floor(rng() * 150);
      const r = await crashRound(t, "synced", killAfterAcks);
      t.diagnostic(`kill after ${killAfterAcks} acks; last ack ${r.acks[r.acks.length - 1]}; store holds batches 1..${r.k}`);
    });
  }

  for (const seed of [11, 12]) {
    test(`mixed unsynced and synced batches (seed ${seed}): the store after SIGKILL is an exact prefix of whole batches covering every acked one`, async (t) => {
      const rng = seededRandom(seed);
      const killAfterAcks = 1 + Math.floor(rng() * 60);
      const r = await crashRound(t, `mixed:${seed}`, killAfterAcks);
      // Acks are printed only after synced batches, so unsynced ones lie between them.
      assert.ok(r.acks.some((a, i) => a !== (r.acks[i - 1] ?? 0) + 1), `no unsynced batch between acks: ${r.acks.join(",")}`);
      t.diagnostic(`kill after ${killAfterAcks} acks; last ack ${r.acks[r.acks.length - 1]}; store holds batches 1..${r.k}`);
    });
  }
});
