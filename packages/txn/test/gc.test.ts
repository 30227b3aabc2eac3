/**
 * KvGC on TxnCommands over a real engine (gc.ts): per key, everything above the safe point and
 * the newest Put at or below it stay; older versions, a newest Delete, rollback and lock records
 * go, values with their Put records; reads at or after the safe point are unchanged; deletions
 * are proposed in batches of at most GC_BATCH_OPS (ending only between user keys); transactions
 * starting at or below a collected safe point are refused.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { CF_IDS } from "@regionkv/engine";
import { kvrpcpb } from "@regionkv/proto";
import { GC_BATCH_OPS, TS_MAX, WriteKind, decodeKey, decodeWrite, type GcStats, type WriteKind as Kind } from "../src/index.js";
import { CTX, EMPTY, SCOPE, TestBuilder, errCase, lock, mutation, s, type Row } from "./txn-fixture.js";

const SAFE_POINT = 125n;
const KIND = { [WriteKind.Put]: "P", [WriteKind.Delete]: "D", [WriteKind.Rollback]: "R", [WriteKind.Lock]: "L" } as const;

/** A Put committed at `commit` (started 5 earlier) with value "<key>@<commit>". */
function putAt(key: string, commit: bigint): Row[] {
  return [
    { cf: "default", key: s(key), ts: commit - 5n, value: s(`${key}@${commit}`) },
    { cf: "write", key: s(key), ts: commit, value: { kind: WriteKind.Put, startTs: commit - 5n } },
  ];
}

function recordAt(key: string, ts: bigint, kind: Kind): Row {
  return { cf: "write", key: s(key), ts, value: { kind, startTs: kind === WriteKind.Rollback || kind === WriteKind.Lock ? ts : ts - 5n } };
}

/** Every record of the write CF as "key@commitTs:kind", in engine order. */
function writes(b: TestBuilder): string[] {
  return b.engine.scan("write", EMPTY, EMPTY).map((r) => {
    const { key, ts } = decodeKey(r.key);
    return `${key.toString()}@${ts}:${KIND[decodeWrite(r.value).kind]}`;
  });
}

/** Every value of txn_default as "key@startTs". */
function values(b: TestBuilder): string[] {
  return b.engine.scan("txn_default", EMPTY, EMPTY).map((r) => {
    const { key, ts } = decodeKey(r.key);
    return `${key.toString()}@${ts}`;
  });
}

async function gc(b: TestBuilder, safePoint: bigint): Promise<GcStats> {
  const r = await b.cmds.gc(kvrpcpb.GCRequest.fromPartial({ context: CTX, safePoint }), SCOPE);
  assert.equal(r.regionError, undefined);
  assert.equal(r.error, undefined);
  assert.ok(r.stats);
  return r.stats;
}

async function scanAll(b: TestBuilder, version: bigint): Promise<string[]> {
  const r = await b.cmds.scan(kvrpcpb.ScanRequest.fromPartial({ context: CTX, limit: 1000, version }), SCOPE);
  return r.pairs.map((p) => (p.error ? `${p.key.toString()}!${p.error.kind?.$case}` : `${p.key.toString()}=${p.value.toString()}`));
}

/** A history per key around safe point 125 (see each test for the rule it pins). */
function history(t: TestContext): TestBuilder {
  const b = TestBuilder.open(t);
  b.init([
    // a: three puts; the newest is above the safe point, the middle one is the newest at or below it.
    ...putAt("a", 110n),
    ...putAt("a", 120n),
    ...putAt("a", 130n),
    // b: a put deleted below the safe point.
    ...putAt("b", 110n),
    recordAt("b", 120n, WriteKind.Delete),
    // c: a put under a rollback and a lock record.
    ...putAt("c", 110n),
    recordAt("c", 115n, WriteKind.Rollback),
    recordAt("c", 118n, WriteKind.Lock),
    // d: a put deleted above the safe point.
    ...putAt("d", 110n),
    recordAt("d", 130n, WriteKind.Delete),
    // e: a rollback above the safe point over an old put.
    ...putAt("e", 100n),
    recordAt("e", 140n, WriteKind.Rollback),
    // f: a put exactly at the safe point over an older one.
    ...putAt("f", 110n),
    ...putAt("f", 125n),
    // g: only a rollback.
    recordAt("g", 112n, WriteKind.Rollback),
    // h: put, delete, then a put above the safe point.
    ...putAt("h", 100n),
    recordAt("h", 105n, WriteKind.Delete),
    ...putAt("h", 130n),
    // A lock above the safe point (of a transaction whose primary is elsewhere): GC leaves locks alone.
    { cf: "lock", key: s("a"), value: lock(s("zz"), 200n, 3000n) },
  ]);
  return b;
}

