/**
 * `regionkv ctl`: talk to a running cluster through the public client and the scheduler.
 * Keys and values are UTF-8 text, or hex with --hex (input and output). `get` of a missing key
 * prints nothing and exits 1, like a failed lookup in any shell tool.
 */
import { RawClient } from "@regionkv/client";
import { metapb, schedulerpb } from "@regionkv/proto";
import { formatSize } from "@regionkv/raftstore";
import { SchedulerRpcClient, type RegionWithLeader } from "@regionkv/scheduler/client";
import { exitWithError } from "../fail.js";

export interface CtlOptions {
  scheduler: string;
  hex: boolean;
  timeoutMs: number;
}

export function endpoints(opts: CtlOptions): string[] {
  return opts.scheduler.split(",").map((s) => s.trim());
}

export function decode(text: string, opts: CtlOptions, what: string): Buffer {
  if (!opts.hex) return Buffer.from(text, "utf8");
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`${what} ${JSON.stringify(text)} is not hex (an even number of 0-9a-f digits); drop --hex to pass text`);
  return Buffer.from(text, "hex");
}

export function encode(b: Buffer, opts: CtlOptions): string {
  return opts.hex ? b.toString("hex") : b.toString("utf8");
}

/** Open a connection, run `fn`, close it; any failure ends the command with one clear line. */
export async function withConnection<C extends { close(): unknown }, T>(command: string, open: () => Promise<C>, fn: (c: C) => Promise<T>): Promise<T> {
  let conn: C | undefined;
  let result: T;
  try {
    conn = await open();
    result = await fn(conn);
  } catch (err) {
    await Promise.resolve(conn?.close()).catch(() => undefined);
    return exitWithError(`ctl ${command}`, err);
  }
  await Promise.resolve(conn.close()).catch(() => undefined);
  return result;
}

function withClient<T>(command: string, opts: CtlOptions, fn: (c: RawClient) => Promise<T>): Promise<T> {
  return withConnection(command, () => RawClient.connect({ scheduler: endpoints(opts), timeoutMs: opts.timeoutMs }), fn);
}

function withScheduler<T>(command: string, opts: CtlOptions, fn: (s: SchedulerRpcClient) => Promise<T>): Promise<T> {
  return withConnection(command, () => SchedulerRpcClient.connect({ endpoints: endpoints(opts), timeoutMs: opts.timeoutMs }), fn);
}

