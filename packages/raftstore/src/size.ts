/**
 * Byte sizes as people write them in flags and read them in logs: `parseSize("96MiB")` and
 * `formatSize(100663296)`.
 *
 * Accepted: a whole or decimal number, optional spaces, then a binary unit — B, KiB, MiB, GiB,
 * TiB (case-insensitive) — or no unit (bytes). The result must be a whole number of bytes.
 * Decimal units (KB, MB, GB, k, m, g) are refused on purpose: TiKV reads "MB" as 2^20 and most
 * other tools as 10^6, so the flag says which one it means instead of guessing.
 */

const UNITS = [
  ["TiB", 1024 ** 4],
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024],
  ["B", 1],
] as const;

const FACTOR = new Map<string, number>(UNITS.map(([u, f]) => [u.toLowerCase(), f]));

const DECIMAL_UNITS = new Map<string, string>([
  ["k", "KiB"],
  ["kb", "KiB"],
  ["m", "MiB"],
  ["mb", "MiB"],
  ["g", "GiB"],
  ["gb", "GiB"],
  ["t", "TiB"],
  ["tb", "TiB"],
]);

export class SizeError extends Error {
  override readonly name = "SizeError";
  readonly code = "InvalidSize";
}

/**
 * Bytes of `text` ("96MiB", "64 KiB", "1.5GiB", "4096"). `what` names the flag or field in the
 * error message. Throws SizeError for anything else, saying what would be accepted.
 */
export function parseSize(text: string, what = "size"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const hint = "write a whole number of bytes or a number with a binary unit B, KiB, MiB, GiB or TiB, e.g. 96MiB";
  if (!m) throw new SizeError(`${what}: "${text}" is not a size; ${hint}`);
  const [, num, unitText] = m as unknown as [string, string, string];
  const unit = unitText.toLowerCase();
  let factor = 1;
  if (unit !== "") {
    const f = FACTOR.get(unit);
    if (f === undefined) {
      const binary = DECIMAL_UNITS.get(unit);
      if (binary) throw new SizeError(`${what}: unit "${unitText}" in "${text}" is ambiguous (10^3 or 2^10?); write ${binary} for a binary unit`);
      throw new SizeError(`${what}: unknown unit "${unitText}" in "${text}"; ${hint}`);
    }
    factor = f;
  }
  const bytes = Number(num) * factor;
  if (!Number.isSafeInteger(bytes)) {
    if (Number.isFinite(bytes) && bytes < Number.MAX_SAFE_INTEGER) {
      throw new SizeError(`${what}: "${text}" is ${bytes} bytes, not a whole number; use a smaller unit`);
    }
    throw new SizeError(`${what}: "${text}" is too large (at most ${Number.MAX_SAFE_INTEGER} bytes)`);
  }
  return bytes;
}

/**
 * Text for `bytes`: exact in the largest unit that divides it when that takes at most four digits
 * ("96MiB", "1536MiB", "100B", "4097B"), which `parseSize` reads back to the same number;
 * otherwise two decimals in the largest unit not above it ("1.21MiB"), for display only.
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? "-" : "";
  const abs = Math.abs(bytes);
  for (const [unit, factor] of UNITS) {
    if (abs >= factor && Number.isInteger(abs / factor) && abs / factor < 10_000) return `${sign}${abs / factor}${unit}`;
  }
  for (const [unit, factor] of UNITS) {
    if (abs >= factor) return `${sign}${(abs / factor).toFixed(2)}${unit}`;
  }
  return `${sign}${abs}B`;
}
