/**
 * Store addresses and the gRPC channels to them.
 *
 * - A store's address comes from the scheduler (`RegionSource.getStore`) and is cached until a
 *   connection to it fails, then looked up again (the store may have moved).
 * - One `KvClient` (one HTTP/2 channel) per address, shared by every call to that store.
 * - `connect` waits, within a short connect timeout, until the channel is READY before a request
 *   is sent. A request therefore only goes out on an established connection, which is what lets
 *   the sender tell "never sent" (connect failed: safe to try another peer, even for
 *   compare-and-swap) from "sent, then failed" (the outcome of a write is unknown).
 *   A channel that failed to connect is closed and dropped, so the next attempt dials afresh
 *   instead of waiting out grpc-js's reconnect backoff.
 * - With batching on (the default), one BatchCommandsStream per channel carries the requests to
 *   that store (batch-commands-stream.ts); it goes with its channel, and `batchStream` says
 *   "none" once the store answered UNIMPLEMENTED, so the sender falls back to unary RPCs for it.
 */
import { connectivityState, credentials, type ChannelOptions } from "@grpc/grpc-js";
import { metapb, regionkvpb } from "@regionkv/proto";
import type { CallScope } from "./call-scope.js";
import { BatchCommandsStream } from "./batch-commands-stream.js";
import { ClientClosedError } from "./errors.js";
import type { ClientLogger } from "./logger.js";
import type { RegionSource } from "./region-source.js";
import type { BackoffPolicy } from "./retry-policy.js";

/** Channel options of every store channel. */
const CHANNEL_OPTIONS: ChannelOptions = {
  // A 10,000-pair scan or a 4 MiB value does not fit grpc-js's 4 MiB default.
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};

/** Where a store is, or why it cannot be used. */
export type StoreAddress = { ok: true; address: string } | { ok: false; reason: string };

export type ConnectResult = "ready" | "failed";

/**
 * How the request sender reaches stores: what `RegionRequestSender` and `RegionClient` use of
 * StoreChannels. The gRPC implementation is StoreChannels; tests and embedders may pass another
 * (`RegionClientOptions.transport`), e.g. one that calls an in-process store directly.
 */
export interface StoreTransport {
  /** Where `storeId` is (an address the other methods take), or why it cannot be used. Throws the scope's abort error if the call ends meanwhile. */
  resolve(storeId: bigint, scope: CallScope): Promise<StoreAddress>;
  /**
   * Wait until requests to `address` can be sent: "ready", or "failed" if the store cannot be
   * reached (nothing was sent, so the request may go to another peer). Throws the scope's abort
   * error if the call ends meanwhile.
   */
  connect(address: string, scope: CallScope): Promise<ConnectResult>;
  /** The KvClient unary requests to `address` are invoked on (see RawRpc.invoke). */
  client(address: string): regionkvpb.KvClient;
  /** The BatchCommands stream to `address`, or undefined to send requests there as unary calls. */
  batchStream(address: string): BatchCommandsStream | undefined;
  /** A request to `storeId` at `address` could not be sent or its connection broke. */
  onStoreFailure(storeId: bigint, address: string): void;
  /** Forget the cached address of `storeId` (StoreNotMatch: the address no longer leads to it). */
  forgetAddress(storeId: bigint): void;
  /** Release every connection; called once, when the client closes. */
  close(): void;
}

export interface StoreChannelsOptions {
  connectTimeoutMs: number;
  /** Send requests over one BatchCommands stream per store (else one unary call each). */
  batchCommands: boolean;
  logger: ClientLogger;
  /** Backoff between reopenings of a failing BatchCommands stream. */
  backoff: BackoffPolicy;
  random: () => number;
}

/** A store's channel, and the BatchCommands stream on it once used. */
interface StoreConnection {
  readonly client: regionkvpb.KvClient;
  batch: BatchCommandsStream | undefined;
}

export class StoreChannels implements StoreTransport {
  private readonly addresses = new Map<bigint, string>();
  private readonly lookups = new Map<bigint, Promise<metapb.Store | undefined>>();
  private readonly connections = new Map<string, StoreConnection>();
  private readonly connectTimeoutMs: number;
  private closed = false;

  constructor(
    private readonly source: RegionSource,
    private readonly opts: StoreChannelsOptions,
  ) {
    this.connectTimeoutMs = opts.connectTimeoutMs;
  }

