/**
 * RaftLog: the log as one node sees it (stable storage followed by unstable entries), with the
 * append/conflict rules of §5.3, the election restriction of §5.4.1 and the commit rules.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ENTRY_OVERHEAD_BYTES, MemoryStorage, RaftError, RaftInvariantError, RaftLog, type Entry } from "../src/index.js";
import { entry, snapshotAt } from "./harness.js";

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** Entries with the given terms at indexes first, first+1, ... */
function ents(first: number, terms: number[]): Entry[] {
  return terms.map((t, i) => entry(first + i, t));
}

function ids(es: Entry[]): string[] {
  return es.map((e) => `${e.term}/${e.index}`);
}

/** A log whose stable storage holds `terms` at 1..n and nothing unstable. */
function logWithStable(terms: number[], maxNext = NO_LIMIT): RaftLog {
  const st = MemoryStorage.withPeers([1]);
  st.append(ents(1, terms));
  return new RaftLog(st, maxNext);
}

/** A log whose storage was restored from a snapshot at (index, term), then holds `stable` and `unstable` after it. */
function logAfterSnapshot(index: number, term: number, stable: Entry[], unstable: Entry[] = [], maxNext = NO_LIMIT): RaftLog {
  const st = new MemoryStorage();
  st.applySnapshot(snapshotAt(index, term, [1]));
  st.append(stable);
  const log = new RaftLog(st, maxNext);
  if (unstable.length > 0) log.append(unstable);
  return log;
}

function mustThrowCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RaftError && e.code === code);
}

describe("RaftLog: a new log", () => {
  test("a log on a storage starts with committed and applied at the storage's first index - 1, and unstable after its last", () => {
    const log = logAfterSnapshot(5, 2, ents(6, [2, 3]));
    assert.equal(log.committed, 5);
    assert.equal(log.applied, 5);
    assert.equal(log.firstIndex(), 6);
    assert.equal(log.lastIndex(), 7);
    assert.equal(log.unstable.offset, 8);
    assert.equal(log.lastTerm(), 3);
  });
});

describe("RaftLog.findConflict", () => {
  const cases: [Entry[], number][] = [
    [[], 0],
    // all present
    [ents(1, [1, 2, 3]), 0],
    [ents(2, [2, 3]), 0],
    [ents(3, [3]), 0],
    // new entries after the log
    [ents(1, [1, 2, 3, 4, 4]), 4],
    [ents(2, [2, 3, 4, 4]), 4],
    [ents(3, [3, 4, 4]), 4],
    [ents(4, [4, 4]), 4],
    // conflicting terms
    [ents(1, [4, 4]), 1],
    [ents(2, [1, 4, 4]), 2],
    [ents(3, [1, 2, 4, 4]), 3],
  ];
  for (const [incoming, want] of cases) {
    test(`the first new or conflicting entry of [${ids(incoming).join(" ")}] against [1/1 2/2 3/3] is ${want} (0 = none)`, () => {
      assert.equal(logWithStable([1, 2, 3]).findConflict(incoming), want);
    });
  }
});

describe("RaftLog.findConflictByTerm", () => {
  // Terms at 1..5: 2 2 5 5 5
  const cases: [number, number, { index: number; term: number }][] = [
    [5, 6, { index: 5, term: 5 }],
    [5, 5, { index: 5, term: 5 }],
    [5, 4, { index: 2, term: 2 }],
    [5, 2, { index: 2, term: 2 }],
    [3, 4, { index: 2, term: 2 }],
    [1, 2, { index: 1, term: 2 }],
    [5, 1, { index: 0, term: 0 }],
    [0, 9, { index: 0, term: 0 }],
  ];
  for (const [index, term, want] of cases) {
    test(`the last entry at or before ${index} with term ≤ ${term} in [2 2 5 5 5] is ${want.term}/${want.index}`, () => {
      assert.deepEqual(logWithStable([2, 2, 5, 5, 5]).findConflictByTerm(index, term), want);
    });
  }

  test("below the compaction point the term is unknown (0) and the index is returned as a possible match", () => {
    // Snapshot at 2 (term 2), then 3..5 at term 5.
    const log = logAfterSnapshot(2, 2, ents(3, [5, 5, 5]));
    assert.deepEqual(log.findConflictByTerm(5, 4), { index: 2, term: 2 }, "the snapshot's own index and term are known");
    assert.deepEqual(log.findConflictByTerm(5, 1), { index: 1, term: 0 });
  });
});

