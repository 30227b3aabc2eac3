/**
 * Engine behaviour on a real SQLite file: column families, scans in memcmp order, batch
 * atomicity, the raft log, state tables, read snapshots, sizes and reopen.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { raft_serverpb } from "@regionkv/proto";
import { DB_FILE, Engine, EngineError, SCHEMA_VERSION, WriteBatch, type KvPair, type LogEntry, type WriteOp } from "../src/index.js";
import { HAS_PROC_FD, b, bytes, mustThrowEngineError, openFdCount, tempDir } from "./helpers.js";

/** An engine in a fresh temp dir, closed and removed when the test ends. */
function openEngine(t: { after(fn: () => void): void }): Engine {
  const dir = tempDir(t);
  const e = Engine.open(dir);
  t.after(() => e.close());
  return e;
}

function put(e: Engine, cf: "default" | "lock" | "write", key: Uint8Array, value: Uint8Array): void {
  e.write(new WriteBatch().put(cf, key, value));
}

/** Keys of a scan result as strings. */
function keys(pairs: KvPair[]): string[] {
  return pairs.map((p) => p.key.toString());
}

/** Keys and values of a scan result as "key=value". */
function kvs(pairs: KvPair[]): string[] {
  return pairs.map((p) => `${p.key.toString()}=${p.value.toString()}`);
}

function entry(index: number, term: number, data = `e${index}`, type = 0): LogEntry {
  return { index, term, type, data: b(data) };
}

