/**
 * Column families of user data. Percolator uses all three; the raw API uses `default`.
 * Each is stored as a small integer in the `kv` table's `cf` column.
 */
export const CF_NAMES = ["default", "lock", "write"] as const;
export type ColumnFamily = (typeof CF_NAMES)[number];

export const CF_IDS: Record<ColumnFamily, number> = { default: 0, lock: 1, write: 2 };

export function isColumnFamily(s: string): s is ColumnFamily {
  return (CF_NAMES as readonly string[]).includes(s);
}

/** The column family for a wire `cf` string: empty means default. Undefined if unknown. */
export function parseColumnFamily(s: string): ColumnFamily | undefined {
  if (s === "") return "default";
  return isColumnFamily(s) ? s : undefined;
}
