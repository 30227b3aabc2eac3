/**
 * MvccReader / MvccTxn on a real engine (tinykv.md §4.2, TinyKV's 4A transaction tests): value
 * visibility by commit ts, deletes, rollback records skipped, the write of a given transaction,
 * the most recent write, locks, and buffered writes landing in the right column families.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test, type TestContext } from "node:test";
import { Engine } from "@regionkv/engine";
import { LockKind, MvccReader, MvccTxn, TS_MAX, WriteKind, decodeLock, encodeKey } from "../src/index.js";

function openEngine(t: TestContext): Engine {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-txn-"));
  const e = Engine.open(dir);
  t.after(() => {
    e.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return e;
}

const b = (s: string) => Buffer.from(s);

/** Commit `value` (or a delete / rollback) for `key` started at `start`, committed at `commit`. */
function commit(e: Engine, key: string, start: bigint, commitTs: bigint, kind: WriteKind, value?: string): void {
  const txn = new MvccTxn(e, start);
  if (value !== undefined) txn.putValue(b(key), b(value));
  txn.putWrite(b(key), commitTs, { kind, startTs: start });
  e.write(txn.writes);
}

describe("MvccReader", () => {
  test("getValue: a write committed at 42 is invisible at 41 and visible at 42; the newest committed at or before the read wins", (t) => {
    const e = openEngine(t);
    commit(e, "k", 40n, 42n, WriteKind.Put, "v42");
    commit(e, "k", 51n, 52n, WriteKind.Put, "v52");
    const r = new MvccReader(e);
    assert.equal(r.getValue(b("k"), 41n), undefined);
    assert.equal(r.getValue(b("k"), 42n)?.toString(), "v42");
    assert.equal(r.getValue(b("k"), 50n)?.toString(), "v42");
    assert.equal(r.getValue(b("k"), 52n)?.toString(), "v52");
    assert.equal(r.getValue(b("k"), TS_MAX)?.toString(), "v52");
    assert.equal(r.getValue(b("k2"), TS_MAX), undefined, "another key sees nothing");
    assert.equal(r.getValue(b("j"), TS_MAX), undefined, "a key sorting before sees nothing");
  });

  test("getValue: a delete hides older values; rollback and lock records are skipped (also past a page of them)", (t) => {
    const e = openEngine(t);
    commit(e, "k", 10n, 11n, WriteKind.Put, "old");
    commit(e, "k", 60n, 66n, WriteKind.Delete);
    assert.equal(new MvccReader(e).getValue(b("k"), 66n), undefined);
    assert.equal(new MvccReader(e).getValue(b("k"), 65n)?.toString(), "old");
    // 40 rollbacks between 70 and 110, then the newest Put below them is still found.
    commit(e, "k", 68n, 69n, WriteKind.Put, "v69");
    for (let ts = 70n; ts < 110n; ts++) commit(e, "k", ts, ts, WriteKind.Rollback);
    commit(e, "k", 111n, 111n, WriteKind.Lock);
    assert.equal(new MvccReader(e).getValue(b("k"), 200n)?.toString(), "v69");
  });

  test("currentWrite finds the record of one transaction (commit or rollback); mostRecentWrite the newest of any", (t) => {
    const e = openEngine(t);
    commit(e, "k", 10n, 20n, WriteKind.Put, "a");
    commit(e, "k", 30n, 30n, WriteKind.Rollback);
    commit(e, "k", 40n, 45n, WriteKind.Delete);
    const r = new MvccReader(e);
    assert.deepEqual(r.currentWrite(b("k"), 10n), { write: { kind: WriteKind.Put, startTs: 10n }, commitTs: 20n });
    assert.deepEqual(r.currentWrite(b("k"), 30n), { write: { kind: WriteKind.Rollback, startTs: 30n }, commitTs: 30n });
    assert.equal(r.currentWrite(b("k"), 11n), undefined);
    assert.deepEqual(r.mostRecentWrite(b("k")), { write: { kind: WriteKind.Delete, startTs: 40n }, commitTs: 45n });
    assert.equal(r.mostRecentWrite(b("kk")), undefined);
  });

  test("a Put write whose value is missing is reported, not read as absent", (t) => {
    const e = openEngine(t);
    commit(e, "k", 10n, 20n, WriteKind.Put);
    assert.throws(() => new MvccReader(e).getValue(b("k"), 30n), /MVCC data missing/);
  });
});

describe("MvccTxn", () => {
  test("buffered writes go to the lock CF at the raw key and to default/write at the encoded key; nothing lands before the batch is written", (t) => {
    const e = openEngine(t);
    const txn = new MvccTxn(e, 100n);
    const lock = { kind: LockKind.Put, primary: b("p"), startTs: 100n, ttlMs: 3000n, minCommitTs: 0n, secondaries: undefined };
    txn.putLock(b("k"), lock);
    txn.putValue(b("k"), b("v"));
    assert.equal(txn.reader.getLock(b("k")), undefined, "not written yet");
    e.write(txn.writes);
    assert.deepEqual(decodeLock(e.get("lock", b("k"))!), lock);
    assert.equal(e.get("txn_default", encodeKey(b("k"), 100n))?.toString(), "v");
    const c = new MvccTxn(e, 100n);
    c.deleteLock(b("k"));
    c.putWrite(b("k"), 110n, { kind: WriteKind.Put, startTs: 100n });
    e.write(c.writes);
    const r = new MvccReader(e);
    assert.equal(r.getLock(b("k")), undefined);
    assert.equal(r.getValue(b("k"), 110n)?.toString(), "v");
    assert.deepEqual(new MvccTxn(e, 100n).currentWrite(b("k"))?.commitTs, 110n);
    const rb = new MvccTxn(e, 100n);
    rb.deleteValue(b("k"));
    e.write(rb.writes);
    assert.equal(e.get("txn_default", encodeKey(b("k"), 100n)), undefined);
  });
});
