import { Inflights } from "./inflights.js";

/**
 * How the leader sends to one follower:
 * - Probe: one append at a time until the leader finds where the logs match (after election, a
 *   reject, or an unreachable report). `probeSent` pauses it until an answer or a heartbeat response.
 * - Replicate: streaming appends optimistically, bounded by the inflight window.
 * - Snapshot: the follower needs entries the leader has compacted; a snapshot is in flight and
 *   nothing else is sent until it is reported finished or failed.
 */
export const ProgressState = { Probe: 0, Replicate: 1, Snapshot: 2 } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

const STATE_NAMES = ["Probe", "Replicate", "Snapshot"] as const;

/**
 * The leader's view of one follower. Invariant: match < next (match is the highest index known to
 * be on the follower; next is the index of the next entry to send).
 */
export class Progress {
  match: number;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from in the current election timeout (for check-quorum); reset by the leader. */
  recentActive = false;
  /** In Probe state: an append was sent and not yet answered. */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.match = 0;
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume after the snapshot (or after what the follower has, if more).
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An append up to `n` was acknowledged. Returns whether match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** In Replicate state: entries up to `n` were sent; send the next ones without waiting. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * The follower rejected an append at index `rejected`; `matchHint` is its guess of the last
   * index that may match. Returns false if the rejection is stale (out of order) and was ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      // Stale unless it rejects something above what we know matches.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe (or Snapshot): only the answer to the probe we sent counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending to this follower is held back (flow control), except for heartbeats. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  describe(): string {
    let s = `${STATE_NAMES[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.state === ProgressState.Snapshot) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (this.probeSent) s += " paused";
    if (this.inflights.length > 0) s += ` inflight=${this.inflights.length}${this.inflights.full() ? "[full]" : ""}`;
    if (!this.recentActive) s += " inactive";
    return s;
  }
}
