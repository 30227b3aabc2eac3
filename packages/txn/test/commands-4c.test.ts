/**
 * TinyKV's commands4c_test.go on TxnCommands over a real engine (tinykv.md §4.3, §5.7):
 * KvBatchRollback, KvCheckTxnStatus, KvResolveLock and KvScan, one test per TinyKV test, with its
 * timestamps and its checks of exact column-family contents and sizes.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import { kvrpcpb } from "@regionkv/proto";
import { WriteKind } from "../src/index.js";
import { SCOPE, TestBuilder, errCase, k, lock } from "./txn-fixture.js";

const put = (startTs: bigint) => ({ kind: WriteKind.Put, startTs });
const rollback = (startTs: bigint) => ({ kind: WriteKind.Rollback, startTs });

describe("commands 4C: KvBatchRollback", () => {
  test("TestEmptyRollback4C: a rollback of no keys succeeds and writes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const resp = await builder.cmds.batchRollback(builder.rollbackRequest(), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 0);
  });

  test("TestRollback4C: rolling back a prewritten key removes lock and value and leaves a rollback record", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.rollbackRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
    ]);
    const resp = await builder.cmds.batchRollback(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 1);
    builder.assert([{ cf: "write", key: k(3), value: rollback(builder.ts()) }]);
  });

  test("TestRollbackDuplicateKeys4C: a key listed twice is rolled back once", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.rollbackRequest(k(3), k(15), k(3));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
      { cf: "default", key: k(15), value: k(0) },
      { cf: "lock", key: k(15), value: lock(k(1), builder.ts()) },
    ]);
    const resp = await builder.cmds.batchRollback(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 2);
    builder.assert([
      { cf: "write", key: k(3), value: rollback(builder.ts()) },
      { cf: "write", key: k(15), value: rollback(builder.ts()) },
    ]);
  });

  test("TestRollbackMissingPrewrite4C: rolling back a key never prewritten still leaves a rollback record", async (t) => {
    const builder = TestBuilder.open(t);
    const resp = await builder.cmds.batchRollback(builder.rollbackRequest(k(3)), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 1);
    builder.assert([{ cf: "write", key: k(3), value: rollback(builder.ts()) }]);
  });

  test("TestRollbackCommitted4C: rolling back a committed transaction is an abort and changes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.rollbackRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "write", key: k(3), ts: 110n, value: put(builder.ts()) },
    ]);
    const resp = await builder.cmds.batchRollback(cmd, SCOPE);
    assert.equal(errCase(resp.error), "abort");
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 0, 1);
    builder.assert([
      { cf: "default", key: k(3) },
      { cf: "write", key: k(3), ts: 110n },
    ]);
  });

  test("TestRollbackDuplicate4C: rolling back an already rolled-back transaction succeeds and writes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.rollbackRequest(k(3));
    builder.init([{ cf: "write", key: k(3), ts: 100n, value: rollback(builder.ts()) }]);
    const resp = await builder.cmds.batchRollback(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 1);
    builder.assert([{ cf: "write", key: k(3), ts: 100n }]);
    assert.equal(builder.storage.written.length, 0);
  });

  test("TestRollbackOtherTxn4C: another transaction's lock stays; our rollback record is still written", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.rollbackRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), ts: 80n, value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), 80n) },
    ]);
    const resp = await builder.cmds.batchRollback(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 1, 1);
    builder.assert([
      { cf: "default", key: k(3), ts: 80n },
      { cf: "lock", key: k(3) },
      { cf: "write", key: k(3), ts: 100n, value: rollback(builder.ts()) },
    ]);
  });
});

describe("commands 4C: KvCheckTxnStatus", () => {
  test("TestCheckTxnStatusTtlExpired4C: an expired primary lock (TTL 8 ms, 4194304 ms later) is rolled back", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.checkTxnStatusRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), ts: cmd.lockTs, value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(3), cmd.lockTs, 8n) },
    ]);
    const resp = await builder.cmds.checkTxnStatus(cmd, SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.action, kvrpcpb.Action.TTLExpireRollback);
    assert.equal(resp.lockTtl, 0n);
    assert.equal(resp.commitVersion, 0n);
    builder.assertLens(0, 0, 1);
    builder.assert([{ cf: "write", key: k(3), ts: cmd.lockTs, value: rollback(cmd.lockTs) }]);
  });

  test("TestCheckTxnStatusTtlNotExpired4C: a live primary lock (TTL 2^32+8 ms) is left alone and its TTL returned", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.checkTxnStatusRequest(k(3));
    const ttl = (1n << 32n) + 8n;
    builder.init([
      { cf: "default", key: k(3), ts: cmd.lockTs, value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(3), cmd.lockTs, ttl) },
    ]);
    const resp = await builder.cmds.checkTxnStatus(cmd, SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.action, kvrpcpb.Action.NoAction);
    assert.equal(resp.lockTtl, ttl);
    assert.equal(resp.commitVersion, 0n);
    builder.assertLens(1, 1, 0);
    builder.assert([
      { cf: "default", key: k(3), ts: cmd.lockTs },
      { cf: "lock", key: k(3) },
    ]);
  });

  test("TestCheckTxnStatusRolledBack4C: a rolled-back transaction reports NoAction and commit 0; another transaction's lock stays", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.checkTxnStatusRequest(k(3));
    const otherTs = (8n << 40n) | (builder.ts() & 0xffn);
    builder.init([
      { cf: "default", key: k(3), ts: cmd.lockTs, value: k(42) },
      { cf: "write", key: k(3), ts: cmd.lockTs, value: rollback(cmd.lockTs) },
      { cf: "lock", key: k(3), value: lock(k(3), otherTs, 8n) },
    ]);
    const resp = await builder.cmds.checkTxnStatus(cmd, SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.action, kvrpcpb.Action.NoAction);
    assert.equal(resp.commitVersion, 0n);
    assert.equal(resp.lockTtl, 0n);
    builder.assertLens(1, 1, 1);
    builder.assert([
      { cf: "default", key: k(3), ts: cmd.lockTs },
      { cf: "write", key: k(3), ts: cmd.lockTs },
      { cf: "lock", key: k(3) },
    ]);
    assert.equal(builder.storage.written.length, 0);
  });

  test("TestCheckTxnStatusCommitted4C: a committed transaction reports its commit ts", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.checkTxnStatusRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), ts: cmd.lockTs, value: k(42) },
      { cf: "write", key: k(3), ts: cmd.lockTs, value: put(cmd.lockTs) },
    ]);
    const resp = await builder.cmds.checkTxnStatus(cmd, SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.action, kvrpcpb.Action.NoAction);
    assert.equal(resp.commitVersion, (5n << 40n) | (builder.ts() & 0xffn));
    builder.assertLens(1, 0, 1);
    builder.assert([
      { cf: "default", key: k(3), ts: cmd.lockTs },
      { cf: "write", key: k(3), ts: cmd.lockTs },
    ]);
  });

  test("TestCheckTxnStatusNoLockNoWrite4C: neither lock nor record: a rollback record is written (LockNotExistRollback)", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.checkTxnStatusRequest(k(3));
    const resp = await builder.cmds.checkTxnStatus(cmd, SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.action, kvrpcpb.Action.LockNotExistRollback);
    builder.assertLens(0, 0, 1);
    builder.assert([{ cf: "write", key: k(3), ts: cmd.lockTs, value: rollback(cmd.lockTs) }]);
  });
});

/** TinyKV's resolve fixture: txn 100 locks [3] and [7]; txn 110 locks [200]. */
function resolveFixture(t: TestContext): TestBuilder {
  const builder = TestBuilder.open(t);
  builder.init([
    { cf: "default", key: k(3), ts: 100n, value: k(42) },
    { cf: "lock", key: k(3), value: lock(k(3), 100n) },
    { cf: "default", key: k(7), ts: 100n, value: k(43) },
    { cf: "lock", key: k(7), value: lock(k(3), 100n) },
    { cf: "default", key: k(200), ts: 110n, value: k(44) },
    { cf: "lock", key: k(200), value: lock(k(200), 110n) },
  ]);
  return builder;
}

