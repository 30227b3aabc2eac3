/**
 * What a peer tracks for its region heartbeats: when each other peer was last heard from (down
 * peers, transfer-leader checks) and the traffic since the last report (the scheduler's write
 * rates). Followers count traffic too but only the leader reports and resets it: a newly elected
 * leader's first report covers the whole time since it last reported, so the rate stays right.
 */
import type { metapb, schedulerpb } from "@regionkv/proto";

export interface TrafficReport {
  bytesWritten: number;
  keysWritten: number;
  keysRead: number;
  intervalStartSec: number;
  intervalEndSec: number;
}

export class PeerStats {
  /** Peer id → when a message from it last arrived (ms; every peer set when this one is elected). */
  private readonly lastHeard = new Map<number, number>();
  private traffic: { bytesWritten: number; keysWritten: number; keysRead: number; sinceMs: number };
  /** Pending peers in the last region heartbeat: when one catches up, the scheduler hears at once. */
  reportedPending = 0;

  constructor(now: number) {
    this.traffic = { bytesWritten: 0, keysWritten: 0, keysRead: 0, sinceMs: now };
  }

  heard(peerId: number, now: number): void {
    this.lastHeard.set(peerId, now);
  }

  /** Just elected: every peer counts as heard from now (down time is measured from here). */
  elected(peers: readonly metapb.Peer[], now: number): void {
    for (const p of peers) this.lastHeard.set(Number(p.id), now);
  }

  lastHeardAt(peerId: number): number | undefined {
    return this.lastHeard.get(peerId);
  }

  countWrites(bytes: number, keys: number): void {
    this.traffic.bytesWritten += bytes;
    this.traffic.keysWritten += keys;
  }

  countReads(keys: number): void {
    this.traffic.keysRead += keys;
  }

  /** The traffic since the last report, and start counting again from `now`. */
  takeTraffic(now: number): TrafficReport {
    const t = this.traffic;
    this.traffic = { bytesWritten: 0, keysWritten: 0, keysRead: 0, sinceMs: now };
    return { bytesWritten: t.bytesWritten, keysWritten: t.keysWritten, keysRead: t.keysRead, intervalStartSec: Math.floor(t.sinceMs / 1000), intervalEndSec: Math.floor(now / 1000) };
  }

  /** Peers of `region` other than `selfId` not heard from for longer than `maxDownMs`. */
  downPeers(region: metapb.Region, selfId: number, now: number, maxDownMs: number): schedulerpb.PeerStats[] {
    const out: schedulerpb.PeerStats[] = [];
    for (const p of region.peers) {
      const id = Number(p.id);
      if (id === selfId) continue;
      const heard = this.lastHeard.get(id) ?? now;
      if (now - heard > maxDownMs) out.push({ peer: p, downSeconds: BigInt(Math.floor((now - heard) / 1000)) });
    }
    return out;
  }
}
