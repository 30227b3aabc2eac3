/**
 * Child processes for the kv bench: free loopback ports, spawning a server with its output in a
 * log file, stopping it (SIGTERM, then SIGKILL to its whole process group after a grace period),
 * temp dirs, and a cleanup registry that also runs on Ctrl-C / SIGTERM and, as a last resort,
 * synchronously at exit — so no cluster outlives the bench.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { progress } from "./report.js";

export const LOOPBACK = "127.0.0.1";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `p` settles (either way) within `ms`; the timer is cleared either way. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reject with `message` unless `p` settles within `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(undefined));
    s.listen({ host: LOOPBACK, port, exclusive: true }, () => resolve(s));
  });
}

function closeServer(s: net.Server): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}

/** `n` distinct free loopback ports, picked by the kernel (bind port 0), all held until all are known. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = await listen(0);
      if (!s) throw new Error("could not bind a loopback port");
      servers.push(s);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map(closeServer));
  }
}

/** A base port such that base .. base+n−1 are all free on loopback (tries up to 50 random bases in 20000–59999). */
export async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (40_000 - n));
    const held: net.Server[] = [];
    let ok = true;
    for (let p = base; p < base + n; p++) {
      const s = await listen(p);
      if (!s) {
        ok = false;
        break;
      }
      held.push(s);
    }
    await Promise.all(held.map(closeServer));
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free loopback ports found`);
}

/** Whether something accepts TCP connections on host:port. */
export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

// ---- CPU accounting ---------------------------------------------------------------------------

/** USER_HZ: the unit of /proc/<pid>/stat times (100 on every usual Linux). */
const CLOCK_TICKS_PER_SEC = 100;

/**
 * CPU time (ms, user + system, all threads) used so far by the live processes of the given
 * process groups, from /proc (Linux); undefined where /proc cannot be read. A server started by
 * startProc leads its own group, so its group id is its pid and its children are in the group.
 */
export function groupCpuMs(pgids: readonly number[]): number | undefined {
  if (pgids.length === 0) return 0;
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (pgids.includes(Number(f[2]))) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SEC;
}

// ---- cleanup registry -------------------------------------------------------------------------

type Cleanup = { run: () => Promise<void>; runSync: () => void };
const cleanups = new Set<Cleanup>();

/** Register a cleanup (async for the normal path, sync for the exit hook); returns its remover. */
export function onCleanup(run: () => Promise<void>, runSync: () => void): () => void {
  const c = { run, runSync };
  cleanups.add(c);
  return () => cleanups.delete(c);
}

/** Run every registered cleanup, newest first. */
export async function runCleanups(): Promise<void> {
  for (const c of [...cleanups].reverse()) {
    cleanups.delete(c);
    try {
      await c.run();
    } catch (e) {
      progress(`cleanup failed: ${(e as Error).message}`);
    }
  }
}

/**
 * Ctrl-C / SIGTERM stop every cluster and remove its files before the process exits; the exit
 * hook kills (SIGKILL) whatever is somehow still registered. Returns the uninstaller.
 */
export function installInterruptHandlers(): () => void {
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    progress(`${sig}: stopping the benchmark clusters`);
    void runCleanups().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  const onExit = (): void => {
    for (const c of [...cleanups].reverse()) {
      try {
        c.runSync();
      } catch {
        // best effort at exit
      }
    }
    cleanups.clear();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", onExit);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", onExit);
  };
}

// ---- temp dirs and processes ------------------------------------------------------------------

/** A fresh temp dir, removed by the cleanup registry (or by calling the returned remover). */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const rm = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const unregister = onCleanup(async () => rm(), rm);
  return {
    dir,
    remove: () => {
      unregister();
      rm();
    },
  };
}

export interface Proc {
  name: string;
  child: ChildProcess;
  logPath: string;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL to the process group after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its log, for error messages. */
  logTail(lines?: number): string;
}

/**
 * Spawn `cmd args` in its own process group (so a terminal's Ctrl-C reaches only the bench, which
 * then stops it in order), stdout and stderr appended to `logPath`.
 */
export function startProc(name: string, cmd: string, args: string[], opts: { cwd?: string; logPath: string; env?: NodeJS.ProcessEnv }): Proc {
  const fd = fs.openSync(opts.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", fd, fd], detached: true });
  } finally {
    fs.closeSync(fd);
  }
  const killGroup = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  let stopping: Promise<void> | undefined;
  const proc: Proc = {
    name,
    child,
    logPath: opts.logPath,
    exit: undefined,
    exited: new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        proc.exit = { code, signal };
        resolve();
      });
      child.once("error", (e) => {
        proc.exit = { code: null, signal: null };
        fs.appendFileSync(opts.logPath, `\n[bench] spawn failed: ${e.message}\n`);
        resolve();
      });
    }),
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        unregister();
        if (proc.exit === undefined) {
          child.kill("SIGTERM");
          const t0 = Date.now();
          if (!(await settlesWithin(proc.exited, graceMs))) progress(`${name} did not exit ${((Date.now() - t0) / 1000).toFixed(0)} s after SIGTERM; SIGKILL`);
        }
        // Whatever is left of the group (the process itself after a timeout, or children it left behind).
        killGroup("SIGKILL");
        await settlesWithin(proc.exited, 2_000);
      })();
      return stopping;
    },
    logTail(lines = 20) {
      try {
        return fs.readFileSync(opts.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
  };
  const unregister = onCleanup(
    () => proc.stop(),
    () => killGroup("SIGKILL"),
  );
  return proc;
}

/** The message of a process that exited when it should not have, with the end of its log. */
export function exitedMessage(p: Proc): string {
  const how = p.exit?.signal ? `signal ${p.exit.signal}` : `code ${p.exit?.code}`;
  return `${p.name} exited (${how}); end of ${p.logPath}:\n${p.logTail()}`;
}
