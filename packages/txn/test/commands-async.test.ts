/**
 * Async commit and one-phase commit on TxnCommands over a real engine (TiKV's design; see
 * concurrency.ts): min_commit_ts above the store's max read ts, declining past max_commit_ts,
 * 1PC commit records, check-secondary-locks, memory locks answering reads that arrive while a
 * prewrite is being written, and a commit record that also stands for an overlapped rollback.
 *
 * The storage's TSO is pinned at 50 so that the store's max_ts is set by the test's reads.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { kvrpcpb } from "@regionkv/proto";
import { LockKind, WriteKind } from "../src/index.js";
import { CTX, GatedStorage, SCOPE, TestBuilder, errCase, lock, mustLocked, mutation, s } from "./txn-fixture.js";

interface Fx {
  b: TestBuilder;
  storage: GatedStorage;
}

function open(t: TestContext): Fx {
  let storage: GatedStorage | undefined;
  const b = TestBuilder.open(t, (e) => (storage = new GatedStorage(e)));
  storage!.fixedTso = 50n;
  // Old values of a, b, c: started 10, committed 20.
  b.init(
    ["a", "b", "c"].flatMap((key) => [
      { cf: "default" as const, key: s(key), ts: 10n, value: s(`${key}0`) },
      { cf: "write" as const, key: s(key), ts: 20n, value: { kind: WriteKind.Put, startTs: 10n } },
    ]),
  );
  return { b, storage: storage! };
}

const get = (b: TestBuilder, key: string, version: bigint) => b.cmds.get(b.getRequest(s(key), version), SCOPE);
const valueAt = async (b: TestBuilder, key: string, version: bigint) => {
  const r = await get(b, key, version);
  assert.equal(r.error, undefined, `${key}@${version} is locked`);
  return r.notFound ? undefined : r.value.toString();
};

/** Async-commit prewrite of `keys` (the first is the primary) with values "<key><start>". */
function asyncPrewrite(startVersion: bigint, keys: string[], p: Partial<kvrpcpb.PrewriteRequest> = {}): kvrpcpb.PrewriteRequest {
  return kvrpcpb.PrewriteRequest.fromPartial({
    context: CTX,
    primaryLock: s(keys[0]!),
    startVersion,
    lockTtl: 3000n,
    mutations: keys.map((key) => mutation(s(key), s(`${key}${startVersion}`), kvrpcpb.Op.Put)),
    useAsyncCommit: true,
    secondaries: keys.slice(1).map(s),
    ...p,
  });
}

function onePc(startVersion: bigint, muts: kvrpcpb.Mutation[], p: Partial<kvrpcpb.PrewriteRequest> = {}): kvrpcpb.PrewriteRequest {
  return kvrpcpb.PrewriteRequest.fromPartial({ context: CTX, primaryLock: muts[0]!.key, startVersion, lockTtl: 3000n, mutations: muts, tryOnePc: true, ...p });
}

const commit = (b: TestBuilder, startVersion: bigint, commitVersion: bigint, keys: string[]) =>
  b.cmds.commit(kvrpcpb.CommitRequest.fromPartial({ context: CTX, startVersion, commitVersion, keys: keys.map(s) }), SCOPE);

const rollback = (b: TestBuilder, startVersion: bigint, keys: string[]) =>
  b.cmds.batchRollback(kvrpcpb.BatchRollbackRequest.fromPartial({ context: CTX, startVersion, keys: keys.map(s) }), SCOPE);

const checkSecondaries = (b: TestBuilder, startVersion: bigint, keys: string[]) =>
  b.cmds.checkSecondaryLocks(kvrpcpb.CheckSecondaryLocksRequest.fromPartial({ context: CTX, startVersion, keys: keys.map(s) }), SCOPE);