describe("RaftLog.isUpToDate (§5.4.1)", () => {
  // Our last entry is 3/3.
  const cases: [number, number, boolean][] = [
    // a higher last term wins whatever the length
    [2, 4, true],
    [3, 4, true],
    [4, 4, true],
    // a lower last term loses whatever the length
    [2, 2, false],
    [3, 2, false],
    [4, 2, false],
    // the same last term: the longer (or equal) log wins
    [2, 3, false],
    [3, 3, true],
    [4, 3, true],
  ];
  for (const [lastIndex, term, want] of cases) {
    test(`a log ending at ${term}/${lastIndex} is ${want ? "" : "not "}at least as up to date as one ending at 3/3`, () => {
      assert.equal(logWithStable([1, 2, 3]).isUpToDate(lastIndex, term), want);
    });
  }
});

describe("RaftLog.maybeAppend", () => {
  // Log 1/1 2/2 3/3 with commit 1.
  const cases: { name: string; logTerm: number; index: number; commit: number; ents: Entry[]; want: number | undefined; commitAfter: number; log?: string[] }[] = [
    { name: "a term mismatch at the previous index is refused", logTerm: 2, index: 3, commit: 3, ents: ents(4, [4]), want: undefined, commitAfter: 1 },
    { name: "a previous index beyond the log is refused", logTerm: 3, index: 4, commit: 3, ents: ents(5, [4]), want: undefined, commitAfter: 1 },
    { name: "no entries, matching last entry: commit follows the leader", logTerm: 3, index: 3, commit: 3, ents: [], want: 3, commitAfter: 3 },
    { name: "commit never goes beyond the last new entry", logTerm: 3, index: 3, commit: 4, ents: [], want: 3, commitAfter: 3 },
    { name: "commit may advance less than the last new entry", logTerm: 3, index: 3, commit: 2, ents: [], want: 3, commitAfter: 2 },
    { name: "commit never decreases", logTerm: 3, index: 3, commit: 0, ents: [], want: 3, commitAfter: 1 },
    { name: "an empty probe at index 0 matches", logTerm: 0, index: 0, commit: 3, ents: [], want: 0, commitAfter: 1 },
    { name: "new entries are appended; commit is bounded by the leader's", logTerm: 3, index: 3, commit: 3, ents: ents(4, [4]), want: 4, commitAfter: 3, log: ["1/1", "2/2", "3/3", "4/4"] },
    { name: "commit reaches the last new entry", logTerm: 3, index: 3, commit: 4, ents: ents(4, [4]), want: 4, commitAfter: 4 },
    { name: "commit is bounded by the last new entry", logTerm: 3, index: 3, commit: 5, ents: ents(4, [4]), want: 4, commitAfter: 4 },
    { name: "several new entries", logTerm: 3, index: 3, commit: 5, ents: ents(4, [4, 4]), want: 5, commitAfter: 5 },
    { name: "a conflicting last entry is replaced", logTerm: 2, index: 2, commit: 3, ents: ents(3, [4]), want: 3, commitAfter: 3, log: ["1/1", "2/2", "4/3"] },
    { name: "conflicting entries from the middle are truncated and replaced", logTerm: 1, index: 1, commit: 3, ents: ents(2, [4]), want: 2, commitAfter: 2, log: ["1/1", "4/2"] },
    { name: "several replacing entries", logTerm: 1, index: 1, commit: 3, ents: ents(2, [4, 4]), want: 3, commitAfter: 3, log: ["1/1", "4/2", "4/3"] },
    { name: "entries already present are not rewritten", logTerm: 1, index: 1, commit: 2, ents: ents(2, [2]), want: 2, commitAfter: 2, log: ["1/1", "2/2", "3/3"] },
  ];
  for (const c of cases) {
    test(`maybeAppend: ${c.name}`, () => {
      const log = logWithStable([1, 2, 3]);
      log.commitTo(1);
      assert.equal(log.maybeAppend(c.index, c.logTerm, c.commit, c.ents), c.want);
      assert.equal(log.committed, c.commitAfter);
      if (c.log) assert.deepEqual(ids(log.allEntries()), c.log);
    });
  }

  test("maybeAppend: an entry conflicting with a committed one is a broken invariant", () => {
    const log = logWithStable([1, 2, 3]);
    log.commitTo(1);
    assert.throws(() => log.maybeAppend(0, 0, 3, ents(1, [4])), RaftInvariantError);
  });

  test("maybeAppend: a replacement goes to the unstable part and starts where the conflict is", () => {
    const log = logWithStable([1, 2, 3]);
    log.maybeAppend(1, 1, 1, ents(2, [2, 4, 4]));
    assert.equal(log.unstable.offset, 3);
    assert.deepEqual(ids(log.unstableEntries()), ["4/3", "4/4"]);
  });
});