export async function ctlGet(key: string, opts: CtlOptions): Promise<void> {
  const value = await withClient("get", opts, (c) => c.get(decode(key, opts, "key")));
  if (value === undefined) {
    process.stderr.write(`key ${JSON.stringify(key)} not found\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(encode(value, opts) + "\n");
}

export async function ctlPut(key: string, value: string, opts: CtlOptions): Promise<void> {
  await withClient("put", opts, (c) => c.put(decode(key, opts, "key"), decode(value, opts, "value")));
  process.stdout.write("OK\n");
}

export async function ctlDelete(key: string, opts: CtlOptions): Promise<void> {
  await withClient("delete", opts, (c) => c.delete(decode(key, opts, "key")));
  process.stdout.write("OK\n");
}

export async function ctlDeleteRange(start: string, end: string, opts: CtlOptions): Promise<void> {
  await withClient("delete-range", opts, (c) => c.deleteRange(decode(start, opts, "start"), decode(end, opts, "end")));
  process.stdout.write("OK\n");
}

export async function ctlCas(key: string, expected: string | undefined, next: string, opts: CtlOptions & { absent: boolean }): Promise<void> {
  if (opts.absent === (expected !== undefined)) exitWithError("ctl cas", new Error("give either the expected value or --absent (the key must not exist), not both"));
  const r = await withClient("cas", opts, (c) => c.compareAndSwap(decode(key, opts, "key"), expected === undefined ? undefined : decode(expected, opts, "expected"), decode(next, opts, "value")));
  process.stdout.write(`${r.swapped ? "SWAPPED" : "NOT SWAPPED"} previous=${r.previous === undefined ? "(absent)" : encode(r.previous, opts)}\n`);
  if (!r.swapped) process.exitCode = 1;
}

export async function ctlScan(start: string, end: string, opts: CtlOptions & { limit: number; keysOnly: boolean; reverse: boolean; json: boolean }): Promise<void> {
  const rows = await withClient("scan", opts, (c) => c.scan(decode(start, opts, "start"), decode(end, opts, "end"), { limit: opts.limit, keyOnly: opts.keysOnly, reverse: opts.reverse }));
  if (opts.json) {
    process.stdout.write(JSON.stringify(rows.map((r) => (opts.keysOnly ? { key: encode(r.key, opts) } : { key: encode(r.key, opts), value: encode(r.value, opts) }))) + "\n");
    return;
  }
  for (const r of rows) process.stdout.write(opts.keysOnly ? `${encode(r.key, opts)}\n` : `${encode(r.key, opts)}\t${encode(r.value, opts)}\n`);
}


const STATE_NAMES: Record<number, string> = { [metapb.StoreState.Up]: "Up", [metapb.StoreState.Offline]: "Offline", [metapb.StoreState.Tombstone]: "Tombstone" };

export async function ctlStores(opts: CtlOptions & { json: boolean }): Promise<void> {
  const { stores, regions } = await withScheduler("stores", opts, async (s) => ({ stores: await s.getAllStores(), regions: await s.allRegions() }));
  const rows = stores.map((st) => ({
    id: Number(st.id),
    address: st.address,
    state: STATE_NAMES[st.state] ?? String(st.state),
    regionCount: regions.filter((r) => r.region.peers.some((p) => p.storeId === st.id)).length,
    leaderCount: regions.filter((r) => r.leader?.storeId === st.id).length,
    regionSize: regions.filter((r) => r.region.peers.some((p) => p.storeId === st.id)).reduce((n, r) => n + Number(r.approximateSize ?? 0n), 0),
  }));
  if (opts.json) {
    process.stdout.write(JSON.stringify(rows) + "\n");
    return;
  }
  process.stdout.write(
    table(
      ["ID", "ADDRESS", "STATE", "REGIONS", "LEADERS", "REGION SIZE"],
      rows.map((r) => [r.id, r.address, r.state, r.regionCount, r.leaderCount, formatSize(r.regionSize)]),
    ),
  );
}

/** A region as `regions --json` and `region --json` print it. */
function regionRow({ region, leader, approximateSize, approximateKeys }: RegionWithLeader) {
  return {
    id: Number(region.id),
    startKey: region.startKey.toString("hex"),
    endKey: region.endKey.toString("hex"),
    version: Number(region.regionEpoch?.version ?? 0n),
    confVer: Number(region.regionEpoch?.confVer ?? 0n),
    peers: region.peers.map((p) => ({ id: Number(p.id), storeId: Number(p.storeId) })),
    leaderStoreId: leader ? Number(leader.storeId) : null,
    approximateSize: Number(approximateSize ?? 0n),
    approximateKeys: Number(approximateKeys ?? 0n),
  };
}

export async function ctlRegions(opts: CtlOptions & { json: boolean }): Promise<void> {
  const rows = (await withScheduler("regions", opts, (s) => s.allRegions())).map(regionRow);
  if (opts.json) {
    process.stdout.write(JSON.stringify(rows) + "\n");
    return;
  }
  process.stdout.write(
    table(
      ["ID", "START", "END", "EPOCH", "PEERS (id@store)", "LEADER STORE", "SIZE", "KEYS"],
      rows.map((r) => [
        r.id,
        r.startKey || "-inf",
        r.endKey || "+inf",
        `${r.confVer}/${r.version}`,
        r.peers.map((p) => `${p.id}@${p.storeId}`).join(","),
        r.leaderStoreId ?? "-",
        formatSize(r.approximateSize),
        r.approximateKeys,
      ]),
    ),
  );
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => (c ?? "").padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

function bigId(text: string, what: string): bigint {
  if (!/^\d+$/.test(text) || text === "0") throw new Error(`${what} ${JSON.stringify(text)} is not an id (a whole number ≥ 1; see \`regionkv ctl regions\` / \`stores\`)`);
  return BigInt(text);
}

const OP_STATUS: Record<number, string> = {
  [schedulerpb.OperatorStatus.SUCCESS]: "SUCCESS",
  [schedulerpb.OperatorStatus.TIMEOUT]: "TIMEOUT",
  [schedulerpb.OperatorStatus.CANCEL]: "CANCEL",
  [schedulerpb.OperatorStatus.REPLACE]: "REPLACE",
  [schedulerpb.OperatorStatus.RUNNING]: "RUNNING",
};

function operatorRow(o: schedulerpb.OperatorInfo) {
  return {
    regionId: Number(o.regionId),
    kind: o.kind,
    status: OP_STATUS[o.status] ?? String(o.status),
    desc: o.desc,
    step: o.currentStep,
    createdAt: new Date(Number(o.createdAtMs)).toISOString(),
    finishedAt: o.finishedAtMs === 0n ? null : new Date(Number(o.finishedAtMs)).toISOString(),
    reason: o.reason || null,
  };
}

/** `add-peer`, `remove-peer`, `transfer-leader` (region id, store id) and `split` (region id, keys). */
export async function ctlOperator(kind: "add-peer" | "remove-peer" | "transfer-leader" | "split", region: string, args: string[], opts: CtlOptions): Promise<void> {
  const info = await withScheduler(kind, opts, async (s) => {
    const regionId = bigId(region, "region");
    if (kind === "split") {
      return s.addOperator(regionId, { kind, keys: args.map((k) => decode(k, opts, "split key")) });
    }
    return s.addOperator(regionId, { kind, storeId: bigId(args[0] ?? "", "store") });
  });
  process.stdout.write(info ? `operator added: region ${info.regionId}: ${info.desc}\n` : "operator added\n");
}

export async function ctlOperators(opts: CtlOptions & { json: boolean; finished: number }): Promise<void> {
  const { running, finished } = await withScheduler("operators", opts, (s) => s.listOperators(opts.finished));
  const rows = [...running, ...finished].map(operatorRow);
  if (opts.json) {
    process.stdout.write(JSON.stringify(rows) + "\n");
    return;
  }
  if (rows.length === 0) {
    process.stdout.write("no operators\n");
    return;
  }
  process.stdout.write(table(["REGION", "KIND", "STATUS", "STEP", "STEPS", "REASON"], rows.map((r) => [r.regionId, r.kind, r.status, r.step, r.desc, r.reason ?? ""])));
}

export async function ctlRegion(key: string, opts: CtlOptions & { json: boolean }): Promise<void> {
  const r = await withScheduler("region", opts, (s) => s.getRegion(decode(key, opts, "key")));
  if (!r) {
    process.stderr.write(`no region is known for key ${JSON.stringify(key)}\n`);
    process.exitCode = 1;
    return;
  }
  const { approximateSize: _size, approximateKeys: _keys, ...row } = regionRow(r);
  if (opts.json) process.stdout.write(JSON.stringify(row) + "\n");
  else
    process.stdout.write(
      `region ${row.id} [${row.startKey || "-inf"}, ${row.endKey || "+inf"}) epoch ${row.confVer}/${row.version} peers ${row.peers.map((p) => `${p.id}@${p.storeId}`).join(",")} leader store ${row.leaderStoreId ?? "-"}\n`,
    );
}

export async function ctlStoreRemove(store: string, opts: CtlOptions): Promise<void> {
  const s = await withScheduler("store remove", opts, (c) => c.removeStore(bigId(store, "store")));
  process.stdout.write(`store ${store} is ${s ? (STATE_NAMES[s.state] ?? String(s.state)) : "being removed"}: its replicas move to other stores, then it becomes a Tombstone (watch with \`regionkv ctl stores\`)\n`);
}
