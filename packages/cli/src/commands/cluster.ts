/**
 * `regionkv cluster`: a scheduler and N stores on this machine, as child processes of this one
 * (the same `regionkv` entry point), data under one directory:
 *   <data>/scheduler, <data>/store-1 … <data>/store-N.
 * The first start bootstraps the cluster (the first region gets a replica on min(N, 3) stores);
 * later starts resume from the data. Ready when a read through the public client succeeds; then
 * it prints the endpoints. SIGINT/SIGTERM stop every child (SIGTERM, then SIGKILL after 10 s).
 * A child that dies is reported; the others keep running (kill -9 a store to see the cluster
 * carry on). If this process dies, even by SIGKILL, the children notice (their IPC channel to it
 * closes) and stop.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { RawClient } from "@regionkv/client";
import { exitWithError } from "../fail.js";
import type { LogLevel } from "../logger.js";
import { regionLimitArgs, regionLimitsConfig, type RegionLimitFlags } from "../region-limits.js";
import { storeTuningArgs, storeTuningConfig, type StoreTuningFlags } from "../store-tuning.js";

export interface ClusterCommandOptions extends RegionLimitFlags, StoreTuningFlags {
  stores: number;
  data: string;
  schedulerPort: number;
  storePort: number;
  host: string;
  logLevel: LogLevel;
  /** Scheduler flags passed through. */
  maxReplicas?: number;
  maxStoreDownTime?: string;
  /** How long to wait for the cluster to serve, ms. */
  readyTimeoutMs: number;
}

interface Child {
  name: string;
  proc: ChildProcess;
  exited: boolean;
}

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "main.ts");

export async function runCluster(opts: ClusterCommandOptions): Promise<void> {
  if (!Number.isInteger(opts.stores) || opts.stores < 1 || opts.stores > 100) exitWithError("cluster", new Error(`--stores ${opts.stores}: give a number of stores between 1 and 100`));
  try {
    regionLimitsConfig(opts); // bad split or timing flags fail here, not in every store
    storeTuningConfig(opts);
  } catch (err) {
    exitWithError("cluster", err);
  }
  const dataDir = path.resolve(opts.data);
  fs.mkdirSync(dataDir, { recursive: true });
  const schedulerAddr = `${opts.host}:${opts.schedulerPort}`;
  const statusBase = opts.storePort + Math.max(20, opts.stores);
  // Fail before starting anything if a port is taken (another cluster may be running).
  const ports = [opts.schedulerPort, ...Array.from({ length: opts.stores }, (_, i) => [opts.storePort + i, statusBase + i]).flat()];
  for (const port of ports) {
    const problem = await portProblem(opts.host, port);
    if (problem) exitWithError("cluster", new Error(`${opts.host}:${port} ${problem}: stop whatever uses it (another regionkv cluster?) or pick other ports with --scheduler-port / --store-port`));
  }
  const children: Child[] = [];
  let stopping = false;
  let ready = false;

  const start = (name: string, args: string[]): Child => {
    const proc = spawn(process.execPath, [...process.execArgv, MAIN, ...args, "--log-level", opts.logLevel], {
      // The IPC channel is only a lifeline: a child stops when it closes (this process died).
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const child: Child = { name, proc, exited: false };
    proc.on("exit", (code, signal) => {
      child.exited = true;
      if (stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (!ready) {
        process.stderr.write(`regionkv cluster: ${name} ${how} before the cluster was ready (see its message above); stopping the others\n`);
        void stopAll().then(() => process.exit(1));
        return;
      }
      process.stderr.write(`regionkv cluster: ${name} ${how}; the others keep running (restart the cluster to bring it back)\n`);
    });
    children.push(child);
    return child;
  };

  const stopOne = (c: Child): Promise<void> =>
    new Promise<void>((resolve) => {
      if (c.exited) return resolve();
      const timer = setTimeout(() => c.proc.kill("SIGKILL"), 10_000);
      c.proc.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      c.proc.kill("SIGTERM");
    });
  const stopAll = async (): Promise<void> => {
    stopping = true;
    // Stores first, the scheduler last (stores report to it while stopping).
    await Promise.all(children.slice(1).map(stopOne));
    if (children[0]) await stopOne(children[0]);
  };

  const onSignal = () => {
    if (stopping) return;
    process.stderr.write("regionkv cluster: stopping…\n");
    void stopAll().then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const schedulerFlags = [
    ...(opts.maxReplicas !== undefined ? ["--max-replicas", String(opts.maxReplicas)] : []),
    ...(opts.maxStoreDownTime !== undefined ? ["--max-store-down-time", opts.maxStoreDownTime] : []),
  ];
  start("scheduler", ["scheduler", "--listen", schedulerAddr, "--data", path.join(dataDir, "scheduler"), ...schedulerFlags]);
  const stores: Array<{ address: string; status: string }> = [];
  for (let i = 0; i < opts.stores; i++) {
    const address = `${opts.host}:${opts.storePort + i}`;
    const status = `${opts.host}:${statusBase + i}`;
    stores.push({ address, status });
    start(`store-${i + 1}`, [
      "store",
      "--scheduler",
      schedulerAddr,
      "--listen",
      address,
      "--status-listen",
      status,
      "--data",
      path.join(dataDir, `store-${i + 1}`),
      "--initial-stores",
      String(Math.min(opts.stores, 3)),
      ...regionLimitArgs(opts),
      ...storeTuningArgs(opts),
    ]);
  }

  try {
    await waitUntilServing(schedulerAddr, opts.readyTimeoutMs, () => stopping);
  } catch (err) {
    await stopAll();
    exitWithError("cluster", err);
  }
  if (stopping) return;
  ready = true;
  const lines = [
    "",
    `regionkv cluster is ready (${opts.stores} store${opts.stores === 1 ? "" : "s"}, data in ${dataDir})`,
    `  scheduler  ${schedulerAddr}`,
    ...stores.map((s, i) => `  store-${i + 1}    ${s.address}   metrics http://${s.status}/metrics`),
    "",
    `  try:  pnpm regionkv ctl --scheduler ${schedulerAddr} put hello world`,
    `        pnpm regionkv ctl --scheduler ${schedulerAddr} get hello`,
    "  stop: Ctrl-C",
    "",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

/** Wait until a read through the public client succeeds (a region has a leader that serves). */
async function waitUntilServing(scheduler: string, timeoutMs: number, cancelled: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline && !cancelled()) {
    let client: RawClient | undefined;
    try {
      client = await RawClient.connect({ scheduler, timeoutMs: Math.max(1_000, Math.min(5_000, deadline - Date.now())) });
      await client.get("\u0000regionkv-cluster-probe");
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await client?.close().catch(() => undefined);
    }
  }
  if (cancelled()) return;
  throw new Error(`the cluster did not start serving within ${Math.round(timeoutMs / 1000)} s: ${last instanceof Error ? last.message : String(last)}`);
}

/** Why `host:port` cannot be listened on, or undefined if it can. */
function portProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "EADDRINUSE" ? "is already in use" : `cannot be listened on (${err.code ?? err.message})`));
    srv.listen(port, host, () => srv.close(() => resolve(undefined)));
  });
}
