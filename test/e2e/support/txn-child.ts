/**
 * A TypeScript script run as its own Node process (`node --import tsx <script> <args>`), for
 * clients that the tests kill -9 or that kill themselves at a failpoint. Its stdout and stderr are
 * kept for assertions and failure messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { ROOT } from "./processes.js";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class TsxChild {
  readonly proc: ChildProcess;
  stdout = "";
  stderr = "";
  /** Resolves once the process exited and its pipes drained. */
  readonly exited: Promise<ChildExit>;

  constructor(script: string, args: string[]) {
    const proc = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    proc.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      proc.on("exit", (code, signal) => setImmediate(() => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }))),
    );
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** kill -9 and wait for the exit. */
  async kill(): Promise<ChildExit> {
    if (this.running) this.proc.kill("SIGKILL");
    return this.exited;
  }

  /** Wait for the exit, killing the process (and rejecting) after `timeoutMs`. */
  async wait(timeoutMs: number): Promise<ChildExit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.proc.kill("SIGKILL");
        reject(new Error(`child ${this.proc.spawnargs.slice(2, 4).join(" ")} still running after ${timeoutMs} ms; stdout: ${this.stdout.slice(-2000)} stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
