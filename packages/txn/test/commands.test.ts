/**
 * TxnCommands beyond TinyKV's tests, on a real engine: reads past resolved, Lock-kind and
 * pushed locks and at TS_MAX; scan direction, key_only, bounds and per-key errors; batch get;
 * Insert/CheckNotExists; re-sent and late prewrites; commit below min_commit_ts; check-txn-status
 * pushing min_commit_ts; heart beats; resolve-lock with keys and over many locks; latches.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { kvrpcpb } from "@regionkv/proto";
import { LockKind, RESOLVE_BATCH, TS_MAX, WriteKind } from "../src/index.js";
import { CTX, GatedStorage, SCOPE, TestBuilder, errCase, lock, mustLocked, mutation, s, turn, type Row } from "./txn-fixture.js";

/** Rows of a value started at `start` and committed at `commit`. */
function committed(key: Buffer, start: bigint, commit: bigint, value: string): Row[] {
  return [
    { cf: "default", key, ts: start, value: s(value) },
    { cf: "write", key, ts: commit, value: { kind: WriteKind.Put, startTs: start } },
  ];
}

const get = (b: TestBuilder, key: string, version: bigint, resolvedLocks: bigint[] = []) => b.cmds.get(b.getRequest(s(key), version, resolvedLocks), SCOPE);

function scanReq(p: Partial<kvrpcpb.ScanRequest> & { version: bigint }): kvrpcpb.ScanRequest {
  return kvrpcpb.ScanRequest.fromPartial({ context: CTX, limit: 100, ...p });
}

const show = (ps: kvrpcpb.KvPair[]) => ps.map((p) => (p.error ? `${p.key.toString()}!${p.error.kind?.$case}` : `${p.key.toString()}=${p.value.toString()}`));

function prewriteReq(startVersion: bigint, mutations: kvrpcpb.Mutation[], p: Partial<kvrpcpb.PrewriteRequest> = {}): kvrpcpb.PrewriteRequest {
  return kvrpcpb.PrewriteRequest.fromPartial({ context: CTX, primaryLock: mutations[0]?.key, startVersion, lockTtl: 3000n, mutations, ...p });
}

const commitReq = (startVersion: bigint, commitVersion: bigint, keys: Buffer[]) => kvrpcpb.CommitRequest.fromPartial({ context: CTX, startVersion, commitVersion, keys });

/** Five keys a..e committed at 20 (values "a1" …), plus whatever a test adds. */
function fiveKeys(t: TestContext): TestBuilder {
  const b = TestBuilder.open(t);
  b.init(["a", "b", "c", "d", "e"].flatMap((key) => committed(s(key), 10n, 20n, `${key}1`)));
  return b;
}