describe("async commit", () => {
  test("locks carry the secondaries on the primary and a min_commit_ts above the store's max read ts (a get at 500 first)", async (t) => {
    const { b } = open(t);
    assert.equal(await valueAt(b, "x", 500n), undefined);
    const r = await b.cmds.prewrite(asyncPrewrite(200n, ["a", "b", "c"]), SCOPE);
    assert.deepEqual(r.errors, []);
    assert.equal(r.onePcCommitTs, 0n);
    assert.ok(r.minCommitTs > 500n, `min_commit_ts ${r.minCommitTs} must be above the read at 500`);
    assert.equal(r.minCommitTs, 501n);
    const async = { minCommitTs: 501n };
    assert.deepEqual(b.lockOf(s("a")), lock(s("a"), 200n, 3000n, LockKind.Put, { ...async, secondaries: [s("b"), s("c")] }));
    assert.deepEqual(b.lockOf(s("b")), lock(s("a"), 200n, 3000n, LockKind.Put, { ...async, secondaries: [] }));
    assert.deepEqual(b.lockOf(s("c")), lock(s("a"), 200n, 3000n, LockKind.Put, { ...async, secondaries: [] }));
    b.assertLens(6, 3, 3);
    // Reads below the min commit ts go past the locks; at or above it they are Locked.
    assert.equal(await valueAt(b, "a", 500n), "a0");
    const info = mustLocked((await get(b, "a", 501n)).error);
    assert.equal(info.useAsyncCommit, true);
    assert.equal(info.minCommitTs, 501n);
    assert.deepEqual(info.secondaries, [s("b"), s("c")]);
    // The commit ts is at least the min commit ts.
    assert.equal(errCase((await commit(b, 200n, 500n, ["a", "b", "c"])).error), "commitTsExpired");
    assert.equal((await commit(b, 200n, 501n, ["a", "b", "c"])).error, undefined);
    b.assertLens(6, 0, 6);
    assert.equal(await valueAt(b, "b", 501n), "b200");
    assert.equal(await valueAt(b, "b", 500n), "b0");
  });

  test("min_commit_ts: without a read it is start+1 (above the TSO); a request's own larger min_commit_ts wins; checkTxnStatus's caller counts as a read", async (t) => {
    const { b } = open(t);
    assert.equal((await b.cmds.prewrite(asyncPrewrite(200n, ["a"]), SCOPE)).minCommitTs, 201n);
    assert.equal((await b.cmds.prewrite(asyncPrewrite(210n, ["b"], { minCommitTs: 700n }), SCOPE)).minCommitTs, 700n);
    assert.equal(b.lockOf(s("b"))?.minCommitTs, 700n);
    const st = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("zz"), lockTs: 300n, callerStartTs: 800n, currentTs: 800n }), SCOPE);
    assert.equal(errCase(st.error), "txnNotFound");
    assert.equal((await b.cmds.prewrite(asyncPrewrite(220n, ["c"]), SCOPE)).minCommitTs, 801n);
  });

  test("an expired async-commit primary is not rolled back by checkTxnStatus (its fate is in its secondaries) and its min_commit_ts is not pushed", async (t) => {
    const { b } = open(t);
    assert.deepEqual((await b.cmds.prewrite(asyncPrewrite(200n, ["a", "b"], { lockTtl: 1n }), SCOPE)).errors, []);
    const far = 1n << 60n;
    const r = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("a"), lockTs: 200n, callerStartTs: 900n, currentTs: far }), SCOPE);
    assert.equal(r.action, kvrpcpb.Action.NoAction);
    assert.equal(r.lockInfo?.useAsyncCommit, true);
    assert.deepEqual(r.lockInfo?.secondaries, [s("b")]);
    assert.equal(r.lockInfo?.minCommitTs, 201n);
    assert.equal(b.lockOf(s("a"))?.minCommitTs, 201n);
  });

  test("max_commit_ts below the ts the store would need: declined (min_commit_ts 0), plain 2PC locks, memory locks released", async (t) => {
    const { b } = open(t);
    await get(b, "x", 500n);
    const r = await b.cmds.prewrite(asyncPrewrite(200n, ["a", "b"], { maxCommitTs: 400n }), SCOPE);
    assert.deepEqual(r.errors, []);
    assert.equal(r.minCommitTs, 0n);
    assert.equal(r.onePcCommitTs, 0n);
    assert.deepEqual(b.lockOf(s("a")), lock(s("a"), 200n, 3000n));
    assert.deepEqual(b.lockOf(s("b")), lock(s("a"), 200n, 3000n));
    assert.equal(mustLocked((await get(b, "a", 300n)).error).useAsyncCommit, false);
    // 1PC declined the same way: the keys are prewritten instead.
    const p = await b.cmds.prewrite(onePc(210n, [mutation(s("c"), s("c210"), kvrpcpb.Op.Put)], { maxCommitTs: 400n }), SCOPE);
    assert.deepEqual([p.errors, p.onePcCommitTs, p.minCommitTs], [[], 0n, 0n]);
    assert.deepEqual(b.lockOf(s("c")), lock(s("c"), 210n, 3000n));
    // Nothing stays locked in memory: once rolled back, the keys read freely.
    assert.equal((await rollback(b, 200n, ["a", "b"])).error, undefined);
    assert.equal((await rollback(b, 210n, ["c"])).error, undefined);
    assert.equal(await valueAt(b, "a", 900n), "a0");
    assert.equal(await valueAt(b, "c", 900n), "c0");
    // A max_commit_ts that leaves room is honoured.
    const ok = await b.cmds.prewrite(asyncPrewrite(600n, ["a"], { maxCommitTs: 901n }), SCOPE);
    assert.equal(ok.minCommitTs, 901n);
  });

  test("a re-sent async-commit prewrite finds its locks and answers their min_commit_ts again (0 would mean: declined, commit as 2PC)", async (t) => {
    const { b } = open(t);
    await get(b, "x", 500n);
    const req = asyncPrewrite(200n, ["a", "b"]);
    const first = await b.cmds.prewrite(req, SCOPE);
    assert.equal(first.minCommitTs, 501n);
    const n = b.storage.written.length;
    await get(b, "x", 700n);
    const again = await b.cmds.prewrite(req, SCOPE);
    assert.deepEqual([again.errors, again.minCommitTs, again.onePcCommitTs], [[], 501n, 0n]);
    assert.equal(b.storage.written.length, n, "nothing written again");
    assert.equal(b.lockOf(s("a"))?.minCommitTs, 501n);
  });
});

