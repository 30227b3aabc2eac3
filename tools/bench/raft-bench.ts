/**
 * Raft core benchmarks: proposals committed per second through a 3-node in-memory group
 * (256-byte entries), one proposal per Ready round and batched; and nanoseconds per `step`.
 * In-memory storage and no network: this measures the consensus core alone, which must not be
 * what limits a store (target: ≥ 200,000 committed entries/s batched, on one core).
 */
import { MessageType, newMessage, type Entry, type Message } from "@regionkv/raft";
import { BenchGroup } from "./raft-group.js";
import { formatRate, progress, type BenchResult } from "./report.js";

const ENTRY_BYTES = 256;

function payload(i: number): Uint8Array {
  const b = new Uint8Array(ENTRY_BYTES);
  b[0] = i & 0xff;
  b[1] = (i >>> 8) & 0xff;
  b[2] = (i >>> 16) & 0xff;
  return b;
}

/** Commit `total` entries, proposing `batch` per round before pumping the group. */
function commitThroughput(name: string, total: number, batch: number): BenchResult {
  const g = new BenchGroup(3);
  const leader = g.node(1);
  const datas = Array.from({ length: batch }, (_, i) => payload(i));
  const start = process.hrtime.bigint();
  let proposed = 0;
  let lastReport = start;
  while (proposed < total) {
    const n = Math.min(batch, total - proposed);
    const r = n === 1 ? leader.propose(datas[0]!) : leader.proposeBatch(n === batch ? datas : datas.slice(0, n));
    if (!r.ok) throw new Error(`proposal refused: ${r.error.message}`);
    proposed += n;
    g.pump();
    const now = process.hrtime.bigint();
    if (now - lastReport > 1_000_000_000n) {
      progress(`${name}: ${proposed}/${total}`);
      lastReport = now;
    }
    // Keep storage from growing without bound, as log GC would.
    if (proposed % 65536 < batch) compactAll(g);
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (g.appliedOnLeader < total) throw new Error(`only ${g.appliedOnLeader}/${total} entries committed`);
  const perSec = (total / ns) * 1e9;
  return { name, value: perSec, unit: "entries/s", detail: `${total} entries of ${ENTRY_BYTES} B, ${batch}/round, ${g.readyCount} Readies, ${(ns / 1e6).toFixed(0)} ms` };
}

function compactAll(g: BenchGroup): void {
  for (const [id, st] of g.storages) {
    const applied = g.node(id).raft.raftLog.applied;
    if (applied > st.firstIndex() + 1024) st.compact(applied - 1024);
  }
}

/**
 * ns per `step` on a follower receiving appends (one 256-byte entry each), the message a
 * follower steps most; and on the leader stepping append responses.
 */
function stepCost(iterations: number): BenchResult[] {
  const g = new BenchGroup(3);
  const follower = g.node(2).raft;
  const term = follower.term;
  let last = follower.raftLog.lastIndex();
  const msgs: Message[] = [];
  for (let i = 0; i < iterations; i++) {
    const e: Entry = { type: 0, term, index: last + 1, data: payload(i) };
    msgs.push(newMessage({ type: MessageType.Append, from: 1, to: 2, term, logTerm: term, index: last, entries: [e], commit: 0 }));
    last++;
  }
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    follower.step(msgs[i]!);
    if ((i & 1023) === 1023) {
      follower.msgs = [];
      // Stabilize what a Ready would persist, so the unstable log stays small.
      const ents = follower.raftLog.unstableEntries();
      const st = g.storages.get(2)!;
      st.append(ents);
      const l = ents[ents.length - 1]!;
      follower.raftLog.stableTo(l.index, l.term);
    }
  }
  const followerNs = Number(process.hrtime.bigint() - t0) / iterations;

  // Leader: append responses acknowledging ever higher indexes from node 2.
  const leader = g.node(1).raft;
  const lterm = leader.term;
  const base = leader.raftLog.lastIndex();
  const ents: Entry[] = Array.from({ length: iterations }, (_, i) => ({ type: 0, term: 0, index: 0, data: payload(i) }));
  // Append without sending (the leader's log holds the entries to acknowledge).
  leader.appendEntry(ents);
  leader.msgs = [];
  const acks = Array.from({ length: iterations }, (_, i) =>
    newMessage({ type: MessageType.AppendResponse, from: 2, to: 1, term: lterm, index: base + i + 1 }),
  );
  t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    leader.step(acks[i]!);
    if ((i & 1023) === 1023) leader.msgs = [];
  }
  const leaderNs = Number(process.hrtime.bigint() - t0) / iterations;
  return [
    { name: "step: follower MsgApp (1 entry)", value: followerNs, unit: "ns/step", detail: `${iterations} steps` },
    { name: "step: leader MsgAppResp", value: leaderNs, unit: "ns/step", detail: `${iterations} steps (commit advances, appends sent)` },
  ];
}

export function runRaftBench(opts: { quick: boolean }): BenchResult[] {
  const scale = opts.quick ? 0.1 : 1;
  const results: BenchResult[] = [];
  // Warm up the JIT so the first figure is not a cold start.
  commitThroughput("warmup", Math.round(20_000 * scale), 64);
  results.push(commitThroughput("commit: 1 proposal per round", Math.round(50_000 * scale), 1));
  results.push(commitThroughput("commit: batched 64 per round", Math.round(500_000 * scale), 64));
  results.push(commitThroughput("commit: batched 256 per round", Math.round(1_000_000 * scale), 256));
  results.push(...stepCost(Math.round(200_000 * scale)));
  for (const r of results) progress(`${r.name}: ${formatRate(r)}`);
  return results;
}
