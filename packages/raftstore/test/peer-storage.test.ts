/**
 * PeerStorage: the raft `Storage` of one region peer over a real engine (TinyKV's
 * TestPeerStorageTerm / Entries / Append / ClearMeta on our API), plus snapshot install through
 * saveReadyState and the asynchronous snapshot() handshake with the region worker.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { WriteBatch, type Engine } from "@regionkv/engine";
import { raft_serverpb, type metapb } from "@regionkv/proto";
import { RaftError, RaftInvariantError, type Entry, type HardState, type Ready, type Snapshot } from "@regionkv/raft";
import { PeerStorage, RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM, writeInitialRegionState } from "../src/peer-storage.js";
import { b, makeRegion, openEngine } from "./helpers.js";

function ent(index: number, term: number, data = `e${index}`): Entry {
  return { type: 0, index, term, data: b(data) };
}

function ready(fields: Partial<Ready>): Ready {
  return {
    softState: undefined,
    hardState: undefined,
    readStates: [],
    entries: [],
    snapshot: undefined,
    committedEntries: [],
    messages: [],
    mustSync: true,
    ...fields,
  };
}

/** A bootstrapped region on `engine` and its peer storage (peer 1); `requests` counts snapshot requests. */
function bootstrapped(engine: Engine, region: metapb.Region = makeRegion([1, 2, 3]), cacheLimit = 1024): { ps: PeerStorage; requests: number[] } {
  const wb = new WriteBatch();
  writeInitialRegionState(wb, region);
  engine.write(wb);
  const requests: number[] = [];
  const ps = new PeerStorage(engine, region, 1, (id) => requests.push(id), cacheLimit);
  return { ps, requests };
}

/** Persist entries (and optionally a hard state) the way the raft worker does. */
function persist(engine: Engine, ps: PeerStorage, entries: Entry[], hardState?: HardState): void {
  const wb = new WriteBatch();
  ps.saveReadyState(ready({ entries, hardState }), wb);
  engine.write(wb, { sync: true });
}

function mustRaftError(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RaftError && e.code === code, `expected RaftError ${code}`);
}

