import type { Message } from "./types.js";

/**
 * How the leader answers ReadIndex requests.
 * - Safe: confirm leadership with a quorum round of heartbeats carrying the request context.
 *   Linearizable under any clock behaviour.
 * - LeaseBased: answer at once, trusting check-quorum's lease; linearizable only if clocks drift
 *   less than the election timeout. Requires checkQuorum.
 */
export const ReadOnlyOption = { Safe: 0, LeaseBased: 1 } as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

export interface ReadIndexStatus {
  /** The original request (local: from = NONE or self; forwarded: from = the follower). */
  req: Message;
  /** The commit index when the request arrived: the read index. */
  index: number;
  /** Voters that acknowledged a heartbeat carrying this request's context. */
  acks: Set<number>;
}

/**
 * The leader's pending Safe read-index requests, in arrival order. A heartbeat round confirms
 * the newest one; a quorum ack of a request confirms every request queued before it too (one
 * quorum round serves every read waiting on it).
 */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly option: ReadOnlyOption) {}

  /** Queue request `m` with read index `index`. A duplicate context is ignored. */
  addRequest(index: number, m: Message): void {
    const key = contextKey(m.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Record `id`'s heartbeat ack for `context`; returns the acks so far, or undefined if unknown. */
  recvAck(id: number, context: Uint8Array): Set<number> | undefined {
    const rs = this.pending.get(contextKey(context));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Dequeue every request up to and including the one with `context`, oldest first. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  /** The context of the newest pending request (heartbeats carry it), if any. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.req.context;
  }

  get pendingCount(): number {
    return this.queue.length;
  }
}

/** A Map key for a byte string (contexts are short request ids). */
function contextKey(ctx: Uint8Array): string {
  let s = "";
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}