describe("reads", () => {
  test("KvGet, KvBatchGet and KvScan read past locks of transactions listed in context.resolvedLocks", async (t) => {
    const b = fiveKeys(t);
    b.init([{ cf: "lock", key: s("b"), value: lock(s("b"), 150n, 3000n) }]);
    mustLocked((await get(b, "b", 200n)).error);
    const r = await get(b, "b", 200n, [150n]);
    assert.equal(r.error, undefined);
    assert.equal(r.value.toString(), "b1");
    mustLocked((await get(b, "b", 200n, [149n, 151n])).error);
    const bg = await b.cmds.batchGet(kvrpcpb.BatchGetRequest.fromPartial({ context: { ...CTX, resolvedLocks: [150n] }, keys: [s("a"), s("b")], version: 200n }), SCOPE);
    assert.deepEqual(show(bg.pairs), ["a=a1", "b=b1"]);
    const sc = await b.cmds.scan(kvrpcpb.ScanRequest.fromPartial({ context: { ...CTX, resolvedLocks: [150n] }, limit: 10, version: 200n }), SCOPE);
    assert.deepEqual(show(sc.pairs), ["a=a1", "b=b1", "c=c1", "d=d1", "e=e1"]);
  });

  test("a Lock-kind lock never blocks; a lock whose min_commit_ts is above the read ts does not block", async (t) => {
    const b = fiveKeys(t);
    b.init([
      { cf: "lock", key: s("a"), value: lock(s("a"), 150n, 3000n, LockKind.Lock) },
      { cf: "lock", key: s("b"), value: lock(s("b"), 150n, 3000n, LockKind.Put, { minCommitTs: 250n }) },
    ]);
    assert.equal((await get(b, "a", 200n)).value.toString(), "a1");
    assert.equal((await get(b, "a", TS_MAX)).value.toString(), "a1");
    const below = await get(b, "b", 249n);
    assert.equal(below.error, undefined);
    assert.equal(below.value.toString(), "b1");
    const info = mustLocked((await get(b, "b", 250n)).error);
    assert.equal(info.minCommitTs, 250n);
    assert.equal(info.lockType, kvrpcpb.Op.Put);
  });

  test("a reader at TS_MAX is blocked by a primary's lock only, not by a secondary's", async (t) => {
    const b = fiveKeys(t);
    b.init([
      { cf: "lock", key: s("a"), value: lock(s("a"), 150n, 3000n) },
      { cf: "lock", key: s("c"), value: lock(s("a"), 150n, 3000n) },
    ]);
    const p = mustLocked((await get(b, "a", TS_MAX)).error);
    assert.deepEqual([p.key.toString(), p.primaryLock.toString(), p.lockVersion], ["a", "a", 150n]);
    const sec = await get(b, "c", TS_MAX);
    assert.equal(sec.error, undefined);
    assert.equal(sec.value.toString(), "c1");
    mustLocked((await get(b, "c", 150n)).error);
  });

  test("scan: reverse goes down from start_key (exclusive) to end_key (inclusive); key_only leaves values empty", async (t) => {
    const b = fiveKeys(t);
    const rev = await b.cmds.scan(scanReq({ startKey: s("d"), endKey: s("b"), reverse: true, version: 100n }), SCOPE);
    assert.deepEqual(show(rev.pairs), ["c=c1", "b=b1"]);
    const all = await b.cmds.scan(scanReq({ reverse: true, version: 100n, limit: 4 }), SCOPE);
    assert.deepEqual(show(all.pairs), ["e=e1", "d=d1", "c=c1", "b=b1"]);
    const ko = await b.cmds.scan(scanReq({ startKey: s("b"), limit: 2, keyOnly: true, version: 100n }), SCOPE);
    assert.deepEqual(
      ko.pairs.map((p) => [p.key.toString(), p.value.length, p.error]),
      [
        ["b", 0, undefined],
        ["c", 0, undefined],
      ],
    );
  });

  test("scan: a locked key yields a pair with its Locked error and the scan continues (the pair counts toward the limit)", async (t) => {
    const b = fiveKeys(t);
    b.init([
      { cf: "lock", key: s("b"), value: lock(s("b"), 150n, 3000n) },
      // Only a lock, no committed version: still reported.
      { cf: "lock", key: s("bb"), value: lock(s("b"), 150n, 3000n) },
      // Above the read ts: ignored.
      { cf: "lock", key: s("d"), value: lock(s("d"), 300n, 3000n) },
    ]);
    const r = await b.cmds.scan(scanReq({ version: 200n, limit: 5 }), SCOPE);
    assert.deepEqual(show(r.pairs), ["a=a1", "b!locked", "bb!locked", "c=c1", "d=d1"]);
    assert.equal(mustLocked(r.pairs[1]!.error).lockVersion, 150n);
    assert.deepEqual(mustLocked(r.pairs[2]!.error).key, s("bb"));
    const rev = await b.cmds.scan(scanReq({ version: 200n, reverse: true, limit: 10 }), SCOPE);
    assert.deepEqual(show(rev.pairs), ["e=e1", "d=d1", "c=c1", "bb!locked", "b!locked", "a=a1"]);
  });

  test("scan is clamped to [start_key, end_key): end excluded, keys and locks past it unseen, deleted keys skipped", async (t) => {
    const b = fiveKeys(t);
    b.init([
      { cf: "write", key: s("b"), ts: 30n, value: { kind: WriteKind.Delete, startTs: 25n } },
      { cf: "write", key: s("c"), ts: 31n, value: { kind: WriteKind.Rollback, startTs: 31n } },
      { cf: "lock", key: s("d"), value: lock(s("d"), 50n, 3000n) },
    ]);
    const r = await b.cmds.scan(scanReq({ startKey: s("a"), endKey: s("d"), version: 100n }), SCOPE);
    assert.deepEqual(show(r.pairs), ["a=a1", "c=c1"]);
    const r2 = await b.cmds.scan(scanReq({ startKey: s("b"), endKey: s("b"), version: 100n }), SCOPE);
    assert.deepEqual(r2.pairs, []);
    const r3 = await b.cmds.scan(scanReq({ startKey: s("c\0"), endKey: s("e"), version: 100n }), SCOPE);
    assert.deepEqual(show(r3.pairs), ["d!locked"]);
  });

  test("batchGet: duplicates answered once, locked keys carry their error, missing keys left out", async (t) => {
    const b = fiveKeys(t);
    b.init([{ cf: "lock", key: s("c"), value: lock(s("a"), 150n, 3000n) }]);
    const r = await b.cmds.batchGet(kvrpcpb.BatchGetRequest.fromPartial({ context: CTX, keys: [s("a"), s("c"), s("zz"), s("a"), s("e")], version: 200n }), SCOPE);
    assert.equal(r.regionError, undefined);
    assert.deepEqual(show(r.pairs), ["a=a1", "c!locked", "e=e1"]);
    assert.deepEqual(mustLocked(r.pairs[1]!.error).primaryLock, s("a"));
    const before = await b.cmds.batchGet(kvrpcpb.BatchGetRequest.fromPartial({ context: CTX, keys: [s("c"), s("c")], version: 100n }), SCOPE);
    assert.deepEqual(show(before.pairs), ["c=c1"]);
  });
});

