/**
 * One public call's scope: its deadline, its cancellation and its retry budget.
 *
 * A scope's `signal` fires exactly once, for the first of: the deadline (`timeoutMs`) passing,
 * the caller's AbortSignal, `RawClient.close()`, or a sibling sub-request of a multi-region call
 * failing for good (`fail`). Everything the call waits on (scheduler lookups, connecting, gRPC
 * calls, backoff sleeps) listens to it, so a call settles promptly once it is over; `abortError()`
 * says why, as the typed error the caller sees.
 *
 * Retries are counted per chain of attempts (`RetryBudget`): a sub-request of a multi-region call
 * inherits the count of the attempt it was split from, so no key is retried more than
 * `maxRetries` times in total.
 */
import { AbortedError, ClientClosedError, DeadlineExceededError, RegionkvError, UnavailableError } from "./errors.js";
import { backoffDelayMs, type BackoffPolicy } from "./retry-policy.js";

type AbortReason =
  | { kind: "deadline" }
  | { kind: "callerAborted"; reason: unknown }
  | { kind: "clientClosed" }
  | { kind: "failed"; error: RegionkvError };

export interface CallScopeOptions {
  /** The public method, for messages ("get", "scan", …). */
  op: string;
  timeoutMs: number;
  maxRetries: number;
  backoff: BackoffPolicy;
  random: () => number;
  /** The caller's signal, if any. */
  callerSignal: AbortSignal | undefined;
  /** Fires when the client is closed. */
  clientSignal: AbortSignal;
}

export class CallScope {
  readonly op: string;
  readonly timeoutMs: number;
  /** Epoch ms after which the call has failed. */
  readonly deadline: number;
  readonly maxRetries: number;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private readonly controller = new AbortController();
  private reason: AbortReason | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly unlink: () => void;
  /** The most recent failure that led to a retry, for the final error's message. */
  lastFailure: { text: string; cause?: unknown } | undefined;

  constructor(opts: CallScopeOptions) {
    this.op = opts.op;
    this.timeoutMs = opts.timeoutMs;
    this.deadline = Date.now() + opts.timeoutMs;
    this.maxRetries = opts.maxRetries;
    this.backoff = opts.backoff;
    this.random = opts.random;
    this.timer = setTimeout(() => this.abort({ kind: "deadline" }), opts.timeoutMs);
    const onCaller = () => this.abort({ kind: "callerAborted", reason: opts.callerSignal?.reason });
    const onClient = () => this.abort({ kind: "clientClosed" });
    opts.callerSignal?.addEventListener("abort", onCaller, { once: true });
    opts.clientSignal.addEventListener("abort", onClient, { once: true });
    this.unlink = () => {
      opts.callerSignal?.removeEventListener("abort", onCaller);
      opts.clientSignal.removeEventListener("abort", onClient);
    };
    if (opts.callerSignal?.aborted) onCaller();
    if (opts.clientSignal.aborted) onClient();
  }

  /** Fires once the call is over (see the file comment). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.reason !== undefined;
  }

  /** Whether the call ended because its deadline passed. */
  get timedOut(): boolean {
    return this.reason?.kind === "deadline";
  }

  /** Milliseconds left before the deadline (≥ 0). */
  remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /** Release the timer and listeners; call when the call settles. */
  dispose(): void {
    clearTimeout(this.timer);
    this.unlink();
  }

  /** End the call with `error` (a sub-request failed for good); siblings stop at their next step. */
  fail(error: RegionkvError): void {
    this.abort({ kind: "failed", error });
  }

  /** Throw the call's abort error if it is over. */
  throwIfAborted(): void {
    if (this.reason !== undefined) throw this.abortError();
  }

  noteFailure(text: string, cause?: unknown): void {
    this.lastFailure = { text, cause };
  }

  /** The typed error for why the call is over. */
  abortError(): RegionkvError {
    const r = this.reason;
    const last = this.lastFailure ? `; last failure: ${this.lastFailure.text}` : "";
    const cause = this.lastFailure?.cause;
    if (r === undefined) return new RegionkvError("UNAVAILABLE", `${this.op}: internal error: the call was not aborted`);
    switch (r.kind) {
      case "deadline":
        return new DeadlineExceededError(
          `${this.op} did not finish within ${this.timeoutMs} ms (timeoutMs)${last}. ` +
            "The cluster may be electing a leader, splitting or moving a region, or a store may be down: retry later, or pass a larger timeoutMs.",
          { cause },
        );
      case "callerAborted":
        return new AbortedError(`${this.op} was aborted by the caller's signal`, { cause: r.reason });
      case "clientClosed":
        return new ClientClosedError(`${this.op}: the RawClient was closed; create a new one with RawClient.connect()`);
      case "failed":
        return r.error;
      default: {
        const unreachable: never = r;
        return unreachable;
      }
    }
  }

  /** Resolve with `p`, or reject with the abort error as soon as the call is over. */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.reason !== undefined) {
      p.catch(() => undefined);
      return Promise.reject(this.abortError());
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.abortError());
      this.signal.addEventListener("abort", onAbort, { once: true });
      p.then(
        (v) => {
          this.signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e: unknown) => {
          this.signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }

  /** Sleep `ms`, or until the call is over (then reject with the abort error). */
  sleep(ms: number): Promise<void> {
    if (this.reason !== undefined) return Promise.reject(this.abortError());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(this.abortError());
      };
      const timer = setTimeout(() => {
        this.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      this.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Account for one retry of `budget`'s chain: give up with an UnavailableError once maxRetries is
   * spent; otherwise, if `backoff`, sleep the next backoff delay (at least `minDelayMs`).
   */
  async retry(budget: RetryBudget, backoff: boolean, minDelayMs = 0): Promise<void> {
    budget.retries++;
    if (budget.retries > this.maxRetries) {
      const last = this.lastFailure ? `; last failure: ${this.lastFailure.text}` : "";
      throw new UnavailableError(
        `${this.op} gave up after ${this.maxRetries} retries (maxRetries)${last}. ` +
          "The region may have no leader or its stores may be unreachable: check that the stores are up, or raise maxRetries.",
        { cause: this.lastFailure?.cause },
      );
    }
    // Retries without a pause (following a leader hint, trying the next peer) are capped in a row,
    // so hints that point back and forth cannot make a call spin.
    if (backoff || budget.immediate >= MAX_IMMEDIATE_RETRIES) {
      budget.immediate = 0;
      const delay = backoffDelayMs(budget.backoffs++, this.random, this.backoff, minDelayMs);
      await this.sleep(delay);
    } else {
      budget.immediate++;
      this.throwIfAborted();
    }
  }

  private abort(reason: AbortReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    clearTimeout(this.timer);
    this.controller.abort(reason);
  }
}

/** Retries in a row without a backoff before one is forced. */
const MAX_IMMEDIATE_RETRIES = 4;

/** The retries spent by one chain of attempts. */
export class RetryBudget {
  /** Retries so far (bounded by maxRetries). */
  retries = 0;
  /** Backoffs so far (the exponent of the next delay). */
  backoffs = 0;
  /** Retries without a backoff since the last one. */
  immediate = 0;

  /** A budget for a sub-request split off this chain: it starts from what was spent so far. */
  fork(): RetryBudget {
    const b = new RetryBudget();
    b.retries = this.retries;
    b.backoffs = this.backoffs;
    b.immediate = this.immediate;
    return b;
  }
}