describe("one-phase commit", () => {
  test("writes commit records at one_pc_commit_ts above the max read ts, no locks; values readable from there", async (t) => {
    const { b } = open(t);
    await get(b, "x", 500n);
    const r = await b.cmds.prewrite(onePc(200n, [mutation(s("a"), s("a200"), kvrpcpb.Op.Put), mutation(s("b"), undefined, kvrpcpb.Op.Del), mutation(s("n"), s("n200"), kvrpcpb.Op.Put)]), SCOPE);
    assert.deepEqual(r.errors, []);
    assert.equal(r.onePcCommitTs, 501n);
    assert.equal(r.minCommitTs, 0n);
    b.assertLens(5, 0, 6);
    assert.deepEqual(b.writeAt(s("a"), 501n), { kind: WriteKind.Put, startTs: 200n });
    assert.deepEqual(b.writeAt(s("b"), 501n), { kind: WriteKind.Delete, startTs: 200n });
    assert.deepEqual(b.writeAt(s("n"), 501n), { kind: WriteKind.Put, startTs: 200n });
    assert.equal(await valueAt(b, "a", 501n), "a200");
    assert.equal(await valueAt(b, "a", 500n), "a0");
    assert.equal(await valueAt(b, "b", 501n), undefined);
    assert.equal(await valueAt(b, "b", 500n), "b0");
    assert.equal(await valueAt(b, "n", 600n), "n200");
    // The transaction counts as committed at that ts.
    const st = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("a"), lockTs: 200n, currentTs: 600n }), SCOPE);
    assert.deepEqual([st.error, st.commitVersion], [undefined, 501n]);
  });

  test("a re-sent 1PC prewrite that already applied answers its commit ts again, not a conflict with itself", async (t) => {
    const { b } = open(t);
    await get(b, "x", 500n);
    const req = onePc(200n, [mutation(s("a"), s("a200"), kvrpcpb.Op.Put), mutation(s("b"), undefined, kvrpcpb.Op.Del)]);
    assert.equal((await b.cmds.prewrite(req, SCOPE)).onePcCommitTs, 501n);
    const n = b.storage.written.length;
    const again = await b.cmds.prewrite(req, SCOPE);
    assert.deepEqual([again.errors, again.onePcCommitTs, again.minCommitTs], [[], 501n, 0n]);
    assert.equal(b.storage.written.length, n, "nothing written again");
    b.assertLens(4, 0, 5);
    // A transaction committed by a resolver meanwhile (async commit) is not a conflict either.
    const pw = await b.cmds.prewrite(asyncPrewrite(300n, ["c"]), SCOPE);
    assert.equal((await commit(b, 300n, pw.minCommitTs, ["c"])).error, undefined);
    const late = await b.cmds.prewrite(asyncPrewrite(300n, ["c"]), SCOPE);
    assert.deepEqual([late.errors, late.minCommitTs], [[], pw.minCommitTs]);
    // Another transaction's newer write still conflicts, and so does our own rollback.
    assert.equal(errCase((await b.cmds.prewrite(onePc(250n, [mutation(s("a"), s("a250"), kvrpcpb.Op.Put)]), SCOPE)).errors[0]), "conflict");
    assert.equal((await rollback(b, 260n, ["d"])).error, undefined);
    assert.equal(errCase((await b.cmds.prewrite(onePc(260n, [mutation(s("d"), s("d260"), kvrpcpb.Op.Put)]), SCOPE)).errors[0]), "conflict");
  });

  test("a 1PC prewrite meeting another transaction's lock fails and writes nothing", async (t) => {
    const { b } = open(t);
    b.init([{ cf: "lock", key: s("b"), value: lock(s("b"), 150n, 3000n) }]);
    const r = await b.cmds.prewrite(onePc(200n, [mutation(s("a"), s("a200"), kvrpcpb.Op.Put), mutation(s("b"), s("b200"), kvrpcpb.Op.Put)]), SCOPE);
    assert.equal(mustLocked(r.errors[0]).lockVersion, 150n);
    assert.equal(r.onePcCommitTs, 0n);
    b.assertLens(3, 1, 3);
  });
});