describe("prewrite", () => {
  test("Insert and CheckNotExists on a key with a visible value fail with AlreadyExist and nothing is written", async (t) => {
    const b = fiveKeys(t);
    b.init([{ cf: "write", key: s("b"), ts: 30n, value: { kind: WriteKind.Delete, startTs: 25n } }]);
    const r = await b.cmds.prewrite(prewriteReq(100n, [mutation(s("x"), s("x1"), kvrpcpb.Op.Put), mutation(s("a"), s("a2"), kvrpcpb.Op.Insert)]), SCOPE);
    assert.equal(r.errors.length, 1);
    assert.deepEqual(r.errors[0], { kind: { $case: "alreadyExist", value: { key: s("a") } } });
    const r2 = await b.cmds.prewrite(prewriteReq(101n, [mutation(s("c"), undefined, kvrpcpb.Op.CheckNotExists)]), SCOPE);
    assert.equal(errCase(r2.errors[0]), "alreadyExist");
    b.assertLens(5, 0, 6);
    // A deleted key and a missing key may be inserted; CheckNotExists on a missing key writes nothing.
    const r3 = await b.cmds.prewrite(
      prewriteReq(102n, [mutation(s("b"), s("b2"), kvrpcpb.Op.Insert), mutation(s("y"), undefined, kvrpcpb.Op.CheckNotExists), mutation(s("z"), s("z1"), kvrpcpb.Op.Insert)]),
      SCOPE,
    );
    assert.deepEqual(r3.errors, []);
    b.assertLens(7, 2, 6);
    assert.deepEqual(b.lockOf(s("b")), lock(s("b"), 102n, 3000n));
    assert.deepEqual(b.lockOf(s("z")), lock(s("b"), 102n, 3000n));
    assert.equal(b.lockOf(s("y")), undefined);
  });

  test("a re-sent prewrite finds its own lock and is a no-op", async (t) => {
    const b = TestBuilder.open(t);
    const req = prewriteReq(100n, [mutation(s("k"), s("v"), kvrpcpb.Op.Put), mutation(s("j"), undefined, kvrpcpb.Op.Del)]);
    assert.deepEqual((await b.cmds.prewrite(req, SCOPE)).errors, []);
    assert.equal(b.storage.written.length, 1);
    const again = await b.cmds.prewrite(req, SCOPE);
    assert.deepEqual(again.errors, []);
    assert.equal(again.regionError, undefined);
    assert.equal(b.storage.written.length, 1, "nothing written the second time");
    b.assertLens(1, 2, 0);
    assert.deepEqual(b.lockOf(s("j")), lock(s("k"), 100n, 3000n, LockKind.Delete));
  });

  test("a prewrite after the transaction's own rollback is a write conflict", async (t) => {
    const b = TestBuilder.open(t);
    const rb = await b.cmds.batchRollback(kvrpcpb.BatchRollbackRequest.fromPartial({ context: CTX, startVersion: 100n, keys: [s("k")] }), SCOPE);
    assert.equal(rb.error, undefined);
    const r = await b.cmds.prewrite(prewriteReq(100n, [mutation(s("k"), s("v"), kvrpcpb.Op.Put)]), SCOPE);
    assert.equal(r.errors.length, 1);
    assert.deepEqual(r.errors[0], { kind: { $case: "conflict", value: { startTs: 100n, conflictTs: 100n, key: s("k"), primary: s("k"), conflictCommitTs: 100n } } });
    b.assertLens(0, 0, 1);
  });

  test("all or nothing: one conflicting key fails the request and no other key is locked", async (t) => {
    const b = fiveKeys(t);
    b.init([{ cf: "lock", key: s("c"), value: lock(s("c"), 90n, 3000n) }]);
    const r = await b.cmds.prewrite(
      prewriteReq(15n, [mutation(s("x"), s("x"), kvrpcpb.Op.Put), mutation(s("a"), s("a"), kvrpcpb.Op.Put), mutation(s("c"), s("c"), kvrpcpb.Op.Put)]),
      SCOPE,
    );
    assert.deepEqual(
      r.errors.map((e) => errCase(e)),
      ["conflict", "locked"],
    );
    b.assertLens(5, 1, 5);
  });
});