/** TinyKV's fixture for the "written" resolve tests: txn 100 has no locks left, only records on [201]. */
function resolveWrittenFixture(t: TestContext): TestBuilder {
  const builder = TestBuilder.open(t);
  builder.init([
    { cf: "default", key: k(3), ts: 100n, value: k(42) },
    { cf: "write", key: k(201), ts: 120n, value: put(100n) },
    { cf: "default", key: k(7), ts: 100n, value: k(43) },
    { cf: "write", key: k(201), ts: 100n, value: rollback(100n) },
    { cf: "default", key: k(200), ts: 110n, value: k(44) },
    { cf: "lock", key: k(200), value: lock(k(200), 110n) },
  ]);
  return builder;
}

const untouchedWritten = [
  { cf: "default" as const, key: k(3), ts: 100n },
  { cf: "write" as const, key: k(201), ts: 120n },
  { cf: "default" as const, key: k(7), ts: 100n },
  { cf: "write" as const, key: k(201), ts: 100n },
  { cf: "default" as const, key: k(200), ts: 110n },
  { cf: "lock" as const, key: k(200) },
];

describe("commands 4C: KvResolveLock", () => {
  test("TestEmptyResolve4C: resolving a transaction without locks succeeds and writes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const resp = await builder.cmds.resolveLock(builder.resolveRequest(0n, 0n), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 0);
  });

  test("TestResolveCommit4C: every lock of txn 100 is committed at 120; txn 110's lock stays", async (t) => {
    const builder = resolveFixture(t);
    const resp = await builder.cmds.resolveLock(builder.resolveRequest(100n, 120n), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(3, 1, 2);
    builder.assert([
      { cf: "default", key: k(3), ts: 100n },
      { cf: "write", key: k(3), ts: 120n, value: put(100n) },
      { cf: "default", key: k(7), ts: 100n },
      { cf: "write", key: k(7), ts: 120n, value: put(100n) },
      { cf: "default", key: k(200), ts: 110n },
      { cf: "lock", key: k(200) },
    ]);
  });

  test("TestResolveRollback4C: every lock of txn 100 is rolled back; txn 110's lock stays", async (t) => {
    const builder = resolveFixture(t);
    const resp = await builder.cmds.resolveLock(builder.resolveRequest(100n, 0n), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 1, 2);
    builder.assert([
      { cf: "write", key: k(3), ts: 100n, value: rollback(100n) },
      { cf: "write", key: k(7), ts: 100n, value: rollback(100n) },
      { cf: "default", key: k(200), ts: 110n },
      { cf: "lock", key: k(200) },
    ]);
  });

  test("TestResolveCommitWritten4C: committing a transaction with no locks left changes nothing", async (t) => {
    const builder = resolveWrittenFixture(t);
    const resp = await builder.cmds.resolveLock(builder.resolveRequest(100n, 120n), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(3, 1, 2);
    builder.assert(untouchedWritten);
    assert.equal(builder.storage.written.length, 0);
  });

  test("TestResolveRollbackWritten4C: rolling back a transaction with no locks left changes nothing", async (t) => {
    const builder = resolveWrittenFixture(t);
    const resp = await builder.cmds.resolveLock(builder.resolveRequest(100n, 0n), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(3, 1, 2);
    builder.assert(untouchedWritten);
    assert.equal(builder.storage.written.length, 0);
  });
});

/** TinyKV's builderForScan: values committed before 100, after 100, and a key deleted and replaced. */
function scanFixture(t: TestContext): TestBuilder {
  const builder = TestBuilder.open(t);
  const committed = (key: Buffer, start: bigint, commit: bigint, value: number) => [
    { cf: "default" as const, key, ts: start, value: k(value) },
    { cf: "write" as const, key, ts: commit, value: put(start) },
  ];
  builder.init([
    // Committed before 100.
    ...committed(k(1), 80n, 99n, 50),
    ...committed(k(1, 23), 80n, 99n, 55),
    ...committed(k(3), 80n, 99n, 51),
    ...committed(k(3, 45), 80n, 99n, 56),
    ...committed(k(3, 46), 80n, 99n, 57),
    ...committed(k(3, 47), 80n, 99n, 58),
    ...committed(k(3, 48), 80n, 99n, 59),
    ...committed(k(4), 80n, 99n, 52),
    ...committed(k(120), 80n, 99n, 53),
    ...committed(k(199), 80n, 99n, 54),
    // Committed after 100.
    ...committed(k(4, 45), 110n, 116n, 58),
    ...committed(k(4, 46), 110n, 116n, 57),
    ...committed(k(4, 47), 110n, 116n, 58),
    ...committed(k(4, 48), 110n, 116n, 59),
    // Committed after 100, but started before.
    ...committed(k(5, 45), 97n, 101n, 60),
    ...committed(k(5, 46), 97n, 101n, 61),
    ...committed(k(5, 47), 97n, 101n, 62),
    ...committed(k(5, 48), 97n, 101n, 63),
    // A deleted value and replaced value.
    ...committed(k(150), 80n, 99n, 42),
    { cf: "write", key: k(150), ts: 101n, value: { kind: WriteKind.Delete, startTs: 97n } },
    ...committed(k(150), 110n, 116n, 64),
  ]);
  return builder;
}

const pairs = (resp: kvrpcpb.ScanResponse) => resp.pairs.map((p) => [[...p.key], [...p.value], p.error?.kind?.$case]);

describe("commands 4C: KvScan", () => {
  test("TestScanEmpty4C: a scan past the last key returns nothing", async (t) => {
    const builder = scanFixture(t);
    const resp = await builder.cmds.scan(builder.scanRequest(k(200), 10000), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.deepEqual(resp.pairs, []);
  });

  test("TestScanLimitZero4C: limit 0 returns nothing", async (t) => {
    const builder = scanFixture(t);
    const resp = await builder.cmds.scan(builder.scanRequest(k(3), 0), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.deepEqual(resp.pairs, []);
  });

  test("TestScanAll4C: a scan from the start at 100 returns the 11 values committed by then", async (t) => {
    const builder = scanFixture(t);
    const resp = await builder.cmds.scan(builder.scanRequest(k(0), 10000), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.deepEqual(pairs(resp), [
      [[1], [50], undefined],
      [[1, 23], [55], undefined],
      [[3], [51], undefined],
      [[3, 45], [56], undefined],
      [[3, 46], [57], undefined],
      [[3, 47], [58], undefined],
      [[3, 48], [59], undefined],
      [[4], [52], undefined],
      [[120], [53], undefined],
      [[150], [42], undefined],
      [[199], [54], undefined],
    ]);
  });

  test("TestScanLimit4C: a scan from [2] with limit 6 returns [3] … [4]", async (t) => {
    const builder = scanFixture(t);
    const resp = await builder.cmds.scan(builder.scanRequest(k(2), 6), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.deepEqual(pairs(resp), [
      [[3], [51], undefined],
      [[3, 45], [56], undefined],
      [[3, 46], [57], undefined],
      [[3, 47], [58], undefined],
      [[3, 48], [59], undefined],
      [[4], [52], undefined],
    ]);
  });

  test("TestScanDeleted4C: [150] is seen at 100, gone at 105 (deleted at 101), replaced at 120", async (t) => {
    const builder = scanFixture(t);
    const at = async (version: bigint) => {
      const req = builder.scanRequest(k(100), 10000);
      req.version = version;
      const resp = await builder.cmds.scan(req, SCOPE);
      assert.equal(resp.regionError, undefined);
      return pairs(resp);
    };
    assert.deepEqual(await at(100n), [
      [[120], [53], undefined],
      [[150], [42], undefined],
      [[199], [54], undefined],
    ]);
    assert.deepEqual(await at(105n), [
      [[120], [53], undefined],
      [[199], [54], undefined],
    ]);
    assert.deepEqual(await at(120n), [
      [[120], [53], undefined],
      [[150], [64], undefined],
      [[199], [54], undefined],
    ]);
  });
});
