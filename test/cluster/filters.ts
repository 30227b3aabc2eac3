/**
 * Network filters of the simulated transport (TinyKV's `Filter`, made composable). Every message
 * that reaches the network passes through every installed filter; each filter returns a verdict:
 * deliver, drop, or hold for k delivery rounds. The network combines them: any drop drops the
 * message, delays add up. Filters that draw randomness take the cluster's seeded RNG, so a seed
 * replays exactly.
 *
 * Scoping: `when(match, filter)` applies `filter` only to the messages `match` selects (a region,
 * a direction between store sets, raft message types); `partition`, `isolate` and `oneWay` are the
 * usual shapes built from those pieces.
 */
import { eraftpb, type raft_serverpb } from "@regionkv/proto";

export type Verdict = { kind: "deliver" } | { kind: "drop" } | { kind: "delay"; rounds: number };

export const DELIVER: Verdict = { kind: "deliver" };
export const DROP: Verdict = { kind: "drop" };

export interface Filter {
  /** Decide what happens to `msg` (called once per message, in send order). */
  verdict(msg: raft_serverpb.RaftMessage): Verdict;
  /** Stable text for logs and failure messages. */
  describe(): string;
}

export function fromStore(msg: raft_serverpb.RaftMessage): number {
  return Number(msg.fromPeer?.storeId ?? 0n);
}

export function toStore(msg: raft_serverpb.RaftMessage): number {
  return Number(msg.toPeer?.storeId ?? 0n);
}

export function msgType(msg: raft_serverpb.RaftMessage): eraftpb.MessageType {
  return msg.message?.msgType ?? eraftpb.MessageType.MsgHup;
}

/** Drop every message between a store of `a` and a store of `b` (both directions). */
export function partition(a: readonly number[], b: readonly number[]): Filter {
  const sa = new Set(a);
  const sb = new Set(b);
  return {
    verdict: (m) => {
      const f = fromStore(m);
      const t = toStore(m);
      return (sa.has(f) && sb.has(t)) || (sb.has(f) && sa.has(t)) ? DROP : DELIVER;
    },
    describe: () => `partition([${[...sa].join(",")}] | [${[...sb].join(",")}])`,
  };
}

/** Cut `store` off from every other store of `all`. */
export function isolate(store: number, all: readonly number[]): Filter {
  const f = partition([store], all.filter((s) => s !== store));
  return { verdict: f.verdict, describe: () => `isolate(${store})` };
}

/** Drop messages from a store of `from` to a store of `to` only (one direction). */
export function oneWay(from: readonly number[], to: readonly number[]): Filter {
  return when({ fromStores: from, toStores: to }, dropAll(), `oneWay([${from.join(",")}] -> [${to.join(",")}])`);
}

export function dropAll(): Filter {
  return { verdict: () => DROP, describe: () => "dropAll" };
}

/** Drop about `percent`% of messages (TinyKV's DropFilter drops ~10%). */
export function dropPercent(percent: number, random: () => number): Filter {
  if (!(percent >= 0 && percent <= 100)) throw new Error(`dropPercent: percent must be in [0, 100], got ${percent}`);
  return { verdict: () => (random() * 100 < percent ? DROP : DELIVER), describe: () => `drop(${percent}%)` };
}

/** Hold every message for `rounds` delivery rounds. */
export function delay(rounds: number): Filter {
  if (!Number.isInteger(rounds) || rounds < 0) throw new Error(`delay: rounds must be a non-negative integer, got ${rounds}`);
  return { verdict: () => (rounds === 0 ? DELIVER : { kind: "delay", rounds }), describe: () => `delay(${rounds})` };
}

/** Hold each message for a random 0..maxRounds rounds: messages overtake each other. */
export function reorder(maxRounds: number, random: () => number): Filter {
  if (!Number.isInteger(maxRounds) || maxRounds < 1) throw new Error(`reorder: maxRounds must be a positive integer, got ${maxRounds}`);
  return {
    verdict: () => {
      const r = Math.floor(random() * (maxRounds + 1));
      return r === 0 ? DELIVER : { kind: "delay", rounds: r };
    },
    describe: () => `reorder(≤${maxRounds})`,
  };
}

/** Which messages a scoped filter applies to; every given field must match. */
export interface Match {
  regionIds?: readonly number[];
  fromStores?: readonly number[];
  toStores?: readonly number[];
  msgTypes?: readonly eraftpb.MessageType[];
}

export function matches(match: Match, m: raft_serverpb.RaftMessage): boolean {
  if (match.regionIds && !match.regionIds.includes(Number(m.regionId))) return false;
  if (match.fromStores && !match.fromStores.includes(fromStore(m))) return false;
  if (match.toStores && !match.toStores.includes(toStore(m))) return false;
  if (match.msgTypes && !match.msgTypes.includes(msgType(m))) return false;
  return true;
}

export function describeMatch(match: Match): string {
  const parts: string[] = [];
  if (match.regionIds) parts.push(`region ∈ {${match.regionIds.join(",")}}`);
  if (match.fromStores) parts.push(`from ∈ {${match.fromStores.join(",")}}`);
  if (match.toStores) parts.push(`to ∈ {${match.toStores.join(",")}}`);
  if (match.msgTypes) parts.push(`type ∈ {${match.msgTypes.map((t) => eraftpb.MessageType[t] ?? String(t)).join(",")}}`);
  return parts.join(", ") || "all";
}

/** Apply `inner` only to the messages `match` selects; the rest pass. */
export function when(match: Match, inner: Filter, name?: string): Filter {
  return {
    verdict: (m) => (matches(match, m) ? inner.verdict(m) : DELIVER),
    describe: () => name ?? `${inner.describe()} when ${describeMatch(match)}`,
  };
}

/** Combine verdicts: a drop wins; delays add up. */
export function combine(verdicts: readonly Verdict[]): Verdict {
  let rounds = 0;
  for (const v of verdicts) {
    if (v.kind === "drop") return DROP;
    if (v.kind === "delay") rounds += v.rounds;
  }
  return rounds > 0 ? { kind: "delay", rounds } : DELIVER;
}
