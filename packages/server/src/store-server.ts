/**
 * The store process: one engine, one RaftStore, the client-facing KV service and the raft
 * transport on one gRPC port, and a status port.
 *
 * Start-up, in order (each step fails with a StoreStartError that says what to do):
 *   open the engine (locks the data directory; corrupt files are reported, never repaired
 *   silently) → bind the gRPC port (a taken port fails here, before anything is registered) →
 *   reach the scheduler (retried until `schedulerTimeoutMs`) → store identity → register the
 *   store (PutStore, with the bound address) → first region if needed (cluster-bootstrap.ts) →
 *   start the raftstore, the services and the status server. The store is ready when this
 *   resolves: it accepts requests.
 * Stop: raftstore (waiting proposals fail), transport, gRPC server, status server, engine.
 */
import * as grpc from "@grpc/grpc-js";
import { Engine, EngineError } from "@regionkv/engine";
import { metapb } from "@regionkv/proto";
import { RaftStore, type RaftstoreConfig } from "@regionkv/raftstore";
import { parseHostPort } from "@regionkv/scheduler";
import { SchedulerRpcClient } from "@regionkv/scheduler/client";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { StoreStartError, ensureFirstRegion, ensureStoreIdent } from "./cluster-bootstrap.js";
import { rawKvService } from "./batch-commands.js";
import { KvService } from "./kv-service.js";
import { RaftTxnStorage, TxnCommands } from "@regionkv/txn";
import { MAX_GRPC_MESSAGE_BYTES } from "./limits.js";
import { startStatusServer, type StatusServer } from "./status-server.js";
import { GrpcTransport, RAFT_TRANSPORT_SERVER_OPTIONS, StoreResolver, TransportMetrics, raftTransportService, rawRaftTransportService } from "./transport/index.js";

/** How often a store reads the scheduler's GC safe point. */
export const GC_SAFE_POINT_REFRESH_MS = 10_000;

export interface StoreServerOptions {
  /** Scheduler endpoint(s), host:port. */
  scheduler: string | string[];
  /** gRPC listen address (KV + raft), host:port; port 0 picks a free port. */
  listen: string;
  /** Address other stores and clients dial; default: the bound listen address. */
  advertise?: string;
  /** Status (metrics) listen address; default: listen host, listen port + 20 (0 if listen port is 0). */
  statusListen?: string;
  /** Data directory (created if missing). */
  dataDir: string;
  logger: Logger;
  /** Raftstore tuning. */
  raftstore?: Partial<RaftstoreConfig>;
  /** Stores that must register before the first region is created; default 3. */
  initialStores?: number;
  /** How long to keep trying to reach the scheduler at start; default 30 s. */
  schedulerTimeoutMs?: number;
  /** Labels of the store (key=value) reported to the scheduler. */
  labels?: metapb.StoreLabel[];
}

export interface StoreServer {
  readonly storeId: bigint;
  /** host:port of the gRPC services. */
  readonly address: string;
  /** host:port of the status server. */
  readonly statusAddress: string;
  readonly raftStore: RaftStore;
  stop(): Promise<void>;
}

/** Open the engine; its errors already name the file and say what to do. */
function openEngine(dataDir: string): Engine {
  try {
    return Engine.open(dataDir);
  } catch (err) {
    if (err instanceof EngineError) throw new StoreStartError(err.message, { cause: err });
    throw err;
  }
}

/** Bind `listen` (already checked to be host:port); resolves with the bound port. */
function bindServer(server: grpc.Server, listen: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) {
        reject(
          /address already in use|EADDRINUSE/i.test(err.message)
            ? new StoreStartError(`${listen} is already in use: stop the other process or choose another --listen`)
            : new StoreStartError(`cannot listen on ${listen}: ${err.message}`),
        );
        return;
      }
      resolve(bound);
    });
  });
}

