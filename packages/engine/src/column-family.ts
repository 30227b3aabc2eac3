/**
 * Column families of user data: the raw API uses `default`; Percolator uses `lock`, `write` and
 * `txn_default` (its "default" family, kept apart from raw data; key layouts in keys.ts).
 * Each is stored as a small integer in the `kv` table's `cf` column.
 */
export const CF_NAMES = ["default", "lock", "write", "txn_default"] as const;
export type ColumnFamily = (typeof CF_NAMES)[number];

export const CF_IDS: Record<ColumnFamily, number> = { default: 0, lock: 1, write: 2, txn_default: 3 };

export function isColumnFamily(s: string): s is ColumnFamily {
  return (CF_NAMES as readonly string[]).includes(s);
}

/** The column family for a wire `cf` string: empty means default. Undefined if unknown. */
export function parseColumnFamily(s: string): ColumnFamily | undefined {
  if (s === "") return "default";
  return isColumnFamily(s) ? s : undefined;
}
