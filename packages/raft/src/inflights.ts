import { invariant } from "./errors.js";

/**
 * The append messages in flight to one follower, as the last index each one carried: a bounded
 * window (flow control). The leader stops sending while the window is full and frees slots as
 * acknowledgements arrive. A ring buffer: `start` is the oldest slot, `count` the number in use.
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private readonly buffer: number[];

  constructor(readonly size: number) {
    this.buffer = new Array<number>(size).fill(0);
  }

  /** Record a message whose last entry is `inflight`. Indexes must be added in increasing order. */
  add(inflight: number): void {
    invariant(!this.full(), () => "cannot add into a full inflights window");
    let next = this.start + this.count;
    if (next >= this.size) next -= this.size;
    this.buffer[next] = inflight;
    this.count++;
  }

  /** Free every inflight message whose last index is ≤ `to` (they were acknowledged). */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.buffer[this.start]!) return;
    let idx = this.start;
    let i = 0;
    for (; i < this.count; i++) {
      if (to < this.buffer[idx]!) break;
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.count -= i;
    this.start = this.count === 0 ? 0 : idx;
  }

  /** Free the oldest inflight message (a heartbeat response proves the follower is alive). */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.buffer[this.start]!);
  }

  full(): boolean {
    return this.count === this.size;
  }

  get length(): number {
    return this.count;
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
  }
}
