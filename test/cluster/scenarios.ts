/**
 * The scenario table: TinyKV's 2B/2C/3B GenericTest instances (tinykv.md §5.4), the split ones
 * included, plus TestOnePartition2B, TestOneSnapshot2C, TestTransferLeader3B,
 * TestBasicConfChange3B, TestConfChangeRemoveLeader3B and TestOneSplit3B (§5.5). The CI test file,
 * replay.ts and the soak all run scenarios from here by name and seed, so a failure anywhere
 * replays with the same command.
 */
import { genericTest, type GenericParams } from "./generic.js";
import { onePartition, oneSnapshot } from "./custom.js";
import { basicConfChange, confChangeRemoveLeader, transferLeader } from "./custom-confchange.js";
import { oneSplit } from "./custom-split.js";

export interface ScenarioRun {
  seed: number;
  /** Scale of the run (client ticks per iteration for GenericTest); default: the CI value. */
  clientTicks?: number;
  trace?: (line: string) => void;
}

export interface Scenario {
  name: string;
  /** Runs it; throws on any violation. Returns a one-line summary. */
  run(r: ScenarioRun): Promise<string>;
}

/** `clientTicks`: this scenario's CI scale when it is not GenericTest's default (a run's CLIENT_TICKS wins). */
const generic = (name: string, nclients: number, unreliable: boolean, crash: boolean, partitions: boolean, maxraftlog: number, confchange = false, split = false, clientTicks?: number): Scenario => {
  const p: GenericParams = { nclients, unreliable, crash, partitions, maxraftlog, confchange, split };
  return {
    name,
    async run(r) {
      const ticks = r.clientTicks ?? clientTicks;
      const rep = await genericTest(p, { seed: r.seed, ...(ticks ? { clientTicks: ticks } : {}), ...(r.trace ? { trace: r.trace } : {}) });
      const cc = confchange ? `, ${rep.confChanges} conf changes (${rep.confChangesAbandoned} given up)` : "";
      const sp = split ? `, ${rep.regions} regions${rep.splitChecked ? "" : " (never enough data to require a split)"}` : "";
      return `${rep.puts} puts, ${rep.scans} scans, ${rep.ticks} ticks, ${rep.messages} messages (${rep.dropped} dropped), ${rep.snapshotsSent} snapshots sent${cc}${sp}`;
    },
  };
};

//                        name                                                    clients unrel  crash  parts  maxraftlog
export const SCENARIOS: readonly Scenario[] = [
  generic("Basic2B",                                             1,  false, false, false, -1),
  generic("Concurrent2B",                                        5,  false, false, false, -1),
  generic("Unreliable2B",                                        5,  true,  false, false, -1),
  generic("ManyPartitionsOneClient2B",                           1,  false, false, true,  -1),
  generic("ManyPartitionsManyClients2B",                         5,  false, false, true,  -1),
  generic("PersistOneClient2B",                                  1,  false, true,  false, -1),
  generic("PersistConcurrent2B",                                 5,  false, true,  false, -1),
  generic("PersistConcurrentUnreliable2B",                       5,  true,  true,  false, -1),
  generic("PersistPartition2B",                                  5,  false, true,  true,  -1),
  generic("PersistPartitionUnreliable2B",                        5,  true,  true,  true,  -1),
  generic("SnapshotRecover2C",                                   1,  false, true,  false, 100),
  generic("SnapshotRecoverManyClients2C",                        20, false, true,  false, 100),
  generic("SnapshotUnreliable2C",                                5,  true,  false, false, 100),
  generic("SnapshotUnreliableRecover2C",                         5,  true,  true,  false, 100),
  generic("SnapshotUnreliableRecoverConcurrentPartition2C",      5,  true,  true,  true,  100),
  //                                                            clients unrel  crash  parts  maxraftlog confchange
  generic("ConfChangeRecover3B",                                 1,  false, true,  false, -1,  true),
  generic("ConfChangeRecoverManyClients3B",                      20, false, true,  false, -1,  true),
  generic("ConfChangeUnreliable3B",                              5,  true,  false, false, -1,  true),
  generic("ConfChangeUnreliableRecover3B",                       5,  true,  true,  false, -1,  true),
  generic("ConfChangeSnapshotUnreliableRecover3B",               5,  true,  true,  false, 100, true),
  generic("ConfChangeSnapshotUnreliableRecoverConcurrentPartition3B", 5, true, true, true, 100, true),
  //                                                            clients unrel  crash  parts  maxraftlog confchange split
  generic("SplitRecover3B",                                      1,  false, true,  false, -1,  false, true),
  // Twenty clients at 60 ticks make ~90 regions (~4× the CPU of any other split instance); 30 ticks still make ~40.
  generic("SplitRecoverManyClients3B",                           20, false, true,  false, -1,  false, true, 30),
  generic("SplitUnreliable3B",                                   5,  true,  false, false, -1,  false, true),
  generic("SplitUnreliableRecover3B",                            5,  true,  true,  false, -1,  false, true),
  generic("SplitConfChangeSnapshotUnreliableRecover3B",          5,  true,  true,  false, 100, true,  true),
  generic("SplitConfChangeSnapshotUnreliableRecoverConcurrentPartition3B", 5, true, true, true, 100, true, true),
  { name: "OnePartition2B", run: async (r) => onePartition(r.seed, r.trace) },
  { name: "OneSnapshot2C", run: async (r) => oneSnapshot(r.seed, r.trace) },
  { name: "TransferLeader3B", run: async (r) => transferLeader(r.seed, r.trace) },
  { name: "BasicConfChange3B", run: async (r) => basicConfChange(r.seed, r.trace) },
  { name: "ConfChangeRemoveLeader3B", run: async (r) => confChangeRemoveLeader(r.seed, r.trace) },
  { name: "OneSplit3B", run: async (r) => oneSplit(r.seed, r.trace) },
];

export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name || `Test${x.name}` === name);
  if (!s) throw new Error(`unknown scenario ${JSON.stringify(name)}; one of: ${SCENARIOS.map((x) => x.name).join(", ")}`);
  return s;
}

/** The command that replays one scenario seed verbosely. */
export function replayCommand(name: string, seed: number, clientTicks?: number): string {
  return `SEED=${seed} SCENARIO=${name}${clientTicks ? ` CLIENT_TICKS=${clientTicks}` : ""} node --import tsx test/cluster/replay.ts`;
}

/** Run a scenario; on failure, the error names the seed and the replay command. */
export async function runScenario(s: Scenario, r: ScenarioRun): Promise<string> {
  try {
    return await s.run(r);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    err.message = `scenario ${s.name} failed with seed ${r.seed}; replay: ${replayCommand(s.name, r.seed, r.clientTicks)}\n${err.message}`;
    throw err;
  }
}
