/**
 * Latches: every key a command writes is latched for the whole command (read, decide, propose,
 * apply), so two commands on one key never interleave their read-decide-write on a store
 * (TinyKV's `Latches`; TiKV's scheduler latches).
 *
 *   acquire(keys) → the keys deduplicated and sorted → taken one by one, waiting in FIFO order on
 *   each busy key → a guard; guard.release() → each key passes to its next waiter.
 *
 * Taking keys in one global (sorted) order means two commands can never each hold a key the other
 * waits for: no deadlock. A key is held by at most one guard at a time.
 */

interface Slot {
  /** Waiters in arrival order; each resolves when the key is handed to it. */
  waiters: Array<() => void>;
}

export class Latches {
  /** Held keys (hex) → their waiters. A key is held iff it has a slot. */
  private readonly held = new Map<string, Slot>();

  /** How many keys are held right now (for tests and metrics). */
  get heldCount(): number {
    return this.held.size;
  }

  async acquire(keys: readonly Uint8Array[]): Promise<LatchGuard> {
    const ids = [...new Set(keys.map((k) => Buffer.from(k).toString("hex")))].sort();
    for (const id of ids) {
      const slot = this.held.get(id);
      if (!slot) {
        this.held.set(id, { waiters: [] });
        continue;
      }
      // Handed over by the holder's release: the slot stays, now ours.
      await new Promise<void>((resolve) => slot.waiters.push(resolve));
    }
    return new LatchGuard(this, ids);
  }

  /** @internal Pass each key to its next waiter, or free it. */
  releaseIds(ids: readonly string[]): void {
    for (const id of ids) {
      const slot = this.held.get(id);
      if (!slot) throw new Error(`latch on ${id} released but not held`);
      const next = slot.waiters.shift();
      if (next) next();
      else this.held.delete(id);
    }
  }
}

export class LatchGuard {
  private released = false;

  constructor(
    private readonly latches: Latches,
    readonly ids: readonly string[],
  ) {}

  /** Release every key (once; a second call does nothing). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.latches.releaseIds(this.ids);
  }
}
