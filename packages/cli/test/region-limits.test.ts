import { test } from "node:test";
import assert from "node:assert/strict";
import { regionLimitArgs, regionLimitsConfig } from "../src/region-limits.js";

test("split flags: sizes with units, split targets derived at 2/3 of the max, passed on verbatim", () => {
  assert.deepEqual(regionLimitsConfig({}), {});
  assert.deepEqual(regionLimitsConfig({ regionMaxSize: "96MiB", regionSplitSize: "64MiB" }), { regionMaxSize: 96 * 2 ** 20, regionSplitSize: 64 * 2 ** 20 });
  assert.deepEqual(regionLimitsConfig({ regionMaxSize: "96KiB" }), { regionMaxSize: 96 * 1024, regionSplitSize: 64 * 1024 });
  assert.deepEqual(regionLimitsConfig({ regionMaxKeys: "300" }), { regionMaxKeys: 300, regionSplitKeys: 200 });
  assert.deepEqual(regionLimitArgs({ regionMaxSize: "1GiB", regionSplitKeys: "7" }), ["--region-max-size", "1GiB", "--region-split-keys", "7"]);
});

test("split flags: bad values are refused with the flag's name", () => {
  assert.throws(() => regionLimitsConfig({ regionMaxSize: "96MB" }), /--region-max-size/);
  assert.throws(() => regionLimitsConfig({ regionMaxKeys: "-3" }), /--region-max-keys/);
  assert.throws(() => regionLimitsConfig({ regionMaxSize: "1MiB", regionSplitSize: "2MiB" }), /region-split-size|region-max-size/);
});