  /** The address of `storeId`: cached, else asked of the scheduler (one lookup per store at a time). */
  async resolve(storeId: bigint, scope: CallScope): Promise<StoreAddress> {
    const cached = this.addresses.get(storeId);
    if (cached !== undefined) return { ok: true, address: cached };
    let lookup = this.lookups.get(storeId);
    if (!lookup) {
      lookup = this.source.getStore(storeId).finally(() => this.lookups.delete(storeId));
      this.lookups.set(storeId, lookup);
    }
    let store: metapb.Store | undefined;
    try {
      store = await scope.race(lookup);
    } catch (err) {
      scope.throwIfAborted();
      return { ok: false, reason: `the scheduler could not resolve store ${storeId}: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (!store) return { ok: false, reason: `the scheduler does not know store ${storeId}` };
    if (store.state === metapb.StoreState.Tombstone) return { ok: false, reason: `store ${storeId} is a tombstone (removed from the cluster)` };
    if (store.address === "") return { ok: false, reason: `store ${storeId} has no address registered` };
    if (!this.closed) this.addresses.set(storeId, store.address);
    return { ok: true, address: store.address };
  }

  /** The shared client for `address`, created on first use. */
  client(address: string): regionkvpb.KvClient {
    return this.connection(address).client;
  }

  /**
   * The BatchCommands stream to `address` (created on first use), or undefined if requests to it
   * go unary: batching is off, or the store answered UNIMPLEMENTED.
   */
  batchStream(address: string): BatchCommandsStream | undefined {
    if (!this.opts.batchCommands) return undefined;
    const conn = this.connection(address);
    if (!conn.batch) {
      const client = conn.client;
      conn.batch = new BatchCommandsStream({
        address,
        open: () => client.batchCommands(),
        channel: client.getChannel(),
        logger: this.opts.logger,
        backoff: this.opts.backoff,
        random: this.opts.random,
      });
    }
    return conn.batch.isUnimplemented ? undefined : conn.batch;
  }

  private connection(address: string): StoreConnection {
    if (this.closed) throw new ClientClosedError();
    let c = this.connections.get(address);
    if (!c) {
      c = { client: new regionkvpb.KvClient(address, credentials.createInsecure(), CHANNEL_OPTIONS), batch: undefined };
      this.connections.set(address, c);
    }
    return c;
  }

  /**
   * Wait until the channel to `address` is READY ("ready"), or report "failed" if it is in
   * TRANSIENT_FAILURE or does not connect within the connect timeout. Throws the scope's abort
   * error if the call ends meanwhile.
   */
  async connect(address: string, scope: CallScope): Promise<ConnectResult> {
    scope.throwIfAborted();
    const channel = this.client(address).getChannel();
    const until = Math.min(scope.deadline, Date.now() + this.connectTimeoutMs);
    let state = channel.getConnectivityState(true);
    while (true) {
      scope.throwIfAborted();
      if (state === connectivityState.READY) return "ready";
      if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) return "failed";
      const from = state;
      const changed = await scope.race(
        new Promise<boolean>((resolve) => channel.watchConnectivityState(from, until, (err) => resolve(err === undefined))),
      );
      if (!changed) {
        // The call's deadline bounded the wait: let the scope report it rather than blame the store.
        if (until >= scope.deadline) await scope.sleep(scope.remainingMs() + 10);
        scope.throwIfAborted();
        return "failed";
      }
      state = channel.getConnectivityState(true);
    }
  }

  /**
   * A connection to `storeId` at `address` failed: forget the address (look it up again next
   * time), and if the channel is not usable, close it so the next attempt dials afresh.
   */
  onStoreFailure(storeId: bigint, address: string): void {
    if (this.addresses.get(storeId) === address) this.addresses.delete(storeId);
    const c = this.connections.get(address);
    if (!c) return;
    const state = c.client.getChannel().getConnectivityState(false);
    if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN || state === connectivityState.CONNECTING) {
      this.connections.delete(address);
      c.batch?.close();
      c.client.close();
    }
  }

  /** Forget the cached address of `storeId` (StoreNotMatch: the address no longer leads to it). */
  forgetAddress(storeId: bigint): void {
    this.addresses.delete(storeId);
  }

  /** Close every channel. */
  close(): void {
    this.closed = true;
    for (const c of this.connections.values()) {
      c.batch?.close();
      c.client.close();
    }
    this.connections.clear();
    this.addresses.clear();
  }
}
