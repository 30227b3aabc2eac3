/**
 * One attempt of a region-scoped request, and everything that happens when it fails.
 *
 * Flow of `send`:
 *   the region's current peer (cache) → its store's address (StoreChannels.resolve) →
 *   a READY channel (StoreChannels.connect) → the request with Context {region id, epoch, peer}
 *   and the call's deadline, on the store's BatchCommands stream (batched with other requests to
 *   that store; see batch-commands-stream.ts) or as a unary RPC (batching off, or the store
 *   answered the stream UNIMPLEMENTED) →
 *     success                → the peer is the leader (RegionCache.onSuccess) → { ok: true }
 *     region error           → decideRegionError → correct the cache, maybe back off → { ok: false }
 *     gRPC failure           → decideRpcFailure  → next peer / back off / typed error
 *     `error` in the response → ServerError
 *
 * `{ ok: false }` tells the caller to locate its keys again and retry (a region may have split, so
 * a multi-key caller regroups). Failures that end the call throw a RegionkvError. Every retry is
 * counted against the chain's RetryBudget (`CallScope.retry`), so a request is bounded both by
 * `maxRetries` and by the call's deadline.
 *
 * Writes (not `resendable`, see raw-rpcs.ts) are never retried once the request may have reached a
 * store: a request only goes out on a connected channel, so a failure to connect is safe to retry,
 * while a failure after sending (timeout, broken connection, StaleCommand, the call aborted)
 * rejects with UnknownOutcomeError. On a BatchCommands stream the line is the write: a request
 * still queued when the stream breaks was never sent (handled as a connection that failed), one
 * written before is ambiguous exactly as a unary call that was out; a per-request status is
 * decided as the unary call's gRPC status.
 */
import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { kvrpcpb, metapb } from "@regionkv/proto";
import type { CallScope, RetryBudget } from "./call-scope.js";
import { InvalidArgumentError, ServerError, UnknownOutcomeError } from "./errors.js";
import type { ClientLogger } from "./logger.js";
import { statusError, type BatchCommandsStream } from "./batch-commands-stream.js";
import type { CachedRegion, RegionCache } from "./region-cache.js";
import type { RawResponse, RawRpc } from "./raw-rpcs.js";
import { decideRegionError, decideRpcFailure, describeRegionError } from "./retry-policy.js";
import type { StoreTransport } from "./store-channels.js";

export type Attempt<T> = { ok: true; value: T } | { ok: false };

const RETRY: { ok: false } = { ok: false };

/** A gRPC DEADLINE_EXCEEDED this close to the call's deadline is the call's own. */
const DEADLINE_SLACK_MS = 20;

/** How one request went: answered; failed once it may have reached the store; or never sent. */
type CallOutcome<Resp> = { kind: "response"; response: Resp } | { kind: "failed"; error: ServiceError } | { kind: "unsent"; error: ServiceError };

export class RegionRequestSender {
  constructor(
    private readonly cache: RegionCache,
    private readonly stores: StoreTransport,
    private readonly logger: ClientLogger,
  ) {}

