/**
 * MemoryStorage: the in-memory Storage the tests and simulations persist Readies into. Its first
 * entry is a dummy holding the snapshot's index and term.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ENTRY_OVERHEAD_BYTES, MemoryStorage, RaftError, RaftInvariantError, type Entry } from "../src/index.js";
import { bytes, entry, snapshotAt } from "./harness.js";

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

function ents(first: number, terms: number[]): Entry[] {
  return terms.map((t, i) => entry(first + i, t));
}

/** A storage compacted at 3 (term 3) holding 4/4 and 5/5: the dummy entry is 3/3. */
function storage345(): MemoryStorage {
  const st = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
  st.applySnapshot(snapshotAt(3, 3, [1, 2, 3]));
  st.append(ents(4, [4, 5]));
  return st;
}

/** The dummy entry and every entry, as "term/index". */
function dump(st: MemoryStorage): string[] {
  const first = st.firstIndex();
  const last = st.lastIndex();
  const out = [`${st.term(first - 1)}/${first - 1}`];
  if (last >= first) for (const e of st.entries(first, last + 1, NO_LIMIT)) out.push(`${e.term}/${e.index}`);
  return out;
}

function mustThrowCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RaftError && e.code === code, `expected RaftError ${code}`);
}

describe("MemoryStorage: a new storage", () => {
  test("a fresh storage is empty: first index 1, last index 0, term(0) = 0, an empty hard state and the given members", () => {
    const st = MemoryStorage.withPeers([1, 2, 3], [4]);
    assert.equal(st.firstIndex(), 1);
    assert.equal(st.lastIndex(), 0);
    assert.equal(st.term(0), 0);
    assert.deepEqual(st.entries(1, 1, NO_LIMIT), []);
    assert.deepEqual(st.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: { voters: [1, 2, 3], learners: [4] } });
  });

  test("initialState returns copies: changing them does not change the storage", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    st.setHardState({ term: 3, vote: 2, commit: 0 });
    const s = st.initialState();
    s.hardState.term = 99;
    s.confState.voters.push(9);
    assert.deepEqual(st.initialState(), { hardState: { term: 3, vote: 2, commit: 0 }, confState: { voters: [1, 2], learners: [] } });
  });

  test("setConfState replaces the membership reported by initialState", () => {
    const st = MemoryStorage.withPeers([1, 2]);
    st.setConfState({ voters: [1, 2, 3], learners: [5] });
    assert.deepEqual(st.initialState().confState, { voters: [1, 2, 3], learners: [5] });
  });
});

describe("MemoryStorage.term", () => {
  const cases: [number, number | "Compacted" | "Unavailable"][] = [
    [2, "Compacted"],
    [3, 3],
    [4, 4],
    [5, 5],
    [6, "Unavailable"],
  ];
  for (const [i, want] of cases) {
    test(`term(${i}) of a storage holding 3/3 (dummy) 4/4 5/5 is ${want}`, () => {
      const st = storage345();
      if (typeof want === "string") mustThrowCode(() => st.term(i), want);
      else assert.equal(st.term(i), want);
    });
  }
});

describe("MemoryStorage.entries", () => {
  const size = ENTRY_OVERHEAD_BYTES; // the test entries have no payload
  const cases: [number, number, number, string[] | "Compacted" | "Unavailable"][] = [
    [2, 6, NO_LIMIT, "Compacted"],
    [3, 4, NO_LIMIT, "Compacted"],
    [4, 5, NO_LIMIT, ["4/4"]],
    [4, 6, NO_LIMIT, ["4/4", "5/5"]],
    [4, 7, NO_LIMIT, ["4/4", "5/5", "6/6"]],
    [4, 8, NO_LIMIT, "Unavailable"],
    [4, 7, 0, ["4/4"]], // at least one entry, whatever the limit
    [4, 7, 2 * size, ["4/4", "5/5"]],
    [4, 7, 3 * size - 1, ["4/4", "5/5"]],
    [4, 7, 3 * size, ["4/4", "5/5", "6/6"]],
  ];
  for (const [lo, hi, max, want] of cases) {
    test(`entries [${lo}, ${hi}) within ${max === NO_LIMIT ? "no limit" : `${max} bytes`} of 3/3 (dummy) 4/4 5/5 6/6 is ${Array.isArray(want) ? `[${want.join(" ")}]` : want}`, () => {
      const st = storage345();
      st.append(ents(6, [6]));
      if (typeof want === "string") mustThrowCode(() => st.entries(lo, hi, max), want);
      else assert.deepEqual(st.entries(lo, hi, max).map((e) => `${e.term}/${e.index}`), want);
    });
  }
});

