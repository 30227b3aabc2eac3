#!/usr/bin/env node
/**
 * The `regionkv` command (from the repository root: `pnpm regionkv …`).
 *   regionkv scheduler --listen 127.0.0.1:2379 --data DIR
 *   regionkv store --scheduler 127.0.0.1:2379 --listen 127.0.0.1:20160 --data DIR
 *   regionkv cluster [--stores 3] [--data ./data] [--scheduler-port 2379] [--store-port 20160]
 *   regionkv ctl --scheduler ADDR get|put|delete|delete-range|cas|scan|stores|regions …
 * These flags are public: add new ones, never change these.
 */
import * as grpc from "@grpc/grpc-js";
import { Command, InvalidArgumentError, Option } from "commander";
import { runCluster } from "./commands/cluster.js";
import {
  ctlCas,
  ctlDelete,
  ctlDeleteRange,
  ctlGet,
  ctlOperator,
  ctlOperators,
  ctlPut,
  ctlRegion,
  ctlRegions,
  ctlScan,
  ctlStoreRemove,
  ctlStores,
  type CtlOptions,
} from "./commands/ctl.js";
import { ctlGc, ctlTxn, type CommitMode } from "./commands/ctl-txn.js";
import { runScheduler } from "./commands/scheduler.js";
import { runStore } from "./commands/store.js";
import { LOG_LEVELS, type LogLevel } from "./logger.js";
import type { RegionLimitFlags } from "./region-limits.js";
import type { StoreTuningFlags } from "./store-tuning.js";

/** The split flags, on `store` and on `cluster` (which passes them to every store). */
function regionLimitOptions(cmd: Command): Command {
  return cmd
    .option("--region-max-size <size>", "split a region once it is larger than this (B/KiB/MiB/GiB; default 96MiB)")
    .option("--region-split-size <size>", "size of each piece of a split (default 64MiB, or 2/3 of --region-max-size)")
    .option("--region-max-keys <n>", "split a region once it holds more keys than this (default 1440000)")
    .option("--region-split-keys <n>", "keys in each piece of a split (default 960000, or 2/3 of --region-max-keys)");
}

/**
 * The store's timing flags, on `store` and on `cluster`: production defaults suit production;
 * tests and small demo clusters turn them down to see splits and balancing within seconds.
 */
function storeTuningOptions(cmd: Command): Command {
  return cmd
    .option("--region-heartbeat-interval <duration>", "how often a region leader reports to the scheduler (e.g. 2s; default 10s)")
    .option("--store-heartbeat-interval <duration>", "how often a store reports its statistics to the scheduler (default 10s)")
    .option("--split-check-interval <duration>", "how often a region leader measures its region's size for a split (default 10s)")
    .option("--load-split-qps <n>", "requests per second (3 one-second windows in a row) above which a region is split by load (default 3000)");
}

function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

const logLevel = () => new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info");

// Failures are reported by the commands themselves, with what to do; grpc-js's own console
// lines ("No address added …") would only repeat them less clearly.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

const program = new Command();
program
  .name("regionkv")
  .description("regionkv: a sharded, replicated, transactional key-value store")
  .version("0.1.0")
  .showHelpAfterError();

program
  .command("scheduler")
  .description("run the scheduler (region map, ids, timestamps)")
  .option("--listen <host:port>", "gRPC listen address", "127.0.0.1:2379")
  .requiredOption("--data <dir>", "data directory (created if missing)")
  .option("--max-replicas <n>", "replicas of every region", intArg("--max-replicas", 1, 9), 3)
  .option("--max-store-down-time <duration>", "after this long without a heartbeat a store's replicas are re-created elsewhere (e.g. 30s, 5m, 1h); keep it well above the stores' --store-heartbeat-interval (10s)", "30m")
  .option("--schedulers <list>", "balancing schedulers to run: comma-separated balance-leader, balance-region, hot-region, or none (replicas are always kept)", "balance-leader,balance-region,hot-region")
  .option("--store-balance-rate <n>", "replicas the balancers may move into one store per minute (repairs are not limited)", intArg("--store-balance-rate", 1, 100_000), 30)
  .option("--gc-life-time <duration>", "MVCC versions older than this that no transaction can read are collected (the GC safe point trails now by it); 0s = only by ctl gc --advance", "10m")
  .addOption(logLevel())
  .action((o: { listen: string; data: string; maxReplicas: number; maxStoreDownTime: string; schedulers: string; storeBalanceRate: number; gcLifeTime: string; logLevel: LogLevel }) => runScheduler(o));

