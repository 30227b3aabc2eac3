/**
 * TinyKV's commands4b_test.go on TxnCommands over a real engine (tinykv.md §4.3, §5.7): KvGet,
 * KvPrewrite and KvCommit, one test per TinyKV test, with its timestamps (start from 99 upwards,
 * commit = start + 10) and its checks of exact column-family contents and sizes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { kvrpcpb } from "@regionkv/proto";
import { LockKind, TS_MAX, WriteKind } from "../src/index.js";
import { SCOPE, TestBuilder, errCase, k, lock, mustLocked, mutation } from "./txn-fixture.js";

const put = (startTs: bigint) => ({ kind: WriteKind.Put, startTs });

/** TinyKV's fixture for the get tests: value [42] started at 50, committed at 54. */
function withValue54(t: Parameters<typeof TestBuilder.open>[0]): TestBuilder {
  const builder = TestBuilder.open(t);
  builder.init([
    { cf: "default", key: k(99), ts: 50n, value: k(42) },
    { cf: "write", key: k(99), ts: 54n, value: put(50n) },
  ]);
  return builder;
}

describe("commands 4B: KvGet", () => {
  test("TestGetValue4B: a committed value is read at TS_MAX", async (t) => {
    const builder = withValue54(t);
    const resp = await builder.cmds.get(builder.getRequest(k(99), TS_MAX), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.deepEqual(resp.value, k(42));
    assert.equal(resp.notFound, false);
  });

  test("TestGetValueTs4B: repeated reads at 100 all see the value committed at 54", async (t) => {
    const builder = withValue54(t);
    for (let i = 0; i < 3; i++) {
      const resp = await builder.cmds.get(builder.getRequest(k(99), 100n), SCOPE);
      assert.equal(resp.regionError, undefined);
      assert.equal(resp.error, undefined);
      assert.deepEqual(resp.value, k(42));
    }
  });

  test("TestGetEmpty4B: get on an empty store is NotFound", async (t) => {
    const builder = TestBuilder.open(t);
    const resp = await builder.cmds.get(builder.getRequest(k(100), TS_MAX), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.notFound, true);
    assert.equal(resp.value.length, 0);
  });

  test("TestGetNone4B: a missing key between two present ones is NotFound", async (t) => {
    const builder = withValue54(t);
    builder.init([
      { cf: "default", key: k(101), ts: 50n, value: k(42) },
      { cf: "write", key: k(101), ts: 54n, value: put(50n) },
    ]);
    const resp = await builder.cmds.get(builder.getRequest(k(100), TS_MAX), SCOPE);
    assert.equal(resp.regionError, undefined);
    assert.equal(resp.error, undefined);
    assert.equal(resp.notFound, true);
  });

  test("TestGetVersions4B: each read sees the newest version committed at or before it", async (t) => {
    const builder = withValue54(t);
    builder.init([
      { cf: "default", key: k(99), ts: 60n, value: k(43) },
      { cf: "write", key: k(99), ts: 66n, value: put(60n) },
      { cf: "default", key: k(99), ts: 120n, value: k(44) },
      { cf: "write", key: k(99), ts: 122n, value: put(120n) },
    ]);
    const expect: Array<[bigint, number | undefined]> = [
      [40n, undefined],
      [56n, 42],
      [60n, 42],
      [65n, 42],
      [66n, 43],
      [100n, 43],
    ];
    for (const [version, value] of expect) {
      const resp = await builder.cmds.get(builder.getRequest(k(99), version), SCOPE);
      assert.equal(resp.regionError, undefined);
      assert.equal(resp.error, undefined, `at ${version}`);
      if (value === undefined) assert.equal(resp.notFound, true, `at ${version}`);
      else assert.deepEqual(resp.value, k(value), `at ${version}`);
    }
  });

  test("TestGetDeleted4B: a delete committed at 66 hides the value from 66 until the put at 122", async (t) => {
    const builder = withValue54(t);
    builder.init([
      { cf: "write", key: k(99), ts: 66n, value: { kind: WriteKind.Delete, startTs: 60n } },
      { cf: "default", key: k(99), ts: 120n, value: k(44) },
      { cf: "write", key: k(99), ts: 122n, value: put(120n) },
    ]);
    const expect: Array<[bigint, number | undefined]> = [
      [54n, 42],
      [60n, 42],
      [65n, 42],
      [66n, undefined],
      [67n, undefined],
      [122n, 44],
    ];
    for (const [version, value] of expect) {
      const resp = await builder.cmds.get(builder.getRequest(k(99), version), SCOPE);
      assert.equal(resp.regionError, undefined);
      assert.equal(resp.error, undefined, `at ${version}`);
      if (value === undefined) assert.equal(resp.notFound, true, `at ${version}`);
      else {
        assert.equal(resp.notFound, false, `at ${version}`);
        assert.deepEqual(resp.value, k(value), `at ${version}`);
      }
    }
  });

  test("TestGetLocked4B: a lock at 200 is ignored by a read at 55 and blocks a read at 300", async (t) => {
    const builder = withValue54(t);
    builder.init([{ cf: "lock", key: k(99), value: lock(k(99), 200n) }]);
    const r0 = await builder.cmds.get(builder.getRequest(k(99), 55n), SCOPE);
    assert.equal(r0.regionError, undefined);
    assert.equal(r0.error, undefined);
    assert.deepEqual(r0.value, k(42));
    const r1 = await builder.cmds.get(builder.getRequest(k(99), 300n), SCOPE);
    assert.equal(r1.regionError, undefined);
    const info = mustLocked(r1.error);
    assert.deepEqual(info.key, k(99));
    assert.deepEqual(info.primaryLock, k(99));
    assert.equal(info.lockVersion, 200n);
    assert.equal(r1.value.length, 0);
  });
});

describe("commands 4B: KvPrewrite", () => {
  test("TestEmptyPrewrite4B: a prewrite without mutations succeeds and writes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const resp = await builder.cmds.prewrite(builder.prewriteRequest(), SCOPE);
    assert.deepEqual(resp.errors, []);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 0);
    assert.equal(builder.storage.written.length, 0);
  });

  test("TestSinglePrewrite4B: one put leaves its value at the start ts and a lock with primary, kind, ts and ttl", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(mutation(k(3), k(42), kvrpcpb.Op.Put));
    cmd.lockTtl = 1000n;
    const resp = await builder.cmds.prewrite(cmd, SCOPE);
    assert.deepEqual(resp.errors, []);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 1, 0);
    builder.assert([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts(), 1000n) },
    ]);
  });

  test("TestPrewriteLocked4B: a second transaction's prewrite of a locked key fails and changes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(mutation(k(3), k(42), kvrpcpb.Op.Put));
    const cmd2 = builder.prewriteRequest(mutation(k(3), k(53), kvrpcpb.Op.Put));
    const r0 = await builder.cmds.prewrite(cmd, SCOPE);
    const r1 = await builder.cmds.prewrite(cmd2, SCOPE);
    assert.deepEqual(r0.errors, []);
    assert.equal(r0.regionError, undefined);
    assert.equal(r1.errors.length, 1);
    assert.equal(mustLocked(r1.errors[0]).lockVersion, 100n);
    assert.equal(r1.regionError, undefined);
    builder.assertLens(1, 1, 0);
    builder.assert([
      { cf: "default", key: k(3), ts: 100n, value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), 100n) },
    ]);
  });

  test("TestPrewriteWritten4B: a write committed after the start ts (101 > 100) is a write conflict", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(mutation(k(3), k(42), kvrpcpb.Op.Put));
    builder.init([
      { cf: "default", key: k(3), ts: 80n, value: k(5) },
      { cf: "write", key: k(3), ts: 101n, value: put(80n) },
    ]);
    const resp = await builder.cmds.prewrite(cmd, SCOPE);
    assert.equal(resp.errors.length, 1);
    assert.equal(errCase(resp.errors[0]), "conflict");
    const c = (resp.errors[0]!.kind as { $case: "conflict"; value: kvrpcpb.WriteConflict }).value;
    assert.deepEqual(c, { startTs: 100n, conflictTs: 80n, key: k(3), primary: k(1), conflictCommitTs: 101n });
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 0, 1);
    builder.assert([{ cf: "default", key: k(3), ts: 80n }]);
  });

  test("TestPrewriteWrittenNoConflict4B: a write committed before the start ts (90 < 100) is no conflict", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(mutation(k(3), k(42), kvrpcpb.Op.Put));
    builder.init([
      { cf: "default", key: k(3), ts: 80n, value: k(5) },
      { cf: "write", key: k(3), ts: 90n, value: put(80n) },
    ]);
    const resp = await builder.cmds.prewrite(cmd, SCOPE);
    assert.deepEqual(resp.errors, []);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(2, 1, 1);
    builder.assert([
      { cf: "default", key: k(3), ts: 80n, value: k(5) },
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
    ]);
  });

  test("TestMultiplePrewrites4B: prewrites of different keys by two transactions both succeed", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(mutation(k(3), k(42), kvrpcpb.Op.Put));
    const cmd2 = builder.prewriteRequest(mutation(k(4), k(53), kvrpcpb.Op.Put));
    const r0 = await builder.cmds.prewrite(cmd, SCOPE);
    const r1 = await builder.cmds.prewrite(cmd2, SCOPE);
    assert.deepEqual(r0.errors, []);
    assert.deepEqual(r1.errors, []);
    assert.equal(r0.regionError, undefined);
    assert.equal(r1.regionError, undefined);
    builder.assertLens(2, 2, 0);
    builder.assert([
      { cf: "default", key: k(3), ts: 100n, value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), 100n) },
      { cf: "default", key: k(4), ts: 101n, value: k(53) },
      { cf: "lock", key: k(4), value: lock(k(1), 101n) },
    ]);
  });

  test("TestPrewriteOverwrite4B: two mutations of one key in one prewrite: the second wins", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(mutation(k(3), k(42), kvrpcpb.Op.Put), mutation(k(3), k(45), kvrpcpb.Op.Put));
    const resp = await builder.cmds.prewrite(cmd, SCOPE);
    assert.deepEqual(resp.errors, []);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 1, 0);
    builder.assert([
      { cf: "default", key: k(3), value: k(45) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
    ]);
  });

  test("TestPrewriteMultiple4B: a prewrite of several keys (one put, deleted, put again) locks each once", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.prewriteRequest(
      mutation(k(3), k(42), kvrpcpb.Op.Put),
      mutation(k(4), k(43), kvrpcpb.Op.Put),
      mutation(k(5), k(44), kvrpcpb.Op.Put),
      mutation(k(4), undefined, kvrpcpb.Op.Del),
      mutation(k(4), k(1, 3, 5), kvrpcpb.Op.Put),
      mutation(k(255), k(45), kvrpcpb.Op.Put),
    );
    const resp = await builder.cmds.prewrite(cmd, SCOPE);
    assert.deepEqual(resp.errors, []);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(4, 4, 0);
    builder.assert([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "default", key: k(4), value: k(1, 3, 5) },
      { cf: "default", key: k(5), value: k(44) },
      { cf: "default", key: k(255), value: k(45) },
      { cf: "lock", key: k(4), value: lock(k(1), builder.ts()) },
    ]);
  });
});

