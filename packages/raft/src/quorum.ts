/**
 * Majority arithmetic over a set of voters. Pure functions; the tracker feeds them.
 */

export const VoteResult = { Pending: 0, Lost: 1, Won: 2 } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** Votes needed for a majority of `n` voters. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest index that a majority of voters have (matched). `matchOf` gives each voter's
 * index. With no voters, returns +Infinity-like MAX_SAFE_INTEGER (nothing constrains commit), as
 * an empty configuration must not block; raft never commits by counting in that case anyway.
 */
export function committedIndex(voters: readonly number[], matchOf: (id: number) => number, scratch: number[]): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = matchOf(voters[i]!);
  // Small n (3 or 5): insertion sort, descending, with no allocation.
  for (let i = 1; i < n; i++) {
    const v = scratch[i]!;
    let j = i - 1;
    while (j >= 0 && scratch[j]! < v) {
      scratch[j + 1] = scratch[j]!;
      j--;
    }
    scratch[j + 1] = v;
  }
  return scratch[quorum(n) - 1]!;
}

/** The outcome of an election given the votes recorded so far (missing = not yet answered). */
export function voteResult(voters: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = quorum(voters.length);
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
