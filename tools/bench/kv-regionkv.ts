/**
 * The regionkv side of the kv bench: a local 3-store cluster started as real processes by the
 * CLI (`node --import tsx packages/cli/src/main.ts cluster --stores 3 …`, stopped with SIGTERM),
 * or an already-running one (`--scheduler HOST:PORT`), driven through the public RawClient of
 * @regionkv/client.
 *
 * The client package is loaded on use (a dynamic import; only its types are imported statically)
 * and the CLI is found by its file, so `pnpm bench raft` never depends on them, and when either
 * is missing or does not load the regionkv side is skipped with a message.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type * as ClientModule from "@regionkv/client";
import type { RawClient } from "@regionkv/client";
import type { KvDriver, KvTargetHandle } from "./kv-driver.js";
import { LOOPBACK, canConnect, exitedMessage, freePortRange, sleep, startProc, tempDir, withTimeout } from "./kv-procs.js";
import { progress } from "./report.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI_MAIN = path.join(REPO_ROOT, "packages/cli/src/main.ts");
const READY_TIMEOUT_MS = 90_000;

/** The client class: only its type is imported statically, the module itself is loaded on use. */
type RawClientStatic = Pick<typeof RawClient, "connect">;

/**
 * RawClient from @regionkv/client, loaded when the regionkv side runs (so the other benches never
 * depend on the client package loading), or why it is not usable.
 */
export async function loadRawClient(): Promise<{ RawClient: RawClientStatic } | { missing: string }> {
  let mod: Partial<typeof ClientModule>;
  try {
    mod = await import("@regionkv/client");
  } catch (e) {
    return { missing: `@regionkv/client does not load: ${(e as Error).message}` };
  }
  if (typeof mod.RawClient?.connect !== "function") return { missing: "@regionkv/client does not export RawClient.connect" };
  return { RawClient: mod.RawClient };
}

/** Why the bench cannot start a local cluster, or undefined when it can. */
export function clusterCommandMissing(): string | undefined {
  return fs.existsSync(CLI_MAIN) ? undefined : `${path.relative(REPO_ROOT, CLI_MAIN)} does not exist yet`;
}

/** The driver: one RawClient (default options: its own deadline and retries) shared by every worker. */
export function rawClientDriver(client: RawClient, label = "regionkv"): KvDriver {
  return {
    name: label,
    put: (key, value) => client.put(key, value),
    get: (key) => client.get(key),
    close: () => client.close(),
  };
}

/** Connect and write one probe key, retrying until it succeeds (the cluster serves writes) or the deadline. */
async function connectWhenReady(Client: RawClientStatic, scheduler: string, deadlineMs: number, alive: () => string | undefined): Promise<RawClient> {
  let lastError = "no attempt";
  while (Date.now() < deadlineMs) {
    const dead = alive();
    if (dead) throw new Error(dead);
    let client: RawClient | undefined;
    try {
      client = await withTimeout(Client.connect({ scheduler }), 5_000, "RawClient.connect timed out (5 s)");
      await withTimeout(client.put(Buffer.from("kvbench/ready-probe"), Buffer.from("1")), 5_000, "probe put timed out (5 s)");
      return client;
    } catch (e) {
      lastError = (e as Error).message;
      try {
        await client?.close();
      } catch {
        // retrying anyway
      }
      await sleep(250);
    }
  }
  throw new Error(`regionkv at ${scheduler} not ready: ${lastError}`);
}

/** Connect to an already-running cluster. */
export async function connectRegionkv(Client: RawClientStatic, scheduler: string): Promise<KvTargetHandle> {
  progress(`regionkv: connecting to the running cluster at ${scheduler}`);
  const client = await connectWhenReady(Client, scheduler, Date.now() + 30_000, () => undefined);
  const driver = rawClientDriver(client);
  let stopped: Promise<void> | undefined;
  return { label: "regionkv", detail: `running cluster at ${scheduler}`, driver, serverGroups: [], stop: () => (stopped ??= driver.close()) };
}

/**
 * Start `regionkv cluster --stores 3` as a child process (its own process group; data under a
 * temp dir; scheduler on a free port, stores from the next port up) and wait until a put succeeds.
 */
export async function startRegionkvCluster(Client: RawClientStatic, stores = 3): Promise<KvTargetHandle> {
  const tmp = tempDir("regionkv-bench-kv-");
  // A block of free ports: the scheduler on the first, stores (and whatever else the cluster
  // numbers from --store-port) above it.
  const base = await freePortRange(32);
  const schedulerPort = base;
  const storePort = base + 1;
  const scheduler = `${LOOPBACK}:${schedulerPort}`;
  const args = ["--import", "tsx", CLI_MAIN, "cluster", "--stores", String(stores), "--data", path.join(tmp.dir, "data"), "--scheduler-port", String(schedulerPort), "--store-port", String(storePort)];
  const proc = startProc("regionkv cluster", process.execPath, args, { cwd: REPO_ROOT, logPath: path.join(tmp.dir, "cluster.log") });
  const stopAll = async (): Promise<void> => {
    await proc.stop(15_000);
    tmp.remove();
  };
  try {
    progress(`regionkv: cluster of ${stores} stores starting (scheduler ${scheduler}, stores from port ${storePort}, log ${proc.logPath})`);
    const t0 = Date.now();
    const deadlineMs = t0 + READY_TIMEOUT_MS;
    const alive = (): string | undefined => (proc.exit !== undefined ? exitedMessage(proc) : undefined);
    while (!(await canConnect(LOOPBACK, schedulerPort))) {
      const dead = alive();
      if (dead) throw new Error(dead);
      if (Date.now() > deadlineMs) throw new Error(`the scheduler did not listen on ${scheduler} within ${READY_TIMEOUT_MS / 1000} s; end of ${proc.logPath}:\n${proc.logTail()}`);
      await sleep(200);
    }
    const client = await connectWhenReady(Client, scheduler, deadlineMs, alive).catch((e: Error) => {
      throw new Error(`${e.message}; end of ${proc.logPath}:\n${proc.logTail()}`);
    });
    progress(`regionkv: cluster serving after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const driver = rawClientDriver(client);
    let stopped: Promise<void> | undefined;
    return {
      label: "regionkv",
      detail: `${stores} stores started by the bench (regionkv cluster)`,
      driver,
      serverGroups: proc.child.pid !== undefined ? [proc.child.pid] : [],
      afterRun: async () => (proc.exit !== undefined ? `warning: ${exitedMessage(proc)}` : undefined),
      stop: () =>
        (stopped ??= (async () => {
          try {
            await driver.close();
          } finally {
            await stopAll();
          }
        })()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
