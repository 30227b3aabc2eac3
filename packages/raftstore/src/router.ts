/**
 * The router: a mailbox per region peer and one for the store. Anything that wants a peer to act
 * (the transport, the KV service, workers, the tick driver) posts a message here; the raft worker
 * drains the mailboxes of busy peers in one round. `onBusy` wakes the worker (setImmediate in
 * production; tests poll the worker themselves).
 */
import type { PeerMsg, StoreMsg } from "./messages.js";

export class Router {
  private readonly mailboxes = new Map<number, PeerMsg[]>();
  private storeMailbox: StoreMsg[] = [];
  /** Regions with mail, in arrival order. */
  private busy = new Set<number>();
  private storeBusy = false;

  constructor(private onBusy: () => void = () => {}) {}

  setOnBusy(f: () => void): void {
    this.onBusy = f;
  }

  register(regionId: number): void {
    if (!this.mailboxes.has(regionId)) this.mailboxes.set(regionId, []);
  }

  unregister(regionId: number): void {
    this.mailboxes.delete(regionId);
    this.busy.delete(regionId);
  }

  has(regionId: number): boolean {
    return this.mailboxes.has(regionId);
  }

  regionIds(): number[] {
    return [...this.mailboxes.keys()];
  }

  /** Post to a peer. Returns false if the region has no peer here (the caller decides what then). */
  send(regionId: number, msg: PeerMsg): boolean {
    const box = this.mailboxes.get(regionId);
    if (!box) return false;
    box.push(msg);
    if (!this.busy.has(regionId)) {
      this.busy.add(regionId);
      if (this.busy.size === 1 && !this.storeBusy) this.onBusy();
    }
    return true;
  }

  /** Post to every registered peer (ticks). */
  broadcast(msg: PeerMsg): void {
    for (const id of this.mailboxes.keys()) this.send(id, msg);
  }

  sendStore(msg: StoreMsg): void {
    this.storeMailbox.push(msg);
    if (!this.storeBusy) {
      this.storeBusy = true;
      if (this.busy.size === 0) this.onBusy();
    }
  }

  hasWork(): boolean {
    return this.busy.size > 0 || this.storeBusy;
  }

  /** Take the busy regions and their mail (the raft worker's round). */
  takeBusy(): Array<[number, PeerMsg[]]> {
    const out: Array<[number, PeerMsg[]]> = [];
    for (const id of this.busy) {
      const box = this.mailboxes.get(id);
      if (box) out.push([id, box.splice(0)]);
    }
    this.busy = new Set();
    return out;
  }

  takeStoreMail(): StoreMsg[] {
    const m = this.storeMailbox;
    this.storeMailbox = [];
    this.storeBusy = false;
    return m;
  }

  /** Mark a peer busy without mail (it has a Ready to handle after advance). */
  markBusy(regionId: number): void {
    if (this.mailboxes.has(regionId) && !this.busy.has(regionId)) {
      this.busy.add(regionId);
      if (this.busy.size === 1 && !this.storeBusy) this.onBusy();
    }
  }
}
