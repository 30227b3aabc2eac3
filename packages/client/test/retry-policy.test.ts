import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { errorpb } from "@regionkv/proto";
import { CallScope, RetryBudget } from "../src/call-scope.js";
import { DeadlineExceededError, UnavailableError } from "../src/errors.js";
import { backoffDelayMs, decideRegionError, decideRpcFailure, describeRegionError, DEFAULT_BACKOFF } from "../src/retry-policy.js";

const peer = { id: 12n, storeId: 2n, role: 0 };
const err = (kind: errorpb.Error["kind"]): errorpb.Error => ({ message: "m", kind });

describe("decideRegionError", () => {
  test("each region error maps to one cache action; only StaleCommand may have applied", () => {
    const cases: [errorpb.Error, string, boolean, boolean][] = [
      [err({ $case: "notLeader", value: { regionId: 1n, leader: peer } }), "followLeader", false, false],
      [err({ $case: "notLeader", value: { regionId: 1n, leader: undefined } }), "tryNextPeer", true, false],
      [err({ $case: "regionNotFound", value: { regionId: 1n } }), "tryNextPeer", false, false],
      [err({ $case: "keyNotInRegion", value: { key: Buffer.from("k"), regionId: 1n, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) } }), "reloadRegion", true, false],
      [err({ $case: "epochNotMatch", value: { currentRegions: [{ id: 1n, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), peers: [] }] } }), "replaceRegions", false, false],
      [err({ $case: "epochNotMatch", value: { currentRegions: [] } }), "reloadRegion", true, false],
      [err({ $case: "serverIsBusy", value: { reason: "busy", backoffMs: 40n } }), "retryLater", true, false],
      [err({ $case: "staleCommand", value: {} }), "retryLater", true, true],
      [err({ $case: "storeNotMatch", value: { requestStoreId: 1n, actualStoreId: 2n } }), "refreshStore", true, false],
      [err({ $case: "raftEntryTooLarge", value: { regionId: 1n, entrySize: 9n } }), "fail", false, false],
      [err(undefined), "reloadRegion", true, false],
    ];
    for (const [e, action, backoff, mayHaveApplied] of cases) {
      const d = decideRegionError(e);
      const what = describeRegionError(e);
      assert.equal(d.action.kind, action, what);
      assert.equal(d.backoff, backoff, what);
      assert.equal(d.mayHaveApplied, mayHaveApplied, what);
    }
    const busy = decideRegionError(err({ $case: "serverIsBusy", value: { reason: "busy", backoffMs: 40n } }));
    assert.deepEqual(busy.action, { kind: "retryLater", minDelayMs: 40 });
  });

  test("describeRegionError names the kind and the leader hint", () => {
    assert.equal(describeRegionError(err({ $case: "notLeader", value: { regionId: 7n, leader: peer } })), "NotLeader (region 7; leader is peer 12 on store 2)");
    assert.equal(describeRegionError(err({ $case: "notLeader", value: { regionId: 7n, leader: undefined } })), "NotLeader (region 7; leader unknown)");
  });
});

describe("decideRpcFailure", () => {
  test("UNAVAILABLE tries the next peer; store timeouts retry later; both may have applied; INVALID_ARGUMENT is final and did not apply", () => {
    assert.deepEqual(decideRpcFailure(GrpcStatus.UNAVAILABLE), { action: { kind: "tryNextPeer" }, mayHaveApplied: true });
    assert.deepEqual(decideRpcFailure(GrpcStatus.DEADLINE_EXCEEDED), { action: { kind: "retryLater" }, mayHaveApplied: true });
    assert.deepEqual(decideRpcFailure(GrpcStatus.INVALID_ARGUMENT), { action: { kind: "invalidArgument" }, mayHaveApplied: false });
    assert.deepEqual(decideRpcFailure(GrpcStatus.UNIMPLEMENTED), { action: { kind: "fail" }, mayHaveApplied: false });
    assert.deepEqual(decideRpcFailure(GrpcStatus.INTERNAL), { action: { kind: "fail" }, mayHaveApplied: true });
  });
});

describe("backoffDelayMs", () => {
  test("doubles from the base, is capped, keeps at least half of each step (jitter), and honours a minimum", () => {
    const p = { baseMs: 10, capMs: 100 };
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelayMs(n, () => 0, p)), [5, 10, 20, 40, 50, 50]);
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelayMs(n, () => 0.999999, p)), [10, 20, 40, 80, 100, 100]);
    assert.equal(backoffDelayMs(0, () => 0.5, p, 70), 70);
    assert.equal(backoffDelayMs(1_000, () => 0.5, DEFAULT_BACKOFF) <= DEFAULT_BACKOFF.capMs, true);
  });
});

describe("CallScope", () => {
  const scope = (over: Partial<ConstructorParameters<typeof CallScope>[0]> = {}) =>
    new CallScope({
      op: "get",
      timeoutMs: 1_000,
      maxRetries: 10,
      backoff: { baseMs: 1, capMs: 2 },
      random: () => 0,
      callerSignal: undefined,
      clientSignal: new AbortController().signal,
      ...over,
    });

  test("immediate retries are capped in a row: the fifth one backs off", async () => {
    const s = scope();
    const b = new RetryBudget();
    for (let i = 0; i < 4; i++) await s.retry(b, false);
    assert.equal(b.backoffs, 0);
    await s.retry(b, false);
    assert.equal(b.backoffs, 1);
    assert.equal(b.immediate, 0);
    s.dispose();
  });

  test("the retry budget is shared with forks and ends in an UnavailableError", async () => {
    const s = scope({ maxRetries: 2 });
    const b = new RetryBudget();
    await s.retry(b, false);
    const f = b.fork();
    await s.retry(f, false);
    s.noteFailure("NotLeader (region 1; leader unknown)");
    await assert.rejects(s.retry(f, false), (e: unknown) => e instanceof UnavailableError && /2 retries.*NotLeader/.test(e.message));
    s.dispose();
  });

  test("the deadline aborts a sleep with DeadlineExceededError", async () => {
    const s = scope({ timeoutMs: 30 });
    await assert.rejects(s.sleep(10_000), DeadlineExceededError);
    assert.equal(s.timedOut, true);
    s.dispose();
  });
});
