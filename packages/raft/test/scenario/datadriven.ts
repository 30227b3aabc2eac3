/**
 * A small runner for scenario files in the datadriven format (the format of cockroachdb's
 * datadriven package, which etcd's raft uses for its testdata/*.txt interaction tests).
 *
 * A file is a sequence of directives. Between directives, blank lines and comment lines (starting
 * with `#`) are free text, kept as they are on rewrite. A directive is:
 *
 *   command arg1 key=value key=(a,b)     ← one command line
 *   optional input lines                 ← none of them blank, none equal to `----`
 *   ----
 *   expected output                      ← every line up to the first blank line or end of file
 *
 * An empty output is a `----` followed by a blank line (or the end of the file). Output that
 * itself contains blank lines is written in the double-separator form, which ends only at a line
 * `----` directly followed by another `----`:
 *
 *   command
 *   ----
 *   ----
 *   first part
 *
 *   second part
 *   ----
 *   ----
 *
 * Arguments: `name` (key "name", no values), `key=value` (one value), `key=(a,b,c)` (several
 * values), `(a,b)` (key "", the values). Parentheses group: there are no spaces inside them and
 * no quoting (scenario data is plain words).
 *
 * `runDataDrivenFile` runs every directive through a handler and compares each output with the
 * expected one; the first mismatch fails with the file, the line of the command and a diff. With
 * `rewrite` set, it writes the actual outputs back into the file instead (REWRITE=1 in the test).
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";

export interface DirectiveArg {
  key: string;
  values: string[];
}

export class Directive {
  constructor(
    /** The file the directive is in. */
    readonly file: string,
    /** 1-based line number of the command line. */
    readonly line: number,
    readonly command: string,
    readonly args: DirectiveArg[],
    /** The input lines between the command and `----`. */
    readonly input: string[],
  ) {}

  /** Where the directive is, as `file:line`, for error messages. */
  get pos(): string {
    return `${this.file}:${this.line}`;
  }

  has(key: string): boolean {
    return this.args.some((a) => a.key === key);
  }

  /** The values of argument `key`, or undefined when absent. */
  values(key: string): string[] | undefined {
    return this.args.find((a) => a.key === key)?.values;
  }

  /** The single value of `key=value`, or `dflt` when absent. */
  string(key: string, dflt?: string): string {
    const vs = this.values(key);
    if (vs === undefined) {
      if (dflt !== undefined) return dflt;
      throw this.error(`missing argument ${key}=...`);
    }
    if (vs.length !== 1) throw this.error(`argument ${key} takes exactly one value, got (${vs.join(",")})`);
    return vs[0]!;
  }

  int(key: string, dflt?: number): number {
    const vs = this.values(key);
    if (vs === undefined) {
      if (dflt !== undefined) return dflt;
      throw this.error(`missing argument ${key}=N`);
    }
    return this.toInt(key, this.string(key));
  }

  /** `key=(1,2,3)` (or `key=1`) as numbers; `[]` when absent. */
  ints(key: string): number[] {
    return (this.values(key) ?? []).map((v) => this.toInt(key, v));
  }

  bool(key: string, dflt: boolean): boolean {
    if (!this.has(key)) return dflt;
    const v = this.string(key);
    if (v !== "true" && v !== "false") throw this.error(`argument ${key} must be true or false, got ${v}`);
    return v === "true";
  }

  /** The bare words (arguments without values), in order, e.g. the node ids of `stabilize 1 2`. */
  positional(): string[] {
    return this.args.filter((a) => a.values.length === 0 && a.key !== "").map((a) => a.key);
  }

  positionalInts(): number[] {
    return this.positional().map((v) => this.toInt("positional", v));
  }

  /** The value groups written as bare `(a,b)` arguments, in order. */
  groups(): string[][] {
    return this.args.filter((a) => a.key === "").map((a) => a.values);
  }

  /** Fail if an argument with a value is not one of `allowed` (catches typos in scenario files). */
  checkKeys(allowed: readonly string[]): void {
    for (const a of this.args) {
      if (a.values.length === 0 || a.key === "") continue;
      if (!allowed.includes(a.key)) {
        throw this.error(`unknown argument ${a.key}= for ${this.command} (allowed: ${allowed.join(", ") || "none"})`);
      }
    }
  }

  error(msg: string): Error {
    return new Error(`${this.pos}: ${this.command}: ${msg}`);
  }

  private toInt(key: string, v: string): number {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw this.error(`argument ${key}: ${JSON.stringify(v)} is not an integer`);
    return n;
  }
}

/** A directive plus where its expected output sits in the file (0-based line indexes). */
interface ParsedDirective {
  directive: Directive;
  expected: string[];
  /** The `----` line. */
  sepIndex: number;
  /** The first line after the output block (a blank line, the next text, or the end). */
  endIndex: number;
}

