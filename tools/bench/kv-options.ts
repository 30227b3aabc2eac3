/**
 * The options of `pnpm bench kv`: parsed from the flags the bench dispatcher hands over
 * (everything but --quick and --json). Pure, so test/bench can check it.
 */

export type KvTarget = "regionkv" | "etcd";
export type KvOp = "put" | "get";

export interface KvOptions {
  targets: KvTarget[];
  ops: KvOp[];
  concurrency: number[];
  /** Measured seconds per (target, op, concurrency) point. */
  durationSec: number;
  /** Unmeasured seconds before each point (connections, JIT, queues settle). */
  warmupSec: number;
  keys: number;
  valueSize: number;
  seed: number;
  /** An already-running regionkv cluster's scheduler (host:port); no cluster is started. */
  scheduler: string | undefined;
  /** The etcd binary (default: `etcd` on PATH). */
  etcdBin: string;
  quick: boolean;
}

/** The flags that take a value, as the dispatcher must know them to tell values from bench names. */
export const KV_VALUE_FLAGS = ["--targets", "--ops", "--concurrency", "--duration", "--warmup", "--keys", "--value-size", "--seed", "--scheduler", "--etcd-bin"] as const;

export const KV_USAGE = `pnpm bench kv [--quick] [--json] [--targets regionkv,etcd] [--ops put,get] [--concurrency 1,16,64,256]
             [--duration 10s] [--warmup 1s] [--keys 100000] [--value-size 256] [--seed 1]
             [--scheduler HOST:PORT] [--etcd-bin PATH]
  --quick       3 s per point (default 10 s)
  --duration    measured time per point: 10, 10s, 2500ms
  --scheduler   run against an already-running regionkv cluster instead of starting one
  --etcd-bin    the etcd binary (default: etcd on PATH)`;

const TARGETS: readonly KvTarget[] = ["regionkv", "etcd"];
const OPS: readonly KvOp[] = ["put", "get"];

function list<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new Error(`${flag}: empty list`);
  const out: T[] = [];
  for (const it of items) {
    if (!(allowed as readonly string[]).includes(it)) throw new Error(`${flag}: unknown value '${it}' (one of ${allowed.join(", ")})`);
    if (!out.includes(it as T)) out.push(it as T);
  }
  return out;
}

export function positiveInt(flag: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value.trim())) throw new Error(`${flag}: expected a positive whole number, got '${value}'`);
  const n = Number(value.trim());
  if (n < 1 || n > max) throw new Error(`${flag}: ${n} is out of range 1..${max}`);
  return n;
}

/** Seconds from `10`, `10s`, `2.5s` or `2500ms`. */
export function parseDuration(flag: string, value: string, allowZero = false): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  if (!m) throw new Error(`${flag}: expected a duration like 10, 10s or 2500ms, got '${value}'`);
  const sec = m[2] === "ms" ? Number(m[1]) / 1000 : Number(m[1]);
  if (sec > 3600) throw new Error(`${flag}: at most 3600 s`);
  if (sec === 0 ? !allowZero : sec < 0.1) throw new Error(`${flag}: at least 100 ms`);
  return sec;
}

/** `--flag value` / `--flag=value` pairs of the `allowed` flags; throws on anything unknown, repeated or without a value. */
export function readFlagValues(args: readonly string[], allowed: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument '${a}'`);
    const eq = a.indexOf("=");
    const flag = eq >= 0 ? a.slice(0, eq) : a;
    if (!allowed.includes(flag)) throw new Error(`unknown flag ${flag}`);
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value`);
      i++;
    }
    if (values.has(flag)) throw new Error(`${flag} given twice`);
    values.set(flag, value);
  }
  return values;
}

/** Parse the kv flags (`--flag value` or `--flag=value`); throws on anything unknown or malformed. */
export function parseKvOptions(args: readonly string[], quick: boolean): KvOptions {
  const values = readFlagValues(args, KV_VALUE_FLAGS);
  const get = (f: (typeof KV_VALUE_FLAGS)[number]): string | undefined => values.get(f);

  const durationSec = get("--duration") !== undefined ? parseDuration("--duration", get("--duration")!) : quick ? 3 : 10;
  const concurrency = get("--concurrency") !== undefined ? get("--concurrency")!.split(",").map((c) => positiveInt("--concurrency", c, 4096)) : [1, 16, 64, 256];
  const scheduler = get("--scheduler");
  if (scheduler !== undefined && !/^[\w.-]+:\d{1,5}$/.test(scheduler)) throw new Error(`--scheduler: expected HOST:PORT, got '${scheduler}'`);
  return {
    targets: get("--targets") !== undefined ? list("--targets", get("--targets")!, TARGETS) : [...TARGETS],
    ops: get("--ops") !== undefined ? list("--ops", get("--ops")!, OPS) : [...OPS],
    concurrency: [...new Set(concurrency)],
    durationSec,
    warmupSec: get("--warmup") !== undefined ? parseDuration("--warmup", get("--warmup")!, true) : Math.min(1, durationSec / 10),
    keys: get("--keys") !== undefined ? positiveInt("--keys", get("--keys")!, 100_000_000) : 100_000,
    valueSize: get("--value-size") !== undefined ? positiveInt("--value-size", get("--value-size")!, 1 << 20) : 256,
    seed: get("--seed") !== undefined ? positiveInt("--seed", get("--seed")!, 2 ** 32 - 1) : 1,
    scheduler,
    etcdBin: get("--etcd-bin") ?? "etcd",
    quick,
  };
}
