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
 */
import { connectivityState, credentials, type ChannelOptions } from "@grpc/grpc-js";
import { metapb, regionkvpb } from "@regionkv/proto";
import type { CallScope } from "./call-scope.js";
import { ClientClosedError } from "./errors.js";
import type { RegionSource } from "./region-source.js";

/** Channel options of every store channel. */
const CHANNEL_OPTIONS: ChannelOptions = {
  // A 10,000-pair scan or a 4 MiB value does not fit grpc-js's 4 MiB default.
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};

/** Where a store is, or why it cannot be used. */
export type StoreAddress = { ok: true; address: string } | { ok: false; reason: string };

export type ConnectResult = "ready" | "failed";

export class StoreChannels {
  private readonly addresses = new Map<bigint, string>();
  private readonly lookups = new Map<bigint, Promise<metapb.Store | undefined>>();
  private readonly clients = new Map<string, regionkvpb.KvClient>();
  private closed = false;

  constructor(
    private readonly source: RegionSource,
    private readonly connectTimeoutMs: number,
  ) {}

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
    if (this.closed) throw new ClientClosedError();
    let c = this.clients.get(address);
    if (!c) {
      c = new regionkvpb.KvClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
      this.clients.set(address, c);
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
    const c = this.clients.get(address);
    if (!c) return;
    const state = c.getChannel().getConnectivityState(false);
    if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN || state === connectivityState.CONNECTING) {
      this.clients.delete(address);
      c.close();
    }
  }

  /** Forget the cached address of `storeId` (StoreNotMatch: the address no longer leads to it). */
  forgetAddress(storeId: bigint): void {
    this.addresses.delete(storeId);
  }

  /** Close every channel. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.addresses.clear();
  }
}
