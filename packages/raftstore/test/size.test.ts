/**
 * Sizes in flags: `parseSize` reads B/KiB/MiB/GiB/TiB (binary), refuses decimal units with a hint,
 * and names the flag in its errors; `formatSize` writes sizes back, exactly where it can.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SizeError, formatSize, parseSize } from "../src/size.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

function mustSizeError(text: string, pattern: RegExp, what?: string): void {
  assert.throws(
    () => parseSize(text, what),
    (e: unknown) => e instanceof SizeError && e.code === "InvalidSize" && pattern.test(e.message),
    `parseSize(${JSON.stringify(text)}) should fail with ${pattern}`,
  );
}

test("parseSize reads every binary unit, bare bytes, spaces and any letter case", () => {
  const cases: Array<[string, number]> = [
    ["0", 0],
    ["4096", 4096],
    ["100B", 100],
    ["64KiB", 64 * KiB],
    ["96MiB", 96 * MiB],
    ["64MiB", 64 * MiB],
    ["2GiB", 2 * GiB],
    ["1TiB", 1024 * GiB],
    ["1.5GiB", 1536 * MiB],
    ["0.5KiB", 512],
    [" 96 MiB ", 96 * MiB],
    ["96mib", 96 * MiB],
    ["96MIB", 96 * MiB],
    ["7b", 7],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

test("parseSize refuses decimal units and says which binary unit to write", () => {
  mustSizeError("96MB", /ambiguous.*write MiB/);
  mustSizeError("64KB", /write KiB/);
  mustSizeError("1G", /write GiB/);
  mustSizeError("10k", /write KiB/);
});

test("parseSize refuses what is not a size, naming the flag and what would be accepted", () => {
  mustSizeError("", /is not a size.*B, KiB, MiB, GiB or TiB/);
  mustSizeError("MiB", /is not a size/);
  mustSizeError("-1MiB", /is not a size/);
  mustSizeError("1e3", /is not a size/);
  mustSizeError("12 parsecs", /unknown unit "parsecs"/);
  mustSizeError("1,5MiB", /is not a size/);
  mustSizeError("96MiBx", /unknown unit/);
  mustSizeError("0.3KiB", /not a whole number; use a smaller unit/);
  mustSizeError("1.5B", /not a whole number/);
  mustSizeError("99999999TiB", /too large/);
  mustSizeError("96MB", /^--region-max-size: /, "--region-max-size");
});

test("formatSize is exact in the largest unit that divides, and round-trips through parseSize", () => {
  const cases: Array<[number, string]> = [
    [0, "0B"],
    [100, "100B"],
    [4097, "4097B"],
    [64 * KiB, "64KiB"],
    [96 * MiB, "96MiB"],
    [1536 * MiB, "1536MiB"],
    [3 * GiB, "3GiB"],
    [1024 * GiB, "1TiB"],
  ];
  for (const [bytes, text] of cases) {
    assert.equal(formatSize(bytes), text);
    assert.equal(parseSize(text), bytes);
  }
});

test("formatSize shows two decimals for sizes no unit divides in four digits", () => {
  assert.equal(formatSize(96 * MiB + 1), "96.00MiB");
  assert.equal(formatSize(1.21 * MiB), "1.21MiB");
  assert.equal(formatSize(10_001 * KiB + 3), "9.77MiB");
  assert.equal(formatSize(-2 * KiB), "-2KiB");
});
