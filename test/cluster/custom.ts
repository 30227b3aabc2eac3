/**
 * TinyKV's custom raftstore scenarios of 2B/2C (tinykv.md §5.5) on the cluster harness:
 *
 * - OnePartition2B (5 stores): a write in the majority partition never reaches the minority; when
 *   the old leader ends up in a minority, reads and writes go through the new majority, the
 *   minority keeps the old value, and — added here — the deposed leader never answers a read
 *   from its stale state; after healing, the minority catches up.
 * - OneSnapshot2C (3 stores, log GC at 10 entries, keys in the lock CF): an isolated store falls
 *   behind the compacted log, is caught up by a snapshot (data in every CF, a delete included),
 *   and keeps the data over a restart; applied − truncated ≤ 2 × limit everywhere.
 */
import { Cluster, ClusterError } from "./cluster.js";
import { getCmd } from "./cluster-request.js";
import { mustHaveTruncatedLogs } from "./generic.js";
import { isolate, partition } from "./filters.js";

function mustBeTrue(cond: boolean, message: string, c: Cluster): void {
  if (!cond) throw new ClusterError(`${message}\n${c.describeState()}`);
}

export async function onePartition(seed: number, trace?: (line: string) => void): Promise<string> {
  const c = Cluster.start({ seed, stores: 5, ...(trace ? { trace } : {}) });
  try {
    await c.tick(20);
    const leader = await c.leaderOf(1);
    const leaderStore = Number(leader.storeId);
    const others = c.shuffled(c.storeIds.filter((s) => s !== leaderStore));
    // The leader and two followers against the other two.
    const s1 = [leaderStore, others[0]!, others[1]!];
    const s2 = [others[2]!, others[3]!];
    c.addFilter(partition(s1, s2));
    await c.mustPut("k1", "v1");
    mustBeTrue((await c.mustGet("k1"))?.toString() === "v1", "Get k1 after Put k1=v1 in the majority did not return v1", c);
    await c.tick(10);
    for (const s of s2) mustBeTrue(c.engineGet(s, "k1") === undefined, `store ${s} in the minority holds k1`, c);

    // The old leader and one follower become the minority: a new leader is elected by the rest.
    c.clearFilters();
    const minority = [leaderStore, others[0]!];
    const majority = [others[1]!, others[2]!, others[3]!];
    c.addFilter(partition(minority, majority));
    mustBeTrue((await c.mustGet("k1"))?.toString() === "v1", "Get k1 through the new majority did not return v1", c);
    await c.mustPut("k1", "changed");
    for (const s of minority) await c.mustGetEqual(s, "k1", "v1");

    // A deposed leader in the minority must not serve a read from its stale state.
    const stale = await c.proposeOnce(leaderStore, "k1", getCmd("default", Buffer.from("k1")), 20);
    if (stale.ok) {
      const v = stale.response.responses[0]?.get?.value;
      const err = stale.response.header?.error;
      mustBeTrue(err !== undefined, `the old leader on store ${leaderStore}, cut off in the minority, answered a read of k1 with ${JSON.stringify(v?.toString())} (the committed value is "changed")`, c);
    }
    for (const s of minority) mustBeTrue(c.engineGet(s, "k1")?.toString() === "v1", `store ${s} in the minority holds k1 = ${c.engineGet(s, "k1")?.toString()}`, c);

    // Heal: the minority catches up.
    c.clearFilters();
    await c.mustPut("k2", "v2");
    for (const s of minority) {
      await c.mustGetEqual(s, "k2", "v2");
      await c.mustGetEqual(s, "k1", "changed");
    }
    await c.mustReplicasConverge(1);
    return `old leader store ${leaderStore}; ${c.ticks} ticks, ${c.network.stats.sent} messages, stale read refused with ${stale.ok ? "an error header" : stale.error.kind}`;
  } finally {
    c.close();
  }
}

export async function oneSnapshot(seed: number, trace?: (line: string) => void): Promise<string> {
  const limit = 10;
  const c = Cluster.start({ seed, stores: 3, config: { raftLogGcCountLimit: limit }, ...(trace ? { trace } : {}) });
  const cf = "lock" as const;
  try {
    await c.tick(20);
    await c.mustPut("k1", "v1", cf);
    await c.mustPut("k2", "v2", cf);
    await c.mustGetEqual(1, "k1", "v1", cf);
    await c.mustGetEqual(1, "k2", "v2", cf);
    for (const s of c.storeIds) {
      const t = c.applyState(s, 1)?.truncatedState;
      mustBeTrue(t?.index === 5n && t.term === 5n, `store ${s}: truncated state ${t?.index}/${t?.term} before any log GC, expected 5/5`, c);
    }

    c.addFilter(isolate(1, c.storeIds));
    for (let i = 100; i < 115; i++) await c.mustPut(`k${i}`, `v${i}`, cf);
    await c.mustDelete("k2", cf);
    await c.tick(5);
    mustBeTrue(c.engineGet(1, "k100", cf) === undefined, "isolated store 1 holds k100", c);
    const snapsBefore = c.network.stats.snapshotsTo.get(1) ?? 0;

    c.clearFilters();
    await c.mustGetEqual(1, "k1", "v1", cf);
    await c.mustGetEqual(1, "k100", "v100", cf);
    await c.mustGetNone(1, "k2", cf);
    const snaps = (c.network.stats.snapshotsTo.get(1) ?? 0) - snapsBefore;
    mustBeTrue(snaps > 0, "store 1 caught up without a snapshot: the log it missed should have been compacted", c);
    for (let i = 100; i < 115; i++) mustBeTrue(c.engineGet(1, `k${i}`, cf)?.toString() === `v${i}`, `store 1 lacks k${i} after the snapshot`, c);

    c.stopStore(1);
    c.startStore(1);
    await c.mustGetEqual(1, "k1", "v1", cf);
    await c.tick(10);
    mustHaveTruncatedLogs(c, limit, "after the restart");
    await c.mustReplicasConverge(1);
    // The default CF was never written.
    mustBeTrue((await c.scan("", "")).length === 0, "the default column family holds keys written only to the lock CF", c);
    return `${snaps} snapshot(s) to store 1; ${c.ticks} ticks, ${c.network.stats.sent} messages`;
  } finally {
    c.close();
  }
}
