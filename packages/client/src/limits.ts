/**
 * The raw API's input: conversion of keys and values to bytes (strings are UTF-8) and the limits
 * checked before anything is sent, so a bad call fails at once with an InvalidArgumentError that
 * names the limit. The stores check the same limits (gRPC INVALID_ARGUMENT); these are the same
 * numbers, checked earlier.
 */
import { InvalidArgumentError } from "./errors.js";

/** Largest key, in bytes. */
export const MAX_KEY_BYTES = 8 * 1024;
/** Largest value, in bytes. */
export const MAX_VALUE_BYTES = 4 * 1024 * 1024;
/** Largest `limit` of one scan. */
export const MAX_SCAN_LIMIT = 10_000;

/** Keys and values as the public API takes them: bytes, or a string encoded as UTF-8. */
export type Bytes = string | Uint8Array;

function size(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2).replace(/\.00$/, "")} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(2).replace(/\.00$/, "")} KiB`;
  return `${n} B`;
}

/** `input` as a Buffer (no copy for a Buffer; a view for another Uint8Array). */
export function toBuffer(input: Bytes, what: string): Buffer {
  if (typeof input === "string") return Buffer.from(input, "utf8");
  if (input instanceof Uint8Array) return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  throw new InvalidArgumentError(`${what} must be a string or a Uint8Array, got ${describeType(input)}`);
}

function describeType(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

/** A key: 1..MAX_KEY_BYTES bytes. */
export function checkedKey(input: Bytes, what = "key"): Buffer {
  const key = toBuffer(input, what);
  if (key.byteLength === 0) throw new InvalidArgumentError(`${what} is empty: keys must be at least 1 byte`);
  if (key.byteLength > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(
      `${what} is ${size(key.byteLength)}, over the key size limit of ${size(MAX_KEY_BYTES)} (MAX_KEY_BYTES): use a shorter key`,
    );
  }
  return key;
}

/** A range bound: empty allowed (−∞ for a start, +∞ for an end), at most MAX_KEY_BYTES. */
export function checkedBound(input: Bytes, what: string): Buffer {
  const key = toBuffer(input, what);
  if (key.byteLength > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(
      `${what} is ${size(key.byteLength)}, over the key size limit of ${size(MAX_KEY_BYTES)} (MAX_KEY_BYTES): no key that long can exist`,
    );
  }
  return key;
}

/** A value: 0..MAX_VALUE_BYTES bytes. */
export function checkedValue(input: Bytes, what = "value"): Buffer {
  const value = toBuffer(input, what);
  if (value.byteLength > MAX_VALUE_BYTES) {
    throw new InvalidArgumentError(
      `${what} is ${size(value.byteLength)}, over the value size limit of ${size(MAX_VALUE_BYTES)} (MAX_VALUE_BYTES): split it over several keys`,
    );
  }
  return value;
}

/** A scan limit: an integer in 1..MAX_SCAN_LIMIT. */
export function checkedScanLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_SCAN_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN_LIMIT) {
    throw new InvalidArgumentError(
      `scan limit ${String(limit)} is outside 1..${MAX_SCAN_LIMIT} (MAX_SCAN_LIMIT): to read more, scan again from just after the last key returned`,
    );
  }
  return limit;
}

/**
 * A range [start, end): an empty end means +∞. Returns false for an empty range (start == end),
 * throws for an inverted one.
 */
export function checkRange(start: Buffer, end: Buffer, what: string): boolean {
  if (end.byteLength === 0) return true;
  const c = Buffer.compare(start, end);
  if (c > 0) {
    throw new InvalidArgumentError(
      `${what}: start sorts after end; pass start <= end (an empty end means "to the end of the key space")`,
    );
  }
  return c < 0;
}

/** A per-call or connect timeout: a positive finite number of milliseconds. */
export function checkedTimeout(ms: number | undefined, fallback: number, what: string): number {
  if (ms === undefined) return fallback;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive number of milliseconds, got ${String(ms)}`);
  }
  return ms;
}