describe("RaftLog.append", () => {
  // Stable 1/1 2/2.
  const cases: [Entry[], number, string[], number][] = [
    [[], 2, ["1/1", "2/2"], 3],
    [ents(3, [2]), 3, ["1/1", "2/2", "2/3"], 3],
    // conflicts with index 1: everything from 1 is replaced
    [ents(1, [2]), 1, ["2/1"], 1],
    // conflicts with index 2
    [ents(2, [3, 3]), 3, ["1/1", "3/2", "3/3"], 2],
  ];
  for (const [incoming, last, log, offset] of cases) {
    test(`append [${ids(incoming).join(" ")}] to [1/1 2/2] gives [${log.join(" ")}] with unstable from ${offset}`, () => {
      const l = logWithStable([1, 2]);
      assert.equal(l.append(incoming), last);
      assert.deepEqual(ids(l.allEntries()), log);
      assert.equal(l.unstable.offset, offset);
    });
  }

  test("appending after (that is, over) a committed entry is a broken invariant", () => {
    const l = logWithStable([1, 2]);
    l.commitTo(2);
    assert.throws(() => l.append(ents(2, [3])), RaftInvariantError);
  });
});

describe("RaftLog commit and apply", () => {
  test("commitTo beyond the last index is a broken invariant; a lower commit is ignored", () => {
    const log = logWithStable([1, 2, 3]);
    log.commitTo(3);
    assert.equal(log.committed, 3);
    log.commitTo(1);
    assert.equal(log.committed, 3, "commit never decreases");
    assert.throws(() => log.commitTo(4), RaftInvariantError);
    assert.equal(log.committed, 3);
  });

  test("maybeCommit commits only an index whose entry is of the given term", () => {
    const log = logWithStable([1, 2, 2]);
    assert.equal(log.maybeCommit(3, 1), false);
    assert.equal(log.committed, 0);
    assert.equal(log.maybeCommit(3, 2), true);
    assert.equal(log.committed, 3);
    assert.equal(log.maybeCommit(2, 2), false, "never backwards");
    assert.equal(log.committed, 3);
  });

  test("appliedTo cannot pass the commit index or go backwards; 0 is ignored", () => {
    const log = logWithStable([1, 1, 1]);
    log.commitTo(2);
    log.appliedTo(2);
    assert.equal(log.applied, 2);
    log.appliedTo(0);
    assert.equal(log.applied, 2);
    assert.throws(() => log.appliedTo(3), RaftInvariantError);
    assert.throws(() => log.appliedTo(1), RaftInvariantError);
  });
});

