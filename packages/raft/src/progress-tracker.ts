import { Progress } from "./progress.js";
import { committedIndex, quorum, voteResult, type VoteResult } from "./quorum.js";
import type { ConfState } from "./types.js";

/**
 * The group's membership and, on the leader, the progress of every member.
 * Invariants: `voters` and `learners` are disjoint and sorted; `progress` has exactly one entry
 * for each of them (the leader's own included).
 */
export class ProgressTracker {
  voters: number[] = [];
  learners: number[] = [];
  readonly progress = new Map<number, Progress>();
  /** Votes received in the current (pre-)election. */
  readonly votes = new Map<number, boolean>();
  private readonly scratch: number[] = [];

  constructor(readonly maxInflight: number) {}

  /** Replace the membership with `cs`; every member gets a fresh progress at `next`. */
  reset(cs: ConfState, next: number): void {
    this.progress.clear();
    this.voters = [...new Set(cs.voters)].sort((a, b) => a - b);
    this.learners = [...new Set(cs.learners)].filter((id) => !this.voters.includes(id)).sort((a, b) => a - b);
    for (const id of this.voters) this.progress.set(id, new Progress(next, this.maxInflight, false));
    for (const id of this.learners) this.progress.set(id, new Progress(next, this.maxInflight, true));
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: number): boolean {
    return this.voters.includes(id);
  }

  isLearner(id: number): boolean {
    return this.learners.includes(id);
  }

  /** Add `id` as a voter (promoting a learner) with progress at `next`. No-op if already a voter. */
  addVoter(id: number, next: number): void {
    if (this.isVoter(id)) return;
    const pr = this.progress.get(id);
    if (pr) {
      pr.isLearner = false;
      this.learners = this.learners.filter((x) => x !== id);
    } else {
      const p = new Progress(next, this.maxInflight, false);
      // A new member counts as active so check-quorum does not depose the leader at once.
      p.recentActive = true;
      this.progress.set(id, p);
    }
    this.voters = [...this.voters, id].sort((a, b) => a - b);
  }

  /** Add `id` as a learner. Returns false if it is a voter (demotion is not a single-step change). */
  addLearner(id: number, next: number): boolean {
    if (this.isVoter(id)) return false;
    if (this.isLearner(id)) return true;
    const p = new Progress(next, this.maxInflight, true);
    p.recentActive = true;
    this.progress.set(id, p);
    this.learners = [...this.learners, id].sort((a, b) => a - b);
    return true;
  }

  remove(id: number): void {
    this.progress.delete(id);
    this.voters = this.voters.filter((x) => x !== id);
    this.learners = this.learners.filter((x) => x !== id);
    this.votes.delete(id);
  }

  /** The largest index replicated on a majority of voters. */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0, this.scratch);
  }

  /** Whether a quorum of voters was recently active (always counting `self`). */
  quorumActive(self: number): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) active++;
    }
    return active >= quorum(this.voters.length);
  }

  /** Whether `acks` (ids that answered) contain a quorum of voters. */
  hasQuorum(acks: ReadonlySet<number>): boolean {
    let n = 0;
    for (const id of this.voters) if (acks.has(id)) n++;
    return n >= quorum(this.voters.length);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Record `id`'s vote; the first answer of each voter counts. */
  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }
}
