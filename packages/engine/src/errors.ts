/**
 * Engine errors. Every one names the file and says what to do; `code` is stable for callers.
 */
export type EngineErrorCode =
  /** Another process (or another Engine in this one) has the data directory open. */
  | "Locked"
  /** The data file is not there although the directory was initialized. */
  | "Missing"
  /** The file is not a regionkv database, or SQLite reports corruption. */
  | "Corrupt"
  /** The database was written by a newer (or unknown) schema version. */
  | "SchemaMismatch"
  /** A value read back from the database does not decode. */
  | "BadData"
  /** The engine was used after close(). */
  | "Closed"
  /** Any other I/O failure reported by SQLite. */
  | "Io";

export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Map a SQLite error (better-sqlite3's SqliteError has a string `code`) to an EngineError. */
export function fromSqliteError(e: unknown, file: string, doing: string): EngineError {
  if (e instanceof EngineError) return e;
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY") || code === "SQLITE_LOCKED") {
    return new EngineError("Locked", `${file} is in use by another process (${doing}: ${msg}); stop the other store process using this data directory, or choose another --data directory`, { cause: e });
  }
  if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    return new EngineError("Corrupt", `${file} is corrupt or not a regionkv database (${doing}: ${msg}); restore it from a replica (remove the store and let the cluster re-replicate) or from a backup`, { cause: e });
  }
  return new EngineError("Io", `${file}: ${doing} failed: ${msg}`, { cause: e });
}

export interface Decoder<T> {
  decode(input: Uint8Array): T;
}

/** Decode a state row read back from `file`; a row that does not decode is BadData. */
export function decodeBytes<T>(bytes: Buffer, codec: Decoder<T>, file: string, what: string): T {
  try {
    return codec.decode(bytes);
  } catch (e) {
    throw new EngineError("BadData", `${file}: ${what} does not decode (${e instanceof Error ? e.message : String(e)}); the file is damaged`, { cause: e });
  }
}