describe("RaftLog.nextEntries", () => {
  // Snapshot at 3 (term 1); entries 4, 5, 6; commit 5.
  const cases: [number, string[]][] = [
    [0, ["1/4", "1/5"]], // applied below the snapshot counts as the snapshot index
    [3, ["1/4", "1/5"]],
    [4, ["1/5"]],
    [5, []],
  ];
  for (const [applied, want] of cases) {
    test(`with applied ${applied} and commit 5, the entries to apply are [${want.join(" ")}]`, () => {
      const log = logAfterSnapshot(3, 1, ents(4, [1, 1, 1]));
      log.maybeCommit(5, 1);
      log.appliedTo(applied);
      assert.deepEqual(ids(log.nextEntries()), want);
      assert.equal(log.hasNextEntries(), want.length > 0);
    });
  }

  test("committed entries are handed out within maxCommittedSizePerReady, but at least one", () => {
    const sizes = (n: number) => n * (ENTRY_OVERHEAD_BYTES + 10);
    const mk = (limit: number) => {
      const st = MemoryStorage.withPeers([1]);
      st.append([1, 2, 3, 4].map((i) => entry(i, 1, "0123456789")));
      const log = new RaftLog(st, limit);
      log.commitTo(4);
      return log;
    };
    assert.equal(mk(sizes(4)).nextEntries().length, 4);
    assert.equal(mk(sizes(2)).nextEntries().length, 2);
    assert.equal(mk(sizes(2) + 1).nextEntries().length, 2);
    assert.equal(mk(sizes(3) - 1).nextEntries().length, 2);
    assert.equal(mk(1).nextEntries().length, 1, "an oversized first entry still goes out alone");
    const log = mk(sizes(2));
    log.appliedTo(2);
    assert.deepEqual(ids(log.nextEntries()), ["1/3", "1/4"]);
  });

  test("unstable committed entries are handed out too", () => {
    const log = logAfterSnapshot(3, 1, ents(4, [1]), ents(5, [2, 2]));
    log.commitTo(6);
    assert.deepEqual(ids(log.nextEntries()), ["1/4", "2/5", "2/6"]);
  });
});

describe("RaftLog: term, slice and compaction", () => {
  // Snapshot at 100 (term 100); stable 101..149, unstable 150..199; terms equal indexes.
  const mk = (maxNext = NO_LIMIT) => {
    const stable = Array.from({ length: 49 }, (_, i) => entry(101 + i, 101 + i));
    const unstable = Array.from({ length: 50 }, (_, i) => entry(150 + i, 150 + i));
    return logAfterSnapshot(100, 100, stable, unstable, maxNext);
  };

  test("term: known from the snapshot index to the last index; 0 outside", () => {
    const log = mk();
    assert.equal(log.firstIndex(), 101);
    assert.equal(log.lastIndex(), 199);
    assert.equal(log.term(100), 100, "the snapshot's index keeps its term");
    assert.equal(log.term(101), 101);
    assert.equal(log.term(149), 149, "stable");
    assert.equal(log.term(150), 150, "unstable");
    assert.equal(log.term(199), 199);
    assert.equal(log.term(99), 0);
    assert.equal(log.term(200), 0);
    assert.equal(log.matchTerm(100, 100), true);
    assert.equal(log.matchTerm(199, 198), false);
  });

  const sliceCases: [number, number, number, string[] | "Compacted" | "invariant"][] = [
    [99, 101, NO_LIMIT, "Compacted"],
    [100, 101, NO_LIMIT, "Compacted"],
    [101, 101, NO_LIMIT, []],
    [101, 103, NO_LIMIT, ["101/101", "102/102"]],
    [148, 152, NO_LIMIT, ["148/148", "149/149", "150/150", "151/151"]],
    [150, 152, NO_LIMIT, ["150/150", "151/151"]],
    [198, 200, NO_LIMIT, ["198/198", "199/199"]],
    [199, 201, NO_LIMIT, "invariant"],
    [103, 101, NO_LIMIT, "invariant"],
    // size limits: at least one entry; stable and unstable parts count together
    [148, 152, 0, ["148/148"]],
    [148, 152, 2 * ENTRY_OVERHEAD_BYTES, ["148/148", "149/149"]],
    [148, 152, 3 * ENTRY_OVERHEAD_BYTES, ["148/148", "149/149", "150/150"]],
    [148, 152, 3 * ENTRY_OVERHEAD_BYTES - 1, ["148/148", "149/149"]],
    [150, 153, ENTRY_OVERHEAD_BYTES, ["150/150"]],
  ];
  for (const [lo, hi, max, want] of sliceCases) {
    const what = typeof want === "string" ? (want === "Compacted" ? "throws Compacted" : "is a broken invariant") : `is [${want.join(" ")}]`;
    test(`slice [${lo}, ${hi}) within ${max === NO_LIMIT ? "no limit" : `${max} bytes`} ${what}`, () => {
      const log = mk();
      if (want === "Compacted") mustThrowCode(() => log.slice(lo, hi, max), "Compacted");
      else if (want === "invariant") assert.throws(() => log.slice(lo, hi, max), RaftInvariantError);
      else assert.deepEqual(ids(log.slice(lo, hi, max)), want);
    });
  }

  test("entries(i) beyond the last index is empty; below the first it throws Compacted", () => {
    const log = mk();
    assert.deepEqual(log.entries(200, NO_LIMIT), []);
    assert.equal(log.entries(190, NO_LIMIT).length, 10);
    mustThrowCode(() => log.entries(50, NO_LIMIT), "Compacted");
  });

  test("after the storage compacts, the compacted range throws Compacted and the rest is intact", () => {
    const st = MemoryStorage.withPeers([1]);
    st.append(ents(1, [1, 1, 2, 2, 3]));
    const log = new RaftLog(st, NO_LIMIT);
    log.commitTo(5);
    st.compact(3);
    assert.equal(log.firstIndex(), 4);
    assert.equal(log.term(3), 2);
    assert.equal(log.zeroTermOnCompacted(3), 2);
    mustThrowCode(() => log.slice(3, 5, NO_LIMIT), "Compacted");
    assert.deepEqual(ids(log.slice(4, 6, NO_LIMIT)), ["2/4", "3/5"]);
    assert.deepEqual(ids(log.allEntries()), ["2/4", "3/5"]);
  });
});

