/**
 * PeerStorage: the raft core's `Storage` over the engine, for one region peer, plus the writes a
 * Ready asks for (`saveReadyState`), collected into the raft worker's group-commit batch.
 *
 * Persisted per region (engine tables):
 * - raft state: hard state, last index and term of the log;
 * - apply state: applied index, truncated index and term (written with the applied effects);
 * - region state: the region meta and Normal/Tombstone;
 * - the log entries in (truncated index, last index].
 *
 * A region created with peers (bootstrap, split) starts at RAFT_INIT_LOG_INDEX/TERM: applied =
 * truncated = commit = last = 5, term 5. A peer created by a message (membership change) starts
 * empty at 0, so the leader (whose first index is > 1) sends it a snapshot.
 */
import { CF_NAMES, cfKeyRange, parseColumnFamily, type WriteBatch, type Engine, type LogEntry } from "@regionkv/engine";
import { metapb, raft_serverpb } from "@regionkv/proto";
import type {
  EntryType} from "@regionkv/raft";
import {
  RaftError,
  RaftInvariantError,
  limitSize,
  type ConfState,
  type Entry,
  type HardState,
  type Ready,
  type Snapshot,
  type Storage,
} from "@regionkv/raft";
import { hardStateFromPb, hardStateToPb, toNum } from "./raft-codec.js";

export const RAFT_INIT_LOG_TERM = 5;
export const RAFT_INIT_LOG_INDEX = 5;

export interface ApplyStateNum {
  appliedIndex: number;
  truncatedIndex: number;
  truncatedTerm: number;
}

/** Ask the region worker for a snapshot of this region; the result comes back through the router. */
export type RequestSnapshot = (regionId: number) => void;

export class PeerStorage implements Storage {
  hardState: HardState;
  lastIndex_: number;
  lastTerm: number;
  applyState: ApplyStateNum;
  region: metapb.Region;
  /** Recent entries, contiguous, ending at lastIndex_ (a cache of the log tail). */
  private cache: Entry[] = [];
  /** Snapshot generation: idle, requested (waiting for the worker) or ready. */
  private snapState: { kind: "idle" } | { kind: "generating" } | { kind: "ready"; snapshot: Snapshot } = { kind: "idle" };
  private snapAttempts = 0;
  /** Approximate bytes of log entries above the truncated index (for size-based log GC). */
  logSizeHint = 0;

  constructor(
    readonly engine: Engine,
    region: metapb.Region,
    readonly peerId: number,
    private readonly requestSnapshot: RequestSnapshot,
    private readonly cacheLimit: number,
  ) {
    this.region = region;
    const regionId = toNum(region.id, "region id");
    const rs = engine.getRaftState(regionId);
    const as = engine.getApplyState(regionId);
    this.hardState = hardStateFromPb(rs?.hardState);
    this.lastIndex_ = toNum(rs?.lastIndex ?? 0n, "last index");
    this.lastTerm = toNum(rs?.lastTerm ?? 0n, "last term");
    this.applyState = {
      appliedIndex: toNum(as?.appliedIndex ?? 0n, "applied index"),
      truncatedIndex: toNum(as?.truncatedState?.index ?? 0n, "truncated index"),
      truncatedTerm: toNum(as?.truncatedState?.term ?? 0n, "truncated term"),
    };
    this.validate();
  }

  get regionId(): number {
    return Number(this.region.id);
  }

  /** A peer is initialized once it knows its range (bootstrap, split, or an applied snapshot). */
  get isInitialized(): boolean {
    return this.region.peers.length > 0;
  }

  private validate(): void {
    const { appliedIndex, truncatedIndex } = this.applyState;
    const fail = (why: string) => {
      throw new RaftInvariantError(`region ${this.regionId} peer ${this.peerId}: corrupt raft state: ${why}`);
    };
    if (this.lastIndex_ < truncatedIndex) fail(`last index ${this.lastIndex_} < truncated index ${truncatedIndex}`);
    if (appliedIndex < truncatedIndex) fail(`applied index ${appliedIndex} < truncated index ${truncatedIndex}`);
    if (this.hardState.commit < truncatedIndex && this.isInitialized) fail(`commit ${this.hardState.commit} < truncated ${truncatedIndex}`);
    if (appliedIndex > this.lastIndex_) fail(`applied index ${appliedIndex} > last index ${this.lastIndex_}`);
  }