describe("check secondary locks", () => {
  test("all secondaries locked: their locks are returned and nothing is written", async (t) => {
    const { b } = open(t);
    assert.deepEqual((await b.cmds.prewrite(asyncPrewrite(200n, ["a", "b", "c"]), SCOPE)).errors, []);
    const before = b.storage.written.length;
    const r = await checkSecondaries(b, 200n, ["b", "c"]);
    assert.equal(r.error, undefined);
    assert.equal(r.commitTs, 0n);
    assert.deepEqual(
      r.locks.map((l) => [l.key.toString(), l.primaryLock.toString(), l.lockVersion, l.minCommitTs, l.useAsyncCommit]),
      [
        ["b", "a", 200n, 201n, true],
        ["c", "a", 200n, 201n, true],
      ],
    );
    assert.equal(b.storage.written.length, before);
  });

  test("one secondary never prewritten: rolled back (a rollback record stops its late prewrite); the others keep their locks", async (t) => {
    const { b } = open(t);
    // The prewrite of "c" was lost.
    assert.deepEqual((await b.cmds.prewrite(asyncPrewrite(200n, ["a", "b"], { secondaries: [s("b"), s("c")] }), SCOPE)).errors, []);
    const r = await checkSecondaries(b, 200n, ["b", "c"]);
    assert.equal(r.error, undefined);
    assert.deepEqual([r.locks, r.commitTs], [[], 0n]);
    assert.deepEqual(b.writeAt(s("c"), 200n), { kind: WriteKind.Rollback, startTs: 200n });
    assert.equal(b.lockOf(s("b"))?.startTs, 200n);
    const late = await b.cmds.prewrite(asyncPrewrite(200n, ["c"], { primaryLock: s("a"), secondaries: [] }), SCOPE);
    assert.equal(errCase(late.errors[0]), "conflict");
    assert.equal(b.lockOf(s("c")), undefined);
    // Asked again: still rolled back, nothing more written.
    const n = b.storage.written.length;
    assert.deepEqual((await checkSecondaries(b, 200n, ["c", "b"])).locks, []);
    assert.equal(b.storage.written.length, n);
  });

  test("one secondary already committed: its commit ts is returned", async (t) => {
    const { b } = open(t);
    const pw = await b.cmds.prewrite(asyncPrewrite(200n, ["a", "b", "c"]), SCOPE);
    assert.equal((await commit(b, 200n, pw.minCommitTs + 5n, ["b"])).error, undefined);
    const r = await checkSecondaries(b, 200n, ["c", "b"]);
    assert.equal(r.error, undefined);
    assert.deepEqual([r.locks, r.commitTs], [[], pw.minCommitTs + 5n]);
    assert.equal(b.lockOf(s("c"))?.startTs, 200n, "the other lock is left for the resolver");
  });
});

