/**
 * TinyKV's 2B/2C/3B raftstore scenarios on the deterministic in-process cluster (see README.md):
 * every GenericTest instance (the split ones included), OnePartition2B, OneSnapshot2C, the 3B
 * membership scenarios and OneSplit3B, each for several seeds. A failure names the seed and the command that replays it.
 *
 * Seeds: CLUSTER_SEEDS=1,2,3 (the default); more seeds: scripts/cluster-soak.sh.
 */
import { describe, test } from "node:test";
import { SCENARIOS, runScenario } from "./scenarios.js";

const seeds = (process.env["CLUSTER_SEEDS"] ?? "1,2,3").split(",").map((s) => {
  const n = Number(s.trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CLUSTER_SEEDS must be comma-separated non-negative integers, got ${JSON.stringify(process.env["CLUSTER_SEEDS"])}`);
  return n;
});

/** What each scenario proves when it passes. */
const CLAIMS: Record<string, string> = {
  Basic2B: "one client: every acknowledged put is read back exactly once and in order, and scans see exactly the acknowledged puts",
  Concurrent2B: "five interleaved clients: each one's scans see exactly its acknowledged puts",
  Unreliable2B: "with message loss accumulating to ~40%, acknowledged puts survive and reads stay linearizable",
  ManyPartitionsOneClient2B: "under re-drawn partitions one client's puts are never lost or duplicated and its reads are never stale",
  ManyPartitionsManyClients2B: "under re-drawn partitions five clients' reads stay linearizable",
  PersistOneClient2B: "after every store restarts on its files, every acknowledged put is still there exactly once",
  PersistConcurrent2B: "five clients' acknowledged puts survive a restart of every store",
  PersistConcurrentUnreliable2B: "acknowledged puts survive message loss and a restart of every store",
  PersistPartition2B: "acknowledged puts survive partitions and a restart of every store",
  PersistPartitionUnreliable2B: "acknowledged puts survive partitions, message loss and a restart of every store",
  SnapshotRecover2C: "with log GC at 100 entries, the log is truncated on every store (applied − truncated ≤ 200) and data survives restarts",
  SnapshotRecoverManyClients2C: "twenty clients with log GC: data survives restarts and every store truncates its log",
  SnapshotUnreliable2C: "with log GC and message loss, lagging stores catch up (by snapshot when needed) and reads stay linearizable",
  SnapshotUnreliableRecover2C: "log GC, message loss and restarts: nothing acknowledged is lost and logs stay truncated",
  SnapshotUnreliableRecoverConcurrentPartition2C: "log GC, message loss, partitions and restarts together: nothing acknowledged is lost, reads stay linearizable",
  OnePartition2B: "a write in the majority never reaches the minority; a deposed leader never serves a stale read; the minority catches up after healing",
  OneSnapshot2C: "an isolated store behind the compacted log is caught up by a snapshot (lock CF, a delete included) and keeps it over a restart",
  TransferLeader3B: "leadership moves to each of the five peers in turn on request",
  BasicConfChange3B: "operators shrink the region to one peer and grow it back; removed peers' data is deleted, a store takes a peer again (same id, new id) and is caught up by snapshot",
  ConfChangeRecover3B: "one client while peers are added and removed all the time, and every store restarts: nothing acknowledged is lost, removed stores keep no data",
  ConfChangeRecoverManyClients3B: "twenty clients under constant membership change and restarts",
  ConfChangeUnreliable3B: "membership change under accumulating message loss: reads stay linearizable, re-sent operator steps are harmless",
  ConfChangeUnreliableRecover3B: "membership change, message loss and restarts together",
  ConfChangeSnapshotUnreliableRecover3B: "membership change with log GC: new peers catch up by snapshot under loss and restarts",
  ConfChangeSnapshotUnreliableRecoverConcurrentPartition3B: "membership change, log GC, loss, partitions and restarts: nothing acknowledged is lost",
  ConfChangeRemoveLeader3B: "removing the leader, also of a two-peer group, never wedges the region and the removed store sees no later write",
  SplitRecover3B: "with 300-byte regions the key space splits, scans walking the regions see exactly the acknowledged puts, and everything survives restarts",
  SplitRecoverManyClients3B: "twenty clients while regions split all the time, and every store restarts: nothing acknowledged is lost",
  SplitUnreliable3B: "splits under accumulating message loss: multi-region scans stay linearizable and every split piece reports a leader",
  SplitUnreliableRecover3B: "splits, message loss and restarts together: nothing acknowledged is lost",
  SplitConfChangeSnapshotUnreliableRecover3B: "splits while random regions change membership, with log GC, loss and restarts: no data lost, removed stores keep none",
  SplitConfChangeSnapshotUnreliableRecoverConcurrentPartition3B: "splits, membership change, log GC, loss, partitions and restarts: nothing acknowledged is lost",
  OneSplit3B: "a region splits while a store is cut off; the halves meet at the split key, the left one refuses k2 with KeyNotInRegion, the cut-off store catches up",
};

/**
 * Seeds that fail because of a known raftstore bug (not a harness bug): they still run, as `todo`
 * tests (reported, not failing the suite), until the bug is fixed; then delete the entry.
 */
const KNOWN_RAFTSTORE_BUGS: Record<string, { seeds: readonly number[]; why: string }> = {
  // None open. (The Snap-across-split bug, SplitUnreliable3B seeds 2 and 3, was fixed in dc6c504.)
};

describe("cluster scenarios (TinyKV 2B/2C/3B)", () => {
  for (const s of SCENARIOS) {
    for (const seed of seeds) {
      const known = KNOWN_RAFTSTORE_BUGS[s.name];
      const todo = known?.seeds.includes(seed) ? { todo: known.why } : {};
      test(`${s.name}: ${CLAIMS[s.name] ?? "passes"} (seed ${seed})`, todo, async (t) => {
        const summary = await runScenario(s, { seed });
        t.diagnostic(summary);
      });
    }
  }
});