  // ---- raft Storage ---------------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: confStateOfRegion(this.region) };
  }

  firstIndex(): number {
    return this.applyState.truncatedIndex + 1;
  }

  lastIndex(): number {
    return this.lastIndex_;
  }

  term(i: number): number {
    const { truncatedIndex, truncatedTerm } = this.applyState;
    if (i === truncatedIndex) return truncatedTerm;
    if (i < truncatedIndex) throw new RaftError("Compacted", `region ${this.regionId}: term(${i}) is compacted (truncated at ${truncatedIndex})`);
    if (i > this.lastIndex_) throw new RaftError("Unavailable", `region ${this.regionId}: term(${i}) beyond last index ${this.lastIndex_}`);
    if (i === this.lastIndex_) return this.lastTerm;
    const c = this.cachedEntry(i);
    if (c) return c.term;
    const t = this.engine.logTerm(this.regionId, i);
    if (t === undefined) throw new RaftInvariantError(`region ${this.regionId}: log entry ${i} is missing from the engine (first ${this.firstIndex()}, last ${this.lastIndex_})`);
    return t;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo <= this.applyState.truncatedIndex) {
      throw new RaftError("Compacted", `region ${this.regionId}: entries from ${lo} are compacted (truncated at ${this.applyState.truncatedIndex})`);
    }
    if (hi > this.lastIndex_ + 1) throw new RaftError("Unavailable", `region ${this.regionId}: entries to ${hi} beyond last index ${this.lastIndex_}`);
    if (lo >= hi) return [];
    const cacheFirst = this.cache.length > 0 ? this.cache[0]!.index : Number.POSITIVE_INFINITY;
    let out: Entry[];
    if (lo >= cacheFirst) {
      out = limitSize(this.cache.slice(lo - cacheFirst, hi - cacheFirst), maxSize);
    } else {
      const stored: LogEntry[] = this.engine.logEntries(this.regionId, lo, Math.min(hi, cacheFirst), maxSize);
      out = stored.map((e) => ({ type: e.type as EntryType, term: e.term, index: e.index, data: e.data }));
      const wantFromDisk = Math.min(hi, cacheFirst) - lo;
      if (out.length === wantFromDisk && hi > cacheFirst) out = limitSize(out.concat(this.cache.slice(0, hi - cacheFirst)), maxSize);
    }
    if (out.length === 0 || out[0]!.index !== lo) {
      throw new RaftInvariantError(`region ${this.regionId}: log entries [${lo}, ${hi}) are missing from the engine`);
    }
    for (let k = 1; k < out.length; k++) {
      if (out[k]!.index !== lo + k) throw new RaftInvariantError(`region ${this.regionId}: log gap at ${lo + k}`);
    }
    return out;
  }

  snapshot(): Snapshot {
    const st = this.snapState;
    if (st.kind === "ready") {
      // Usable only if it still covers what followers need (at or past the truncated index).
      if (st.snapshot.metadata.index >= this.applyState.truncatedIndex) {
        this.snapState = { kind: "idle" };
        this.snapAttempts = 0;
        return st.snapshot;
      }
      this.snapState = { kind: "idle" };
    }
    if (this.snapState.kind === "idle") {
      this.snapAttempts++;
      this.snapState = { kind: "generating" };
      this.requestSnapshot(this.regionId);
    }
    throw new RaftError("SnapshotTemporarilyUnavailable", `region ${this.regionId}: snapshot is being generated (attempt ${this.snapAttempts})`);
  }

  /** The region worker finished a snapshot (or failed: undefined). */
  onSnapshotGenerated(snapshot: Snapshot | undefined): void {
    this.snapState = snapshot ? { kind: "ready", snapshot } : { kind: "idle" };
  }

  // ---- writes of a Ready ----------------------------------------------------------------

  /**
   * Add this Ready's snapshot, entries and hard state to `wb` (the group-commit batch) and update
   * the in-memory view. Returns the region of an installed snapshot, if any (its data is in `wb`
   * too), so the store can update its region map.
   */
  saveReadyState(rd: Ready, wb: WriteBatch): { snapshotRegion: metapb.Region | undefined } {
    let snapshotRegion: metapb.Region | undefined;
    let stateChanged = false;
    if (rd.snapshot) {
      snapshotRegion = this.applySnapshotMeta(rd.snapshot, wb);
      stateChanged = true;
    }
    if (rd.entries.length > 0) {
      this.append(rd.entries, wb);
      stateChanged = true;
    }
    if (rd.hardState) {
      this.hardState = { ...rd.hardState };
      stateChanged = true;
    }
    if (stateChanged) wb.setRaftState(this.regionId, this.raftLocalState());
    return { snapshotRegion };
  }

  private append(entries: readonly Entry[], wb: WriteBatch): void {
    const first = entries[0]!.index;
    // Entries at or below the truncated index are already covered by a snapshot.
    const ents = first <= this.applyState.truncatedIndex ? entries.filter((e) => e.index > this.applyState.truncatedIndex) : entries;
    if (ents.length === 0) return;
    const from = ents[0]!.index;
    if (from <= this.lastIndex_) wb.truncateLogFrom(this.regionId, from);
    wb.appendLog(this.regionId, ents);
    for (const e of ents) this.logSizeHint += e.data.byteLength;
    const last = ents[ents.length - 1]!;
    this.lastIndex_ = last.index;
    this.lastTerm = last.term;
    // Cache: drop what the new entries replace, then add them.
    if (this.cache.length > 0 && from <= this.cache[this.cache.length - 1]!.index) {
      const keep = from - this.cache[0]!.index;
      this.cache = keep > 0 ? this.cache.slice(0, keep) : [];
    }
    if (this.cache.length > 0 && this.cache[this.cache.length - 1]!.index + 1 !== from) this.cache = [];
    for (const e of ents) this.cache.push(e);
    if (this.cache.length > this.cacheLimit) this.cache = this.cache.slice(this.cache.length - this.cacheLimit);
  }

  private applySnapshotMeta(snap: Snapshot, wb: WriteBatch): metapb.Region {
    const data = raft_serverpb.RaftSnapshotData.decode(snap.data);
    const region = data.region;
    if (!region) throw new RaftInvariantError(`region ${this.regionId}: snapshot at ${snap.metadata.index} carries no region`);
    const idx = snap.metadata.index;
    const term = snap.metadata.term;
    // The whole old log and the old data go: the snapshot replaces them. Data, log state and
    // region state are written in the same group-commit transaction, so a crash leaves either the
    // old peer or the installed snapshot, never a mix.
    wb.clearRaftMeta(this.regionId);
    for (const cf of CF_NAMES) {
      if (this.isInitialized) {
        const old = cfKeyRange(cf, this.region.startKey, this.region.endKey);
        wb.deleteRange(cf, old.start, old.end);
      }
      const range = cfKeyRange(cf, region.startKey, region.endKey);
      wb.deleteRange(cf, range.start, range.end);
    }
    for (const kv of data.data) {
      const cf = parseColumnFamily(kv.cf);
      if (!cf) throw new RaftInvariantError(`region ${this.regionId}: snapshot holds unknown column family ${JSON.stringify(kv.cf)}`);
      wb.put(cf, kv.key, kv.value);
    }
    this.cache = [];
    this.lastIndex_ = idx;
    this.lastTerm = term;
    this.applyState = { appliedIndex: idx, truncatedIndex: idx, truncatedTerm: term };
    this.logSizeHint = 0;
    if (this.hardState.commit < idx) this.hardState = { ...this.hardState, commit: idx };
    wb.setApplyState(this.regionId, this.applyStatePb());
    wb.setRegionState(this.regionId, { state: raft_serverpb.PeerState.Normal, region });
    this.region = region;
    return region;
  }

  // ---- apply-side state -------------------------------------------------------------------

  /** Record entries up to `index` as applied (the apply batch carries the state). */
  setApplied(index: number): void {
    this.applyState = { ...this.applyState, appliedIndex: index };
  }

  /** After a CompactLog applies: entries up to `index` are gone (their deletion is queued). */
  compactTo(index: number, term: number): void {
    // What remains is roughly the share of the log above the new truncated index.
    const kept = this.lastIndex_ - index;
    const total = this.lastIndex_ - this.applyState.truncatedIndex;
    this.logSizeHint = total > 0 ? Math.floor((this.logSizeHint * Math.max(kept, 0)) / total) : 0;
    this.applyState = { ...this.applyState, truncatedIndex: index, truncatedTerm: term };
    if (this.cache.length > 0 && this.cache[0]!.index <= index) {
      this.cache = this.cache.filter((e) => e.index > index);
    }
  }

  raftLocalState(): raft_serverpb.RaftLocalState {
    return { hardState: hardStateToPb(this.hardState), lastIndex: BigInt(this.lastIndex_), lastTerm: BigInt(this.lastTerm) };
  }

  applyStatePb(): raft_serverpb.RaftApplyState {
    return {
      appliedIndex: BigInt(this.applyState.appliedIndex),
      truncatedState: { index: BigInt(this.applyState.truncatedIndex), term: BigInt(this.applyState.truncatedTerm) },
    };
  }

  private cachedEntry(i: number): Entry | undefined {
    if (this.cache.length === 0) return undefined;
    const first = this.cache[0]!.index;
    return i >= first ? this.cache[i - first] : undefined;
  }
}

