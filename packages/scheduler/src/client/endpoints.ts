/**
 * The scheduler endpoints a client may use, one gRPC client (channel) each, created on first use.
 * Calls go to the current endpoint; an UNAVAILABLE answer moves on to the next one.
 */
import { credentials } from "@grpc/grpc-js";
import { schedulerpb } from "@regionkv/proto";
import { CLIENT_CHANNEL_OPTIONS } from "./channel-options.js";

export interface Endpoint {
  readonly address: string;
  readonly client: schedulerpb.SchedulerClient;
}

export class Endpoints {
  private readonly clients = new Map<string, schedulerpb.SchedulerClient>();
  private index = 0;

  constructor(readonly addresses: readonly string[]) {
    if (addresses.length === 0) throw new Error("no scheduler endpoint given; pass e.g. endpoints: \"127.0.0.1:2379\"");
  }

  /** The endpoint calls go to now. */
  current(): Endpoint {
    const address = this.addresses[this.index % this.addresses.length]!;
    let client = this.clients.get(address);
    if (!client) {
      client = new schedulerpb.SchedulerClient(address, credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    return { address, client };
  }

  /** `failed` did not answer: use the next endpoint (unless another caller moved on already). */
  failover(failed: Endpoint): void {
    if (this.addresses.length > 1 && this.addresses[this.index % this.addresses.length] === failed.address) this.index++;
  }

  closeAll(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