  /** One attempt of `rpc` on `entry`'s region; see the file comment. */
  async send<Req, Resp extends RawResponse>(
    scope: CallScope,
    budget: RetryBudget,
    entry: CachedRegion,
    rpc: RawRpc<Req, Resp>,
    build: (context: kvrpcpb.Context) => Req,
  ): Promise<Attempt<Resp>> {
    scope.throwIfAborted();
    const region = entry.region;
    const peer = entry.leader;
    if (!peer) {
      this.cache.invalidate(region.id);
      return this.retryAfter(scope, budget, true, `region ${region.id} has no peers in the client's view`);
    }
    const where = `peer ${peer.id} of region ${region.id} on store ${peer.storeId}`;

    const resolved = await this.stores.resolve(peer.storeId, scope);
    if (!resolved.ok) return this.onPeerUnusable(scope, budget, entry, peer, resolved.reason);
    const address = resolved.address;
    if ((await this.stores.connect(address, scope)) === "failed") {
      this.stores.onStoreFailure(peer.storeId, address);
      return this.onPeerUnusable(scope, budget, entry, peer, `could not connect to store ${peer.storeId} at ${address}`);
    }

    const context: kvrpcpb.Context = { regionId: region.id, regionEpoch: region.regionEpoch, peer, term: 0n, resolvedLocks: [] };
    const request = build(context);
    const batch = this.stores.batchStream(address);
    const outcome = (batch && (await this.invokeBatched(scope, rpc, batch, request))) ?? (await this.invoke(scope, rpc, this.stores.client(address), request));

    if (outcome.kind === "unsent") {
      // Never written (the stream broke first, or the call ended while it was queued): like a
      // connection that never opened, safe to send again, even for compare-and-swap.
      scope.throwIfAborted();
      this.stores.onStoreFailure(peer.storeId, address);
      return this.onPeerUnusable(scope, budget, entry, peer, `${rpc.name} to ${where} (${address}) was not sent: ${outcome.error.details}`, outcome.error);
    }
    if (outcome.kind === "failed") {
      const err = outcome.error;
      const text = `${rpc.name} to ${where} (${address}) failed: ${GrpcStatus[err.code] ?? err.code} ${err.details}`;
      // gRPC may notice the call's deadline a moment before the scope's timer does.
      const deadlinePassed = err.code === GrpcStatus.DEADLINE_EXCEEDED && scope.remainingMs() <= DEADLINE_SLACK_MS;
      if (scope.aborted || deadlinePassed) {
        // Our deadline passed, the caller aborted, or the client closed while the request was out.
        if (!rpc.resendable) {
          const why = scope.aborted ? scope.abortError().message : `${scope.op} did not finish within ${scope.timeoutMs} ms (timeoutMs)`;
          throw this.unknownOutcome(scope, rpc, `${why} while the request was in flight`, err);
        }
        if (!scope.aborted) await scope.sleep(scope.remainingMs() + DEADLINE_SLACK_MS); // rejects once the scope's timer fires
        throw scope.abortError();
      }
      const decision = decideRpcFailure(err.code);
      if (!rpc.resendable && decision.mayHaveApplied) throw this.unknownOutcome(scope, rpc, text, err);
      switch (decision.action.kind) {
        case "tryNextPeer":
          this.stores.onStoreFailure(peer.storeId, address);
          return this.onPeerUnusable(scope, budget, entry, peer, text, err);
        case "retryLater":
          return this.retryAfter(scope, budget, true, text, err);
        case "invalidArgument":
          throw new InvalidArgumentError(`${scope.op}: store ${peer.storeId} refused the request: ${err.details}`, { cause: err });
        case "fail":
          throw new ServerError(`${scope.op}: ${text}. This is a store-side failure: check the store's log.`, { cause: err, grpcCode: err.code });
        default: {
          const unreachable: never = decision.action;
          return unreachable;
        }
      }
    }

    const response = outcome.response;
    if (response.regionError) return this.onRegionError(scope, budget, entry, peer, rpc, response.regionError, where);
    if (typeof response.error === "string" && response.error !== "") {
      throw new ServerError(`${scope.op}: ${rpc.name} on ${where} (${address}) failed: ${response.error}`);
    }
    this.cache.onSuccess(region.id, peer);
    return { ok: true, value: response };
  }

  private async onRegionError<Req, Resp extends RawResponse>(
    scope: CallScope,
    budget: RetryBudget,
    entry: CachedRegion,
    peer: metapb.Peer,
    rpc: RawRpc<Req, Resp>,
    regionError: NonNullable<RawResponse["regionError"]>,
    where: string,
  ): Promise<Attempt<Resp>> {
    const regionId = entry.region.id;
    const text = `${describeRegionError(regionError)} from ${where}`;
    const decision = decideRegionError(regionError);
    if (!rpc.resendable && decision.mayHaveApplied) throw this.unknownOutcome(scope, rpc, text, undefined);
    const action = decision.action;
    switch (action.kind) {
      case "followLeader": {
        // Only if no concurrent request has moved the region on already. A hint naming a peer
        // already tried (e.g. a dead leader its followers still name) is followed after a backoff.
        const current = this.cache.byId(regionId);
        const triedBefore = current?.tried.has(action.leader.id) === true;
        const followed = current?.leader?.id === peer.id ? this.cache.onNotLeader(regionId, action.leader) : true;
        return this.retryAfter(scope, budget, !followed || triedBefore, text);
      }
      case "tryNextPeer":
        return this.onPeerUnusable(scope, budget, entry, peer, text, undefined, decision.backoff);
      case "replaceRegions":
        this.cache.onEpochNotMatch(regionId, action.regions);
        return this.retryAfter(scope, budget, decision.backoff, text);
      case "reloadRegion":
        this.cache.invalidate(regionId);
        return this.retryAfter(scope, budget, decision.backoff, text);
      case "retryLater":
        return this.retryAfter(scope, budget, true, text, undefined, action.minDelayMs);
      case "refreshStore":
        this.stores.forgetAddress(peer.storeId);
        this.cache.invalidate(regionId);
        return this.retryAfter(scope, budget, decision.backoff, text);
      case "fail":
        throw new InvalidArgumentError(`${scope.op}: ${action.message} (${text})`);
      default: {
        const unreachable: never = action;
        return unreachable;
      }
    }
  }

