/**
 * The scheduler process's server: open the core (SQLite under the data directory, locked) →
 * bind the gRPC service → start the coordinator's patrol and schedule loops → serve; `close()`
 * stops the loops, ends the open streams, shuts the server down (forcing it after a grace period)
 * and closes the core.
 *
 * Startup failures are clear errors, and leave nothing open: a data directory in use by another
 * scheduler (`SchedulerError` Locked), a damaged file (Corrupt), a taken port (`ListenError`
 * AddressInUse: the core is closed again).
 */
import { Server, ServerCredentials, type ChannelOptions } from "@grpc/grpc-js";
import pino, { type Logger } from "pino";
import { schedulerpb } from "@regionkv/proto";
import { SchedulerCore } from "./scheduler.js";
import { createSchedulerService } from "./service.js";
import { Coordinator } from "./schedule/coordinator.js";
import type { SchedulerConfig } from "./schedule/config.js";

/** Largest message the scheduler sends or accepts (16 MiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** How long `close()` waits for connections to finish before cutting them. */
export const SHUTDOWN_GRACE_MS = 2000;

export interface SchedulerServerOptions {
  /** host:port to listen on, e.g. "127.0.0.1:2379"; port 0 picks a free one. */
  listen: string;
  /** Directory of the scheduler's SQLite file (created if needed). */
  dataDir: string;
  /** Structured logger; default pino at info. */
  logger?: Logger;
  /** Wall clock (TSO, heartbeat times); default Date.now. */
  clock?: { now(): number };
  /** The cluster id recorded when the data directory is new; default random. */
  newClusterId?: () => bigint;
  /** Member name reported by GetMembers; default "scheduler-<host:port>". */
  name?: string;
  /** Scheduling settings (`--max-replicas`, `--max-store-down-time`, limits, intervals); defaults in DEFAULT_SCHEDULER_CONFIG. */
  scheduling?: Partial<SchedulerConfig>;
  /** Run the patrol and the schedulers on timers (default true; tests drive the coordinator by hand). */
  autoSchedule?: boolean;
  /** Randomness for the schedulers; default Math.random. */
  rng?: () => number;
  /**
   * GC life time in ms: every GC_ADVANCE_INTERVAL_MS the safe point is raised to now − this, so
   * versions older than it that no reader can see are collected by the stores (default 10
   * minutes; 0 = never raised automatically, only by `regionkv ctl gc --advance`).
   */
  gcLifeTimeMs?: number;
}

/** Default GC life time: transactions may live up to 10 minutes. */
export const DEFAULT_GC_LIFE_TIME_MS = 10 * 60 * 1000;
/** How often the safe point is raised by the life-time rule. */
export const GC_ADVANCE_INTERVAL_MS = 10_000;

export interface RunningSchedulerServer {
  /** The address actually bound (host:port, with the real port when `listen` asked for 0). */
  readonly address: string;
  readonly core: SchedulerCore;
  /** Checkers, schedulers, operators; `addManualOperator` for `regionkv ctl`. */
  readonly coordinator: Coordinator;
  /** Stop serving and close the core; idempotent. */
  close(): Promise<void>;
}

export type ListenErrorCode =
  /** `listen` is not host:port. */
  | "BadAddress"
  /** Another process listens on the address. */
  | "AddressInUse"
  /** Any other bind failure. */
  | "ListenFailed";

export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    readonly code: ListenErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Split "host:port" (an IPv6 host stays in its brackets, ready to be joined with a port again).
 * `flag` names the flag in the error (stores parse --listen, --status-listen, --advertise too).
 */
export function parseHostPort(listen: string, flag = "--listen"): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  const host = i > 0 ? listen.slice(0, i) : "";
  const portText = i > 0 ? listen.slice(i + 1) : "";
  const port = Number(portText);
  if (host === "" || !/^\d+$/.test(portText) || port > 65535) {
    throw new ListenError("BadAddress", `${flag} ${JSON.stringify(listen)} is not host:port (e.g. 127.0.0.1:20160; port 0 picks a free port)`);
  }
  return { host, port };
}

const SERVER_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  // Detect dead stores under long-lived heartbeat streams.
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 20_000,
};

export async function startSchedulerServer(opts: SchedulerServerOptions): Promise<RunningSchedulerServer> {
  const log = opts.logger ?? pino({ level: "info" });
  const { host } = parseHostPort(opts.listen);
  const clock = opts.clock;
  const core = SchedulerCore.open(opts.dataDir, { now: clock ? () => clock.now() : undefined, newClusterId: opts.newClusterId });
  let address = opts.listen;
  let coordinator: Coordinator;
  try {
    coordinator = new Coordinator({ core, config: opts.scheduling, log, rng: opts.rng });
  } catch (e) {
    core.close();
    throw e;
  }
  const service = createSchedulerService({
    core,
    coordinator,
    logger: log,
    member: () => ({ name: opts.name ?? `scheduler-${address}`, memberId: 1n, peerUrls: [], clientUrls: [address], leaderPriority: 0 }),
  });
  const server = new Server(SERVER_CHANNEL_OPTIONS);
  server.addService(schedulerpb.SchedulerService, service.implementation);
  let port: number;
  try {
    port = await bind(server, opts.listen);
  } catch (e) {
    server.forceShutdown();
    core.close();
    throw e;
  }
  address = `${host}:${port}`;
  if (opts.autoSchedule ?? true) coordinator.start();
  const gcLifeTimeMs = opts.gcLifeTimeMs ?? DEFAULT_GC_LIFE_TIME_MS;
  const advanceGc = () => {
    const before = core.getGcSafePoint();
    const now = core.advanceGcSafePoint(gcLifeTimeMs);
    if (now !== before) log.debug({ safePoint: String(now) }, "GC safe point raised by the life-time rule");
  };
  const gcTimer = gcLifeTimeMs > 0 ? setInterval(advanceGc, Math.min(GC_ADVANCE_INTERVAL_MS, gcLifeTimeMs)) : undefined;
  gcTimer?.unref();
  const cfg = coordinator.config;
  log.info(
    { address, dataDir: opts.dataDir, clusterId: String(core.clusterId), bootstrapped: core.isBootstrapped(), maxReplicas: cfg.maxReplicas, maxStoreDownTimeMs: cfg.maxStoreDownTimeMs },
    "scheduler listening",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      coordinator.stop();
      if (gcTimer) clearInterval(gcTimer);
      service.endStreams();
      await shutdown(server, SHUTDOWN_GRACE_MS);
      core.close();
      log.info({ address }, "scheduler stopped");
    })();
    return closing;
  };
  return { address, core, coordinator, close };
}

function bind(server: Server, listen: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(listen, ServerCredentials.createInsecure(), (err, port) => {
      if (!err) {
        resolve(port);
        return;
      }
      if (err.message.includes("EADDRINUSE")) {
        reject(new ListenError("AddressInUse", `${listen} is already in use: stop the other process or choose another --listen`, { cause: err }));
      } else {
        reject(new ListenError("ListenFailed", `cannot listen on ${listen}: ${err.message}; check the --listen address`, { cause: err }));
      }
    });
  });
}

/** Graceful shutdown, forced after `graceMs` (a connection that never finishes must not hang close). */
function shutdown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
