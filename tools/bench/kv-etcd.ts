/**
 * The etcd side of the kv bench: a 3-member etcd cluster on loopback started by the bench
 * (etcd's defaults: fsync on every raft log append and backend commit, 100 ms heartbeat, 1 s
 * election timeout), and a driver speaking etcd's v3 gRPC KV API directly through @grpc/grpc-js
 * with the small proto in etcd-kv.proto.
 *
 * Load spreading, as etcd's own Go client (clientv3 ≥ 3.4) does it: one gRPC channel over all
 * members' client URLs with gRPC's round_robin balancer, i.e. one HTTP/2 connection per member
 * and each call sent to the next member in turn. A member that is not the leader forwards a Put
 * to the leader through raft, and serves a linearizable Range (the default, serializable=false)
 * after a ReadIndex round with the leader. After the run the bench reads each member's
 * `grpc_server_handled_total` from its /metrics to show how the calls were spread.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { KvDriver, KvTargetHandle } from "./kv-driver.js";
import { LOOPBACK, exitedMessage, freePorts, sleep, startProc, tempDir, type Proc } from "./kv-procs.js";
import { progress } from "./report.js";

const PROTO = fileURLToPath(new URL("./etcd-kv.proto", import.meta.url));
const OP_DEADLINE_MS = 10_000;

interface KeyValue {
  key?: Buffer;
  value?: Buffer;
}
type UnaryCallback<T> = (err: grpc.ServiceError | null, res?: T) => void;
interface EtcdKvClient extends grpc.Client {
  Put(req: { key: Buffer; value: Buffer }, options: grpc.CallOptions, cb: UnaryCallback<unknown>): grpc.ClientUnaryCall;
  Range(req: { key: Buffer; serializable?: boolean }, options: grpc.CallOptions, cb: UnaryCallback<{ kvs?: KeyValue[] }>): grpc.ClientUnaryCall;
}
type EtcdKvClientCtor = new (target: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EtcdKvClient;

let kvCtor: EtcdKvClientCtor | undefined;
function kvClientCtor(): EtcdKvClientCtor {
  if (!kvCtor) {
    const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: false, oneofs: true });
    kvCtor = (grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: { KV: EtcdKvClientCtor } }).etcdserverpb.KV;
  }
  return kvCtor;
}

function unary<T>(call: (cb: UnaryCallback<T>) => unknown): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    call((err, res) => (err ? reject(err) : resolve(res)));
  });
}

const deadline = (ms = OP_DEADLINE_MS): grpc.CallOptions => ({ deadline: Date.now() + ms });

/** A client of the KV service: over all `endpoints` (host:port) with round_robin, or one endpoint. */
function kvClient(endpoints: string[]): EtcdKvClient {
  const Ctor = kvClientCtor();
  if (endpoints.length === 1) return new Ctor(endpoints[0]!, grpc.credentials.createInsecure());
  return new Ctor(`ipv4:${endpoints.join(",")}`, grpc.credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.enable_retries": 0,
  });
}

/** The driver: one channel balanced over all members, shared by every worker. */
export function openEtcdDriver(endpoints: string[], label = "etcd"): KvDriver {
  const client = kvClient(endpoints);
  return {
    name: label,
    async put(key, value) {
      await unary((cb) => client.Put({ key, value }, deadline(), cb));
    },
    async get(key) {
      const res = await unary<{ kvs?: KeyValue[] }>((cb) => client.Range({ key }, deadline(), cb));
      const v = res?.kvs?.[0]?.value;
      return v === undefined ? undefined : Buffer.from(v);
    },
    async close() {
      client.close();
    },
  };
}

/** The etcd binary's version, or undefined when it cannot be run. */
export function findEtcd(bin: string): { version: string } | undefined {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return { version: /etcd Version:\s*(\S+)/.exec(r.stdout)?.[1] ?? "unknown version" };
}

/** The environment without ETCD_* variables: etcd would take them as flags. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
}

/** Per member, the share of Put + Range calls it handled, from its Prometheus metrics. */
async function callsPerMember(clientPorts: number[]): Promise<string | undefined> {
  const counts: number[] = [];
  for (const port of clientPorts) {
    const res = await fetch(`http://${LOOPBACK}:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    let n = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("grpc_server_handled_total{") && /grpc_method="(Put|Range)"/.test(line) && line.includes('grpc_service="etcdserverpb.KV"')) {
        n += Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
    counts.push(n);
  }
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  return `KV calls handled per member: ${counts.map((c, i) => `m${i + 1} ${((100 * c) / total).toFixed(1)}%`).join(", ")} of ${total.toLocaleString("en-US")}`;
}

/** The index of the member that reports itself leader (`etcd_server_is_leader 1`), if any answers. */
async function leaderIndex(clientPorts: number[]): Promise<number | undefined> {
  const found = await Promise.all(
    clientPorts.map(async (port) => {
      try {
        const res = await fetch(`http://${LOOPBACK}:${port}/metrics`, { signal: AbortSignal.timeout(2_000) });
        return /^etcd_server_is_leader 1$/m.test(await res.text());
      } catch {
        return false;
      }
    }),
  );
  const i = found.indexOf(true);
  return i >= 0 ? i : undefined;
}