describe("gc", () => {
  test("keeps everything above the safe point and the newest Put at or below it; older versions and their values go", async (t) => {
    const b = history(t);
    await gc(b, SAFE_POINT);
    const w = writes(b);
    assert.deepEqual(
      w.filter((x) => /^[adef]@/.test(x)),
      ["a@130:P", "a@120:P", "d@130:D", "d@110:P", "e@140:R", "e@100:P", "f@125:P"],
    );
    assert.deepEqual(
      values(b).filter((x) => /^[adef]@/.test(x)),
      ["a@125", "a@115", "d@105", "e@95", "f@120"],
    );
    assert.deepEqual(b.lockOf(s("a")), lock(s("zz"), 200n, 3000n));
  });

  test("a Delete as the newest version at or below the safe point goes, with everything older", async (t) => {
    const b = history(t);
    await gc(b, SAFE_POINT);
    assert.deepEqual(
      writes(b).filter((x) => /^[bh]@/.test(x)),
      ["h@130:P"],
    );
    assert.deepEqual(
      values(b).filter((x) => /^[bh]@/.test(x)),
      ["h@125"],
    );
  });

  test("rollback and lock records at or below the safe point go; the whole CF contents and the stats add up", async (t) => {
    const b = history(t);
    b.assertLens(11, 1, 18);
    const stats = await gc(b, SAFE_POINT);
    assert.deepEqual(writes(b), ["a@130:P", "a@120:P", "c@110:P", "d@130:D", "d@110:P", "e@140:R", "e@100:P", "f@125:P", "h@130:P"]);
    assert.deepEqual(values(b), ["a@125", "a@115", "c@105", "d@105", "e@95", "f@120", "h@125"]);
    b.assertLens(7, 1, 9);
    assert.deepEqual(stats, { keys: 8, deleted: 9, batches: 1 });
    // Collected already: a second run finds nothing to delete and writes nothing.
    const n = b.storage.written.length;
    assert.deepEqual(await gc(b, SAFE_POINT), { keys: 6, deleted: 0, batches: 0 });
    assert.equal(b.storage.written.length, n);
  });

  test("reads at or after the safe point see exactly the same values before and after", async (t) => {
    const b = history(t);
    const versions = [SAFE_POINT, SAFE_POINT + 1n, 130n, 140n, 199n, TS_MAX];
    const before = await Promise.all(versions.map((v) => scanAll(b, v)));
    const getsBefore = await Promise.all(["a", "b", "c", "d", "e", "f", "g", "h"].map((key) => b.cmds.get(b.getRequest(s(key), SAFE_POINT), SCOPE)));
    await gc(b, SAFE_POINT);
    const after = await Promise.all(versions.map((v) => scanAll(b, v)));
    assert.deepEqual(after, before);
    assert.deepEqual(before[0], ["a=a@120", "c=c@110", "d=d@110", "e=e@100", "f=f@125"]);
    assert.deepEqual(before[5], ["a=a@130", "c=c@110", "e=e@100", "f=f@125", "h=h@130"]);
    const getsAfter = await Promise.all(["a", "b", "c", "d", "e", "f", "g", "h"].map((key) => b.cmds.get(b.getRequest(s(key), SAFE_POINT), SCOPE)));
    assert.deepEqual(getsAfter, getsBefore);
  });

  test(`more than GC_BATCH_OPS (${GC_BATCH_OPS}) deletions are written as several raft commands, each ending between user keys`, async (t) => {
    const b = TestBuilder.open(t);
    const n = 600;
    const rows: Row[] = [];
    const key = (i: number) => `k${String(i).padStart(4, "0")}`;
    // Four puts per key, all at or below the safe point: three go, one stays.
    for (let i = 0; i < n; i++) for (const c of [50n, 60n, 70n, 80n]) rows.push(...putAt(key(i), c));
    b.init(rows);
    const expected = await scanAll(b, 100n);
    const stats = await gc(b, 100n);
    assert.deepEqual(stats, { keys: n, deleted: 3 * n, batches: 2 });
    assert.equal(b.storage.written.length, 2);
    const perBatch = b.storage.written.map((batch) => {
      const deletes = batch.ops.filter((op) => op.kind === "delete" && op.cf === CF_IDS.write).map((op) => decodeKey((op as { key: Uint8Array }).key).key.toString());
      const valueDeletes = batch.ops.filter((op) => op.kind === "delete" && op.cf === CF_IDS.txn_default).length;
      return { deletes, valueDeletes, keys: new Set(deletes) };
    });
    // A batch closes at the first new key once it holds GC_BATCH_OPS deletions: 342 keys × 3.
    assert.deepEqual(
      perBatch.map((p) => [p.deletes.length, p.valueDeletes, p.keys.size]),
      [
        [1026, 1026, 342],
        [774, 774, 258],
      ],
    );
    assert.ok(perBatch[0]!.deletes.length >= GC_BATCH_OPS);
    for (const k of perBatch[0]!.keys) assert.ok(!perBatch[1]!.keys.has(k), `key ${k} split across batches`);
    b.assertLens(n, 0, n);
    assert.deepEqual(await scanAll(b, 100n), expected);
    assert.equal(expected[599], "k0599=k0599@80");
  });

  test("a prewrite starting at or below a collected safe point is aborted; a later lower safe point does not lower it", async (t) => {
    const b = history(t);
    await gc(b, SAFE_POINT);
    const pw = (startVersion: bigint) =>
      b.cmds.prewrite(kvrpcpb.PrewriteRequest.fromPartial({ context: CTX, primaryLock: s("x"), startVersion, lockTtl: 3000n, mutations: [mutation(s("x"), s("v"), kvrpcpb.Op.Put)] }), SCOPE);
    assert.equal(errCase((await pw(SAFE_POINT)).errors[0]), "abort");
    assert.equal(errCase((await pw(100n)).errors[0]), "abort");
    b.assertLens(7, 1, 9);
    await gc(b, 100n);
    assert.equal(errCase((await pw(110n)).errors[0]), "abort");
    assert.deepEqual((await pw(SAFE_POINT + 1n)).errors, []);
    assert.equal(b.lockOf(s("x"))?.startTs, SAFE_POINT + 1n);
  });

  test("reads below a collected safe point are refused as too old (they could miss collected versions); at or above it they are served", async (t) => {
    const b = history(t);
    await gc(b, SAFE_POINT);
    const get = (version: bigint) => b.cmds.get(kvrpcpb.GetRequest.fromPartial({ context: CTX, key: s("a"), version }), SCOPE);
    const old = await get(SAFE_POINT - 1n);
    assert.equal(errCase(old.error), "abort");
    assert.match(old.error?.kind?.$case === "abort" ? old.error.kind.value : "", /snapshot too old/);
    assert.equal((await get(SAFE_POINT)).error, undefined);
    const batch = await b.cmds.batchGet(kvrpcpb.BatchGetRequest.fromPartial({ context: CTX, keys: [s("a"), s("b")], version: 1n }), SCOPE);
    assert.deepEqual(batch.pairs.map((p) => errCase(p.error)), ["abort", "abort"]);
    const scan = await b.cmds.scan(kvrpcpb.ScanRequest.fromPartial({ context: CTX, startKey: s("a"), limit: 10, version: 1n }), SCOPE);
    assert.equal(errCase(scan.pairs[0]?.error), "abort");
  });
});
