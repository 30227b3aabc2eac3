import { RaftError, invariant } from "./errors.js";
import type { Storage } from "./storage.js";
import {
  EMPTY_BYTES,
  EntryType,
  emptyHardState,
  limitSize,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from "./types.js";

/**
 * An in-memory `Storage`, for tests, simulations and benchmarks. The caller appends what a Ready
 * asks to persist. `ents[0]` is a dummy entry holding the snapshot's index and term, so
 * `term(firstIndex() - 1)` is always answerable.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState();
  private snap: Snapshot;
  /** ents[i].index === ents[0].index + i; ents[0] is the dummy entry. */
  private ents: Entry[];

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.snap = { data: EMPTY_BYTES, metadata: { confState: cloneConfState(confState), index: 0, term: 0 } };
    this.ents = [{ type: EntryType.Normal, term: 0, index: 0, data: EMPTY_BYTES }];
  }

  /** A storage whose group is `voters` (and `learners`), as a freshly bootstrapped group. */
  static withPeers(voters: number[], learners: number[] = []): MemoryStorage {
    return new MemoryStorage({ voters, learners });
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** The current membership (as of the snapshot; conf changes in the log are the caller's). */
  setConfState(cs: ConfState): void {
    this.snap.metadata.confState = cloneConfState(cs);
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftError("Compacted", `entries [${lo}, ${hi}): index ${lo} is compacted (first index ${offset + 1})`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError("Unavailable", `entries [${lo}, ${hi}): beyond last index ${this.lastIndex()}`);
    }
    if (this.ents.length === 1) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize);
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new RaftError("Compacted", `term(${i}): compacted (first index ${offset + 1})`);
    if (i - offset >= this.ents.length) throw new RaftError("Unavailable", `term(${i}): beyond last index ${this.lastIndex()}`);
    return this.ents[i - offset]!.term;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace the contents with a received snapshot. */
  applySnapshot(snap: Snapshot): void {
    const cur = this.snap.metadata.index;
    if (cur >= snap.metadata.index) {
      throw new RaftError("SnapOutOfDate", `snapshot at ${snap.metadata.index} is not newer than the current one at ${cur}`);
    }
    this.snap = { data: snap.data, metadata: { ...snap.metadata, confState: cloneConfState(snap.metadata.confState) } };
    this.ents = [{ type: EntryType.Normal, term: snap.metadata.term, index: snap.metadata.index, data: EMPTY_BYTES }];
  }

  /** Make a snapshot at applied index `i` (the caller's state machine image is `data`). */
  createSnapshot(i: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) {
      throw new RaftError("SnapOutOfDate", `snapshot at ${i} is not newer than the current one at ${this.snap.metadata.index}`);
    }
    invariant(i <= this.lastIndex(), () => `snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const offset = this.ents[0]!.index;
    this.snap = {
      data,
      metadata: {
        index: i,
        term: this.ents[i - offset]!.term,
        confState: cloneConfState(confState ?? this.snap.metadata.confState),
      },
    };
    return this.snap;
  }

  /** Discard entries before `compactIndex`; `compactIndex` itself becomes the dummy entry. */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new RaftError("Compacted", `compact(${compactIndex}): already compacted to ${offset}`);
    invariant(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    const i = compactIndex - offset;
    const dummy: Entry = { type: EntryType.Normal, term: this.ents[i]!.term, index: this.ents[i]!.index, data: EMPTY_BYTES };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
  }

  /**
   * Append entries (as a Ready's `entries`), replacing any conflicting suffix. Entries at or
   * below the compaction point are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    const ents = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = ents[0]!.index - this.ents[0]!.index;
    invariant(offset <= this.ents.length, () => `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`);
    if (offset === this.ents.length) {
      for (const e of ents) this.ents.push(e);
    } else {
      this.ents = this.ents.slice(0, offset).concat(ents);
    }
  }
}

function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}
