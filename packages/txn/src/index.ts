/** @regionkv/txn — Percolator on the store side (issue 6; in progress: the MVCC key codec). */
export { LOGICAL_BITS, MvccCodecError, TS_MAX, composeTs, decodeBytes, decodeKey, decodeUserKey, encodeBytes, encodeKey, physicalTime } from "./codec.js";
export { LockKind, WriteKind, decodeLock, decodeWrite, encodeLock, encodeWrite, isLockedFor, type Lock, type Write } from "./records.js";
export { MvccReader, MvccTxn, type CommittedWrite, type MvccView } from "./mvcc.js";
export { LatchGuard, Latches } from "./latches.js";
