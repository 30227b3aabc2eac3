/**
 * Reconnect delays: exponential growth with "equal jitter". The n-th failure in a row waits a
 * delay drawn from [cap/2, cap) where cap = min(max, base · 2^(n-1)), so stores that lost the same
 * peer at the same moment do not reconnect in lockstep. Randomness is injected (the store's
 * seeded RNG): a seeded run replays the same delays.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export class Backoff {
  /** Failures in a row since the last reset; capped so 2^n stays finite. */
  private failures = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number,
  ) {}

  /** Delay before the next attempt, after one more failure. */
  next(): number {
    const cap = Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** this.failures);
    if (this.failures < 32) this.failures++;
    return Math.floor(cap / 2 + this.random() * (cap / 2));
  }

  /** A connection worked: the next failure starts from the base delay again. */
  reset(): void {
    this.failures = 0;
  }

  get failuresInARow(): number {
    return this.failures;
  }
}
