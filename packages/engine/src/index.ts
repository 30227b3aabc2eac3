/**
 * @regionkv/engine: a store's storage on better-sqlite3 (see engine.ts for the durability rules).
 */
export { Engine, DB_FILE, MARKER_FILE, type EngineOptions, type WriteStats } from "./engine.js";
export { EngineSnapshot, type KvPair, type ScanOptions } from "./snapshot.js";
export { WriteBatch, type LogEntry, type WriteOp } from "./write-batch.js";
export { CF_NAMES, CF_IDS, isColumnFamily, parseColumnFamily, type ColumnFamily } from "./column-family.js";
export { EngineError, type EngineErrorCode } from "./errors.js";
export { StoreLock } from "./store-lock.js";
export { SCHEMA_VERSION } from "./schema.js";
export { KeyCodecError, VERSION_BYTES, cfKeyRange, decodeBytes, encodeBytes, isVersionedCf, userKeyOf } from "./keys.js";
