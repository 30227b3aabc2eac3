/**
 * The background load of the split bench: closed-loop workers on one RawClient, each op a put
 * (overwrite, same value size, so the background keys never grow their regions) or a
 * linearizable get of a uniform random background key, half and half. Completions are counted
 * in 100 ms buckets for the whole run, so any window (steady state, while splitting, while
 * rebalancing) gets its ops/s afterwards, and its worst one-second stretch.
 *
 * A failed call is counted as an error and the worker pauses 10 ms (no spin loop on a failing
 * cluster); calls are never retried here (the client retries what it may).
 */
import type { RawClient } from "@regionkv/client";
import { seededRandom } from "@regionkv/raft";
import { sleep } from "./kv-procs.js";

const BUCKET_MS = 100;

export interface WindowRate {
  seconds: number;
  ops: number;
  errors: number;
  opsPerSec: number;
  /** The lowest ops/s over any whole second (10 consecutive buckets) of the window. */
  worstSecondOpsPerSec: number;
}

export class BackgroundLoad {
  private readonly ok: number[] = [];
  private readonly failed: number[] = [];
  /** Date.now() when the load object was made (bucket 0). */
  readonly t0 = Date.now();
  private stopping = false;
  private running: Promise<void> | undefined;
  firstError: string | undefined;
  total = 0;

  constructor(
    private readonly client: RawClient,
    private readonly keyOf: (i: number) => Buffer,
    private readonly keys: number,
    private readonly values: readonly Buffer[],
    private readonly concurrency: number,
    private readonly seed: number,
  ) {}

  start(): void {
    this.running = Promise.all(Array.from({ length: this.concurrency }, (_, w) => this.worker(w))).then(() => undefined);
  }

  private bucket(at: number): number {
    return Math.floor((at - this.t0) / BUCKET_MS);
  }

  private count(into: number[], at: number): void {
    const b = this.bucket(at);
    while (into.length <= b) into.push(0);
    into[b]!++;
  }

  private async worker(w: number): Promise<void> {
    const rnd = seededRandom((this.seed * 7919 + w * 104_729) >>> 0);
    while (!this.stopping) {
      const key = this.keyOf(Math.floor(rnd() * this.keys));
      try {
        if (rnd() < 0.5) await this.client.put(key, this.values[Math.floor(rnd() * this.values.length)]!);
        else await this.client.get(key);
        this.count(this.ok, Date.now());
        this.total++;
      } catch (e) {
        this.firstError ??= (e as Error).message;
        this.count(this.failed, Date.now());
        await sleep(10);
      }
    }
  }

  /** Completions per second over the last `ms` (for progress lines). */
  recentRate(ms = 1_000): number {
    const to = this.bucket(Date.now());
    const n = Math.max(1, Math.round(ms / BUCKET_MS));
    let sum = 0;
    for (let b = to - n; b < to; b++) sum += this.ok[b] ?? 0;
    return (sum * 1000) / (n * BUCKET_MS);
  }

  /** The rate over [fromMs, toMs) (Date.now() times), whole buckets. */
  window(fromMs: number, toMs: number): WindowRate {
    const b0 = Math.ceil((fromMs - this.t0) / BUCKET_MS);
    const b1 = Math.max(b0, Math.floor((toMs - this.t0) / BUCKET_MS));
    let ops = 0;
    let errors = 0;
    for (let b = b0; b < b1; b++) {
      ops += this.ok[b] ?? 0;
      errors += this.failed[b] ?? 0;
    }
    const seconds = ((b1 - b0) * BUCKET_MS) / 1000;
    const per = 1000 / BUCKET_MS;
    let worst = Infinity;
    for (let b = b0; b + per <= b1; b++) {
      let s = 0;
      for (let k = b; k < b + per; k++) s += this.ok[k] ?? 0;
      worst = Math.min(worst, s);
    }
    return { seconds, ops, errors, opsPerSec: seconds > 0 ? ops / seconds : 0, worstSecondOpsPerSec: worst === Infinity ? 0 : worst };
  }

  /** Completions in each whole second since t0. */
  perSecond(): number[] {
    const per = 1000 / BUCKET_MS;
    const out: number[] = [];
    for (let b = 0; b + per <= this.ok.length; b += per) {
      let sum = 0;
      for (let k = b; k < b + per; k++) sum += this.ok[k] ?? 0;
      out.push(sum);
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }
}
