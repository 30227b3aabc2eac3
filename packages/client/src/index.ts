/**
 * @regionkv/client: the TypeScript client. `RawClient.connect` gives the raw (non-transactional)
 * key-value API, `TxnClient.connect` snapshot-isolated transactions.
 */
export { RegionCache, regionContains, type CachedRegion } from "./region-cache.js";
export {
  RawClient,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  type CompareAndSwapResult,
  type RawCallOptions,
  type RawClientInternalOptions,
  type RawClientOptions,
  type RawKvInput,
  type RawKvPair,
  type ScanOptions,
} from "./raw-client.js";
export type { RegionSource, RegionWithLeader } from "./region-source.js";
export {
  TxnClient,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_LOCK_TTL_MS,
  DEFAULT_MAX_TXN_DURATION_MS,
  type CommitOptions,
  type GcReport,
  type RunOptions,
  type TimestampSource,
  type TxnClientInternalOptions,
  type TxnClientOptions,
} from "./txn-client.js";
export { Transaction, ASYNC_COMMIT_MAX_KEYS, type TxnFailpoints, type TxnKvPair, type TxnScanOptions } from "./transaction.js";
export type { ClientLogger } from "./logger.js";
export type { ConnectResult, StoreAddress, StoreTransport } from "./store-channels.js";
export type { CallScope } from "./call-scope.js";
export { MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES, type Bytes } from "./limits.js";
export {
  AbortedError,
  ClientClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  RegionkvError,
  ServerError,
  UnavailableError,
  UnknownOutcomeError,
  WriteConflictError,
  TxnAbortedError,
  KeyLockedError,
  TxnTimeoutError,
  type RegionkvErrorCode,
} from "./errors.js";
