/**
 * A proposal waiting for its entry to apply (etcd's "propose and wait"). It settles exactly once:
 * with the apply result, or with a failure (region error, timeout, abort, peer destroyed). The
 * peer matches applied entries to proposals by (index, term); an entry at the proposal's index
 * with another term means the proposal was overwritten (StaleCommand).
 */
import type { EngineSnapshot } from "@regionkv/engine";
import type { raft_cmdpb } from "@regionkv/proto";
import type { ProposalFailure } from "./region-error.js";

/**
 * A settled command. A read's `snapshot` (for Snap requests) is a consistent engine view taken
 * after the read index applied; the receiver must release it.
 */
export type ProposalResult =
  | { ok: true; response: raft_cmdpb.RaftCmdResponse; snapshot?: EngineSnapshot }
  | { ok: false; error: ProposalFailure };

export type ProposalCallback = (result: ProposalResult) => void;

export class Proposal {
  /** Set once the entry is appended: where it must apply. */
  index = 0;
  term = 0;
  /** When it was appended (store clock ms), for the apply-latency metric. */
  proposedAt = 0;
  private settled = false;

  constructor(
    private readonly callback: ProposalCallback,
    /** Absolute deadline (in the store clock's ms). */
    readonly deadline: number,
  ) {}

  get isSettled(): boolean {
    return this.settled;
  }

  /** Settle the proposal; later calls are ignored (returns whether this call settled it). */
  settle(result: ProposalResult): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.callback(result);
    return true;
  }

  fail(error: ProposalFailure): boolean {
    return this.settle({ ok: false, error });
  }
}

/** Wrap a callback-style proposal in a promise that honours an AbortSignal. */
export function proposalPromise(
  start: (cb: ProposalCallback) => void,
  signal: AbortSignal | undefined,
): Promise<ProposalResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProposalResult) => {
      if (done) return;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      resolve(r);
    };
    const onAbort = () => finish({ ok: false, error: { kind: "Aborted", message: "the request was cancelled by the caller; it may still be applied" } });
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    start(finish);
  });
}
