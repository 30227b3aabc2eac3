/**
 * Timestamp oracle: `ts = physical_ms << 18 | logical`, strictly increasing within a run, across
 * restarts and when the wall clock goes backwards.
 *
 * Invariants:
 * - Every timestamp handed out has `physical < savedMark`, and `savedMark` is durable before such a
 *   timestamp leaves: a restarted oracle starts at `physical >= savedMark`, above them all.
 * - `(lastPhysical, lastLogical)` is the last timestamp handed out; the next is larger.
 * - When the logical part would overflow (2^18), the physical part advances by 1 ms, ahead of the
 *   clock if need be (the clock catches up; the saved window is extended as needed).
 */
import { MAX_LOGICAL, PHYSICAL_SHIFT_BITS, composeTs, type schedulerpb } from "@regionkv/proto";
import { SchedulerError } from "./errors.js";

export { MAX_LOGICAL, PHYSICAL_SHIFT_BITS, composeTs };
/** How far ahead of the handed-out physical time the saved mark is set, in ms. */
export const TSO_SAVE_WINDOW_MS = 3000n;

/** Where the oracle keeps its saved mark (physical ms). */
export interface TsoMarkStorage {
  loadTsoMark(): bigint;
  /** Must be durable when it returns. */
  saveTsoMark(mark: bigint): void;
}

export function tsToTimestamp(ts: bigint): schedulerpb.Timestamp {
  return { physical: ts >> PHYSICAL_SHIFT_BITS, logical: ts & (MAX_LOGICAL - 1n) };
}

export class Tso {
  private lastPhysical: bigint;
  private lastLogical: bigint;
  private savedMark: bigint;

  /** @param now wall clock in ms (injected). */
  constructor(
    private readonly storage: TsoMarkStorage,
    private readonly now: () => number,
    private readonly windowMs: bigint = TSO_SAVE_WINDOW_MS,
  ) {
    this.savedMark = storage.loadTsoMark();
    // Treat the saved mark as fully used: the next timestamp has physical > savedMark.
    this.lastPhysical = this.savedMark;
    this.lastLogical = MAX_LOGICAL - 1n;
  }

  /**
   * Allocate `count` consecutive timestamps (same physical part); returns the LAST one as a u64.
   * The range is `last - count + 1 ..= last`.
   */
  allocate(count: number): bigint {
    if (!Number.isInteger(count) || count < 1 || BigInt(count) > MAX_LOGICAL - 1n) {
      throw new SchedulerError("InvalidArgument", `tso count must be an integer in [1, ${MAX_LOGICAL - 1n}], got ${count}`);
    }
    const n = BigInt(count);
    const clock = BigInt(Math.floor(this.now()));
    let physical = clock > this.lastPhysical ? clock : this.lastPhysical;
    let first = physical === this.lastPhysical ? this.lastLogical + 1n : 0n;
    if (first + n > MAX_LOGICAL) {
      physical += 1n;
      first = 0n;
    }
    if (physical >= this.savedMark) {
      const mark = physical + this.windowMs;
      this.storage.saveTsoMark(mark);
      this.savedMark = mark;
    }
    this.lastPhysical = physical;
    this.lastLogical = first + n - 1n;
    return composeTs(physical, this.lastLogical);
  }
}