describe("memory locks", () => {
  test("reads arriving while an async-commit prewrite is being written are answered Locked (get, batch get, scan) at or above its min_commit_ts", async (t) => {
    const { b, storage } = open(t);
    await get(b, "x", 500n);
    storage.hold();
    // "n" is new: nothing of it is in the engine until the write applies.
    const pending = b.cmds.prewrite(asyncPrewrite(200n, ["a", "b", "n"]), SCOPE);
    await storage.writeStarted;
    b.assertLens(3, 0, 3);
    // The commit ts may be as low as 501: a reader at 600 must not see the old values.
    const info = mustLocked((await get(b, "a", 600n)).error);
    assert.deepEqual([info.key.toString(), info.lockVersion, info.minCommitTs], ["a", 200n, 501n]);
    mustLocked((await get(b, "b", 600n)).error);
    assert.equal(await valueAt(b, "a", 500n), "a0", "below the min commit ts the reader goes past");
    const show = (ps: kvrpcpb.KvPair[]) => ps.map((p) => `${p.key.toString()}=${p.error?.kind?.$case ?? p.value.toString()}`);
    const bg = await b.cmds.batchGet(kvrpcpb.BatchGetRequest.fromPartial({ context: CTX, keys: [s("a"), s("b"), s("c"), s("n")], version: 600n }), SCOPE);
    assert.deepEqual(show(bg.pairs), ["a=locked", "b=locked", "c=c0", "n=locked"]);
    const scan = (p: Partial<kvrpcpb.ScanRequest>) => b.cmds.scan(kvrpcpb.ScanRequest.fromPartial({ context: CTX, limit: 10, version: 600n, ...p }), SCOPE);
    assert.deepEqual(show((await scan({})).pairs), ["a=locked", "b=locked", "c=c0", "n=locked"]);
    assert.deepEqual(show((await scan({ reverse: true })).pairs), ["n=locked", "c=c0", "b=locked", "a=locked"]);
    assert.deepEqual(show((await scan({ startKey: s("b"), endKey: s("n"), limit: 2 })).pairs), ["b=locked", "c=c0"]);
    assert.deepEqual(show((await scan({ version: 500n })).pairs), ["a=a0", "b=b0", "c=c0"]);
    storage.release();
    const r = await pending;
    assert.deepEqual([r.errors, r.minCommitTs], [[], 501n]);
    // Now the locks are in the lock CF.
    b.assertLens(6, 3, 3);
    mustLocked((await get(b, "a", 600n)).error);
  });

  test("a read arriving while a 1PC prewrite is being written is Locked; after it applies the read sees the new value", async (t) => {
    const { b, storage } = open(t);
    await get(b, "x", 500n);
    storage.hold();
    const pending = b.cmds.prewrite(onePc(200n, [mutation(s("a"), s("a200"), kvrpcpb.Op.Put), mutation(s("c"), undefined, kvrpcpb.Op.Del)]), SCOPE);
    await storage.writeStarted;
    mustLocked((await get(b, "a", 600n)).error);
    mustLocked((await get(b, "c", 600n)).error);
    storage.release();
    const r = await pending;
    assert.equal(r.onePcCommitTs, 501n);
    assert.equal(await valueAt(b, "a", 600n), "a200");
    assert.equal(await valueAt(b, "c", 600n), undefined);
    assert.equal(await valueAt(b, "a", 500n), "a0");
  });
});

