/**
 * The simulated state machine: a 53-bit hash chain over the applied entries (index, term, type,
 * data), and the image a snapshot carries (applied index and chain). Two nodes with the same chain
 * at an index applied the same sequence up to it.
 */
import { RaftError, type Entry } from "../../src/index.js";

/** A snapshot's data: the state machine image, i.e. its applied index and hash chain. */
export function encodeImage(index: number, chain: number): Uint8Array {
  return new TextEncoder().encode(`${index}:${chain}`);
}

export function decodeImage(data: Uint8Array): { index: number; chain: number } {
  const [i, c] = new TextDecoder().decode(data).split(":");
  const index = Number(i);
  const chain = Number(c);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(chain)) {
    throw new RaftError("InvalidMessage", `snapshot data is not a simulation image: ${JSON.stringify(new TextDecoder().decode(data))}`);
  }
  return { index, chain };
}

/** A 53-bit hash chain: two FNV-1a style lanes (32 and 21 bits). */
function mixWord(h: number, x: number): number {
  let a = h % 4294967296 >>> 0;
  let b = Math.floor(h / 4294967296);
  a = Math.imul(a ^ (x & 0xffffffff), 16777619) >>> 0;
  b = (Math.imul(b ^ (x >>> 0) ^ (a >>> 7), 0x01000193) >>> 0) & 0x1fffff;
  return b * 4294967296 + a;
}

export function mixBytes(h: number, data: Uint8Array): number {
  let x = mixWord(h, data.length);
  for (let i = 0; i < data.length; i++) x = mixWord(x, data[i]!);
  return x;
}

export function mixEntry(h: number, e: Entry): number {
  let x = mixWord(h, e.index);
  x = mixWord(x, Math.floor(e.index / 4294967296));
  x = mixWord(x, e.term);
  x = mixWord(x, e.type);
  return mixBytes(x, e.data);
}

export function mixSeed(seed: number, salt: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt, 0xc2b2ae35)) >>> 0;
}