/** The raft membership of a region: voters and learners by peer id. */
export function confStateOfRegion(region: metapb.Region): ConfState {
  const voters: number[] = [];
  const learners: number[] = [];
  for (const p of region.peers) {
    if (p.role === metapb.PeerRole.Learner) learners.push(Number(p.id));
    else voters.push(Number(p.id));
  }
  return { voters, learners };
}

/**
 * Write the initial state of a region created with peers (bootstrap or split): log, apply and raft
 * state at RAFT_INIT_LOG_INDEX, and the region state Normal.
 */
export function writeInitialRegionState(wb: WriteBatch, region: metapb.Region): void {
  const id = toNum(region.id, "region id");
  wb.setRegionState(id, { state: raft_serverpb.PeerState.Normal, region });
  wb.setRaftState(id, {
    hardState: { term: BigInt(RAFT_INIT_LOG_TERM), vote: 0n, commit: BigInt(RAFT_INIT_LOG_INDEX) },
    lastIndex: BigInt(RAFT_INIT_LOG_INDEX),
    lastTerm: BigInt(RAFT_INIT_LOG_TERM),
  });
  wb.setApplyState(id, {
    appliedIndex: BigInt(RAFT_INIT_LOG_INDEX),
    truncatedState: { index: BigInt(RAFT_INIT_LOG_INDEX), term: BigInt(RAFT_INIT_LOG_TERM) },
  });
}

