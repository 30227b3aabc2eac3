/**
 * The layout of a TSO timestamp, shared by every package that reads or makes one (the
 * scheduler's oracle, the stores' Percolator layer, the clients): physical milliseconds in the
 * high bits, an 18-bit logical counter in the low bits.
 */

/** Bits of the logical part. */
export const PHYSICAL_SHIFT_BITS = 18n;
/** Logical values per millisecond. */
export const MAX_LOGICAL = 1n << PHYSICAL_SHIFT_BITS;
/** Timestamps are unsigned 64-bit; TS_MAX reads the newest version of everything. */
export const TS_MAX = (1n << 64n) - 1n;

/** The timestamp of `physicalMs` with logical part `logical` (masked to its bits). */
export function composeTs(physicalMs: bigint, logical: bigint): bigint {
  return (physicalMs << PHYSICAL_SHIFT_BITS) | (logical & (MAX_LOGICAL - 1n));
}

/** The physical (millisecond) part of a timestamp, for TTL arithmetic and display. */
export function physicalMs(ts: bigint): bigint {
  return ts >> PHYSICAL_SHIFT_BITS;
}