function idxTerms(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}`);
}

describe("peer storage: initial state", () => {
  test("a region created with peers starts at index 5, term 5: applied = truncated = commit = last = 5", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    assert.equal(RAFT_INIT_LOG_INDEX, 5);
    assert.equal(RAFT_INIT_LOG_TERM, 5);
    assert.equal(ps.firstIndex(), 6);
    assert.equal(ps.lastIndex(), 5);
    assert.equal(ps.term(5), 5);
    assert.deepEqual(ps.applyState, { appliedIndex: 5, truncatedIndex: 5, truncatedTerm: 5 });
    const st = ps.initialState();
    assert.deepEqual(st.hardState, { term: 5, vote: 0, commit: 5 });
    assert.deepEqual(st.confState, { voters: [1, 2, 3], learners: [] });
    assert.equal(ps.isInitialized, true);
    assert.deepEqual(ps.entries(6, 6, Infinity), []);
  });

  test("a peer with no stored state (created by a message) starts empty at index 0", (t) => {
    const engine = openEngine(t);
    const region: metapb.Region = { ...makeRegion([]), peers: [] };
    const ps = new PeerStorage(engine, region, 7, () => {}, 16);
    assert.equal(ps.isInitialized, false);
    assert.equal(ps.firstIndex(), 1);
    assert.equal(ps.lastIndex(), 0);
    assert.equal(ps.term(0), 0);
    assert.deepEqual(ps.initialState().hardState, { term: 0, vote: 0, commit: 0 });
  });

  test("corrupt stored state (applied beyond the last index) is refused at start", (t) => {
    const engine = openEngine(t);
    const region = makeRegion([1]);
    const wb = new WriteBatch();
    writeInitialRegionState(wb, region);
    wb.setApplyState(1, { appliedIndex: 9n, truncatedState: { index: 5n, term: 5n } });
    engine.write(wb);
    assert.throws(() => new PeerStorage(engine, region, 1, () => {}, 16), RaftInvariantError);
  });
});

describe("peer storage: term and entries", () => {
  test("term: compacted at or below the truncated index (except the truncated index itself), unavailable past the last", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [ent(6, 6), ent(7, 6), ent(8, 7)]);
    assert.equal(ps.term(5), 5);
    assert.equal(ps.term(6), 6);
    assert.equal(ps.term(7), 6);
    assert.equal(ps.term(8), 7);
    mustRaftError(() => ps.term(4), "Compacted");
    mustRaftError(() => ps.term(9), "Unavailable");
  });

  test("entries: compacted below the first index, unavailable past last + 1, size-limited but never empty", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [ent(6, 6, "aaaa"), ent(7, 6, "bbbb"), ent(8, 6, "cccc"), ent(9, 6, "dddd")]);
    assert.deepEqual(idxTerms(ps.entries(6, 10, Infinity)), ["6/6", "7/6", "8/6", "9/6"]);
    assert.deepEqual(idxTerms(ps.entries(7, 9, Infinity)), ["7/6", "8/6"]);
    mustRaftError(() => ps.entries(5, 7, Infinity), "Compacted");
    mustRaftError(() => ps.entries(6, 11, Infinity), "Unavailable");
    // 24 bytes of overhead + 4 of data per entry: a limit of 60 fits two, 0 still gives one.
    assert.deepEqual(idxTerms(ps.entries(6, 10, 60)), ["6/6", "7/6"]);
    assert.deepEqual(idxTerms(ps.entries(6, 10, 0)), ["6/6"]);
    assert.deepEqual(ps.entries(8, 8, Infinity), []);
    assert.deepEqual(
      ps.entries(6, 10, Infinity).map((e) => Buffer.from(e.data).toString()),
      ["aaaa", "bbbb", "cccc", "dddd"],
    );
  });

  test("after compaction the truncated index answers its term and everything below is compacted", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [6, 7, 8, 9, 10].map((i) => ent(i, i < 8 ? 6 : 7)));
    ps.setApplied(10);
    ps.compactTo(8, 7);
    assert.equal(ps.firstIndex(), 9);
    assert.equal(ps.term(8), 7);
    mustRaftError(() => ps.term(7), "Compacted");
    mustRaftError(() => ps.entries(8, 10, Infinity), "Compacted");
    assert.deepEqual(idxTerms(ps.entries(9, 11, Infinity)), ["9/7", "10/7"]);
  });
});

describe("peer storage: append", () => {
  test("appending after the last index extends the log and persists last index and term", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [ent(6, 6), ent(7, 6)]);
    persist(engine, ps, [ent(8, 6)]);
    assert.equal(ps.lastIndex(), 8);
    const rs = engine.getRaftState(1)!;
    assert.equal(rs.lastIndex, 8n);
    assert.equal(rs.lastTerm, 6n);
    assert.deepEqual(engine.logEntries(1, 0, 100, Infinity).map((e) => `${e.index}/${e.term}`), ["6/6", "7/6", "8/6"]);
  });

  test("a conflicting append truncates the stored suffix the new entries no longer cover", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [6, 7, 8, 9, 10].map((i) => ent(i, 6)));
    persist(engine, ps, [ent(8, 7, "new8"), ent(9, 7, "new9")]);
    assert.equal(ps.lastIndex(), 9);
    assert.equal(ps.term(9), 7);
    assert.equal(ps.term(8), 7);
    assert.equal(ps.term(7), 6);
    mustRaftError(() => ps.term(10), "Unavailable");
    assert.deepEqual(engine.logEntries(1, 0, 100, Infinity).map((e) => `${e.index}/${e.term}`), ["6/6", "7/6", "8/7", "9/7"]);
    assert.equal(engine.getRaftState(1)!.lastIndex, 9n);
    assert.equal(engine.getRaftState(1)!.lastTerm, 7n);
    assert.deepEqual(ps.entries(8, 10, Infinity).map((e) => Buffer.from(e.data).toString()), ["new8", "new9"]);
  });

  test("entries at or below the truncated index are dropped from an append", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [ent(4, 5), ent(5, 5), ent(6, 6), ent(7, 6)]);
    assert.deepEqual(engine.logEntries(1, 0, 100, Infinity).map((e) => e.index), [6, 7]);
    assert.equal(ps.lastIndex(), 7);
  });

  test("a hard state is persisted with the Ready and survives reopening", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine);
    persist(engine, ps, [ent(6, 6)], { term: 6, vote: 2, commit: 6 });
    const again = new PeerStorage(engine, ps.region, 1, () => {}, 16);
    assert.deepEqual(again.initialState().hardState, { term: 6, vote: 2, commit: 6 });
    assert.equal(again.lastIndex(), 6);
    assert.equal(again.term(6), 6);
  });

  test("the entry cache and the engine agree: a storage with a tiny cache reads the same log as a reopened one", (t) => {
    const engine = openEngine(t);
    const { ps } = bootstrapped(engine, makeRegion([1, 2, 3]), 4);
    // Several appends with conflicts so the cache is rebuilt more than once.
    persist(engine, ps, Array.from({ length: 10 }, (_, k) => ent(6 + k, 6)));
    persist(engine, ps, Array.from({ length: 6 }, (_, k) => ent(12 + k, 7, `t7-${12 + k}`)));
    persist(engine, ps, Array.from({ length: 5 }, (_, k) => ent(16 + k, 8, `t8-${16 + k}`)));
    const cold = new PeerStorage(engine, ps.region, 1, () => {}, 4);
    assert.equal(cold.lastIndex(), ps.lastIndex());
    const show = (es: Entry[]) => es.map((e) => `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`);
    for (let lo = 6; lo <= 20; lo++) {
      for (let hi = lo; hi <= 21; hi++) {
        assert.deepEqual(show(ps.entries(lo, hi, Infinity)), show(cold.entries(lo, hi, Infinity)), `entries(${lo}, ${hi})`);
        assert.deepEqual(show(ps.entries(lo, hi, 70)), show(cold.entries(lo, hi, 70)), `entries(${lo}, ${hi}, 70 bytes)`);
      }
      assert.equal(ps.term(lo), cold.term(lo), `term(${lo})`);
    }
    assert.deepEqual(
      show(ps.entries(14, 18, Infinity)),
      ["14/7/t7-14", "15/7/t7-15", "16/8/t8-16", "17/8/t8-17"],
    );
  });
});

describe("peer storage: snapshots", () => {
  function snapshotOf(region: metapb.Region, index: number, term: number, data: raft_serverpb.KeyValue[]): Snapshot {
    return {
      data: raft_serverpb.RaftSnapshotData.encode({ region, fileSize: 0n, data, meta: undefined }).finish(),
      metadata: { index, term, confState: { voters: region.peers.map((p) => Number(p.id)), learners: [] } },
    };
  }

  test("installing a snapshot replaces the region's data, log and states in the one batch it is given", (t) => {
    const engine = openEngine(t);
    const region = makeRegion([1, 2, 3], { start: "b", end: "m" });
    const { ps } = bootstrapped(engine, region);
    persist(engine, ps, [ent(6, 6), ent(7, 6)]);
    const seed = new WriteBatch()
      .put("default", b("c"), b("old-c"))
      .put("lock", b("d"), b("old-lock-d"))
      .put("write", b("e"), b("old-write-e"))
      .put("default", b("a"), b("outside-left"))
      .put("default", b("z"), b("outside-right"));
    engine.write(seed);

    const newRegion = { ...region, regionEpoch: { confVer: 3n, version: 2n } };
    const snap = snapshotOf(newRegion, 20, 9, [
      { cf: "default", key: b("f"), value: b("snap-f") },
      { cf: "lock", key: b("g"), value: b("snap-lock-g") },
      { cf: "write", key: b("h"), value: b("snap-write-h") },
    ]);
    const wb = new WriteBatch();
    const out = ps.saveReadyState(ready({ snapshot: snap, hardState: { term: 9, vote: 0, commit: 20 } }), wb);
    assert.deepEqual(out.snapshotRegion?.regionEpoch, { confVer: 3n, version: 2n });
    // Nothing has touched the engine yet: a crash before the group commit leaves the old peer whole.
    assert.equal(engine.get("default", b("c"))?.toString(), "old-c");
    assert.equal(engine.getRaftState(1)!.lastIndex, 7n);
    assert.equal(engine.getApplyState(1)!.appliedIndex, 5n);

    engine.write(wb, { sync: true });
    assert.equal(engine.get("default", b("c")), undefined);
    assert.equal(engine.get("lock", b("d")), undefined);
    assert.equal(engine.get("write", b("e")), undefined);
    assert.equal(engine.get("default", b("f"))?.toString(), "snap-f");
    assert.equal(engine.get("lock", b("g"))?.toString(), "snap-lock-g");
    assert.equal(engine.get("write", b("h"))?.toString(), "snap-write-h");
    assert.equal(engine.get("default", b("a"))?.toString(), "outside-left", "data left of the region is untouched");
    assert.equal(engine.get("default", b("z"))?.toString(), "outside-right", "data right of the region is untouched");
    assert.deepEqual(engine.logEntries(1, 0, 100, Infinity), [], "the old log is gone");
    const rs = engine.getRaftState(1)!;
    assert.equal(rs.lastIndex, 20n);
    assert.equal(rs.lastTerm, 9n);
    assert.equal(rs.hardState?.commit, 20n);
    const as = engine.getApplyState(1)!;
    assert.equal(as.appliedIndex, 20n);
    assert.deepEqual(as.truncatedState, { index: 20n, term: 9n });
    assert.deepEqual(engine.getRegionState(1)!.region?.regionEpoch, { confVer: 3n, version: 2n });

    // The in-memory view moved with it, and a reopened storage sees the same.
    for (const s of [ps, new PeerStorage(engine, newRegion, 1, () => {}, 16)]) {
      assert.equal(s.firstIndex(), 21);
      assert.equal(s.lastIndex(), 20);
      assert.equal(s.term(20), 9);
      mustRaftError(() => s.term(19), "Compacted");
      assert.deepEqual(s.applyState, { appliedIndex: 20, truncatedIndex: 20, truncatedTerm: 9 });
    }
    // The log continues after the snapshot.
    persist(engine, ps, [ent(21, 9)]);
    assert.deepEqual(idxTerms(ps.entries(21, 22, Infinity)), ["21/9"]);
  });

  test("an uninitialized peer learns its range and peers from the snapshot", (t) => {
    const engine = openEngine(t);
    const ps = new PeerStorage(engine, { ...makeRegion([]), peers: [] }, 3, () => {}, 16);
    const region = makeRegion([1, 2, 3]);
    const wb = new WriteBatch();
    ps.saveReadyState(ready({ snapshot: snapshotOf(region, 30, 7, [{ cf: "default", key: b("k"), value: b("v") }]) }), wb);
    engine.write(wb);
    assert.equal(ps.isInitialized, true);
    assert.deepEqual(ps.initialState().confState, { voters: [1, 2, 3], learners: [] });
    assert.equal(ps.initialState().hardState.commit, 30);
    assert.equal(engine.get("default", b("k"))?.toString(), "v");
    assert.equal(engine.getRaftState(1)!.lastIndex, 30n);
  });

  test("snapshot() is temporarily unavailable until the region worker delivers one, and asks the worker once", (t) => {
    const engine = openEngine(t);
    const { ps, requests } = bootstrapped(engine);
    mustRaftError(() => ps.snapshot(), "SnapshotTemporarilyUnavailable");
    assert.deepEqual(requests, [1]);
    mustRaftError(() => ps.snapshot(), "SnapshotTemporarilyUnavailable");
    assert.deepEqual(requests, [1], "no second request while the first is being generated");

    const snap = snapshotOf(ps.region, 5, 5, []);
    ps.onSnapshotGenerated(snap);
    assert.equal(ps.snapshot(), snap);
    // Handed out once; the next call starts a new generation.
    mustRaftError(() => ps.snapshot(), "SnapshotTemporarilyUnavailable");
    assert.deepEqual(requests, [1, 1]);
  });

  test("a failed generation is asked for again; a generated snapshot older than the truncated index is discarded", (t) => {
    const engine = openEngine(t);
    const { ps, requests } = bootstrapped(engine);
    mustRaftError(() => ps.snapshot(), "SnapshotTemporarilyUnavailable");
    ps.onSnapshotGenerated(undefined);
    mustRaftError(() => ps.snapshot(), "SnapshotTemporarilyUnavailable");
    assert.equal(requests.length, 2, "a failure leads to a new request");

    persist(engine, ps, [6, 7, 8, 9].map((i) => ent(i, 6)));
    ps.setApplied(9);
    ps.onSnapshotGenerated(snapshotOf(ps.region, 5, 5, []));
    ps.compactTo(8, 6);
    mustRaftError(() => ps.snapshot(), "SnapshotTemporarilyUnavailable");
    assert.equal(requests.length, 3, "a stale snapshot is dropped and a new one requested");
    const fresh = snapshotOf(ps.region, 9, 6, []);
    ps.onSnapshotGenerated(fresh);
    assert.equal(ps.snapshot(), fresh);
  });
});