async function connectScheduler(opts: StoreServerOptions): Promise<SchedulerRpcClient> {
  const endpoints = Array.isArray(opts.scheduler) ? opts.scheduler : [opts.scheduler];
  const deadline = Date.now() + (opts.schedulerTimeoutMs ?? 30_000);
  let last: unknown;
  let logged = false;
  while (Date.now() < deadline) {
    try {
      return await SchedulerRpcClient.connect({ endpoints, timeoutMs: Math.min(5_000, Math.max(500, deadline - Date.now())), logger: opts.logger });
    } catch (err) {
      last = err;
      if (!logged) {
        logged = true;
        opts.logger.warn({ scheduler: endpoints.join(",") }, "scheduler not reachable yet; retrying");
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new StoreStartError(
    `cannot reach the scheduler at ${endpoints.join(", ")}: ${last instanceof Error ? last.message : String(last)}; is \`regionkv scheduler\` running there?`,
  );
}

export async function startStore(opts: StoreServerOptions): Promise<StoreServer> {
  const log = opts.logger;
  // Flags first: a typo must not touch the data directory.
  const listen = parseHostPort(opts.listen, "--listen");
  if (opts.statusListen !== undefined) parseHostPort(opts.statusListen, "--status-listen");
  if (opts.advertise !== undefined) parseHostPort(opts.advertise, "--advertise");
  const engine = openEngine(opts.dataDir);
  const cleanups: Array<() => Promise<void> | void> = [() => engine.close()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ err }, "cleanup step failed");
      }
    }
  };
  try {
    const server = new grpc.Server({
      "grpc.max_receive_message_length": Math.max(MAX_GRPC_MESSAGE_BYTES, RAFT_TRANSPORT_SERVER_OPTIONS["grpc.max_receive_message_length"]),
      "grpc.max_send_message_length": MAX_GRPC_MESSAGE_BYTES,
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
    });
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    const port = await bindServer(server, opts.listen);
    const address = opts.advertise ?? `${listen.host === "0.0.0.0" || listen.host === "[::]" ? "127.0.0.1" : listen.host}:${port}`;

    const scheduler = await connectScheduler(opts);
    cleanups.push(() => scheduler.close());
    const storeId = await ensureStoreIdent(engine, scheduler, opts.dataDir);
    const slog = log.child({ storeId: String(storeId) });
    const statusListen = opts.statusListen ?? `${listen.host}:${listen.port === 0 ? 0 : port + 20}`;
    const store: metapb.Store = {
      id: storeId,
      address,
      state: metapb.StoreState.Up,
      labels: opts.labels ?? [],
      version: "0.1.0",
      statusAddress: statusListen,
      startTimestamp: BigInt(Math.floor(Date.now() / 1000)),
    };
    await scheduler.putStore(store);
    await ensureFirstRegion({ engine, scheduler, storeId, initialStores: opts.initialStores ?? 3, logger: slog });

    const registry = new Registry();
    registry.setDefaultLabels({ store: String(storeId) });
    const resolver = new StoreResolver({ getStore: (id) => scheduler.getStore(id), logger: log });
    // The transport reports snapshot results to the raftstore, which needs the transport first.
    const ref: { store?: RaftStore } = {};
    const transportMetrics = new TransportMetrics(registry);
    const transport = new GrpcTransport({
      storeId,
      resolver,
      logger: log,
      metrics: transportMetrics,
      reporter: { reportSnapshotStatus: (regionId, toPeerId, ok) => ref.store?.reportSnapshotStatus(regionId, toPeerId, ok) },
    });
    cleanups.push(() => transport.close());
    const rs = new RaftStore({ storeId, engine, transport, scheduler, logger: log, config: opts.raftstore });
    ref.store = rs;
    cleanups.push(() => rs.stop());

    const txn = new TxnCommands({ storage: new RaftTxnStorage({ store: rs, tso: () => scheduler.getTimestamp() }) });
    // The GC safe point from the scheduler: reads and prewrites below it are refused on every
    // store, not only on the one that ran the region's last GC (a leader may have moved since).
    const refreshSafePoint = () =>
      void scheduler
        .getGcSafePoint()
        .then((sp) => txn.noteGcSafePoint(sp))
        .catch((err: unknown) => slog.debug({ err }, "could not read the GC safe point; keeping the last one"));
    refreshSafePoint();
    const safePointTimer = setInterval(refreshSafePoint, GC_SAFE_POINT_REFRESH_MS);
    safePointTimer.unref();
    cleanups.push(() => clearInterval(safePointTimer));
    const kv = new KvService({ store: rs, logger: slog, registry, txn });
    // The raw definition leaves decoding of BatchCommands to the service, so one undecodable
    // sub-request gets its own INVALID_ARGUMENT instead of failing the stream.
    server.addService(rawKvService, kv.service());
    server.addService(rawRaftTransportService, raftTransportService({ storeId, onRaftMessage: (m) => rs.onRaftMessage(m), logger: log, metrics: transportMetrics }));
    const status: StatusServer = await startStatusServer(statusListen, [rs.metrics.registry, registry], () => ({
      storeId,
      address,
      regions: [...rs.peers.values()].map((p) => ({ regionId: p.regionId, peerId: p.peerId, leader: p.isLeader })),
    }));
    cleanups.push(() => status.close());
    if (status.address !== statusListen) await scheduler.putStore({ ...store, statusAddress: status.address });
    rs.start();
    slog.info({ address, statusAddress: status.address, dataDir: opts.dataDir, regions: rs.peers.size }, "store ready");

    let stopped = false;
    return {
      storeId,
      address,
      statusAddress: status.address,
      raftStore: rs,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await cleanup();
        slog.info("store stopped");
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