describe("overlapped rollback", () => {
  test("a rollback of txn T landing on a 1PC commit record at T: the record stays readable and is flagged; T's prewrite conflicts and its status is rolled back", async (t) => {
    const { b } = open(t);
    await get(b, "x", 499n);
    const r = await b.cmds.prewrite(onePc(200n, [mutation(s("k"), s("k200"), kvrpcpb.Op.Put)]), SCOPE);
    const T = r.onePcCommitTs;
    assert.equal(T, 500n);
    assert.equal((await rollback(b, T, ["k"])).error, undefined);
    assert.deepEqual(b.writeAt(s("k"), T), { kind: WriteKind.Put, startTs: 200n, overlappedRollback: true });
    b.assertLens(4, 0, 4);
    assert.equal(await valueAt(b, "k", T), "k200");
    // A second rollback finds it rolled back already.
    const n = b.storage.written.length;
    assert.equal((await rollback(b, T, ["k"])).error, undefined);
    assert.equal(b.storage.written.length, n);
    // Transaction T is rolled back on k: its prewrite conflicts, its commit aborts, its status says so.
    const pw = await b.cmds.prewrite(onePc(T, [mutation(s("k"), s("kT"), kvrpcpb.Op.Put)], { tryOnePc: false }), SCOPE);
    assert.equal(errCase(pw.errors[0]), "conflict");
    assert.equal(errCase((await commit(b, T, T + 10n, ["k"])).error), "abort");
    const st = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("k"), lockTs: T, currentTs: 900n, rollbackIfNotExist: true }), SCOPE);
    assert.deepEqual([st.error, st.action, st.commitVersion, st.lockTtl], [undefined, kvrpcpb.Action.NoAction, 0n, 0n]);
    // The 1PC transaction itself is still committed at T.
    const st200 = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("k"), lockTs: 200n, currentTs: 900n }), SCOPE);
    assert.equal(st200.commitVersion, T);
    b.assertLens(4, 0, 4);
  });

  test("a commit landing on a rollback record of the transaction that started at its commit ts keeps the rollback", async (t) => {
    const { b } = open(t);
    assert.deepEqual((await b.cmds.prewrite(asyncPrewrite(200n, ["k"]), SCOPE)).errors, []);
    // Txn 600 is rolled back on k (k is locked by 200: the lock stays, the record is written).
    assert.equal((await rollback(b, 600n, ["k"])).error, undefined);
    assert.deepEqual(b.writeAt(s("k"), 600n), { kind: WriteKind.Rollback, startTs: 600n });
    assert.equal((await commit(b, 200n, 600n, ["k"])).error, undefined);
    assert.deepEqual(b.writeAt(s("k"), 600n), { kind: WriteKind.Put, startTs: 200n, overlappedRollback: true });
    assert.equal(await valueAt(b, "k", 600n), "k200");
    const st = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("k"), lockTs: 600n, currentTs: 900n, rollbackIfNotExist: true }), SCOPE);
    assert.deepEqual([st.action, st.commitVersion], [kvrpcpb.Action.NoAction, 0n]);
    assert.equal(errCase((await commit(b, 600n, 610n, ["k"])).error), "abort");
  });

  test("a transaction starting exactly at another's 1PC commit ts sees that write and may overwrite it (no conflict); its own rollback at its start ts still conflicts", async (t) => {
    const { b } = open(t);
    await get(b, "x", 499n);
    const T = (await b.cmds.prewrite(onePc(200n, [mutation(s("k"), s("k200"), kvrpcpb.Op.Put)]), SCOPE)).onePcCommitTs;
    assert.equal(T, 500n);
    // A TSO start ts can equal T: that snapshot contains the 1PC write.
    assert.equal(await valueAt(b, "k", T), "k200");
    const pw = await b.cmds.prewrite(onePc(T, [mutation(s("k"), s("kT"), kvrpcpb.Op.Put)], { tryOnePc: false }), SCOPE);
    assert.deepEqual(pw.errors, [], "a commit record of another transaction at exactly our start ts is in our snapshot: no conflict");
    assert.equal((await commit(b, T, T + 10n, ["k"])).error, undefined);
    assert.equal(await valueAt(b, "k", T + 10n), "kT");
    // Equality with our own rollback record is a conflict (tinykv.md's ≥ rule).
    assert.equal((await rollback(b, 700n, ["j"])).error, undefined);
    const late = await b.cmds.prewrite(onePc(700n, [mutation(s("j"), s("j700"), kvrpcpb.Op.Put)], { tryOnePc: false }), SCOPE);
    assert.equal(errCase(late.errors[0]), "conflict");
  });
});
