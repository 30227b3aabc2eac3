/**
 * Helpers for tests against a real scheduler server on 127.0.0.1: temp data directories and
 * servers that are cleaned up after the test, bounded polling, raw gRPC clients.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { credentials } from "@grpc/grpc-js";
import pino from "pino";
import { metapb, schedulerpb } from "@regionkv/proto";
import { startSchedulerServer, type RunningSchedulerServer, type SchedulerServerOptions } from "../src/index.js";

export const silentLogger = pino({ level: "silent" });

/** A fresh directory under os.tmpdir(), removed after the test. */
export function mustTempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-scheduler-rpc-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A scheduler server on 127.0.0.1 (port 0 unless `listen` says otherwise), closed after the test. */
export async function mustStartServer(t: TestContext, dataDir: string, opts: Partial<SchedulerServerOptions> = {}): Promise<RunningSchedulerServer> {
  const server = await startSchedulerServer({ listen: "127.0.0.1:0", dataDir, logger: silentLogger, ...opts });
  t.after(() => server.close());
  return server;
}

/** A raw generated gRPC client, closed after the test. */
export function rawClient(t: TestContext, address: string): schedulerpb.SchedulerClient {
  const c = new schedulerpb.SchedulerClient(address, credentials.createInsecure());
  t.after(() => c.close());
  return c;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Poll `cond` every 5 ms until it holds; fail after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function newStore(id: bigint): metapb.Store {
  return metapb.Store.fromPartial({ id, address: `127.0.0.1:${20160 + Number(id)}`, state: metapb.StoreState.Up });
}

export function newRegion(id: bigint, start: string, end: string, storeIds: bigint[], version = 1n, confVer = 1n): metapb.Region {
  return {
    id,
    startKey: Buffer.from(start),
    endKey: Buffer.from(end),
    regionEpoch: { version, confVer },
    peers: storeIds.map((s) => ({ id: id * 100n + s, storeId: s, role: metapb.PeerRole.Voter })),
  };
}

/** Promisify one unary call of the raw client. */
export function unary<Res>(start: (cb: (err: Error | null, res: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res))));
}