storeTuningOptions(regionLimitOptions(program
  .command("store")))
  .description("run one store (region replicas, KV and raft services)")
  .option("--scheduler <host:port>", "scheduler address (comma-separated for several)", "127.0.0.1:2379")
  .option("--listen <host:port>", "gRPC listen address for clients and other stores", "127.0.0.1:20160")
  .requiredOption("--data <dir>", "data directory (created if missing)")
  .option("--status-listen <host:port>", "HTTP status address (/metrics, /status); default: listen port + 20")
  .option("--advertise <host:port>", "address other stores and clients dial; default: the listen address")
  .option("--initial-stores <n>", "first start of a new cluster: stores that must register before the first region is created (its replicas)", intArg("--initial-stores", 1, 100), 3)
  .option("--gc-interval <duration>", "how often to look for a new GC safe point and collect the regions this store leads; 0s = never", "1m")
  .addOption(logLevel())
  .action((o: { scheduler: string; listen: string; data: string; statusListen?: string; advertise?: string; initialStores: number; gcInterval: string; logLevel: LogLevel } & RegionLimitFlags & StoreTuningFlags) =>
    runStore(o),
  );

storeTuningOptions(regionLimitOptions(program
  .command("cluster")))
  .description("run a scheduler and N stores on this machine as child processes")
  .option("--stores <n>", "number of stores", intArg("--stores", 1, 100), 3)
  .option("--data <dir>", "data directory (scheduler/ and store-N/ inside)", "./data")
  .option("--scheduler-port <port>", "scheduler port", intArg("--scheduler-port", 1, 65535), 2379)
  .option("--store-port <port>", "first store port; stores use consecutive ports", intArg("--store-port", 1, 65535), 20160)
  .option("--host <ip>", "loopback or interface address to listen on", "127.0.0.1")
  .option("--ready-timeout <seconds>", "how long to wait for the cluster to serve", intArg("--ready-timeout", 1, 3600), 60)
  .option("--max-replicas <n>", "passed to the scheduler", intArg("--max-replicas", 1, 9))
  .option("--max-store-down-time <duration>", "passed to the scheduler (e.g. 30s, 5m)")
  .addOption(logLevel())
  .action(
    (
      o: {
        stores: number;
        data: string;
        schedulerPort: number;
        storePort: number;
        host: string;
        readyTimeout: number;
        logLevel: LogLevel;
        maxReplicas?: number;
        maxStoreDownTime?: string;
      } & RegionLimitFlags &
        StoreTuningFlags,
    ) =>
      runCluster({ ...o, readyTimeoutMs: o.readyTimeout * 1000 }),
  );

const ctl = program
  .command("ctl")
  .description("talk to a running cluster")
  .option("--scheduler <host:port>", "scheduler address (comma-separated for several)", "127.0.0.1:2379")
  .option("--hex", "keys and values are hex, in and out", false)
  .option("--timeout <seconds>", "per-request deadline", intArg("--timeout", 1, 3600), 10);

function ctlOpts(): CtlOptions {
  const o = ctl.opts<{ scheduler: string; hex: boolean; timeout: number }>();
  return { scheduler: o.scheduler, hex: o.hex, timeoutMs: o.timeout * 1000 };
}

ctl.command("get <key>").description("print the value of a key (exit 1 if absent)").action((key: string) => ctlGet(key, ctlOpts()));
ctl.command("put <key> <value>").description("write a key").action((key: string, value: string) => ctlPut(key, value, ctlOpts()));
ctl.command("delete <key>").description("delete a key").action((key: string) => ctlDelete(key, ctlOpts()));
ctl
  .command("delete-range <start> <end>")
  .description("delete every key in [start, end)")
  .action((start: string, end: string) => ctlDeleteRange(start, end, ctlOpts()));
