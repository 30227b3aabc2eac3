import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { metapb, schedulerpb } from "@regionkv/proto";
import { SchedulerCore, type SchedulerCoreOptions } from "../src/index.js";

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "regionkv-scheduler-"));
}

export function newStore(id: bigint): metapb.Store {
  return { ...metapb.Store.fromPartial({ id, address: `127.0.0.1:${20160 + Number(id)}` }) };
}

export function newRegion(id: bigint, start: Buffer, end: Buffer, storeIds: bigint[], version = 2n, confVer = 2n): metapb.Region {
  return {
    id,
    startKey: start,
    endKey: end,
    regionEpoch: { version, confVer },
    peers: storeIds.map((s) => ({ id: id * 100n + s, storeId: s, role: metapb.PeerRole.Voter })),
  };
}

export function heartbeat(region: metapb.Region, leader = region.peers[0]!, extra: Partial<schedulerpb.RegionHeartbeatRequest> = {}): schedulerpb.RegionHeartbeatRequest {
  return { ...schedulerpb.RegionHeartbeatRequest.fromPartial({}), region, leader, ...extra };
}

/** An open, bootstrapped scheduler with stores 1..n, in a fresh directory. */
export function mustOpenBootstrapped(stores = 3, options: SchedulerCoreOptions = {}): { core: SchedulerCore; dir: string } {
  const dir = tempDir();
  const core = SchedulerCore.open(dir, options);
  core.bootstrap(newStore(1n));
  for (let i = 2n; i <= BigInt(stores); i++) core.putStore(newStore(i));
  return { core, dir };
}

export function mustHeartbeat(core: SchedulerCore, req: schedulerpb.RegionHeartbeatRequest): void {
  const r = core.regionHeartbeat(req);
  if (!r.ok) assert.fail(r.error.message);
}

export function mustBeStale(core: SchedulerCore, req: schedulerpb.RegionHeartbeatRequest): void {
  const r = core.regionHeartbeat(req);
  assert.equal(r.ok, false, "expected a stale heartbeat to be rejected");
  if (!r.ok) assert.equal(r.error.code, "StaleEpoch");
}
