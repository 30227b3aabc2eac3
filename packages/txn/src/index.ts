/** @regionkv/txn — Percolator on the store side: MVCC encoding, latches, one command per KV RPC. */
export { LOGICAL_BITS, MvccCodecError, TS_MAX, composeTs, decodeBytes, decodeKey, decodeUserKey, encodeBytes, encodeKey, physicalTime } from "./codec.js";
export { LockKind, WriteKind, decodeLock, decodeWrite, encodeLock, encodeWrite, isLockedFor, type Lock, type Write } from "./records.js";
export { MvccReader, MvccTxn, type CommittedWrite, type MvccView } from "./mvcc.js";
export { LatchGuard, Latches } from "./latches.js";
export { ConcurrencyManager, type MemoryLock } from "./concurrency.js";
export { TxnCommands, RESOLVE_BATCH, SCAN_LOCK_DEFAULT_LIMIT, type TxnCommandsOptions } from "./commands.js";
export { GC_BATCH_OPS, gcRegion, type GcStats } from "./gc.js";
export { LocalTxnStorage } from "./local-storage.js";
export { RaftTxnStorage, type RaftTxnStorageOptions } from "./raft-storage.js";
export { TxnStorageError, type SnapshotResult, type TxnScope, type TxnSnapshot, type TxnStorage, type WriteResult } from "./storage.js";
export { lockExpired, lockInfo } from "./actions.js";
