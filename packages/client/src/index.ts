/**
 * @regionkv/client: the TypeScript client. `RawClient.connect` gives the raw (non-transactional)
 * key-value API; the region cache underneath is exported for the transactional client and tools.
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
export type { ClientLogger } from "./logger.js";
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
  type RegionkvErrorCode,
} from "./errors.js";
