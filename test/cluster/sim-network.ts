/**
 * The simulated network between the stores of a test cluster (TinyKV's MockTransport).
 *
 * Flow of a message: a store's raft worker calls `Transport.send` → the message is encoded (it
 * travels as bytes, so no object is shared between stores) and queued in the outbox → the cluster
 * calls `deliverRound()`: every outbox message gets the verdict of the installed filters (drop,
 * hold for k rounds, deliver); held messages whose time has come join the round; the round's
 * messages are decoded and handed to the target store's `onRaftMessage`, in send order. A
 * MsgSnapshot is reported back to the SENDING store (`reportSnapshotStatus`): ok once delivered,
 * failed when a filter dropped it or its target store is down.
 *
 * Nothing here reads a clock or Math.random: rounds are counted, randomness comes from filters
 * built with the cluster's seeded RNG.
 */
import { eraftpb, raft_serverpb } from "@regionkv/proto";
import type { Transport } from "@regionkv/raftstore";
import { combine, msgType, toStore, fromStore, type Filter } from "./filters.js";

/** What the network needs of a store: take a message, hear about a snapshot it sent. */
export interface NetworkEndpoint {
  onRaftMessage(msg: raft_serverpb.RaftMessage): void;
  reportSnapshotStatus(regionId: number, toPeerId: number, ok: boolean): void;
}

interface InFlight {
  bytes: Uint8Array;
  from: number;
  to: number;
  regionId: number;
  toPeerId: number;
  type: eraftpb.MessageType;
  /** Delivery round at which a held message is due. */
  dueRound: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  /** Delivered to a store that was down. */
  lost: number;
  held: number;
  snapshotsDelivered: number;
  snapshotsFailed: number;
  /** Snapshots delivered, by target store. */
  snapshotsTo: Map<number, number>;
}

export class SimNetwork {
  private outbox: InFlight[] = [];
  private held: InFlight[] = [];
  private filters: Filter[] = [];
  private round = 0;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, lost: 0, held: 0, snapshotsDelivered: 0, snapshotsFailed: 0, snapshotsTo: new Map() };

  /**
   * @param endpoint the running store with this id, or undefined while it is down.
   * @param trace optional line logger (replay).
   */
  constructor(
    private readonly endpoint: (storeId: number) => NetworkEndpoint | undefined,
    private readonly trace?: (line: string) => void,
  ) {}

  /** The transport a store sends through. */
  transportFor(storeId: number): Transport {
    return {
      send: (msg) => {
        if (fromStore(msg) !== storeId) throw new Error(`store ${storeId} sent a message from store ${fromStore(msg)}`);
        this.outbox.push({
          bytes: raft_serverpb.RaftMessage.encode(msg).finish(),
          from: storeId,
          to: toStore(msg),
          regionId: Number(msg.regionId),
          toPeerId: Number(msg.toPeer?.id ?? 0n),
          type: msgType(msg),
          dueRound: 0,
        });
        this.stats.sent++;
        return true;
      },
      flush: () => {},
    };
  }

  addFilter(f: Filter): void {
    this.filters.push(f);
    this.trace?.(`net: + ${f.describe()}`);
  }

  clearFilters(): void {
    if (this.filters.length > 0) this.trace?.(`net: clear ${this.filters.length} filter(s)`);
    this.filters = [];
  }

  describeFilters(): string {
    return this.filters.map((f) => f.describe()).join("; ") || "none";
  }

  /** Messages waiting to be delivered (queued or held). */
  get inFlight(): number {
    return this.outbox.length + this.held.length;
  }

  /** One delivery round. Returns how many messages were delivered, dropped or lost. */
  deliverRound(): number {
    this.round++;
    const now: InFlight[] = [];
    if (this.held.length > 0) {
      const still: InFlight[] = [];
      for (const m of this.held) (m.dueRound <= this.round ? now : still).push(m);
      this.held = still;
    }
    const fresh = this.outbox;
    this.outbox = [];
    for (const m of fresh) {
      const decoded = this.filters.length > 0 ? raft_serverpb.RaftMessage.decode(m.bytes) : undefined;
      const v = decoded ? combine(this.filters.map((f) => f.verdict(decoded))) : { kind: "deliver" as const };
      if (v.kind === "drop") {
        this.stats.dropped++;
        this.fail(m, "filtered");
      } else if (v.kind === "delay") {
        m.dueRound = this.round + v.rounds;
        this.held.push(m);
        this.stats.held++;
      } else {
        now.push(m);
      }
    }
    for (const m of now) this.deliver(m);
    return now.length + fresh.length;
  }

  private deliver(m: InFlight): void {
    const target = this.endpoint(m.to);
    if (!target) {
      this.stats.lost++;
      this.fail(m, "target down");
      return;
    }
    this.stats.delivered++;
    target.onRaftMessage(raft_serverpb.RaftMessage.decode(m.bytes));
    if (m.type === eraftpb.MessageType.MsgSnapshot) {
      this.stats.snapshotsDelivered++;
      this.stats.snapshotsTo.set(m.to, (this.stats.snapshotsTo.get(m.to) ?? 0) + 1);
      this.trace?.(`net: snapshot region ${m.regionId} ${m.from} -> ${m.to} delivered`);
      this.endpoint(m.from)?.reportSnapshotStatus(m.regionId, m.toPeerId, true);
    }
  }

  private fail(m: InFlight, why: string): void {
    if (m.type !== eraftpb.MessageType.MsgSnapshot) return;
    this.stats.snapshotsFailed++;
    this.trace?.(`net: snapshot region ${m.regionId} ${m.from} -> ${m.to} lost (${why})`);
    this.endpoint(m.from)?.reportSnapshotStatus(m.regionId, m.toPeerId, false);
  }
}
