/**
 * The cluster of the split bench: a scheduler and stores as separate `regionkv` processes on
 * loopback (not `regionkv cluster`, because the bench adds a store later and kill -9s one), each
 * with its JSON log in its own file (the bench reads the stores' `region split` lines afterwards),
 * and the scheduler's gRPC client for the region map, stores and operators.
 *
 * Processes are spawned by kv-procs (own process group, cleanup registry), so Ctrl-C or a failure
 * stops them all.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RegionWithLeader } from "@regionkv/scheduler/client";
import { LOOPBACK, canConnect, exitedMessage, freePorts, sleep, startProc, type Proc } from "./kv-procs.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI_MAIN = path.join(REPO_ROOT, "packages/cli/src/main.ts");
const READY_TIMEOUT_MS = 90_000;

export interface BenchStore {
  /** 1-based, in start order (store-1 … store-4). */
  index: number;
  /** The id the store registered with (from its `store ready` log line). */
  storeId: string;
  address: string;
  statusPort: number;
  proc: Proc;
  /** Set when the bench killed it on purpose. */
  killed: boolean;
}

export interface BenchClusterOptions {
  dir: string;
  /** Stores started together at the beginning (they bootstrap the cluster). */
  initialStores: number;
  /** Extra `regionkv store` flags (sizes, intervals). */
  storeArgs: string[];
  /** Extra `regionkv scheduler` flags. */
  schedulerArgs: string[];
}

/** The flags `regionkv store --help` lists (so the bench can say which tuning flags exist). */
export function storeFlags(): Set<string> {
  try {
    const help = execFileSync(process.execPath, ["--import", "tsx", CLI_MAIN, "store", "--help"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30_000 });
    return new Set(help.match(/--[a-z][a-z-]*/g) ?? []);
  } catch {
    return new Set();
  }
}

/** The first JSON log line of `file` whose msg is `msg`, or undefined. */
function findLogLine(file: string, msg: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    if (!line.includes(msg)) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec["msg"] === msg) return rec;
    } catch {
      // a partial line
    }
  }
  return undefined;
}

/** Every JSON log line of `file` with one of the messages in `msgs`. */
export function readLogLines(file: string, msgs: readonly string[]): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split("\n")) {
    if (!msgs.some((m) => line.includes(m))) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (msgs.includes(String(rec["msg"]))) out.push(rec);
    } catch {
      // a partial line
    }
  }
  return out;
}

export class BenchCluster {
  readonly stores: BenchStore[] = [];
  scheduler!: Proc;
  schedulerAddr = "";

  private constructor(private readonly o: BenchClusterOptions) {}

  /** Start the scheduler and the initial stores; resolves once every store logged `store ready`. */
  static async start(o: BenchClusterOptions): Promise<BenchCluster> {
    const c = new BenchCluster(o);
    const [port] = await freePorts(1);
    c.schedulerAddr = `${LOOPBACK}:${port}`;
    const args = ["--import", "tsx", CLI_MAIN, "scheduler", "--listen", c.schedulerAddr, "--data", path.join(o.dir, "scheduler"), "--log-level", "info", ...o.schedulerArgs];
    c.scheduler = startProc("scheduler", process.execPath, args, { cwd: REPO_ROOT, logPath: path.join(o.dir, "scheduler.log") });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await canConnect(LOOPBACK, port!))) {
      if (c.scheduler.exit !== undefined) throw new Error(exitedMessage(c.scheduler));
      if (Date.now() > deadline) throw new Error(`the scheduler did not listen on ${c.schedulerAddr} within ${READY_TIMEOUT_MS / 1000} s; see ${c.scheduler.logPath}`);
      await sleep(100);
    }
    const spawned = [];
    for (let i = 0; i < o.initialStores; i++) spawned.push(await c.spawnStore());
    await Promise.all(spawned.map((s) => c.waitReady(s)));
    return c;
  }

  /** Start one more store (it joins the running cluster) and wait until it is ready. */
  async addStore(): Promise<BenchStore> {
    const s = await this.spawnStore();
    await this.waitReady(s);
    return s;
  }

  private async spawnStore(): Promise<BenchStore> {
    const index = this.stores.length + 1;
    const [port, statusPort] = await freePorts(2);
    const address = `${LOOPBACK}:${port}`;
    const args = [
      "--import",
      "tsx",
      CLI_MAIN,
      "store",
      "--scheduler",
      this.schedulerAddr,
      "--listen",
      address,
      "--status-listen",
      `${LOOPBACK}:${statusPort}`,
      "--data",
      path.join(this.o.dir, `store-${index}`),
      "--initial-stores",
      String(this.o.initialStores),
      "--log-level",
      "info",
      ...this.o.storeArgs,
    ];
    const proc = startProc(`store-${index}`, process.execPath, args, { cwd: REPO_ROOT, logPath: path.join(this.o.dir, `store-${index}.log`) });
    const s: BenchStore = { index, storeId: "", address, statusPort: statusPort!, proc, killed: false };
    this.stores.push(s);
    return s;
  }

  private async waitReady(s: BenchStore): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const rec = findLogLine(s.proc.logPath, "store ready");
      if (rec) {
        s.storeId = String(rec["storeId"]);
        return;
      }
      if (s.proc.exit !== undefined) throw new Error(exitedMessage(s.proc));
      if (Date.now() > deadline) throw new Error(`store-${s.index} not ready within ${READY_TIMEOUT_MS / 1000} s; end of ${s.proc.logPath}:\n${s.proc.logTail()}`);
      await sleep(100);
    }
  }

  /** kill -9 the store's process group (no shutdown of any kind). */
  async kill(s: BenchStore): Promise<void> {
    s.killed = true;
    if (s.proc.child.pid !== undefined) {
      try {
        process.kill(-s.proc.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await s.proc.exited;
  }

  /** A process that exited without the bench killing it, as a message; undefined if all run. */
  unexpectedExit(): string | undefined {
    for (const p of [this.scheduler, ...this.stores.filter((s) => !s.killed).map((s) => s.proc)]) {
      if (p.exit !== undefined) return exitedMessage(p);
    }
    return undefined;
  }

  /** Process groups of the live servers (for CPU accounting). */
  groups(): number[] {
    return [this.scheduler, ...this.stores.map((s) => s.proc)].flatMap((p) => (p.exit === undefined && p.child.pid !== undefined ? [p.child.pid] : []));
  }

  async stop(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.proc.stop(10_000)));
    await this.scheduler.stop(10_000);
  }
}



/** Replicas and leaders per store id in the scheduler's view. */
export function countByStore(regions: readonly RegionWithLeader[]): { peers: Map<string, number>; leaders: Map<string, number> } {
  const peers = new Map<string, number>();
  const leaders = new Map<string, number>();
  for (const r of regions) {
    for (const p of r.region.peers) peers.set(String(p.storeId), (peers.get(String(p.storeId)) ?? 0) + 1);
    if (r.leader) leaders.set(String(r.leader.storeId), (leaders.get(String(r.leader.storeId)) ?? 0) + 1);
  }
  return { peers, leaders };
}