  /**
   * `peer` cannot serve the region (unreachable, unknown store, no such region there, no leader
   * known): move the region to its next untried peer and retry at once; once every peer was tried
   * the cache drops the region, and the retry backs off and asks the scheduler again.
   */
  private onPeerUnusable<Resp>(
    scope: CallScope,
    budget: RetryBudget,
    entry: CachedRegion,
    peer: metapb.Peer,
    text: string,
    cause?: unknown,
    backoff = false,
  ): Promise<Attempt<Resp>> {
    const current = this.cache.byId(entry.region.id);
    // A concurrent request may have moved the region on already; then just retry.
    const more = current === undefined ? false : current.leader?.id === peer.id ? this.cache.onPeerFailure(entry.region.id) : true;
    return this.retryAfter(scope, budget, backoff || !more, text, cause);
  }

  private async retryAfter<Resp>(
    scope: CallScope,
    budget: RetryBudget,
    backoff: boolean,
    text: string,
    cause?: unknown,
    minDelayMs = 0,
  ): Promise<Attempt<Resp>> {
    scope.noteFailure(text, cause);
    this.logger.debug({ op: scope.op, retries: budget.retries, backoff }, `retrying: ${text}`);
    await scope.retry(budget, backoff, minDelayMs);
    return RETRY;
  }

  private unknownOutcome<Req, Resp extends RawResponse>(scope: CallScope, rpc: RawRpc<Req, Resp>, text: string, cause: unknown): UnknownOutcomeError {
    return new UnknownOutcomeError(
      `${scope.op}: the outcome is unknown: ${text}. The ${rpc.name} request may have reached the region's leader, so it may or may not ` +
        "have been applied, and it is not retried automatically (a second attempt would compare against the first one's write). " +
        "Read the key to find out, then decide whether to try again.",
      { cause },
    );
  }

  /** The unary RPC, cancelled as soon as the call is over. */
  private invoke<Req, Resp extends RawResponse>(
    scope: CallScope,
    rpc: RawRpc<Req, Resp>,
    client: Parameters<RawRpc<Req, Resp>["invoke"]>[0],
    request: Req,
  ): Promise<CallOutcome<Resp>> {
    return new Promise((resolve) => {
      const onAbort = () => call.cancel();
      const call = rpc.invoke(client, request, new Metadata(), { deadline: new Date(scope.deadline) }, (err, response) => {
        scope.signal.removeEventListener("abort", onAbort);
        if (err) resolve({ kind: "failed", error: err });
        else if (response === undefined) resolve({ kind: "failed", error: statusError(GrpcStatus.INTERNAL, "empty response") });
        else resolve({ kind: "response", response });
      });
      scope.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * The request on the store's BatchCommands stream, ended (like the unary call) when the call is
   * over. Undefined if the store does not serve BatchCommands: then it goes unary.
   */
  private async invokeBatched<Req, Resp extends RawResponse>(
    scope: CallScope,
    rpc: RawRpc<Req, Resp>,
    stream: BatchCommandsStream,
    request: Req,
  ): Promise<CallOutcome<Resp> | undefined> {
    const o = await stream.send(rpc.toBatch(request), scope.deadline, scope.signal);
    switch (o.kind) {
      case "response": {
        const status = o.response.status;
        if (status) return { kind: "failed", error: statusError(status.code, status.message) };
        const response = o.response.cmd && rpc.fromBatch(o.response.cmd);
        if (!response) return { kind: "failed", error: statusError(GrpcStatus.INTERNAL, `the store answered ${rpc.name} with ${o.response.cmd?.$case ?? "an empty response"}`) };
        return { kind: "response", response };
      }
      case "failed":
        return { kind: o.sent ? "failed" : "unsent", error: o.error };
      case "aborted":
        return o.sent
          ? { kind: "failed", error: statusError(GrpcStatus.CANCELLED, "the call ended while the request was in flight") }
          : { kind: "unsent", error: statusError(GrpcStatus.CANCELLED, "the call ended before the request was sent") };
      case "unimplemented":
        return undefined;
      default: {
        const unreachable: never = o;
        return unreachable;
      }
    }
  }
}
