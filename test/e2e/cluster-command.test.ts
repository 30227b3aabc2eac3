/**
 * The README's command: `regionkv cluster` starts a scheduler and three stores, bootstraps on
 * first start, prints its endpoints, stops everything on SIGTERM, and resumes from its data.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CLI_MAIN, ROOT, freePort, runCli } from "./support/processes.js";

interface Running {
  proc: ChildProcess;
  output: () => string;
}

/** Start `regionkv cluster` and wait for its ready banner. */
async function startCluster(args: string[]): Promise<Running> {
  const proc = spawn(process.execPath, ["--import", "tsx", CLI_MAIN, "cluster", ...args, "--log-level", "warn"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster not ready in 90 s:\n${out}`)), 90_000);
    const check = () => {
      if (out.includes("regionkv cluster is ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on("data", check);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster exited with ${code} before it was ready:\n${out}`));
    });
  });
  return { proc, output: () => out };
}

function pidsAlive(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

/** The pids of the cluster's regionkv children (scheduler + stores; not tsx's esbuild), from `ps`. */
async function childPids(parent: number): Promise<number[]> {
  const r = await new Promise<string>((resolve) => {
    const ps = spawn("ps", ["-o", "pid=,args=", "--ppid", String(parent)]);
    let s = "";
    ps.stdout.on("data", (d: Buffer) => (s += d.toString()));
    ps.on("exit", () => resolve(s));
  });
  return r
    .split("\n")
    .filter((l) => l.includes("main.ts"))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((n) => n > 0);
}

test("regionkv cluster: starts, serves, stops every process on SIGTERM and resumes from its data", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-e2e-cluster-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Consecutive store ports: try a few random bases until the cluster's own port check passes.
  const schedulerPort = await freePort();
  let running: Running | undefined;
  let storePort = 0;
  for (let attempt = 0; attempt < 5 && !running; attempt++) {
    storePort = 30_000 + Math.floor(Math.random() * 20_000);
    try {
      running = await startCluster(["--stores", "3", "--data", dir, "--scheduler-port", String(schedulerPort), "--store-port", String(storePort)]);
    } catch (err) {
      if (!/already in use/.test(String(err))) throw err;
    }
  }
  assert.ok(running, "the cluster started");
  const allChildren: number[] = [];
  t.after(() => {
    running?.proc.kill("SIGKILL");
    for (const pid of pidsAlive(allChildren)) process.kill(pid, "SIGKILL");
  });
  const banner = running.output();
  assert.match(banner, new RegExp(`scheduler\\s+127\\.0\\.0\\.1:${schedulerPort}`));
  for (let i = 0; i < 3; i++) assert.match(banner, new RegExp(`store-${i + 1}\\s+127\\.0\\.0\\.1:${storePort + i}`));
  for (const sub of ["scheduler", "store-1", "store-2", "store-3"]) assert.ok(fs.existsSync(path.join(dir, sub)), `${sub}/ under the data directory`);

  const ctl = (...args: string[]) => runCli(["ctl", "--scheduler", `127.0.0.1:${schedulerPort}`, ...args]);
  assert.equal((await ctl("put", "durable", "yes")).code, 0);
  const children = await childPids(running.proc.pid!);
  allChildren.push(...children);
  assert.equal(children.length, 4, `a scheduler and three stores: ${children.join(", ")}`);

  // SIGTERM stops everything.
  const exited = new Promise<number | null>((resolve) => running!.proc.on("exit", (code) => resolve(code)));
  running.proc.kill("SIGTERM");
  assert.equal(await exited, 0, running.output());
  assert.deepEqual(pidsAlive(children), [], "every child process is gone");

  // kill -9 of the cluster process: the children notice and stop by themselves.
  running = await startCluster(["--stores", "3", "--data", dir, "--scheduler-port", String(schedulerPort), "--store-port", String(storePort)]);
  const orphans = await childPids(running.proc.pid!);
  allChildren.push(...orphans);
  assert.equal(orphans.length, 4);
  running.proc.kill("SIGKILL");
  const deadline = Date.now() + 30_000;
  while (pidsAlive(orphans).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(pidsAlive(orphans), [], "children stop when the cluster process is killed");

  // Resume from the data.
  running = await startCluster(["--stores", "3", "--data", dir, "--scheduler-port", String(schedulerPort), "--store-port", String(storePort)]);
  const get = await ctl("get", "durable");
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, "yes\n");
  const regions = await ctl("regions", "--json");
  assert.equal((JSON.parse(regions.stdout) as unknown[]).length, 1, "still the one region: no second bootstrap");
  const again = new Promise<number | null>((resolve) => running!.proc.on("exit", (code) => resolve(code)));
  running.proc.kill("SIGINT");
  assert.equal(await again, 0);
});