describe("commit", () => {
  test("a commit below the lock's min_commit_ts is CommitTsExpired and leaves the lock; at it, the commit succeeds", async (t) => {
    const b = TestBuilder.open(t);
    const pw = await b.cmds.prewrite(prewriteReq(100n, [mutation(s("k"), s("v"), kvrpcpb.Op.Put)], { minCommitTs: 130n }), SCOPE);
    assert.deepEqual(pw.errors, []);
    assert.equal(b.lockOf(s("k"))?.minCommitTs, 130n);
    const r = await b.cmds.commit(commitReq(100n, 120n, [s("k")]), SCOPE);
    assert.deepEqual(r.error, { kind: { $case: "commitTsExpired", value: { startTs: 100n, attemptedCommitTs: 120n, key: s("k"), minCommitTs: 130n } } });
    b.assertLens(1, 1, 0);
    assert.equal((await b.cmds.commit(commitReq(100n, 130n, [s("k")]), SCOPE)).error, undefined);
    b.assertLens(1, 0, 1);
    assert.deepEqual(b.writeAt(s("k"), 130n), { kind: WriteKind.Put, startTs: 100n });
    assert.equal((await get(b, "k", 130n)).value.toString(), "v");
    assert.equal((await get(b, "k", 129n)).notFound, true);
  });
});