ctl
  .command("cas <key> [expected] <value>")
  .description("compare-and-swap: write value if the key holds expected (or, with --absent, does not exist)")
  .option("--absent", "the key must not exist", false)
  .action((key: string, a: string | undefined, b: string | undefined, o: { absent: boolean }) => {
    // commander fills optional-then-required positionals left to right.
    const [expected, value] = b === undefined ? [undefined, a!] : [a, b];
    return ctlCas(key, expected, value, { ...ctlOpts(), absent: o.absent });
  });
ctl
  .command("scan [start] [end]")
  .description("list keys in [start, end) (empty end = to the end)")
  .option("--limit <n>", "most rows", intArg("--limit", 1, 10_000), 100)
  .option("--keys-only", "print keys only", false)
  .option("--reverse", "descending order", false)
  .option("--json", "JSON output", false)
  .action((start: string | undefined, end: string | undefined, o: { limit: number; keysOnly: boolean; reverse: boolean; json: boolean }) =>
    ctlScan(start ?? "", end ?? "", { ...ctlOpts(), ...o }),
  );
ctl.command("stores").description("list the stores").option("--json", "JSON output", false).action((o: { json: boolean }) => ctlStores({ ...ctlOpts(), ...o }));
ctl.command("regions").description("list the regions").option("--json", "JSON output", false).action((o: { json: boolean }) => ctlRegions({ ...ctlOpts(), ...o }));

ctl
  .command("region <key>")
  .description("the region holding a key")
  .option("--json", "JSON output", false)
  .action((key: string, o: { json: boolean }) => ctlRegion(key, { ...ctlOpts(), ...o }));
ctl.command("add-peer <region-id> <store-id>").description("add a replica of a region on a store").action((r: string, s: string) => ctlOperator("add-peer", r, [s], ctlOpts()));
ctl.command("remove-peer <region-id> <store-id>").description("remove a region's replica from a store").action((r: string, s: string) => ctlOperator("remove-peer", r, [s], ctlOpts()));
ctl
  .command("transfer-leader <region-id> <store-id>")
  .description("move a region's leader to its replica on a store")
  .action((r: string, s: string) => ctlOperator("transfer-leader", r, [s], ctlOpts()));
ctl
  .command("split <region-id> [key...]")
  .description("split a region at the given keys, or in half (by size) when no key is given")
  .action((r: string, keys: string[]) => ctlOperator("split", r, keys, ctlOpts()));
ctl
  .command("operators")
  .description("running operators (and recently finished ones)")
  .option("--finished <n>", "also list this many finished operators", intArg("--finished", 0, 1000), 20)
  .option("--json", "JSON output", false)
  .action((o: { finished: number; json: boolean }) => ctlOperators({ ...ctlOpts(), ...o }));
ctl
  .command("txn <ops...>")
  .description("one transaction: get KEY, put KEY VALUE, delete KEY … committed together (e.g. txn get a put b 1 delete c)")
  .option("--mode <mode>", "commit protocol: auto (1PC / async commit when possible), 2pc, async, 1pc", "auto")
  .option("--json", "JSON output", false)
  .action((ops: string[], o: { mode: string; json: boolean }) => {
    if (!["auto", "2pc", "async", "1pc"].includes(o.mode)) {
      process.stderr.write(`regionkv ctl txn: --mode ${JSON.stringify(o.mode)} is not one of auto, 2pc, async, 1pc\n`);
      process.exitCode = 2;
      return;
    }
    return ctlTxn(ops, { ...ctlOpts(), mode: o.mode as CommitMode, json: o.json });
  });
ctl
  .command("gc")
  .description("show the GC safe point; --advance raises it, --run collects every region now")
  .option("--advance <duration>", "raise the safe point to now minus this (e.g. 10m; 0s = now)")
  .option("--run", "resolve locks below the safe point and delete old versions in every region now", false)
  .option("--json", "JSON output", false)
  .action((o: { advance?: string; run: boolean; json: boolean }) => ctlGc({ ...ctlOpts(), ...o }));
ctl
  .command("store")
  .description("store administration")
  .command("remove <store-id>")
  .description("drain a store: its replicas move away, then it becomes a Tombstone")
  .action((id: string) => ctlStoreRemove(id, ctlOpts()));

await program.parseAsync(process.argv);
