/**
 * Scenario tests with golden output: one test per testdata/*.txt file, named after the file and
 * the rule its first comment line states. Regenerate the outputs with
 *   REWRITE=1 node --import tsx --test packages/raft/test/scenario/scenario.test.ts
 * and review the diff before committing it (see README.md in this folder). The runner itself is
 * checked at the end of this file.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { firstComment, parseArgs, parseDataDriven, runDataDrivenFile, type Directive } from "./datadriven.js";
import { InteractionEnv } from "./interaction-env.js";

const dir = join(fileURLToPath(new URL(".", import.meta.url)), "testdata");
const rewrite = process.env["REWRITE"] === "1" || process.env["REWRITE"] === "true";

describe("raft scenarios (testdata/*.txt)", () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".txt")).sort()) {
    const path = join(dir, file);
    test(`${file}: ${firstComment(path)}`, () => {
      const env = new InteractionEnv();
      runDataDrivenFile(path, (d) => env.handle(d), { rewrite });
    });
  }
});

describe("datadriven runner", () => {
  /** Run `fn` with a scratch file holding `text`; the file is removed afterwards. */
  function withFile(text: string, fn: (path: string) => void): void {
    const tmp = mkdtempSync(join(tmpdir(), "datadriven-"));
    try {
      const path = join(tmp, "t.txt");
      writeFileSync(path, text);
      fn(path);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** `lines a b` prints a and b on separate lines. */
  const echo = (d: Directive): string => d.positional().join("\n");

  test("arguments parse as bare words, key=value, key=(a,b) and bare groups", () => {
    const { command, args } = parseArgs("f", 1, "add-nodes 3 voters=(1,2,3) index=2 (4,5)");
    assert.equal(command, "add-nodes");
    assert.deepEqual(args, [
      { key: "3", values: [] },
      { key: "voters", values: ["1", "2", "3"] },
      { key: "index", values: ["2"] },
      { key: "", values: ["4", "5"] },
    ]);
  });

  test("output runs to the first blank line; the double separator allows blank lines inside", () => {
    const text = "# c\ncmd a\n----\nx\ny\n\ncmd b\n----\n----\np\n\nq\n----\n----\n\nempty\n----\n";
    const { directives } = parseDataDriven("f", text);
    assert.deepEqual(
      directives.map((p) => [p.directive.command, p.directive.line, p.expected]),
      [
        ["cmd", 2, ["x", "y"]],
        ["cmd", 7, ["p", "", "q"]],
        ["empty", 16, []],
      ],
    );
  });

  test("a mismatch fails naming file:line and showing a diff of expected against actual", () => {
    withFile("# c\n\nlines a b\n----\na\nc\n", (path) => {
      assert.throws(
        () => runDataDrivenFile(path, echo, { rewrite: false }),
        (e: Error) => e.message.includes(`${path}:3`) && e.message.includes("  a\n- c\n+ b"),
      );
    });
  });

  test("rewrite replaces outputs, keeps comments, and uses the double separator for blank lines", () => {
    // `lines a,,b` prints one line per comma-separated part, so its output has a blank line.
    const text = "# keep me\n\nlines one,,three\n----\nstale\n\n# and me\nlines x\n----\n";
    withFile(text, (path) => {
      const split = (d: Directive): string => (d.command === "lines" ? d.positional()[0]!.split(",").join("\n") : "");
      runDataDrivenFile(path, split, { rewrite: true });
      assert.equal(readFileSync(path, "utf8"), "# keep me\n\nlines one,,three\n----\n----\none\n\nthree\n----\n----\n\n# and me\nlines x\n----\nx\n");
      // What was written reads back and passes.
      runDataDrivenFile(path, split, { rewrite: false });
    });
  });
});