export function parseArgs(file: string, line: number, text: string): { command: string; args: DirectiveArg[] } {
  const tokens: string[] = [];
  let cur = "";
  let depth = 0;
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) throw new Error(`${file}:${line}: unbalanced ")" in ${JSON.stringify(text)}`);
    if (/\s/.test(ch) && depth === 0) {
      if (cur !== "") tokens.push(cur);
      cur = "";
    } else {
      cur += ch;
    }
  }
  if (depth !== 0) throw new Error(`${file}:${line}: unbalanced "(" in ${JSON.stringify(text)}`);
  if (cur !== "") tokens.push(cur);
  const [command, ...rest] = tokens;
  if (command === undefined) throw new Error(`${file}:${line}: empty command`);
  const splitGroup = (v: string): string[] => {
    if (v.startsWith("(") && v.endsWith(")")) {
      const inner = v.slice(1, -1).trim();
      return inner === "" ? [] : inner.split(",").map((s) => s.trim());
    }
    return [v];
  };
  const args = rest.map((tok): DirectiveArg => {
    if (tok.startsWith("(")) return { key: "", values: splitGroup(tok) };
    const eq = tok.indexOf("=");
    if (eq < 0) return { key: tok, values: [] };
    return { key: tok.slice(0, eq), values: splitGroup(tok.slice(eq + 1)) };
  });
  return { command, args };
}

function isBlank(s: string): boolean {
  return s.trim() === "";
}

export function parseDataDriven(file: string, text: string): { lines: string[]; directives: ParsedDirective[] } {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  // A final newline is not an extra empty line.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const directives: ParsedDirective[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (isBlank(l) || l.startsWith("#")) {
      i++;
      continue;
    }
    const cmdIndex = i++;
    const input: string[] = [];
    while (i < lines.length && lines[i] !== "----") {
      if (isBlank(lines[i]!)) throw new Error(`${file}:${cmdIndex + 1}: command ${JSON.stringify(l)} is not followed by ----`);
      input.push(lines[i]!);
      i++;
    }
    if (i >= lines.length) throw new Error(`${file}:${cmdIndex + 1}: command ${JSON.stringify(l)} is not followed by ----`);
    const sepIndex = i++;
    const expected: string[] = [];
    if (lines[i] === "----") {
      // Double-separator form: up to a `----` line directly followed by another.
      i++;
      for (;;) {
        if (i >= lines.length) throw new Error(`${file}:${sepIndex + 1}: output block opened with ----/---- is never closed by ----/----`);
        if (lines[i] === "----" && lines[i + 1] === "----") {
          i += 2;
          break;
        }
        expected.push(lines[i]!);
        i++;
      }
    } else {
      while (i < lines.length && !isBlank(lines[i]!)) {
        expected.push(lines[i]!);
        i++;
      }
    }
    const { command, args } = parseArgs(file, cmdIndex + 1, l);
    directives.push({ directive: new Directive(file, cmdIndex + 1, command, args, input), expected, sepIndex, endIndex: i });
  }
  return { lines, directives };
}

/** Output as lines, without trailing blank lines or trailing spaces. */
function outputLines(out: string): string[] {
  const ls = out.split("\n").map((s) => s.replace(/\s+$/, ""));
  while (ls.length > 0 && ls[ls.length - 1] === "") ls.pop();
  return ls;
}

/** The output block for `out`, starting at the `----` line. */
function renderBlock(out: string[]): string[] {
  if (out.some(isBlank)) return ["----", "----", ...out, "----", "----"];
  return ["----", ...out];
}

/**
 * A line diff of expected against actual (longest common subsequence): `  ` same, `- ` only
 * expected, `+ ` only actual.
 */
export function lineDiff(expected: string[], actual: string[]): string {
  const n = expected.length;
  const m = actual.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = expected[i] === actual[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push(`  ${expected[i]}`);
      i++;
      j++;
    } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${expected[i]}`);
      i++;
    } else {
      out.push(`+ ${actual[j]}`);
      j++;
    }
  }
  return out.join("\n");
}

export interface RunOptions {
  /** Write the actual outputs into the file instead of comparing. */
  rewrite: boolean;
}

/**
 * Run every directive of `path` through `handler` (in order: the handler keeps state between
 * directives) and check each output against the file. An exception from the handler fails the
 * run, naming the directive.
 */
export function runDataDrivenFile(path: string, handler: (d: Directive) => string, opts: RunOptions): void {
  const text = readFileSync(path, "utf8");
  const { lines, directives } = parseDataDriven(path, text);
  const actuals: string[][] = [];
  for (const pd of directives) {
    const d = pd.directive;
    let out: string;
    try {
      out = handler(d);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      err.message = `${d.pos}: ${d.command} failed: ${err.message}`;
      throw err;
    }
    const actual = outputLines(out);
    actuals.push(actual);
    if (opts.rewrite) continue;
    const expected = pd.expected.map((s) => s.replace(/\s+$/, ""));
    if (expected.join("\n") !== actual.join("\n")) {
      assert.fail(
        `${d.pos}: output of \`${lines[d.line - 1]}\` differs from the file (- expected, + actual); ` +
          `if the change is intended, regenerate with REWRITE=1 and review the diff:\n${lineDiff(expected, actual)}`,
      );
    }
  }
  if (!opts.rewrite) return;
  const out: string[] = [];
  let at = 0;
  directives.forEach((pd, k) => {
    for (; at < pd.sepIndex; at++) out.push(lines[at]!);
    out.push(...renderBlock(actuals[k]!));
    at = pd.endIndex;
    // Keep a blank line between this output and whatever follows.
    if (at < lines.length && !isBlank(lines[at]!)) out.push("");
  });
  for (; at < lines.length; at++) out.push(lines[at]!);
  const next = out.join("\n") + "\n";
  if (next !== text) writeFileSync(path, next);
}

/** The first comment line of a scenario file (without `# `): what the scenario checks. */
export function firstComment(path: string): string {
  const first = readFileSync(path, "utf8").split("\n").find((l) => l.startsWith("#"));
  return first === undefined ? "" : first.replace(/^#\s*/, "");
}