describe("commands 4B: KvCommit", () => {
  test("TestEmptyCommit4B: a commit of no keys succeeds and writes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const resp = await builder.cmds.commit(builder.commitRequest(), SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 0);
  });

  test("TestSingleCommit4B: committing a locked key writes a Put record at 110 and removes the lock; the value stays", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 0, 1);
    builder.assert([
      { cf: "write", key: k(3), ts: 110n, value: put(builder.ts()) },
      { cf: "default", key: k(3) },
    ]);
  });

  test("TestCommitOverwrite4B: committing over an older committed write adds a second record", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), ts: 80n, value: k(15) },
      { cf: "write", key: k(3), ts: 84n, value: put(80n) },
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(2, 0, 2);
    builder.assert([
      { cf: "write", key: k(3), ts: 110n, value: put(builder.ts()) },
      { cf: "write", key: k(3), ts: 84n },
      { cf: "default", key: k(3) },
      { cf: "default", key: k(3), ts: 80n },
    ]);
  });

  test("TestCommitMultipleKeys4B: three keys commit together; other committed data and another transaction's locks are untouched", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3), k(12, 4, 0), k(15));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
      { cf: "default", key: k(12, 4, 0), value: k(1, 1, 0, 0, 1, 5) },
      { cf: "lock", key: k(12, 4, 0), value: lock(k(1), builder.ts()) },
      { cf: "default", key: k(15), value: k(0) },
      { cf: "lock", key: k(15), value: lock(k(1), builder.ts()) },
      // Some committed data.
      { cf: "default", key: k(4), ts: 80n, value: k(15) },
      { cf: "write", key: k(4), ts: 84n, value: put(80n) },
      { cf: "default", key: k(3, 0), ts: 80n, value: k(150) },
      { cf: "write", key: k(3, 0), ts: 84n, value: put(80n) },
      // Another prewritten transaction.
      { cf: "default", key: k(2), ts: 99n, value: k(0, 0, 0, 8) },
      { cf: "lock", key: k(2), value: lock(k(1), 99n, 0n, LockKind.Delete) },
      { cf: "default", key: k(43, 6), ts: 99n, value: k(1, 1, 0, 0, 1, 5) },
      { cf: "lock", key: k(43, 6), value: lock(k(1), 99n, 0n, LockKind.Delete) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(7, 2, 5);
    builder.assert([
      { cf: "write", key: k(3), ts: 110n, value: put(builder.ts()) },
      { cf: "write", key: k(12, 4, 0), ts: 110n, value: put(builder.ts()) },
      { cf: "write", key: k(15), ts: 110n, value: put(builder.ts()) },
      { cf: "default", key: k(4), ts: 80n },
      { cf: "write", key: k(4), ts: 84n },
      { cf: "default", key: k(3, 0), ts: 80n },
      { cf: "write", key: k(3, 0), ts: 84n },
      { cf: "default", key: k(2), ts: 99n },
      { cf: "lock", key: k(2) },
      { cf: "default", key: k(43, 6), ts: 99n },
      { cf: "lock", key: k(43, 6) },
    ]);
  });

  test("TestRecommitKey4B: a key listed twice in one commit is committed once", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3), k(3));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "lock", key: k(3), value: lock(k(1), builder.ts()) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 0, 1);
    builder.assert([
      { cf: "write", key: k(3), ts: 110n, value: put(builder.ts()) },
      { cf: "default", key: k(3) },
    ]);
  });

  test("TestCommitConflictRollback4B: committing a rolled-back transaction fails and changes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3));
    builder.init([{ cf: "write", key: k(3), ts: 110n, value: { kind: WriteKind.Rollback, startTs: builder.ts() } }]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(errCase(resp.error), "abort");
    assert.equal(resp.regionError, undefined);
    builder.assertLens(0, 0, 1);
    builder.assert([{ cf: "write", key: k(3), ts: 110n }]);
    assert.equal(builder.storage.written.length, 0);
  });

  test("TestCommitConflictRace4B: a key locked by another transaction is retryable and stays locked", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), ts: 90n, value: k(110) },
      { cf: "lock", key: k(3), value: lock(k(1), 90n) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(errCase(resp.error), "retryable");
    assert.ok((resp.error!.kind as { value: string }).value.length > 0);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 1, 0);
    builder.assert([
      { cf: "lock", key: k(3) },
      { cf: "default", key: k(3), ts: 90n },
    ]);
  });

  test("TestCommitConflictRepeat4B: a re-sent commit of a committed key succeeds and writes nothing", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3));
    builder.init([
      { cf: "default", key: k(3), value: k(42) },
      { cf: "write", key: k(3), ts: 110n, value: put(builder.ts()) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(1, 0, 1);
    builder.assert([
      { cf: "write", key: k(3), ts: 110n },
      { cf: "default", key: k(3) },
    ]);
    assert.equal(builder.storage.written.length, 0);
  });

  test("TestCommitMissingPrewrite4B: committing a key never prewritten is a silent no-op", async (t) => {
    const builder = TestBuilder.open(t);
    const cmd = builder.commitRequest(k(3));
    builder.init([
      { cf: "default", key: k(4), ts: 80n, value: k(15) },
      { cf: "write", key: k(4), ts: 84n, value: put(80n) },
      { cf: "default", key: k(3, 0), ts: 80n, value: k(150) },
      { cf: "write", key: k(3, 0), ts: 84n, value: put(80n) },
    ]);
    const resp = await builder.cmds.commit(cmd, SCOPE);
    assert.equal(resp.error, undefined);
    assert.equal(resp.regionError, undefined);
    builder.assertLens(2, 0, 2);
    builder.assert([
      { cf: "default", key: k(4), ts: 80n },
      { cf: "write", key: k(4), ts: 84n },
      { cf: "default", key: k(3, 0), ts: 80n },
      { cf: "write", key: k(3, 0), ts: 84n },
    ]);
  });
});
