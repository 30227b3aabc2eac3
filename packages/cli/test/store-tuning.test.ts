import { test } from "node:test";
import assert from "node:assert/strict";
import { storeTuningArgs, storeTuningConfig } from "../src/store-tuning.js";

test("store timing flags: durations become base ticks (100 ms), passed on verbatim", () => {
  assert.deepEqual(storeTuningConfig({}), {});
  assert.deepEqual(storeTuningConfig({ regionHeartbeatInterval: "2s", storeHeartbeatInterval: "1s", splitCheckInterval: "250ms", loadSplitQps: "300" }), {
    regionHeartbeatTickInterval: 20,
    storeHeartbeatTickInterval: 10,
    splitCheckTickInterval: 3,
    loadSplitQpsThreshold: 300,
  });
  assert.deepEqual(storeTuningArgs({ regionHeartbeatInterval: "2s", loadSplitQps: "300" }), ["--region-heartbeat-interval", "2s", "--load-split-qps", "300"]);
});

test("store timing flags: bad values are refused with the flag's name", () => {
  assert.throws(() => storeTuningConfig({ regionHeartbeatInterval: "2" }), /--region-heartbeat-interval.*not a duration/);
  assert.throws(() => storeTuningConfig({ splitCheckInterval: "50ms" }), /--split-check-interval.*base tick/);
  assert.throws(() => storeTuningConfig({ loadSplitQps: "0" }), /--load-split-qps/);
  assert.throws(() => storeTuningConfig({ loadSplitQps: "1.5" }), /--load-split-qps/);
});
