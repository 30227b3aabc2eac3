/**
 * The simulated network of the cluster simulation: messages in flight with a delivery time, and
 * the network faults (drop, delay, reorder, duplication, two-sided partitions) decided by the
 * simulation's seeded PRNG. The network never touches a node: it hands due messages back to the
 * simulation, which delivers them (or drops them when the target is down or gone).
 *
 * Flow: sender's Ready → `send` (drop? duplicate? delay?) → in flight → `takeDue(now)` in
 * (deliverAt, order) order → partition check at delivery (a split cuts messages already in flight).
 */
import type { Message } from "../../src/index.js";

/** Per-message fault probabilities and the shape of latency. */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice (each copy with its own latency). */
  duplicate: number;
  /** Probability that a message is held back for a long time (up to `maxDelay` ticks). */
  delay: number;
  maxDelay: number;
  /** Messages with the same delivery time arrive in random order, and latency jitters more. */
  reorder: boolean;
}

export const NO_NETWORK_FAULTS: NetworkFaults = { drop: 0, duplicate: 0, delay: 0, maxDelay: 0, reorder: false };

export interface InFlight {
  m: Message;
  /** The tick at which the message arrives. */
  deliverAt: number;
  /** Tie-break among messages due at the same tick: send order, or random when reordering. */
  order: number;
  /** The sender's incarnation (a crash ends it; a restarted node does not get old reports). */
  senderIncarnation: number;
}

/** Why a message did not arrive: lost at random, or its target was cut off, down or gone (the transport may tell the sender). */
export type DropReason = "lost" | "unreachable";

export class SimNetwork {
  faults: NetworkFaults = NO_NETWORK_FAULTS;
  private inFlight: InFlight[] = [];
  private seq = 0;
  /** While a partition is active: node id → side (0 or 1). Nodes not listed are on side 0. */
  private sides: Map<number, 0 | 1> | undefined;
  stats = { sent: 0, dropped: 0, duplicated: 0, delayed: 0, partitions: 0 };

  constructor(private readonly rand: () => number) {}

  /**
   * Queue `m` (sent at tick `now`). Returns the copies that will travel (0 when lost at once, 2
   * when duplicated), so the caller can report a lost snapshot to its sender.
   */
  send(m: Message, now: number, senderIncarnation: number): number {
    this.stats.sent++;
    const f = this.faults;
    if (f.drop > 0 && this.rand() < f.drop) {
      this.stats.dropped++;
      return 0;
    }
    let copies = 1;
    if (f.duplicate > 0 && this.rand() < f.duplicate) {
      copies = 2;
      this.stats.duplicated++;
    }
    for (let i = 0; i < copies; i++) {
      let latency = f.reorder ? Math.floor(this.rand() * 3) : this.rand() < 0.5 ? 0 : 1;
      if (f.delay > 0 && this.rand() < f.delay) {
        latency += 1 + Math.floor(this.rand() * f.maxDelay);
        this.stats.delayed++;
      }
      const order = f.reorder ? this.rand() : this.seq;
      this.seq++;
      // Every copy is its own message, as if serialized: the receiver may mutate what it steps.
      this.inFlight.push({ m: i === 0 ? m : cloneMessage(m), deliverAt: now + latency, order, senderIncarnation });
    }
    return copies;
  }

  /** Remove and return the messages due at or before `now`, in delivery order. */
  takeDue(now: number): InFlight[] {
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.inFlight) (f.deliverAt <= now ? due : rest).push(f);
    if (due.length === 0) return due;
    this.inFlight = rest;
    due.sort((a, b) => a.deliverAt - b.deliverAt || a.order - b.order);
    return due;
  }

  /** Push messages that were due but not delivered this tick to the next one (a busy network). */
  postpone(items: InFlight[], now: number): void {
    for (const f of items) this.inFlight.push({ ...f, deliverAt: now + 1 });
  }

  /**
   * `id` crashed: every message to it is lost, and each message from it is lost with
   * probability `fromLoss` (what was still in its send buffers dies with it; what was already on
   * the wire arrives, possibly after it restarts). Returns the lost messages (their senders may
   * need to hear about it).
   */
  dropFor(id: number, fromLoss: number): InFlight[] {
    const lost: InFlight[] = [];
    this.inFlight = this.inFlight.filter((f) => {
      const keep = f.m.to !== id && (f.m.from !== id || (fromLoss < 1 && this.rand() >= fromLoss));
      if (!keep) lost.push(f);
      return keep;
    });
    return lost;
  }

  get inFlightCount(): number {
    return this.inFlight.length;
  }

  /** Split the nodes in two: messages between the sides are lost until `heal`. */
  partition(sideOne: readonly number[]): void {
    this.sides = new Map();
    for (const id of sideOne) this.sides.set(id, 1);
    this.stats.partitions++;
  }

  /** Put a node created during a partition on a side. */
  placeNode(id: number, side: 0 | 1): void {
    if (this.sides && side === 1) this.sides.set(id, 1);
  }

  heal(): void {
    this.sides = undefined;
  }

  get partitioned(): boolean {
    return this.sides !== undefined;
  }

  linkUp(from: number, to: number): boolean {
    if (!this.sides) return true;
    return (this.sides.get(from) ?? 0) === (this.sides.get(to) ?? 0);
  }

  /** Which side each node is on, for traces. */
  describePartition(): string {
    if (!this.sides) return "none";
    return `{${[...this.sides.keys()].sort((a, b) => a - b).join(" ")}} | rest`;
  }
}

/** A deep copy of the parts of a message a receiver might mutate (entries are copied, bytes shared). */
export function cloneMessage(m: Message): Message {
  return {
    ...m,
    entries: m.entries.map((e) => ({ ...e })),
    snapshot: m.snapshot
      ? {
          data: m.snapshot.data,
          metadata: {
            ...m.snapshot.metadata,
            confState: { voters: [...m.snapshot.metadata.confState.voters], learners: [...m.snapshot.metadata.confState.learners] },
          },
        }
      : undefined,
  };
}