describe("RaftLog.restore", () => {
  test("restoring a snapshot moves commit to its index and leaves the log ending at it, pending persistence", () => {
    const log = logWithStable([1, 1, 1]);
    log.commitTo(2);
    const snap = snapshotAt(10, 5, [1, 2, 3]);
    log.restore(snap);
    assert.equal(log.committed, 10);
    assert.equal(log.firstIndex(), 11);
    assert.equal(log.lastIndex(), 10);
    assert.equal(log.lastTerm(), 5);
    assert.equal(log.term(10), 5);
    assert.equal(log.unstable.offset, 11);
    assert.deepEqual(log.unstableEntries(), []);
    assert.equal(log.hasPendingSnapshot(), true);
    assert.equal(log.snapshot(), snap);
    assert.deepEqual(log.allEntries(), []);

    // New entries continue after the snapshot.
    assert.equal(log.maybeAppend(10, 5, 11, ents(11, [5])), 11);
    assert.equal(log.committed, 11);

    // Once persisted, the snapshot is no longer pending.
    log.stableSnapTo(10);
    assert.equal(log.hasPendingSnapshot(), false);
  });
});

describe("RaftLog: unstable entries become stable", () => {
  test("stableTo drops persisted entries from the unstable part but keeps them readable from storage", () => {
    const st = MemoryStorage.withPeers([1]);
    const log = new RaftLog(st, NO_LIMIT);
    log.append(ents(1, [1, 1, 2]));
    assert.deepEqual(ids(log.unstableEntries()), ["1/1", "1/2", "2/3"]);
    st.append(log.unstableEntries().slice(0, 2));
    log.stableTo(2, 1);
    assert.deepEqual(ids(log.unstableEntries()), ["2/3"]);
    assert.deepEqual(ids(log.allEntries()), ["1/1", "1/2", "2/3"]);
    // A stableTo for an entry that was since replaced (term mismatch) is ignored.
    log.stableTo(3, 1);
    assert.deepEqual(ids(log.unstableEntries()), ["2/3"]);
  });
});
