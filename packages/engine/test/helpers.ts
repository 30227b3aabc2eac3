/**
 * Test helpers for the engine suites: temporary data directories that are removed afterwards,
 * child processes running a fixture script under tsx, and open-file counting.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { EngineError, type EngineErrorCode } from "../src/index.js";

/** The smallest piece of node:test's TestContext these helpers need. */
interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

/** A fresh directory under os.tmpdir(), removed when the test `t` ends. */
export function tempDir(t: AfterHook, prefix = "regionkv-engine-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Bytes of a string (keys and values in tests). */
export function b(s: string): Buffer {
  return Buffer.from(s);
}

/** Bytes from byte values. */
export function bytes(...xs: number[]): Buffer {
  return Buffer.from(xs);
}

/** Run `fn`, which must throw an EngineError with `code`; returns it for further checks. */
export function mustThrowEngineError(fn: () => unknown, code: EngineErrorCode): EngineError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, `expected an EngineError ${code}, nothing was thrown`);
  assert.ok(thrown instanceof EngineError, `expected an EngineError ${code}, got ${String(thrown)}`);
  assert.equal(thrown.code, code, `expected code ${code}, got ${thrown.code}: ${thrown.message}`);
  return thrown;
}

/** Open file descriptors of this process, or undefined where /proc/self/fd is not available. */
export function openFdCount(): number | undefined {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

export const HAS_PROC_FD = openFdCount() !== undefined;

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** A fixture script under test/fixtures/ running in its own Node process, with its stdout as lines. */
export interface FixtureProcess {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `pred`; rejects on timeout or if the child exits first. */
  waitForLine(pred: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** Every stdout line so far. */
  lines: string[];
  /** Everything the child wrote to stderr (for failure messages). */
  stderr(): string;
  /** Resolves with the exit code / signal once the child has exited; rejects after `timeoutMs`. */
  exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `node --import tsx test/fixtures/<name> ...args`; `onLine` sees every stdout line as it arrives. */
export function spawnFixture(name: string, args: string[], onLine?: (line: string) => void): FixtureProcess {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let err = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (err += d));
  const rl = createInterface({ input: child.stdout! });
  rl.on("line", (line) => {
    lines.push(line);
    onLine?.(line);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.pred(line)) {
        waiters.splice(i, 1);
        w.resolve(line);
      }
    }
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitListeners: (() => void)[] = [];
  // "close" fires after stdout and stderr are drained, so every line has been seen by then.
  child.on("close", (code, signal) => {
    exit = { code, signal };
    for (const l of exitListeners.splice(0)) l();
  });

  const describeChild = (): string => `fixture ${name} ${args.join(" ")}; stdout:\n${lines.join("\n")}\nstderr:\n${err}`;

  return {
    child,
    lines,
    stderr: () => err,
    waitForLine(pred, timeoutMs) {
      const seen = lines.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a line from ${describeChild()}`));
        }, timeoutMs);
        const onExit = (): void => {
          cleanup();
          reject(new Error(`child exited (${JSON.stringify(exit)}) before the expected line; ${describeChild()}`));
        };
        const waiter = {
          pred,
          resolve: (l: string) => {
            cleanup();
            resolve(l);
          },
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          const j = exitListeners.indexOf(onExit);
          if (j >= 0) exitListeners.splice(j, 1);
        };
        waiters.push(waiter);
        if (exit) onExit();
        else exitListeners.push(onExit);
      });
    },
    exited(timeoutMs) {
      if (exit) return Promise.resolve(exit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child did not exit within ${timeoutMs} ms; ${describeChild()}`)), timeoutMs);
        exitListeners.push(() => {
          clearTimeout(timer);
          resolve(exit!);
        });
      });
    },
  };
}

/** Kill a fixture that is still running (test clean-up; harmless if it has exited). */
export function killIfRunning(p: FixtureProcess): void {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
}

/** Seeded randomness: the raft core's mulberry32 (same seed, same sequence). */
export { seededRandom } from "@regionkv/raft";
