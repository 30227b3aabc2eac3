/**
 * Unstable: the part of the log waiting to be persisted (an incoming snapshot and/or entries).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RaftInvariantError, Unstable, type Entry, type Snapshot } from "../src/index.js";
import { entry, snapshotAt } from "./harness.js";

function unstable(offset: number, es: Entry[], snap?: Snapshot): Unstable {
  const u = new Unstable(offset);
  u.entries = es;
  u.snapshot = snap;
  return u;
}

function ids(es: Entry[]): string[] {
  return es.map((e) => `${e.term}/${e.index}`);
}

const snap = (index: number, term: number) => snapshotAt(index, term, [1]);

describe("Unstable first and last index", () => {
  const cases: [string, Unstable, number | undefined, number | undefined][] = [
    ["entries only", unstable(5, [entry(5, 1)]), undefined, 5],
    ["nothing", unstable(0, []), undefined, undefined],
    ["a snapshot and entries", unstable(5, [entry(5, 1)], snap(4, 1)), 5, 5],
    ["a snapshot only", unstable(5, [], snap(4, 1)), 5, 4],
    ["several entries", unstable(5, [entry(5, 1), entry(6, 1)]), undefined, 6],
  ];
  for (const [name, u, first, last] of cases) {
    test(`with ${name}, the first index is known only through a snapshot (${first}) and the last is ${last}`, () => {
      assert.equal(u.maybeFirstIndex(), first);
      assert.equal(u.maybeLastIndex(), last);
    });
  }
});

describe("Unstable.maybeTerm", () => {
  const cases: [string, Unstable, number, number | undefined][] = [
    ["an entry", unstable(5, [entry(5, 1)]), 5, 1],
    ["past the last entry", unstable(5, [entry(5, 1)]), 6, undefined],
    ["before the offset, no snapshot", unstable(5, [entry(5, 1)]), 4, undefined],
    ["an entry after a snapshot", unstable(5, [entry(5, 1)], snap(4, 1)), 5, 1],
    ["past the last entry after a snapshot", unstable(5, [entry(5, 1)], snap(4, 1)), 6, undefined],
    ["the snapshot's index", unstable(5, [entry(5, 1)], snap(4, 1)), 4, 1],
    ["before the snapshot", unstable(5, [entry(5, 1)], snap(4, 1)), 3, undefined],
    ["the offset with a snapshot only", unstable(5, [], snap(4, 1)), 5, undefined],
    ["the snapshot's index with a snapshot only", unstable(5, [], snap(4, 1)), 4, 1],
    ["nothing at all", unstable(0, []), 5, undefined],
  ];
  for (const [name, u, i, want] of cases) {
    test(`the term of ${name} (index ${i}) is ${want ?? "unknown"}`, () => {
      assert.equal(u.maybeTerm(i), want);
    });
  }
});

describe("Unstable.stableTo", () => {
  const cases: [string, Unstable, number, number, number, number][] = [
    ["nothing unstable", unstable(0, []), 5, 1, 0, 0],
    ["the only entry", unstable(5, [entry(5, 1)]), 5, 1, 6, 0],
    ["the first of two entries", unstable(5, [entry(5, 1), entry(6, 1)]), 5, 1, 6, 1],
    ["an entry with a different term (it was replaced): ignored", unstable(6, [entry(6, 2)]), 6, 1, 6, 1],
    ["an index before the offset (already stable): ignored", unstable(5, [entry(5, 1)]), 4, 1, 5, 1],
    ["an index before the offset with another term: ignored", unstable(5, [entry(5, 1)]), 4, 2, 5, 1],
    ["the only entry after a snapshot", unstable(5, [entry(5, 1)], snap(4, 1)), 5, 1, 6, 0],
    ["the first of two entries after a snapshot", unstable(5, [entry(5, 1), entry(6, 1)], snap(4, 1)), 5, 1, 6, 1],
    ["a replaced entry after a snapshot: ignored", unstable(6, [entry(6, 2)], snap(5, 1)), 6, 1, 6, 1],
    ["the snapshot's own index (the snapshot is made stable by stableSnapTo): ignored", unstable(5, [entry(5, 1)], snap(4, 1)), 4, 1, 5, 1],
    ["the snapshot's index with another term: ignored", unstable(5, [entry(5, 2)], snap(4, 2)), 4, 1, 5, 1],
  ];
  for (const [name, u, i, t, offset, len] of cases) {
    test(`stableTo(${i}, ${t}) on ${name} leaves offset ${offset} and ${len} entries`, () => {
      u.stableTo(i, t);
      assert.equal(u.offset, offset);
      assert.equal(u.entries.length, len);
    });
  }

  test("stableSnapTo clears the snapshot only when the index matches", () => {
    const u = unstable(5, [], snap(4, 1));
    u.stableSnapTo(3);
    assert.notEqual(u.snapshot, undefined);
    u.stableSnapTo(4);
    assert.equal(u.snapshot, undefined);
  });
});

describe("Unstable.truncateAndAppend", () => {
  const cases: [string, number, Entry[], Entry[], number, string[]][] = [
    ["appends right after the last entry", 5, [entry(5, 1)], [entry(6, 1), entry(7, 1)], 5, ["1/5", "1/6", "1/7"]],
    ["replaces everything when starting at the offset", 5, [entry(5, 1)], [entry(5, 2), entry(6, 2)], 5, ["2/5", "2/6"]],
    ["replaces everything and moves the offset back when starting before it", 5, [entry(5, 1)], [entry(4, 2), entry(5, 2), entry(6, 2)], 4, ["2/4", "2/5", "2/6"]],
    ["truncates from a middle entry", 5, [entry(5, 1), entry(6, 1), entry(7, 1)], [entry(6, 2)], 5, ["1/5", "2/6"]],
    ["truncates the last entry and appends", 5, [entry(5, 1), entry(6, 1), entry(7, 1)], [entry(7, 2), entry(8, 2)], 5, ["1/5", "1/6", "2/7", "2/8"]],
    ["appends onto an empty unstable part", 5, [], [entry(5, 1)], 5, ["1/5"]],
  ];
  for (const [name, offset, existing, incoming, wantOffset, want] of cases) {
    test(`truncateAndAppend ${name}`, () => {
      const u = unstable(offset, existing.slice());
      u.truncateAndAppend(incoming);
      assert.equal(u.offset, wantOffset);
      assert.deepEqual(ids(u.entries), want);
    });
  }

  test("truncateAndAppend does not alias the caller's array", () => {
    const u = unstable(5, [entry(5, 1)]);
    const incoming = [entry(5, 2)];
    u.truncateAndAppend(incoming);
    incoming.push(entry(6, 2));
    assert.deepEqual(ids(u.entries), ["2/5"]);
  });
});

describe("Unstable.restore", () => {
  test("restoring a snapshot drops every entry and moves the offset past the snapshot", () => {
    const u = unstable(5, [entry(5, 1)], snap(4, 1));
    const s = snap(6, 2);
    u.restore(s);
    assert.equal(u.offset, 7);
    assert.deepEqual(u.entries, []);
    assert.equal(u.snapshot, s);
    assert.equal(u.maybeFirstIndex(), 7);
    assert.equal(u.maybeLastIndex(), 6);
    assert.equal(u.maybeTerm(6), 2);
  });
});

describe("Unstable.slice", () => {
  test("a slice within the unstable entries is returned; outside them it is a broken invariant", () => {
    const u = unstable(5, [entry(5, 1), entry(6, 1), entry(7, 2)]);
    assert.deepEqual(ids(u.slice(6, 8)), ["1/6", "2/7"]);
    assert.deepEqual(u.slice(5, 5), []);
    assert.throws(() => u.slice(4, 6), RaftInvariantError);
    assert.throws(() => u.slice(6, 9), RaftInvariantError);
    assert.throws(() => u.slice(7, 6), RaftInvariantError);
  });
});
