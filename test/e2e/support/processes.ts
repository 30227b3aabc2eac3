/**
 * Real `regionkv` processes on loopback for the end-to-end tests: a scheduler and N stores, each
 * started through the CLI (`node --import tsx packages/cli/src/main.ts …`), with JSON logs on
 * stdout (parsed for readiness) and their stderr kept for failure messages.
 *
 * Ports are picked free up front (bind 0, close) so a restarted process comes back on the same
 * address, as it would in production.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const CLI_MAIN = path.join(ROOT, "packages", "cli", "src", "main.ts");

export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

/**
 * A free TCP port on 127.0.0.1 (bound and released), below the kernel's ephemeral range
 * (32768–60999 on Linux): a port the kernel handed out (bind port 0) can be taken as the local
 * port of an outgoing connection before the process under test binds it, which then fails with
 * "address in use". A random port under 32768 is never used that way.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = FREE_PORT_MIN + Math.floor(Math.random() * (FREE_PORT_MAX - FREE_PORT_MIN));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free loopback port found in ${FREE_PORT_MIN}–${FREE_PORT_MAX}`);
}

const FREE_PORT_MIN = 20_000;
const FREE_PORT_MAX = 32_000;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a `regionkv` command to completion (ctl, or a process expected to fail at start). */
export function runCli(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", CLI_MAIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/** One long-running regionkv process. */
export class CliProcess {
  private proc: ChildProcess | undefined;
  stdout = "";
  stderr = "";
  private exitPromise: Promise<RunResult> | undefined;

  constructor(
    readonly name: string,
    private readonly args: string[],
  ) {}

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Start and wait for the log line `readyMsg` (resolves with that line's JSON). */
  start(readyMsg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.stdout = "";
    this.stderr = "";
    const proc = spawn(process.execPath, ["--import", "tsx", CLI_MAIN, ...this.args, "--log-level", "info"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    this.exitPromise = new Promise((resolve) =>
      proc.on("exit", (code, signal) => setImmediate(() => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }))),
    );
    return new Promise((resolve, reject) => {
      let buffered = "";
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        reject(new Error(`${this.name} not ready within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      proc.stdout!.on("data", (d: Buffer) => {
        const text = d.toString();
        this.stdout += text;
        if (done) return;
        buffered += text;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          try {
            const rec = JSON.parse(line) as Record<string, unknown>;
            if (rec["msg"] === readyMsg) {
              done = true;
              clearTimeout(timer);
              resolve(rec);
              return;
            }
          } catch {
            // not a log line
          }
        }
      });
      proc.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
      void this.exitPromise!.then((r) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${r.code}, signal ${r.signal}) before it was ready; stderr: ${r.stderr.slice(-2000)}`));
      });
    });
  }

  /** kill -9 (or another signal) and wait for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<RunResult> {
    if (!this.proc || !this.running) return this.exitPromise ?? { code: null, signal: null, stdout: this.stdout, stderr: this.stderr };
    this.proc.kill(signal);
    return this.exitPromise!;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<RunResult | undefined> {
    if (!this.running) return this.exitPromise;
    const timer = setTimeout(() => this.proc?.kill("SIGKILL"), graceMs);
    const r = await this.kill("SIGTERM");
    clearTimeout(timer);
    return r;
  }
}

export interface StoreProcess {
  index: number;
  port: number;
  statusPort: number;
  address: string;
  dataDir: string;
  proc: CliProcess;
  /** Set once the store has been ready. */
  storeId?: string;
}

/** Per-region status of one store, from its status port. */
export interface StoreStatus {
  storeId: string;
  regions: Array<{ regionId: number; peerId: number; leader: boolean }>;
}

/** A scheduler and N stores as real processes, in a temp directory removed after the test. */
export class ProcessCluster {
  readonly dir: string;
  schedulerPort = 0;
  scheduler!: CliProcess;
  readonly stores: StoreProcess[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  get schedulerAddr(): string {
    return `127.0.0.1:${this.schedulerPort}`;
  }

  /** Flags every store gets (also stores added later with `addStore`). */
  storeArgs: string[] = [];
  initialStores = 3;

  static async start(
    t: AfterHook,
    opts: { stores?: number; initialStores?: number; schedulerArgs?: string[]; storeArgs?: string[] } = {},
  ): Promise<ProcessCluster> {
    const c = new ProcessCluster(fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-e2e-")));
    c.storeArgs = opts.storeArgs ?? [];
    t.after(async () => {
      await c.stopAll();
      if (process.env["REGIONKV_E2E_KEEP"]) {
        // For a post-mortem: the data and every process's log stay (REGIONKV_E2E_KEEP=1).
        for (const p of [c.scheduler, ...c.stores.map((st) => st.proc)]) {
          if (p) fs.writeFileSync(path.join(c.dir, `${p.name}.log`), p.stdout + p.stderr);
        }
        process.stderr.write(`REGIONKV_E2E_KEEP: data and logs kept in ${c.dir}\n`);
        return;
      }
      fs.rmSync(c.dir, { recursive: true, force: true });
    });
    c.schedulerPort = await freePort();
    c.scheduler = new CliProcess("scheduler", ["scheduler", "--listen", c.schedulerAddr, "--data", path.join(c.dir, "scheduler"), ...(opts.schedulerArgs ?? [])]);
    await c.scheduler.start("scheduler ready");
    const n = opts.stores ?? 3;
    c.initialStores = opts.initialStores ?? Math.min(n, 3);
    for (let i = 0; i < n; i++) await c.defineStore();
    // Stores wait for each other to bootstrap: start them together.
    await Promise.all(c.stores.map((s) => c.startStore(s.index)));
    return c;
  }

  /** Ports, data directory and command line of the next store (not started). */
  private async defineStore(): Promise<StoreProcess> {
    const i = this.stores.length;
    const port = await freePort();
    const statusPort = await freePort();
    const dataDir = path.join(this.dir, `store-${i + 1}`);
    const address = `127.0.0.1:${port}`;
    const proc = new CliProcess(`store-${i + 1}`, [
      "store",
      "--scheduler",
      this.schedulerAddr,
      "--listen",
      address,
      "--status-listen",
      `127.0.0.1:${statusPort}`,
      "--data",
      dataDir,
      "--initial-stores",
      String(this.initialStores),
      ...this.storeArgs,
    ]);
    const s: StoreProcess = { index: i, port, statusPort, address, dataDir, proc };
    this.stores.push(s);
    return s;
  }

  /** One more store joining the running cluster; resolves once it is ready. */
  async addStore(): Promise<StoreProcess> {
    const s = await this.defineStore();
    await this.startStore(s.index);
    return s;
  }

  async startStore(index: number): Promise<void> {
    const s = this.stores[index]!;
    const rec = await s.proc.start("store ready");
    s.storeId = String(rec["storeId"]);
  }

  async status(index: number): Promise<StoreStatus | undefined> {
    const s = this.stores[index]!;
    try {
      const res = await fetch(`http://127.0.0.1:${s.statusPort}/status`, { signal: AbortSignal.timeout(2_000) });
      return (await res.json()) as StoreStatus;
    } catch {
      return undefined;
    }
  }

  /** Index of the store whose peer of the (only) region is leader, waiting up to `timeoutMs`. */
  async leaderIndex(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const s of this.stores) {
        if (!s.proc.running) continue;
        const st = await this.status(s.index);
        if (st?.regions.some((r) => r.leader)) return s.index;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no store reported a leader within ${timeoutMs} ms`);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.proc.stop()));
    await this.scheduler?.stop();
  }
}
