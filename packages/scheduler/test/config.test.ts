import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_SCHEDULER_CONFIG, parseDurationMs, parseSchedulerNames, resolveSchedulerConfig } from "../src/index.js";

test("durations: 30s, 5m, 30m, 1h, 250ms, 1h30m, 0; anything else is an error saying what to write", () => {
  assert.equal(parseDurationMs("30s"), 30_000);
  assert.equal(parseDurationMs("5m"), 300_000);
  assert.equal(parseDurationMs("30m"), 1_800_000);
  assert.equal(parseDurationMs("1h"), 3_600_000);
  assert.equal(parseDurationMs("250ms"), 250);
  assert.equal(parseDurationMs("1h30m"), 5_400_000);
  assert.equal(parseDurationMs("1.5s"), 1500);
  assert.equal(parseDurationMs("0"), 0);
  for (const bad of ["", "30", "m", "5 m", "5x", "-5s", "5s!"]) assert.throws(() => parseDurationMs(bad), /is not a duration: .*e\.g\. 30s/, bad);
});

test("defaults are PD/TinyKV's; settings are validated", () => {
  assert.equal(DEFAULT_SCHEDULER_CONFIG.maxReplicas, 3);
  assert.equal(DEFAULT_SCHEDULER_CONFIG.maxStoreDownTimeMs, 30 * 60_000);
  assert.equal(DEFAULT_SCHEDULER_CONFIG.addLearnerFirst, true, "new replicas join as learners");
  assert.equal(DEFAULT_SCHEDULER_CONFIG.leaderScheduleLimit, 4);
  assert.equal(resolveSchedulerConfig({ maxReplicas: 5 }).maxReplicas, 5);
  assert.throws(() => resolveSchedulerConfig({ maxReplicas: 0 }), /--max-replicas must be a positive integer/);
  assert.throws(() => resolveSchedulerConfig({ maxStoreDownTimeMs: -1 }), /maxStoreDownTimeMs/);
});

test("--schedulers: a comma-separated list of balancers, or none; unknown names are refused naming the choices", () => {
  assert.deepEqual(parseSchedulerNames("none"), []);
  assert.deepEqual(parseSchedulerNames("balance-region, balance-leader,balance-region"), ["balance-region", "balance-leader"]);
  assert.deepEqual(DEFAULT_SCHEDULER_CONFIG.schedulers, ["balance-leader", "balance-region", "hot-region"]);
  assert.throws(() => parseSchedulerNames("balance-regions"), /unknown scheduler "balance-regions": give a comma-separated list of balance-leader, balance-region, hot-region, or none/);
  assert.throws(() => parseSchedulerNames(""), /unknown scheduler ""/);
});
