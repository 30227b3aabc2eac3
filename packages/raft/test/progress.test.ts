/**
 * The leader's bookkeeping: Inflights (the flow-control window), Progress (one follower's
 * replication state machine), ProgressTracker (membership and progress of every member) and the
 * majority arithmetic in quorum.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Inflights, Progress, ProgressState, ProgressTracker, RaftInvariantError, VoteResult, quorum } from "../src/index.js";
import { committedIndex, voteResult } from "../src/quorum.js";

function addAll(inf: Inflights, from: number, to: number): void {
  for (let i = from; i <= to; i++) inf.add(i);
}

describe("Inflights", () => {
  test("the window fills up to its size, and adding to a full window is a broken invariant", () => {
    const inf = new Inflights(10);
    addAll(inf, 0, 4);
    assert.equal(inf.length, 5);
    assert.equal(inf.full(), false);
    addAll(inf, 5, 9);
    assert.equal(inf.length, 10);
    assert.equal(inf.full(), true);
    assert.throws(() => inf.add(10), RaftInvariantError);
  });

  test("freeLE frees every message whose last index is at or below the ack, and nothing below the oldest", () => {
    const inf = new Inflights(10);
    addAll(inf, 0, 9);
    inf.freeLE(-1);
    assert.equal(inf.length, 10, "an ack below the oldest frees nothing");
    inf.freeLE(0);
    assert.equal(inf.length, 9);
    inf.freeLE(4);
    assert.equal(inf.length, 5);
    inf.freeLE(4);
    assert.equal(inf.length, 5, "a repeated ack frees nothing more");
    inf.freeLE(8);
    assert.equal(inf.length, 1);
    inf.freeLE(100);
    assert.equal(inf.length, 0);
  });

  test("the ring wraps around: slots freed at the front are reused for new messages, in order", () => {
    const inf = new Inflights(10);
    addAll(inf, 0, 9);
    inf.freeLE(4); // 5..9 left in the back half
    addAll(inf, 10, 14); // wraps into the front half
    assert.equal(inf.full(), true);
    assert.throws(() => inf.add(15), RaftInvariantError);

    inf.freeLE(8); // frees 5..8 (back half)
    assert.equal(inf.length, 6);
    inf.freeLE(12); // frees 9 (last back slot) and 10..12 (wrapped)
    assert.equal(inf.length, 2);
    addAll(inf, 15, 22);
    assert.equal(inf.full(), true);
    inf.freeLE(14);
    assert.equal(inf.length, 8, "13 and 14 freed after wrapping twice");
    inf.freeLE(22);
    assert.equal(inf.length, 0);
    // Empty again: it starts over cleanly.
    addAll(inf, 23, 32);
    assert.equal(inf.full(), true);
    inf.freeLE(27);
    assert.equal(inf.length, 5);
  });

  test("freeFirstOne frees exactly the oldest message", () => {
    const inf = new Inflights(10);
    addAll(inf, 0, 9);
    inf.freeFirstOne();
    assert.equal(inf.length, 9);
    assert.equal(inf.full(), false);
    inf.freeLE(0);
    assert.equal(inf.length, 9, "0 was already freed");
    inf.freeLE(1);
    assert.equal(inf.length, 8);
    const empty = new Inflights(3);
    empty.freeFirstOne();
    assert.equal(empty.length, 0);
  });

  test("freeFirstOne after wrapping frees the oldest, not the slot at the front of the buffer", () => {
    const inf = new Inflights(4);
    addAll(inf, 1, 4);
    inf.freeLE(2);
    addAll(inf, 5, 6); // slots: [5, 6, 3, 4], oldest is 3
    inf.freeFirstOne();
    assert.equal(inf.length, 3);
    inf.freeLE(3);
    assert.equal(inf.length, 3, "3 was the one freed");
    inf.freeLE(4);
    assert.equal(inf.length, 2);
  });

  test("reset empties the window", () => {
    const inf = new Inflights(3);
    addAll(inf, 1, 3);
    inf.reset();
    assert.equal(inf.length, 0);
    addAll(inf, 7, 9);
    assert.equal(inf.full(), true);
  });
});

function progress(state: ProgressState, match: number, next: number, opts: { pendingSnapshot?: number; probeSent?: boolean; inflight?: number } = {}): Progress {
  const pr = new Progress(next, opts.inflight ?? 256, false);
  pr.match = match;
  pr.state = state;
  pr.pendingSnapshot = opts.pendingSnapshot ?? 0;
  pr.probeSent = opts.probeSent ?? false;
  return pr;
}

describe("Progress.maybeDecrTo", () => {
  const { Probe, Replicate } = ProgressState;
  const cases: [string, ProgressState, number, number, number, number, boolean, number][] = [
    // state, match, next, rejected, hint → accepted, next
    ["replicate: a rejection at or below match is stale", Replicate, 5, 10, 5, 5, false, 10],
    ["replicate: a rejection below match is stale", Replicate, 5, 10, 4, 4, false, 10],
    ["replicate: a rejection above match falls back to match+1", Replicate, 5, 10, 9, 9, true, 6],
    ["probe: a rejection of something other than the last probe is stale", Probe, 0, 10, 5, 5, false, 10],
    ["probe: the probe's rejection moves next to the rejected index", Probe, 0, 10, 9, 9, true, 9],
    ["probe: next moves down by one without a better hint", Probe, 0, 2, 1, 1, true, 1],
    ["probe: next never goes below 1", Probe, 0, 1, 0, 0, true, 1],
    ["probe: the hint jumps back past a whole divergent range", Probe, 0, 10, 9, 2, true, 3],
    ["probe: a hint of 0 restarts from the beginning", Probe, 0, 10, 9, 0, true, 1],
  ];
  for (const [name, state, match, next, rejected, hint, accepted, wantNext] of cases) {
    test(`maybeDecrTo, ${name}`, () => {
      const pr = progress(state, match, next, { probeSent: state === Probe });
      assert.equal(pr.maybeDecrTo(rejected, hint), accepted);
      assert.equal(pr.match, match, "match never changes on a rejection");
      assert.equal(pr.next, wantNext);
      if (state === Probe) assert.equal(pr.probeSent, !accepted, "an accepted rejection unpauses the probe");
    });
  }
});

describe("Progress state changes", () => {
  test("becomeProbe from Replicate resumes after match", () => {
    const pr = progress(ProgressState.Replicate, 1, 5);
    pr.inflights.add(3);
    pr.becomeProbe();
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.next, 2);
    assert.equal(pr.inflights.length, 0, "the window is reset");
  });

  test("becomeProbe after a snapshot resumes after the snapshot, or after match if that is further", () => {
    const pr = progress(ProgressState.Snapshot, 1, 5, { pendingSnapshot: 10 });
    pr.becomeProbe();
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.next, 11);
    assert.equal(pr.pendingSnapshot, 0);

    const failed = progress(ProgressState.Snapshot, 1, 5, { pendingSnapshot: 0 });
    failed.becomeProbe();
    assert.equal(failed.next, 2, "a failed (forgotten) snapshot resumes after match");

    const ahead = progress(ProgressState.Snapshot, 12, 13, { pendingSnapshot: 10 });
    ahead.becomeProbe();
    assert.equal(ahead.next, 13);
  });

  test("becomeReplicate streams from match+1; becomeSnapshot records the snapshot index", () => {
    const pr = progress(ProgressState.Probe, 1, 5, { probeSent: true });
    pr.becomeReplicate();
    assert.equal(pr.state, ProgressState.Replicate);
    assert.equal(pr.next, 2);
    assert.equal(pr.probeSent, false);
    pr.becomeSnapshot(10);
    assert.equal(pr.state, ProgressState.Snapshot);
    assert.equal(pr.pendingSnapshot, 10);
    assert.equal(pr.match, 1);
  });

  test("maybeUpdate advances match only forward, and next never moves back", () => {
    const cases: [number, boolean, number, number][] = [
      // ack → updated, match, next (from match 3, next 5)
      [2, false, 3, 5],
      [3, false, 3, 5],
      [4, true, 4, 5],
      [5, true, 5, 6],
      [7, true, 7, 8],
    ];
    for (const [n, updated, match, next] of cases) {
      const pr = progress(ProgressState.Probe, 3, 5, { probeSent: true });
      assert.equal(pr.maybeUpdate(n), updated, `ack ${n}`);
      assert.equal(pr.match, match, `ack ${n}`);
      assert.equal(pr.next, next, `ack ${n}`);
      assert.equal(pr.probeSent, !updated, `ack ${n}: a new match unpauses`);
    }
  });

  test("optimisticUpdate moves next past what was just sent", () => {
    const pr = progress(ProgressState.Replicate, 3, 4);
    pr.optimisticUpdate(9);
    assert.equal(pr.next, 10);
    assert.equal(pr.match, 3);
  });
});

describe("Progress.isPaused", () => {
  test("Probe pauses only while a probe is outstanding", () => {
    assert.equal(progress(ProgressState.Probe, 0, 1).isPaused(), false);
    assert.equal(progress(ProgressState.Probe, 0, 1, { probeSent: true }).isPaused(), true);
  });

  test("Replicate pauses only when the inflight window is full", () => {
    const pr = progress(ProgressState.Replicate, 0, 1, { inflight: 2 });
    assert.equal(pr.isPaused(), false);
    pr.inflights.add(1);
    assert.equal(pr.isPaused(), false);
    pr.inflights.add(2);
    assert.equal(pr.isPaused(), true);
    pr.inflights.freeLE(1);
    assert.equal(pr.isPaused(), false);
    pr.probeSent = true;
    assert.equal(pr.isPaused(), false, "probeSent means nothing in Replicate");
  });

  test("Snapshot always pauses", () => {
    assert.equal(progress(ProgressState.Snapshot, 0, 1, { pendingSnapshot: 5 }).isPaused(), true);
  });
});

describe("ProgressTracker", () => {
  function tracker(voters: number[], learners: number[] = [], matches: Record<number, number> = {}): ProgressTracker {
    const t = new ProgressTracker(256);
    t.reset({ voters, learners }, 1);
    for (const [id, m] of Object.entries(matches)) t.progress.get(Number(id))!.match = m;
    return t;
  }

  test("reset sorts and deduplicates the members, keeps learners apart from voters, and gives each a fresh progress", () => {
    const t = tracker([3, 1, 2, 1], [5, 2, 4]);
    assert.deepEqual(t.voters, [1, 2, 3]);
    assert.deepEqual(t.learners, [4, 5]);
    assert.deepEqual([...t.progress.keys()].sort(), [1, 2, 3, 4, 5]);
    assert.equal(t.progress.get(2)!.isLearner, false);
    assert.equal(t.progress.get(4)!.isLearner, true);
    assert.equal(t.progress.get(1)!.next, 1);
    assert.deepEqual(t.confState(), { voters: [1, 2, 3], learners: [4, 5] });
  });

  test("addVoter adds or promotes a learner; addLearner refuses to demote a voter; remove forgets the node and its vote", () => {
    const t = tracker([1], [2]);
    t.addVoter(2, 7);
    assert.deepEqual(t.voters, [1, 2]);
    assert.deepEqual(t.learners, []);
    assert.equal(t.progress.get(2)!.isLearner, false);
    assert.equal(t.progress.get(2)!.next, 1, "a promoted learner keeps its progress");
    t.addVoter(3, 7);
    assert.equal(t.progress.get(3)!.next, 7);
    assert.equal(t.progress.get(3)!.recentActive, true, "a new member counts as active");

    assert.equal(t.addLearner(3, 7), false);
    assert.deepEqual(t.voters, [1, 2, 3]);
    assert.equal(t.addLearner(4, 7), true);
    assert.deepEqual(t.learners, [4]);

    t.recordVote(3, true);
    t.remove(3);
    assert.deepEqual(t.voters, [1, 2]);
    assert.equal(t.progress.has(3), false);
    assert.equal(t.votes.has(3), false);
  });

  const committedCases: [number[], number][] = [
    [[5], 5],
    [[5, 3], 3],
    [[5, 3, 1], 3],
    [[1, 3, 5], 3],
    [[5, 4, 3, 1], 3],
    [[5, 5, 1, 1], 1],
    [[9, 8, 7, 6, 5], 7],
    [[0, 0, 9, 9, 9], 9],
    [[2, 2, 2, 0, 0], 2],
  ];
  for (const [matches, want] of committedCases) {
    test(`with ${matches.length} voter(s) matched at [${matches.join(", ")}] the committed index is ${want}`, () => {
      const voters = matches.map((_, i) => i + 1);
      const t = tracker(voters, [], Object.fromEntries(matches.map((m, i) => [i + 1, m])));
      assert.equal(t.committed(), want);
    });
  }

  test("learners never count toward the committed index", () => {
    const t = tracker([1, 2, 3], [4, 5], { 1: 5, 2: 1, 3: 1, 4: 5, 5: 5 });
    assert.equal(t.committed(), 1);
  });

  test("quorumActive counts the leader itself and recently active voters only", () => {
    const t = tracker([1, 2, 3, 4, 5], [6, 7]);
    t.progress.get(6)!.recentActive = true;
    t.progress.get(7)!.recentActive = true;
    t.progress.get(2)!.recentActive = true;
    assert.equal(t.quorumActive(1), false, "1 + 2 (learners ignored) is not 3 of 5");
    t.progress.get(3)!.recentActive = true;
    assert.equal(t.quorumActive(1), true);
  });

  test("hasQuorum counts acks from voters only", () => {
    const t = tracker([1, 2, 3], [4]);
    assert.equal(t.hasQuorum(new Set([1, 4])), false);
    assert.equal(t.hasQuorum(new Set([1, 3])), true);
    assert.equal(t.hasQuorum(new Set([9, 8, 7])), false);
  });

  test("recordVote keeps each voter's first answer; tallyVotes counts voters only", () => {
    const t = tracker([1, 2, 3], [4]);
    t.recordVote(1, true);
    t.recordVote(2, false);
    t.recordVote(2, true);
    t.recordVote(4, true);
    assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 1, result: VoteResult.Pending });
    t.recordVote(3, false);
    assert.deepEqual(t.tallyVotes(), { granted: 1, rejected: 2, result: VoteResult.Lost });
    t.resetVotes();
    assert.deepEqual(t.tallyVotes(), { granted: 0, rejected: 0, result: VoteResult.Pending });
  });
});

describe("quorum arithmetic", () => {
  test("a majority of 1..7 voters is 1, 2, 2, 3, 3, 4, 4", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(quorum), [1, 2, 2, 3, 3, 4, 4]);
  });

  const committed: [number[], number][] = [
    [[7], 7],
    [[7, 8], 7],
    [[8, 7], 7],
    [[2, 9, 4], 4],
    [[10, 2, 7, 5], 5],
    [[1, 2, 3, 4, 5], 3],
    [[5, 5, 5, 0, 0], 5],
  ];
  for (const [matches, want] of committed) {
    test(`committedIndex of [${matches.join(", ")}] is ${want}`, () => {
      const voters = matches.map((_, i) => i + 1);
      assert.equal(committedIndex(voters, (id) => matches[id - 1]!, []), want);
    });
  }

  test("committedIndex of no voters does not constrain commit", () => {
    assert.equal(committedIndex([], () => 0, []), Number.MAX_SAFE_INTEGER);
  });

  const { Won, Lost, Pending } = VoteResult;
  const votes: [number[], [number, boolean][], VoteResult][] = [
    [[], [], Won],
    [[1], [], Pending],
    [[1], [[1, true]], Won],
    [[1], [[1, false]], Lost],
    [[1, 2], [[1, true]], Pending],
    [[1, 2], [[1, true], [2, false]], Lost],
    [[1, 2], [[1, true], [2, true]], Won],
    [[1, 2, 3], [[1, true]], Pending],
    [[1, 2, 3], [[1, true], [2, false]], Pending],
    [[1, 2, 3], [[1, true], [2, true]], Won],
    [[1, 2, 3], [[1, false], [2, false]], Lost],
    [[1, 2, 3], [[4, true], [5, true], [1, true]], Pending],
    [[1, 2, 3, 4], [[1, true], [2, true]], Pending],
    [[1, 2, 3, 4], [[1, true], [2, false], [3, false]], Lost],
    [[1, 2, 3, 4, 5], [[1, true], [2, true], [3, false], [4, false]], Pending],
    [[1, 2, 3, 4, 5], [[1, true], [2, true], [3, true]], Won],
    [[1, 2, 3, 4, 5], [[1, false], [2, false], [3, false]], Lost],
  ];
  const names = { [Won]: "won", [Lost]: "lost", [Pending]: "pending" };
  for (const [voters, vs, want] of votes) {
    test(`an election among [${voters.join(", ")}] with votes {${vs.map(([id, g]) => `${id}:${g ? "yes" : "no"}`).join(" ")}} is ${names[want]}`, () => {
      assert.equal(voteResult(voters, new Map(vs)), want);
    });
  }
});
