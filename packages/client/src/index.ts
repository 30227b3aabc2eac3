/**
 * @regionkv/client: the TypeScript client. The region cache is here today; the raw client
 * (`RawClient.connect`) and the transactional client build on it in the next steps.
 */
export { RegionCache, regionContains, type CachedRegion } from "./region-cache.js";