/** "index/term" of each entry. */
function idxTerms(entries: LogEntry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}`);
}

function applyState(applied: bigint, truncIndex = 0n, truncTerm = 0n): raft_serverpb.RaftApplyState {
  return raft_serverpb.RaftApplyState.fromPartial({ appliedIndex: applied, truncatedState: { index: truncIndex, term: truncTerm } });
}

function regionState(id: bigint, start: string, end: string, state = raft_serverpb.PeerState.Normal): raft_serverpb.RegionLocalState {
  return raft_serverpb.RegionLocalState.fromPartial({
    state,
    region: {
      id,
      startKey: b(start),
      endKey: b(end),
      regionEpoch: { confVer: 2n, version: 3n },
      peers: [
        { id: id * 10n + 1n, storeId: 1n },
        { id: id * 10n + 2n, storeId: 2n },
      ],
    },
  });
}

function raftState(term: bigint, commit: bigint, last: bigint): raft_serverpb.RaftLocalState {
  return raft_serverpb.RaftLocalState.fromPartial({ hardState: { term, vote: 2n, commit }, lastIndex: last, lastTerm: term });
}

describe("column families", () => {
  test("put then get returns the value; an absent key reads as undefined", (t) => {
    const e = openEngine(t);
    put(e, "default", b("k1"), b("v1"));
    assert.deepEqual(e.get("default", b("k1")), b("v1"));
    assert.equal(e.get("default", b("k2")), undefined);
  });

  test("keys and values are arbitrary bytes, including 0x00 and 0xff and an empty value", (t) => {
    const e = openEngine(t);
    put(e, "default", bytes(0x00, 0xff, 0x00), bytes(0xff, 0x00));
    put(e, "default", bytes(0x01), Buffer.alloc(0));
    assert.deepEqual(e.get("default", bytes(0x00, 0xff, 0x00)), bytes(0xff, 0x00));
    assert.deepEqual(e.get("default", bytes(0x01)), Buffer.alloc(0));
    assert.equal(e.get("default", bytes(0x00, 0xff)), undefined);
  });

  test("a put on an existing key replaces its value", (t) => {
    const e = openEngine(t);
    put(e, "default", b("k"), b("old"));
    put(e, "default", b("k"), b("new"));
    assert.deepEqual(e.get("default", b("k")), b("new"));
    assert.equal(e.scan("default", b(""), b("")).length, 1);
  });

  test("column families are isolated: the same key holds a different value in each, and a key in one is absent from the others", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().put("default", b("k"), b("d")).put("lock", b("k"), b("l")).put("write", b("k"), b("w")).put("lock", b("only-lock"), b("x")));
    assert.deepEqual(e.get("default", b("k")), b("d"));
    assert.deepEqual(e.get("lock", b("k")), b("l"));
    assert.deepEqual(e.get("write", b("k")), b("w"));
    assert.deepEqual(e.get("lock", b("only-lock")), b("x"));
    assert.equal(e.get("default", b("only-lock")), undefined);
    assert.equal(e.get("write", b("only-lock")), undefined);
  });

  test("delete removes the key only from its own column family", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().put("default", b("k"), b("d")).put("lock", b("k"), b("l")).put("write", b("k"), b("w")));
    e.write(new WriteBatch().delete("lock", b("k")));
    assert.equal(e.get("lock", b("k")), undefined);
    assert.deepEqual(e.get("default", b("k")), b("d"));
    assert.deepEqual(e.get("write", b("k")), b("w"));
  });

  test("deleting an absent key is a no-op that does not fail", (t) => {
    const e = openEngine(t);
    put(e, "default", b("a"), b("1"));
    e.write(new WriteBatch().delete("default", b("zz")));
    assert.deepEqual(keys(e.scan("default", b(""), b(""))), ["a"]);
  });

  test("deleteRange with an end bound removes [start, end): start is removed, end and keys outside stay, other cfs untouched", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const k of ["a", "b", "b\x00", "c", "d", "e"]) w.put("default", b(k), b(k)).put("write", b(k), b(k));
    e.write(w);
    e.write(new WriteBatch().deleteRange("default", b("b"), b("d")));
    assert.deepEqual(keys(e.scan("default", b(""), b(""))), ["a", "d", "e"]);
    assert.deepEqual(keys(e.scan("write", b(""), b(""))), ["a", "b", "b\x00", "c", "d", "e"]);
  });

  test("deleteRange with an empty end removes every key from start to the end of the cf, and nothing in other cfs", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const k of ["a", "b", "c"]) w.put("lock", b(k), b(k)).put("default", b(k), b(k));
    w.put("lock", bytes(0xff, 0xff), b("high"));
    e.write(w);
    e.write(new WriteBatch().deleteRange("lock", b("b"), Buffer.alloc(0)));
    assert.deepEqual(keys(e.scan("lock", b(""), b(""))), ["a"]);
    assert.deepEqual(keys(e.scan("default", b(""), b(""))), ["a", "b", "c"]);
  });

  test("deleteRange from an empty start with an empty end clears the whole cf", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().put("default", bytes(0x00), b("x")).put("default", b("m"), b("y")).put("write", b("m"), b("z")));
    e.write(new WriteBatch().deleteRange("default", Buffer.alloc(0), Buffer.alloc(0)));
    assert.equal(e.scan("default", b(""), b("")).length, 0);
    assert.deepEqual(e.get("write", b("m")), b("z"));
  });
});

describe("scan", () => {
  test("scan returns keys in memcmp byte order: a prefix sorts before its extensions and bytes compare unsigned", (t) => {
    const e = openEngine(t);
    const inOrder = [[0x00], [0x00, 0x00], [0x01], [0x01, 0x00], [0x01, 0x00, 0x00], [0x01, 0x01], [0x7f], [0x80], [0xfe, 0xff], [0xff], [0xff, 0x00]];
    const w = new WriteBatch();
    // Insert in a scrambled order so storage order cannot be mistaken for key order.
    for (const i of [5, 0, 9, 3, 10, 1, 7, 2, 8, 4, 6]) w.put("default", Buffer.from(inOrder[i]!), bytes(i));
    e.write(w);
    const got = e.scan("default", Buffer.alloc(0), Buffer.alloc(0)).map((p) => [...p.key]);
    assert.deepEqual(got, inOrder);
    const rev = e.scan("default", Buffer.alloc(0), Buffer.alloc(0), { reverse: true }).map((p) => [...p.key]);
    assert.deepEqual(rev, [...inOrder].reverse());
  });

  test("scan bounds are [start, end): start inclusive, end exclusive, and an empty end is unbounded", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const k of ["a", "b", "ba", "c", "d"]) w.put("default", b(k), b(`v-${k}`));
    e.write(w);
    assert.deepEqual(kvs(e.scan("default", b("b"), b("c"))), ["b=v-b", "ba=v-ba"]);
    assert.deepEqual(keys(e.scan("default", b("b"), b(""))), ["b", "ba", "c", "d"]);
    assert.deepEqual(keys(e.scan("default", b(""), b("b"))), ["a"]);
    assert.deepEqual(keys(e.scan("default", b("bb"), b("c"))), []);
    assert.deepEqual(keys(e.scan("default", b("c"), b("c"))), []);
  });

  test("limit caps the number of pairs from the start of the range; limit 0 returns none", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const k of ["a", "b", "c", "d", "e"]) w.put("default", b(k), b(k));
    e.write(w);
    assert.deepEqual(keys(e.scan("default", b("b"), b(""), { limit: 2 })), ["b", "c"]);
    assert.deepEqual(keys(e.scan("default", b(""), b(""), { limit: 100 })), ["a", "b", "c", "d", "e"]);
    assert.deepEqual(keys(e.scan("default", b(""), b(""), { limit: 0 })), []);
  });

  test("reverse scans from the end of the range downwards, and with a limit returns the highest keys below end", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const k of ["a", "b", "c", "d", "e"]) w.put("default", b(k), b(k));
    e.write(w);
    assert.deepEqual(keys(e.scan("default", b("b"), b("e"), { reverse: true })), ["d", "c", "b"]);
    assert.deepEqual(keys(e.scan("default", b("a"), b("e"), { reverse: true, limit: 2 })), ["d", "c"]);
    assert.deepEqual(keys(e.scan("default", b(""), b(""), { reverse: true, limit: 1 })), ["e"]);
  });

  test("keysOnly returns every key in range with an empty value", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().put("default", b("a"), b("value-a")).put("default", b("b"), b("value-b")));
    const got = e.scan("default", b(""), b(""), { keysOnly: true });
    assert.deepEqual(keys(got), ["a", "b"]);
    for (const p of got) assert.equal(p.value.byteLength, 0);
    const rev = e.scan("default", b(""), b(""), { keysOnly: true, reverse: true, limit: 1 });
    assert.deepEqual(keys(rev), ["b"]);
    assert.equal(rev[0]!.value.byteLength, 0);
  });

  test("a scan of one column family never returns another's keys", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().put("default", b("a"), b("d")).put("lock", b("b"), b("l")).put("write", b("c"), b("w")));
    assert.deepEqual(kvs(e.scan("default", b(""), b(""))), ["a=d"]);
    assert.deepEqual(kvs(e.scan("lock", b(""), b(""))), ["b=l"]);
    assert.deepEqual(kvs(e.scan("write", b(""), b(""))), ["c=w"]);
  });
});

describe("write batches", () => {
  test("ops in a batch apply in order: put-then-delete leaves the key absent, delete-then-put leaves it present", (t) => {
    const e = openEngine(t);
    put(e, "default", b("y"), b("old"));
    e.write(new WriteBatch().put("default", b("x"), b("1")).delete("default", b("x")).delete("default", b("y")).put("default", b("y"), b("new")));
    assert.equal(e.get("default", b("x")), undefined);
    assert.deepEqual(e.get("default", b("y")), b("new"));
  });

  test("a batch whose last op fails (a put with a null value) applies none of its earlier ops, and the engine keeps working", (t) => {
    const e = openEngine(t);
    put(e, "default", b("before"), b("1"));
    const batch = new WriteBatch()
      .put("default", b("a"), b("1"))
      .delete("default", b("before"))
      .appendLog(1, [entry(1, 1)])
      .setApplyState(1, applyState(1n))
      .setMeta("m", b("x"));
    // A deliberately invalid op: the value column is NOT NULL, so SQLite rejects it mid-transaction.
    batch.ops.push({ kind: "put", cf: 0, key: b("b"), value: null as unknown as Uint8Array });
    assert.throws(() => e.write(batch), (err: unknown) => err instanceof EngineError && err.message.includes(e.file));
    assert.equal(e.get("default", b("a")), undefined);
    assert.deepEqual(e.get("default", b("before")), b("1"));
    assert.deepEqual(e.logEntries(1, 0, 100, Infinity), []);
    assert.equal(e.getApplyState(1), undefined);
    assert.equal(e.getMeta("m"), undefined);
    // The failed transaction was rolled back, not left open: the next batch commits on its own.
    put(e, "default", b("after"), b("2"));
    assert.deepEqual(keys(e.scan("default", b(""), b(""))), ["after", "before"]);
  });

  test("a batch with an op of unknown kind applies none of its earlier ops", (t) => {
    const e = openEngine(t);
    const batch = new WriteBatch().put("default", b("a"), b("1")).setRegionState(3, regionState(3n, "", ""));
    batch.ops.push({ kind: "no-such-op" } as unknown as WriteOp);
    assert.throws(() => e.write(batch), EngineError);
    assert.equal(e.get("default", b("a")), undefined);
    assert.equal(e.getRegionState(3), undefined);
  });

  test("an empty batch writes nothing and reports zero ops", (t) => {
    const e = openEngine(t);
    const stats = e.write(new WriteBatch());
    assert.equal(stats.ops, 0);
    assert.equal(stats.bytes, 0);
    assert.equal(e.scan("default", b(""), b("")).length, 0);
  });

  test("write reports ops, payload bytes and whether it synced (sync defaults to true)", (t) => {
    const e = openEngine(t);
    const batch = new WriteBatch().put("default", b("ab"), b("cde")).delete("lock", b("f"));
    assert.equal(batch.bytes, 6);
    const s1 = e.write(batch);
    assert.equal(s1.ops, 2);
    assert.equal(s1.bytes, 6);
    assert.equal(s1.synced, true);
    assert.equal(e.write(new WriteBatch().put("default", b("x"), b("y")), { sync: false }).synced, false);
    // An unsynced write is still committed and visible.
    assert.deepEqual(e.get("default", b("x")), b("y"));
  });

  test("merge appends another batch's ops and bytes, and the merged batch commits both", (t) => {
    const e = openEngine(t);
    const a = new WriteBatch().put("default", b("a"), b("1"));
    const other = new WriteBatch().put("lock", b("b"), b("22")).setApplyState(9, applyState(4n));
    const otherBytes = other.bytes;
    a.merge(other);
    assert.equal(a.ops.length, 3);
    assert.equal(a.bytes, 2 + otherBytes);
    e.write(a);
    assert.deepEqual(e.get("default", b("a")), b("1"));
    assert.deepEqual(e.get("lock", b("b")), b("22"));
    assert.equal(e.getApplyState(9)?.appliedIndex, 4n);
  });

  test("clear() empties a batch so it can be reused without replaying old ops", (t) => {
    const e = openEngine(t);
    const batch = new WriteBatch().put("default", b("a"), b("1"));
    e.write(batch);
    batch.clear();
    assert.ok(batch.isEmpty);
    assert.equal(batch.bytes, 0);
    e.write(new WriteBatch().delete("default", b("a")));
    e.write(batch.put("default", b("b"), b("2")));
    assert.deepEqual(keys(e.scan("default", b(""), b(""))), ["b"]);
  });
});

describe("raft log", () => {
  test("appendLog stores entries that logEntries returns for [lo, hi) with index, term, type and data", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [entry(5, 2), entry(6, 2, "conf", 1), entry(7, 3)]));
    const got = e.logEntries(1, 5, 8, Infinity);
    assert.deepEqual(got, [
      { index: 5, term: 2, type: 0, data: b("e5") },
      { index: 6, term: 2, type: 1, data: b("conf") },
      { index: 7, term: 3, type: 0, data: b("e7") },
    ]);
    assert.deepEqual(idxTerms(e.logEntries(1, 6, 7, Infinity)), ["6/2"]);
    assert.deepEqual(e.logEntries(1, 8, 20, Infinity), []);
  });

  test("logTerm returns the term of a stored entry and undefined for an absent index or region", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [entry(5, 2), entry(6, 3)]));
    assert.equal(e.logTerm(1, 5), 2);
    assert.equal(e.logTerm(1, 6), 3);
    assert.equal(e.logTerm(1, 4), undefined);
    assert.equal(e.logTerm(1, 7), undefined);
    assert.equal(e.logTerm(2, 5), undefined);
  });

  test("regions' logs are separate: one region's entries never show up in another's reads", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [entry(1, 1, "r1")]).appendLog(2, [entry(1, 7, "r2"), entry(2, 7, "r2b")]));
    assert.deepEqual(e.logEntries(1, 0, 10, Infinity), [{ index: 1, term: 1, type: 0, data: b("r1") }]);
    assert.deepEqual(idxTerms(e.logEntries(2, 0, 10, Infinity)), ["1/7", "2/7"]);
  });

  test("appending an index that is already stored replaces that entry (a conflicting entry is overwritten)", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [entry(1, 1), entry(2, 1, "old"), entry(3, 1)]));
    e.write(new WriteBatch().appendLog(1, [entry(2, 2, "new")]));
    assert.deepEqual(e.logEntries(1, 2, 3, Infinity), [{ index: 2, term: 2, type: 0, data: b("new") }]);
    assert.deepEqual(idxTerms(e.logEntries(1, 1, 4, Infinity)), ["1/1", "2/2", "3/1"]);
  });

  test("truncateLogFrom deletes the region's entries with index ≥ from and keeps earlier ones and other regions", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [1, 2, 3, 4].map((i) => entry(i, 1))).appendLog(2, [3, 4].map((i) => entry(i, 1))));
    e.write(new WriteBatch().truncateLogFrom(1, 3));
    assert.deepEqual(idxTerms(e.logEntries(1, 0, 100, Infinity)), ["1/1", "2/1"]);
    assert.deepEqual(idxTerms(e.logEntries(2, 0, 100, Infinity)), ["3/1", "4/1"]);
  });

  test("truncateLogFrom followed by appendLog in one batch replaces a conflicting suffix", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [1, 2, 3, 4].map((i) => entry(i, 1))));
    e.write(new WriteBatch().truncateLogFrom(1, 3).appendLog(1, [entry(3, 2)]));
    assert.deepEqual(idxTerms(e.logEntries(1, 0, 100, Infinity)), ["1/1", "2/1", "3/2"]);
  });

  test("deleteLogRange deletes [lo, hi) of one region; an empty range (hi ≤ lo) deletes nothing", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().appendLog(1, [1, 2, 3, 4, 5].map((i) => entry(i, 1))).appendLog(2, [1, 2].map((i) => entry(i, 1))));
    e.write(new WriteBatch().deleteLogRange(1, 1, 4));
    assert.deepEqual(idxTerms(e.logEntries(1, 0, 100, Infinity)), ["4/1", "5/1"]);
    assert.deepEqual(idxTerms(e.logEntries(2, 0, 100, Infinity)), ["1/1", "2/1"]);
    const noop = new WriteBatch().deleteLogRange(1, 5, 5).deleteLogRange(1, 5, 2);
    assert.ok(noop.isEmpty);
    e.write(noop);
    assert.deepEqual(idxTerms(e.logEntries(1, 0, 100, Infinity)), ["4/1", "5/1"]);
  });

  test("logEntries stops before the entry that would exceed maxBytes but always returns at least one entry", (t) => {
    const e = openEngine(t);
    const data = "x".repeat(100);
    e.write(new WriteBatch().appendLog(1, [1, 2, 3, 4].map((i) => entry(i, 1, data))));
    const all = e.logEntries(1, 1, 5, Infinity);
    assert.equal(all.length, 4);
    // Each entry counts its data and a fixed overhead, so ~1.x entries fit here.
    const one = e.logEntries(1, 1, 5, 150);
    assert.deepEqual(idxTerms(one), ["1/1"]);
    const two = e.logEntries(1, 1, 5, 250);
    assert.deepEqual(idxTerms(two), ["1/1", "2/1"]);
    // Even a budget smaller than the first entry yields that entry (progress is always possible).
    assert.deepEqual(idxTerms(e.logEntries(1, 2, 5, 0)), ["2/1"]);
    assert.deepEqual(idxTerms(e.logEntries(1, 1, 5, 1_000_000)), ["1/1", "2/1", "3/1", "4/1"]);
  });
});

describe("states and meta", () => {
  test("raft, apply and region states round-trip with their bigint fields intact", (t) => {
    const e = openEngine(t);
    const big = 2n ** 62n + 5n;
    const rs = raftState(7n, big, big + 1n);
    const as = applyState(big, 90n, 6n);
    const reg = regionState(12n, "a", "m", raft_serverpb.PeerState.Tombstone);
    e.write(new WriteBatch().setRaftState(1, rs).setApplyState(1, as).setRegionState(1, reg));
    assert.deepEqual(e.getRaftState(1), rs);
    assert.deepEqual(e.getApplyState(1), as);
    assert.deepEqual(e.getRegionState(1), reg);
    assert.equal(e.getApplyState(1)?.appliedIndex, big);
    assert.equal(e.getRaftState(2), undefined);
    assert.equal(e.getApplyState(2), undefined);
    assert.equal(e.getRegionState(2), undefined);
  });

  test("setting a state again replaces it", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().setApplyState(1, applyState(5n)));
    e.write(new WriteBatch().setApplyState(1, applyState(9n, 5n, 5n)));
    assert.deepEqual(e.getApplyState(1), applyState(9n, 5n, 5n));
  });

  test("clearRaftMeta removes one region's raft log, raft state and apply state, keeping its region state and other regions", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const r of [1, 2]) {
      w.appendLog(r, [entry(1, 1), entry(2, 1)])
        .setRaftState(r, raftState(1n, 2n, 2n))
        .setApplyState(r, applyState(2n))
        .setRegionState(r, regionState(BigInt(r), "", ""));
    }
    e.write(w);
    e.write(new WriteBatch().clearRaftMeta(1));
    assert.deepEqual(e.logEntries(1, 0, 100, Infinity), []);
    assert.equal(e.getRaftState(1), undefined);
    assert.equal(e.getApplyState(1), undefined);
    assert.deepEqual(e.getRegionState(1), regionState(1n, "", ""));
    assert.deepEqual(idxTerms(e.logEntries(2, 0, 100, Infinity)), ["1/1", "2/1"]);
    assert.deepEqual(e.getRaftState(2), raftState(1n, 2n, 2n));
    assert.deepEqual(e.getApplyState(2), applyState(2n));
  });

  test("allRegionStates returns every region's state keyed by region id, and is empty on a new store", (t) => {
    const e = openEngine(t);
    assert.equal(e.allRegionStates().size, 0);
    e.write(new WriteBatch().setRegionState(30, regionState(30n, "m", "")).setRegionState(4, regionState(4n, "", "m")).setApplyState(5, applyState(1n)));
    const all = e.allRegionStates();
    assert.deepEqual([...all.keys()].sort((x, y) => x - y), [4, 30]);
    assert.deepEqual(all.get(4), regionState(4n, "", "m"));
    assert.deepEqual(all.get(30), regionState(30n, "m", ""));
  });

  test("meta values round-trip, a missing key reads as undefined, and the schema version is recorded", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().setMeta("store_id", b("42")));
    assert.deepEqual(e.getMeta("store_id"), b("42"));
    e.write(new WriteBatch().setMeta("store_id", b("43")));
    assert.deepEqual(e.getMeta("store_id"), b("43"));
    assert.equal(e.getMeta("nope"), undefined);
    assert.equal(e.getMeta("schema_version")?.toString(), String(SCHEMA_VERSION));
  });
});

describe("snapshots", () => {
  test("a snapshot does not see kv, state or deletion changes committed after it was taken; the engine does", (t) => {
    const e = openEngine(t);
    e.write(new WriteBatch().put("default", b("a"), b("1")).put("default", b("b"), b("2")).setApplyState(1, applyState(1n)).setRegionState(1, regionState(1n, "", "")));
    const snap = e.snapshot();
    t.after(() => snap.release());
    e.write(new WriteBatch().put("default", b("a"), b("changed")).delete("default", b("b")).put("default", b("c"), b("3")).setApplyState(1, applyState(2n)).setRegionState(1, regionState(1n, "", "k")));
    assert.deepEqual(snap.get("default", b("a")), b("1"));
    assert.deepEqual(snap.get("default", b("b")), b("2"));
    assert.equal(snap.get("default", b("c")), undefined);
    assert.deepEqual(kvs(snap.scan("default", b(""), b(""))), ["a=1", "b=2"]);
    assert.equal(snap.applyState(1)?.appliedIndex, 1n);
    assert.deepEqual(snap.regionState(1), regionState(1n, "", ""));
    assert.deepEqual(kvs(e.scan("default", b(""), b(""))), ["a=changed", "c=3"]);
    assert.equal(e.getApplyState(1)?.appliedIndex, 2n);
  });

  test("two snapshots open at once each keep their own point in time", (t) => {
    const e = openEngine(t);
    put(e, "default", b("k"), b("1"));
    const s1 = e.snapshot();
    put(e, "default", b("k"), b("2"));
    const s2 = e.snapshot();
    put(e, "default", b("k"), b("3"));
    assert.deepEqual(s1.get("default", b("k")), b("1"));
    assert.deepEqual(s2.get("default", b("k")), b("2"));
    assert.deepEqual(e.get("default", b("k")), b("3"));
    s1.release();
    s2.release();
  });

  test("snapshot scan honours bounds, limit, reverse and keysOnly", (t) => {
    const e = openEngine(t);
    const w = new WriteBatch();
    for (const k of ["a", "b", "c", "d"]) w.put("write", b(k), b(`v${k}`));
    e.write(w);
    const snap = e.snapshot();
    t.after(() => snap.release());
    assert.deepEqual(kvs(snap.scan("write", b("b"), b("d"))), ["b=vb", "c=vc"]);
    assert.deepEqual(keys(snap.scan("write", b(""), b(""), { reverse: true, limit: 2 })), ["d", "c"]);
    const ko = snap.scan("write", b(""), b(""), { keysOnly: true, limit: 1 });
    assert.deepEqual(keys(ko), ["a"]);
    assert.equal(ko[0]!.value.byteLength, 0);
    assert.equal(snap.scan("default", b(""), b("")).length, 0);
  });

  test("after release, a new snapshot sees the data written in between", (t) => {
    const e = openEngine(t);
    put(e, "default", b("k"), b("1"));
    const s1 = e.snapshot();
    put(e, "default", b("k"), b("2"));
    assert.deepEqual(s1.get("default", b("k")), b("1"));
    s1.release();
    // The reader connection is reused; its old read transaction must not leak into the new snapshot.
    const s2 = e.snapshot();
    t.after(() => s2.release());
    assert.deepEqual(s2.get("default", b("k")), b("2"));
  });

  test("taking and releasing snapshots many times does not accumulate open files (the reader is returned to the pool)", { skip: !HAS_PROC_FD && "needs /proc/self/fd" }, (t) => {
    const e = openEngine(t);
    put(e, "default", b("k"), b("1"));
    e.snapshot().release();
    const base = openFdCount()!;
    for (let i = 0; i < 20; i++) {
      const s = e.snapshot();
      assert.deepEqual(s.get("default", b("k")), b("1"));
      s.release();
    }
    assert.equal(openFdCount(), base);
  });

  test("every read on a released snapshot throws Closed naming the file; releasing twice is harmless", (t) => {
    const e = openEngine(t);
    const snap = e.snapshot();
    snap.release();
    snap.release();
    const err = mustThrowEngineError(() => snap.get("default", b("k")), "Closed");
    assert.ok(err.message.includes(e.file), err.message);
    mustThrowEngineError(() => snap.scan("default", b(""), b("")), "Closed");
    mustThrowEngineError(() => snap.applyState(1), "Closed");
    mustThrowEngineError(() => snap.regionState(1), "Closed");
    mustThrowEngineError(() => snap.approximateSize("default", b(""), b("")), "Closed");
  });

  test("a snapshot still held when the engine closes can be released afterwards, and the data reopens intact", (t) => {
    const dir = tempDir(t);
    const e = Engine.open(dir);
    put(e, "default", b("k"), b("1"));
    const snap = e.snapshot();
    put(e, "default", b("k"), b("2"));
    e.close();
    assert.deepEqual(snap.get("default", b("k")), b("1"));
    snap.release();
    mustThrowEngineError(() => e.snapshot(), "Closed");
    const again = Engine.open(dir);
    t.after(() => again.close());
    assert.deepEqual(again.get("default", b("k")), b("2"));
  });
});

describe("sizes", () => {
  test("approximateSize sums key and value bytes and counts keys of one cf within [start, end)", (t) => {
    const e = openEngine(t);
    // key+value bytes: a 1+3, bb 2+5, c 1+0, d 1+10; and a key in another cf that must not count.
    e.write(
      new WriteBatch()
        .put("default", b("a"), b("xyz"))
        .put("default", b("bb"), b("12345"))
        .put("default", b("c"), Buffer.alloc(0))
        .put("default", b("d"), b("0123456789"))
        .put("lock", b("b"), b("not-counted")),
    );
    const snap = e.snapshot();
    t.after(() => snap.release());
    assert.deepEqual(snap.approximateSize("default", b(""), b("")), { bytes: 4 + 7 + 1 + 11, keys: 4 });
    assert.deepEqual(snap.approximateSize("default", b("b"), b("d")), { bytes: 7 + 1, keys: 2 });
    assert.deepEqual(snap.approximateSize("default", b("x"), b("")), { bytes: 0, keys: 0 });
    assert.deepEqual(snap.approximateSize("lock", b(""), b("")), { bytes: 12, keys: 1 });
  });

  test("usedBytes is positive for a new store and grows by at least the payload after writing a megabyte", (t) => {
    const e = openEngine(t);
    const before = e.usedBytes();
    assert.ok(before > 0, `usedBytes ${before}`);
    const w = new WriteBatch();
    const value = Buffer.alloc(16 * 1024, 0xab);
    for (let i = 0; i < 64; i++) w.put("default", b(`big-${i}`), value);
    e.write(w);
    const after = e.usedBytes();
    assert.ok(after >= before + 64 * value.byteLength, `usedBytes ${before} -> ${after}`);
  });
});

describe("lifecycle", () => {
  test("kv data, raft log, states and meta survive close and reopen", (t) => {
    const dir = tempDir(t);
    const e1 = Engine.open(dir);
    e1.write(
      new WriteBatch()
        .put("default", b("a"), b("1"))
        .put("lock", b("l"), b("2"))
        .put("write", b("w"), b("3"))
        .appendLog(1, [entry(1, 1), entry(2, 2)])
        .setRaftState(1, raftState(2n, 2n, 2n))
        .setApplyState(1, applyState(2n))
        .setRegionState(1, regionState(1n, "", ""))
        .setMeta("store_id", b("7")),
    );
    e1.write(new WriteBatch().put("default", b("unsynced"), b("x")), { sync: false });
    e1.close();
    const e2 = Engine.open(dir);
    t.after(() => e2.close());
    assert.equal(e2.file, `${dir}/${DB_FILE}`);
    assert.deepEqual(kvs(e2.scan("default", b(""), b(""))), ["a=1", "unsynced=x"]);
    assert.deepEqual(e2.get("lock", b("l")), b("2"));
    assert.deepEqual(e2.get("write", b("w")), b("3"));
    assert.deepEqual(idxTerms(e2.logEntries(1, 0, 10, Infinity)), ["1/1", "2/2"]);
    assert.deepEqual(e2.getRaftState(1), raftState(2n, 2n, 2n));
    assert.deepEqual(e2.getApplyState(1), applyState(2n));
    assert.deepEqual(e2.getRegionState(1), regionState(1n, "", ""));
    assert.deepEqual(e2.getMeta("store_id"), b("7"));
  });

  test("write after close throws Closed naming the file, and so do reads and snapshot(); close twice is harmless", (t) => {
    const dir = tempDir(t);
    const e = Engine.open(dir);
    e.close();
    e.close();
    assert.ok(e.isClosed);
    const err = mustThrowEngineError(() => e.write(new WriteBatch().put("default", b("a"), b("1"))), "Closed");
    assert.ok(err.message.includes(e.file), err.message);
    mustThrowEngineError(() => e.get("default", b("a")), "Closed");
    mustThrowEngineError(() => e.scan("default", b(""), b("")), "Closed");
    mustThrowEngineError(() => e.getApplyState(1), "Closed");
    mustThrowEngineError(() => e.allRegionStates(), "Closed");
    mustThrowEngineError(() => e.logEntries(1, 0, 1, 1), "Closed");
    mustThrowEngineError(() => e.getMeta("schema_version"), "Closed");
    mustThrowEngineError(() => e.snapshot(), "Closed");
    // The closed engine wrote nothing.
    const again = Engine.open(dir);
    t.after(() => again.close());
    assert.equal(again.get("default", b("a")), undefined);
  });
});
