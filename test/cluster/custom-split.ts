/**
 * TinyKV's TestOneSplit3B (tinykv.md §5.5) on the cluster harness, 5 stores with RegionMaxSize 800
 * and RegionSplitSize 500 bytes:
 *
 *   1. put k1, k2: one region holds both;
 *   2. partition {1,2,3,4} | {5}; put k100..k199 (≈800 bytes: the region splits while store 5
 *      is cut off); two ticks later heal;
 *   3. k1 and k2 are now in different regions that share the split key: left keeps the original
 *      start, right keeps the original end. Here the 100 puts take no simulated time (TinyKV's
 *      take real time before its 200 ms sleep), and the split goes split check → AskBatchSplit →
 *      BatchSplit → heartbeat, a worker round each, so the scheduler is given up to
 *      SPLIT_REPORT_TICKS (one election timeout) to show two regions before the ranges are checked;
 *   4. a Get of k2 sent to the left region's leader with the left region's epoch is refused with
 *      KeyNotInRegion;
 *   5. store 5 catches up: its engine eventually holds k100 (and k199, the last key written).
 */
import { raft_cmdpb } from "@regionkv/proto";
import { regionErrorFromPb, type ProposalFailure } from "@regionkv/raftstore";
import { Cluster, ClusterError } from "./cluster.js";
import { getCmd } from "./cluster-request.js";
import { partition } from "./filters.js";

function mustBeTrue(cond: boolean, message: string, c: Cluster): void {
  if (!cond) throw new ClusterError(`${message}\n${c.describeState()}`);
}

const hex = (b: Buffer) => JSON.stringify(b.toString("latin1"));

/** Ticks after healing within which the scheduler must show k1 and k2 in different regions. */
const SPLIT_REPORT_TICKS = 10;

export async function oneSplit(seed: number, trace?: (line: string) => void): Promise<string> {
  const c = Cluster.start({ seed, stores: 5, config: { regionMaxSize: 800, regionSplitSize: 500 }, ...(trace ? { trace } : {}) });
  try {
    await c.tick(20);
    await c.mustPut("k1", "v1");
    await c.mustPut("k2", "v2");
    const region = await c.regionOf("k1");
    const region2 = await c.regionOf("k2");
    mustBeTrue(region.id === region2.id, `k1 and k2 start in one region, got regions ${region.id} and ${region2.id}`, c);

    c.addFilter(partition([1, 2, 3, 4], [5]));
    for (let i = 100; i < 200; i++) await c.mustPut(`k${i}`, `v${i}`);
    await c.tick(2);
    c.clearFilters();

    const healedAt = c.ticks;
    const apart = () => {
      const a = c.regionByKey(Buffer.from("k1"));
      const b = c.regionByKey(Buffer.from("k2"));
      return a !== undefined && b !== undefined && a.id !== b.id;
    };
    await c.drive([], apart, SPLIT_REPORT_TICKS, "waiting for the scheduler to show the split").catch(() => {});
    const reportedAfter = c.ticks - healedAt;
    const left = await c.regionOf("k1");
    const right = await c.regionOf("k2");
    const describe = `left region ${left.id} [${hex(left.startKey)}, ${hex(left.endKey)}), right region ${right.id} [${hex(right.startKey)}, ${hex(right.endKey)})`;
    mustBeTrue(left.id !== right.id, `after 100 puts past RegionMaxSize the region should have split and both halves reported within ${SPLIT_REPORT_TICKS} ticks: ${describe}`, c);
    mustBeTrue(left.startKey.equals(region.startKey), `the left region keeps the original start key: ${describe}`, c);
    mustBeTrue(left.endKey.length > 0 && left.endKey.equals(right.startKey), `the halves meet at the split key: ${describe}`, c);
    mustBeTrue(right.endKey.equals(region.endKey), `the right region keeps the original end key: ${describe}`, c);

    // k2 through the left region, with the left region's epoch: the leader refuses the key.
    const failure = await mustRefuseOnLeader(c, left.id, getCmd("default", Buffer.from("k2")));
    mustBeTrue(failure?.kind === "KeyNotInRegion", `a Get of k2 sent to the left region (${describe}) should fail with KeyNotInRegion, got ${failure ? failure.kind : "success"}`, c);

    await c.mustGetEqual(5, "k100", "v100");
    await c.mustGetEqual(5, "k199", "v199");
    return `split at ${hex(left.endKey)} into regions ${left.id} and ${right.id}, reported ${reportedAfter} ticks after healing; ${c.ticks} ticks, ${c.network.stats.sent} messages`;
  } finally {
    c.close();
  }
}

/**
 * Send `build` to the leader of region `regionId` (TinyKV's CallCommandOnLeader), built against the
 * scheduler's view of the region, following NotLeader until a leader answers; returns its error,
 * or undefined if it succeeded.
 */
async function mustRefuseOnLeader(c: Cluster, regionId: bigint, build: Parameters<Cluster["proposeToRegion"]>[2]): Promise<ProposalFailure | undefined> {
  let last = "";
  for (let attempt = 0; attempt < 20; attempt++) {
    const lead = await c.leaderOf(Number(regionId));
    const region = c.scheduler.region(Number(regionId));
    if (!region) throw new ClusterError(`region ${regionId} vanished from the scheduler`);
    const r = await c.proposeToRegion(Number(lead.storeId), region, build, 10);
    let failure: ProposalFailure | undefined;
    if (!r.ok) failure = r.error;
    else if (r.response.header?.error) failure = regionErrorFromPb(r.response.header.error) ?? { kind: "InvalidRequest", message: r.response.header.error.message };
    else if (r.response.responses[0]?.cmdType !== raft_cmdpb.CmdType.Get) throw new ClusterError(`region ${regionId} answered a Get with ${JSON.stringify(r.response.responses[0]?.cmdType)}`);
    if (r.ok) r.snapshot?.release();
    if (failure?.kind !== "NotLeader" && failure?.kind !== "Timeout" && failure?.kind !== "StaleCommand") return failure;
    last = failure.kind;
    await c.tick(1);
  }
  throw new ClusterError(`no leader of region ${regionId} answered in 20 attempts (last: ${last})\n${c.describeState()}`);
}