describe("check txn status", () => {
  test("a caller's start ts pushes the lock's min_commit_ts (MinCommitTSPushed); the caller then reads past it and the commit needs a higher ts", async (t) => {
    const b = fiveKeys(t);
    assert.deepEqual((await b.cmds.prewrite(prewriteReq(100n, [mutation(s("a"), s("a2"), kvrpcpb.Op.Put)], { lockTtl: 1n << 40n }), SCOPE)).errors, []);
    mustLocked((await get(b, "a", 150n)).error);
    const req = kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("a"), lockTs: 100n, callerStartTs: 150n, currentTs: 150n });
    const r = await b.cmds.checkTxnStatus(req, SCOPE);
    assert.equal(r.error, undefined);
    assert.equal(r.action, kvrpcpb.Action.MinCommitTSPushed);
    assert.equal(r.lockTtl, 1n << 40n);
    assert.equal(r.commitVersion, 0n);
    assert.equal(r.lockInfo?.minCommitTs, 151n);
    assert.deepEqual(b.lockOf(s("a")), lock(s("a"), 100n, 1n << 40n, LockKind.Put, { minCommitTs: 151n }));
    // Asked again by the same reader: already pushed.
    const again = await b.cmds.checkTxnStatus(req, SCOPE);
    assert.equal(again.action, kvrpcpb.Action.NoAction);
    assert.equal(again.lockInfo?.minCommitTs, 151n);
    // The reader at 150 no longer waits for the transaction.
    const read = await get(b, "a", 150n);
    assert.equal(read.error, undefined);
    assert.equal(read.value.toString(), "a1");
    const low = await b.cmds.commit(commitReq(100n, 140n, [s("a")]), SCOPE);
    assert.equal(errCase(low.error), "commitTsExpired");
    assert.equal((await b.cmds.commit(commitReq(100n, 151n, [s("a")]), SCOPE)).error, undefined);
    assert.equal((await get(b, "a", 151n)).value.toString(), "a2");
    assert.equal((await get(b, "a", 150n)).value.toString(), "a1");
  });

  test("without rollback_if_not_exist, a transaction neither locked nor written is TxnNotFound and nothing is written", async (t) => {
    const b = TestBuilder.open(t);
    const r = await b.cmds.checkTxnStatus(kvrpcpb.CheckTxnStatusRequest.fromPartial({ context: CTX, primaryKey: s("p"), lockTs: 100n, currentTs: 200n }), SCOPE);
    assert.deepEqual(r.error, { kind: { $case: "txnNotFound", value: { startTs: 100n, primaryKey: s("p") } } });
    assert.equal(r.action, kvrpcpb.Action.NoAction);
    b.assertLens(0, 0, 0);
  });
});

describe("txn heart beat", () => {
  test("extends the primary lock's TTL, never shrinks it, and is TxnNotFound once the lock is gone or another's", async (t) => {
    const b = TestBuilder.open(t);
    assert.deepEqual((await b.cmds.prewrite(prewriteReq(100n, [mutation(s("p"), s("v"), kvrpcpb.Op.Put)]), SCOPE)).errors, []);
    const hb = (startVersion: bigint, adviseLockTtl: bigint) =>
      b.cmds.txnHeartBeat(kvrpcpb.TxnHeartBeatRequest.fromPartial({ context: CTX, primaryLock: s("p"), startVersion, adviseLockTtl }), SCOPE);
    const up = await hb(100n, 5000n);
    assert.deepEqual([up.error, up.lockTtl], [undefined, 5000n]);
    assert.deepEqual(b.lockOf(s("p")), lock(s("p"), 100n, 5000n));
    const down = await hb(100n, 1000n);
    assert.deepEqual([down.error, down.lockTtl], [undefined, 5000n]);
    assert.equal(b.lockOf(s("p"))?.ttlMs, 5000n);
    const other = await hb(99n, 9000n);
    assert.equal(errCase(other.error), "txnNotFound");
    assert.equal(b.lockOf(s("p"))?.ttlMs, 5000n);
    assert.equal((await b.cmds.commit(commitReq(100n, 110n, [s("p")]), SCOPE)).error, undefined);
    const gone = await hb(100n, 9000n);
    assert.deepEqual(gone.error, { kind: { $case: "txnNotFound", value: { startTs: 100n, primaryKey: s("p") } } });
    assert.equal(gone.lockTtl, 0n);
  });
});