describe("MemoryStorage.compact", () => {
  test("compacting at or below the dummy entry throws Compacted; beyond the last index is a broken invariant", () => {
    const st = storage345();
    mustThrowCode(() => st.compact(2), "Compacted");
    mustThrowCode(() => st.compact(3), "Compacted");
    assert.throws(() => st.compact(6), RaftInvariantError);
    assert.deepEqual(dump(st), ["3/3", "4/4", "5/5"]);
  });

  test("compacting at i makes entry i the dummy: first index i+1, its term still answerable", () => {
    const st = storage345();
    st.compact(4);
    assert.deepEqual(dump(st), ["4/4", "5/5"]);
    assert.equal(st.firstIndex(), 5);
    assert.equal(st.lastIndex(), 5);
    mustThrowCode(() => st.term(3), "Compacted");
    st.compact(5);
    assert.deepEqual(dump(st), ["5/5"]);
    assert.equal(st.firstIndex(), 6);
    assert.equal(st.lastIndex(), 5);
  });
});

describe("MemoryStorage.createSnapshot", () => {
  test("a snapshot at an applied index takes that entry's term, the given members and data", () => {
    const st = storage345();
    const cs = { voters: [1, 2, 3], learners: [4] };
    const s = st.createSnapshot(4, cs, bytes("image"));
    assert.equal(s.metadata.index, 4);
    assert.equal(s.metadata.term, 4);
    assert.deepEqual(s.metadata.confState, cs);
    assert.deepEqual(s.data, bytes("image"));
    assert.equal(st.snapshot(), s);
    // The members are copied, not shared.
    cs.voters.push(9);
    assert.deepEqual(st.snapshot().metadata.confState.voters, [1, 2, 3]);
    // Without members, the previous snapshot's are kept.
    assert.deepEqual(st.createSnapshot(5, undefined, bytes("")).metadata.confState, { voters: [1, 2, 3], learners: [4] });
  });

  test("a snapshot not newer than the current one throws SnapOutOfDate; beyond the last index is a broken invariant", () => {
    const st = storage345();
    mustThrowCode(() => st.createSnapshot(3, undefined, bytes("")), "SnapOutOfDate");
    mustThrowCode(() => st.createSnapshot(2, undefined, bytes("")), "SnapOutOfDate");
    assert.throws(() => st.createSnapshot(6, undefined, bytes("")), RaftInvariantError);
  });

  test("creating a snapshot does not compact the log", () => {
    const st = storage345();
    st.createSnapshot(5, undefined, bytes(""));
    assert.deepEqual(dump(st), ["3/3", "4/4", "5/5"]);
  });
});

describe("MemoryStorage.append", () => {
  const cases: [string, Entry[], string[] | "invariant"][] = [
    ["entries below the compaction point are ignored", ents(1, [1, 2]), ["3/3", "4/4", "5/5"]],
    ["entries already present leave the log unchanged", ents(3, [3, 4, 5]), ["3/3", "4/4", "5/5"]],
    ["conflicting entries replace the suffix", ents(3, [3, 6, 6]), ["3/3", "6/4", "6/5"]],
    ["entries past the end are appended", ents(3, [3, 4, 5, 5]), ["3/3", "4/4", "5/5", "5/6"]],
    ["the part of the incoming entries below the compaction point is cut off", ents(2, [3, 3, 5]), ["3/3", "5/4"]],
    ["a single entry in the middle truncates everything after it", ents(4, [5]), ["3/3", "5/4"]],
    ["an entry right after the last is appended", ents(6, [5]), ["3/3", "4/4", "5/5", "5/6"]],
    ["a gap after the last entry is a broken invariant", ents(7, [5]), "invariant"],
    ["nothing to append changes nothing", [], ["3/3", "4/4", "5/5"]],
  ];
  for (const [name, incoming, want] of cases) {
    test(`append: ${name}`, () => {
      const st = storage345();
      if (want === "invariant") {
        assert.throws(() => st.append(incoming), RaftInvariantError);
        assert.deepEqual(dump(st), ["3/3", "4/4", "5/5"]);
      } else {
        st.append(incoming);
        assert.deepEqual(dump(st), want);
      }
    });
  }
});

describe("MemoryStorage.applySnapshot", () => {
  test("a newer snapshot replaces the whole log; its index and term become the dummy entry", () => {
    const st = storage345();
    const snap = snapshotAt(10, 7, [1, 2, 3, 4]);
    st.applySnapshot(snap);
    assert.deepEqual(dump(st), ["7/10"]);
    assert.equal(st.firstIndex(), 11);
    assert.equal(st.lastIndex(), 10);
    assert.equal(st.snapshot().metadata.index, 10);
    assert.deepEqual(st.initialState().confState, { voters: [1, 2, 3, 4], learners: [] });
    // Appending continues after the snapshot.
    st.append(ents(11, [7]));
    assert.deepEqual(dump(st), ["7/10", "7/11"]);
  });

  test("a snapshot not newer than the current one throws SnapOutOfDate and changes nothing", () => {
    const st = storage345();
    mustThrowCode(() => st.applySnapshot(snapshotAt(3, 3, [1])), "SnapOutOfDate");
    mustThrowCode(() => st.applySnapshot(snapshotAt(2, 2, [1])), "SnapOutOfDate");
    assert.deepEqual(dump(st), ["3/3", "4/4", "5/5"]);
  });
});