/**
 * Start an n-member etcd cluster on loopback (kernel-picked free ports, data under a temp dir),
 * wait until every member serves a linearizable read, and return it with its driver.
 */
export async function startEtcdCluster(bin: string, version: string, members = 3): Promise<KvTargetHandle> {
  const tmp = tempDir("regionkv-bench-etcd-");
  const ports = await freePorts(2 * members);
  const clientPorts = ports.slice(0, members);
  const peerPorts = ports.slice(members);
  const names = clientPorts.map((_, i) => `m${i + 1}`);
  const initialCluster = names.map((n, i) => `${n}=http://${LOOPBACK}:${peerPorts[i]}`).join(",");
  const token = `regionkv-bench-${process.pid}-${Date.now()}`;
  const procs: Proc[] = [];
  /**
   * Followers first, then the leader: a leader stopped while its followers are still connected
   * first tries to hand its leadership over, and waits ~7 s for that when they are stopping too.
   */
  const stopAll = async (): Promise<void> => {
    const t0 = Date.now();
    const stop = (ps: Proc[]): Promise<unknown> =>
      Promise.all(ps.map((p) => p.stop(10_000).then(() => progress(`${p.name} stopped after ${((Date.now() - t0) / 1000).toFixed(1)} s`))));
    const leader = await leaderIndex(clientPorts.slice(0, procs.length));
    await stop(procs.filter((_, i) => i !== leader));
    if (leader !== undefined) await stop([procs[leader]!]);
    tmp.remove();
  };
  try {
    for (let i = 0; i < members; i++) {
      const client = `http://${LOOPBACK}:${clientPorts[i]}`;
      const peer = `http://${LOOPBACK}:${peerPorts[i]}`;
      const args = [
        "--name", names[i]!,
        "--data-dir", path.join(tmp.dir, names[i]!),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", initialCluster,
        "--initial-cluster-token", token,
        "--initial-cluster-state", "new",
        "--logger", "zap",
        "--log-outputs", "stderr",
        "--log-level", "warn",
      ];
      procs.push(startProc(`etcd ${names[i]}`, bin, args, { logPath: path.join(tmp.dir, `${names[i]}.log`), env: cleanEnv() }));
    }
    progress(`etcd ${version}: ${members} members on ${clientPorts.map((p) => `${LOOPBACK}:${p}`).join(", ")}; waiting until healthy`);
    const t0 = Date.now();
    const endpoints = clientPorts.map((p) => `${LOOPBACK}:${p}`);
    const probes = endpoints.map((e) => kvClient([e]));
    try {
      const healthy = new Set<number>();
      while (healthy.size < members) {
        const dead = procs.find((p) => p.exit !== undefined);
        if (dead) throw new Error(exitedMessage(dead));
        if (Date.now() - t0 > 30_000) throw new Error(`etcd not healthy after 30 s (members answering: ${healthy.size}/${members}); end of ${procs[0]!.logPath}:\n${procs[0]!.logTail()}`);
        await Promise.all(
          probes.map(async (c, i) => {
            if (healthy.has(i)) return;
            try {
              await unary((cb) => c.Range({ key: Buffer.from("health") }, deadline(1_000), cb));
              healthy.add(i);
            } catch {
              // not yet
            }
          }),
        );
        if (healthy.size < members) await sleep(100);
      }
    } finally {
      for (const c of probes) c.close();
    }
    progress(`etcd healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const driver = openEtcdDriver(endpoints, `etcd ${version}`);
    let stopped: Promise<void> | undefined;
    return {
      label: `etcd ${version}`,
      detail: `${members} members on loopback, fsync on, client round_robin over all members`,
      driver,
      serverGroups: procs.flatMap((p) => (p.child.pid !== undefined ? [p.child.pid] : [])),
      afterRun: () => callsPerMember(clientPorts),
      stop: () =>
        (stopped ??= (async () => {
          await driver.close();
          await stopAll();
        })()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