describe("resolve lock", () => {
  test("with explicit keys only those keys are resolved; other locks of the transaction stay", async (t) => {
    const b = TestBuilder.open(t);
    const keys = [s("a"), s("b"), s("c")];
    assert.deepEqual((await b.cmds.prewrite(prewriteReq(100n, keys.map((key) => mutation(key, key, kvrpcpb.Op.Put))), SCOPE)).errors, []);
    const r = await b.cmds.resolveLock(kvrpcpb.ResolveLockRequest.fromPartial({ context: CTX, startVersion: 100n, commitVersion: 110n, keys: [s("a"), s("c"), s("zz")] }), SCOPE);
    assert.equal(r.error, undefined);
    b.assertLens(3, 1, 2);
    assert.deepEqual(b.writeAt(s("a"), 110n), { kind: WriteKind.Put, startTs: 100n });
    assert.deepEqual(b.writeAt(s("c"), 110n), { kind: WriteKind.Put, startTs: 100n });
    assert.deepEqual(b.lockOf(s("b")), lock(s("a"), 100n, 3000n));
    const rb = await b.cmds.resolveLock(kvrpcpb.ResolveLockRequest.fromPartial({ context: CTX, startVersion: 100n, keys: [s("b")] }), SCOPE);
    assert.equal(rb.error, undefined);
    b.assertLens(2, 0, 3);
    assert.deepEqual(b.writeAt(s("b"), 100n), { kind: WriteKind.Rollback, startTs: 100n });
  });

  test(`without keys, every lock of the transaction in the region is resolved, ${RESOLVE_BATCH} per raft command; other transactions' locks stay`, async (t) => {
    const b = TestBuilder.open(t);
    const n = 2 * RESOLVE_BATCH + 88;
    const rows: Row[] = [];
    for (let i = 0; i < n; i++) {
      const key = s(`k${String(i).padStart(4, "0")}`);
      rows.push({ cf: "default", key, ts: 100n, value: key }, { cf: "lock", key, value: lock(s("k0000"), 100n, 3000n) });
      // Interleaved locks of another transaction.
      if (i % 50 === 0) rows.push({ cf: "lock", key: Buffer.concat([key, s("-other")]), value: lock(s("o"), 101n, 3000n) });
    }
    b.init(rows);
    const others = Math.ceil(n / 50);
    b.assertLens(n, n + others, 0);
    const r = await b.cmds.resolveLock(kvrpcpb.ResolveLockRequest.fromPartial({ context: CTX, startVersion: 100n, commitVersion: 120n }), SCOPE);
    assert.equal(r.error, undefined);
    assert.equal(r.regionError, undefined);
    b.assertLens(n, others, n);
    assert.equal(b.storage.written.length, 3, "256 + 256 + 88 locks in three raft commands");
    assert.equal((await get(b, "k0599", 120n)).value.toString(), "k0599");
    assert.equal((await get(b, "k0000", 119n)).notFound, true);
  });
});

describe("latches", () => {
  test("two concurrent prewrites of one key by different transactions: exactly one succeeds, the other is Locked", async (t) => {
    let storage: GatedStorage | undefined;
    const b = TestBuilder.open(t, (e) => (storage = new GatedStorage(e)));
    storage!.hold();
    const first = b.cmds.prewrite(prewriteReq(100n, [mutation(s("k"), s("v100"), kvrpcpb.Op.Put)]), SCOPE);
    await storage!.writeStarted;
    const second = b.cmds.prewrite(prewriteReq(101n, [mutation(s("k"), s("v101"), kvrpcpb.Op.Put), mutation(s("j"), s("v101"), kvrpcpb.Op.Put)]), SCOPE);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    for (let i = 0; i < 5; i++) await turn();
    assert.equal(secondDone, false, "the second waits on the latch of k while the first is being written");
    storage!.release();
    const [r1, r2] = await Promise.all([first, second]);
    assert.deepEqual(r1.errors, []);
    assert.equal(r2.errors.length, 1);
    assert.equal(mustLocked(r2.errors[0]).lockVersion, 100n);
    assert.deepEqual(b.lockOf(s("k")), lock(s("k"), 100n, 3000n));
    b.assertLens(1, 1, 0);
    assert.equal(b.cmds.latches.heldCount, 0);
  });

  test("ungated: concurrent prewrites of one key race through latches to one winner", async (t) => {
    const b = TestBuilder.open(t);
    const results = await Promise.all(
      [100n, 101n, 102n, 103n].map((ts) => b.cmds.prewrite(prewriteReq(ts, [mutation(s("k"), s(`v${ts}`), kvrpcpb.Op.Put)]), SCOPE)),
    );
    assert.deepEqual(
      results.map((r) => r.errors.map((e) => errCase(e)).join()),
      ["", "locked", "locked", "locked"],
    );
    assert.equal(b.lockOf(s("k"))?.startTs, 100n);
    b.assertLens(1, 1, 0);
  });
});
