/**
 * An in-memory raft group driven the way a real caller drives RawNode (persist → send → apply →
 * advance), with no network and no faults: the harness the raft benchmarks measure.
 */
import { MemoryStorage, MessageType, RawNode, StateRole, seededRandom, type Message } from "@regionkv/raft";

export class BenchGroup {
  readonly nodes = new Map<number, RawNode>();
  readonly storages = new Map<number, MemoryStorage>();
  private inbox: Message[] = [];
  /** Entries applied on the leader (the figure benchmarks count). */
  appliedOnLeader = 0;
  readyCount = 0;

  constructor(size: number, opts: { maxSizePerMsg?: number; maxInflightMsgs?: number } = {}) {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    for (const id of ids) {
      const st = MemoryStorage.withPeers(ids);
      this.storages.set(id, st);
      this.nodes.set(
        id,
        new RawNode({
          id,
          electionTick: 10,
          heartbeatTick: 1,
          storage: st,
          random: seededRandom(id),
          maxSizePerMsg: opts.maxSizePerMsg ?? 1024 * 1024,
          maxInflightMsgs: opts.maxInflightMsgs ?? 256,
        }),
      );
    }
    this.node(1).campaign();
    this.pump();
    if (this.node(1).raft.state !== StateRole.Leader) throw new Error("node 1 did not become leader");
    this.appliedOnLeader = 0;
  }

  node(id: number): RawNode {
    return this.nodes.get(id)!;
  }

  /** Handle Readies and deliver messages until the group is quiet. */
  pump(): void {
    for (;;) {
      let busy = false;
      for (const [id, rn] of this.nodes) {
        while (rn.hasReady()) {
          busy = true;
          const rd = rn.ready();
          this.readyCount++;
          const st = this.storages.get(id)!;
          if (rd.snapshot) st.applySnapshot(rd.snapshot);
          if (rd.entries.length > 0) st.append(rd.entries);
          if (rd.hardState) st.setHardState(rd.hardState);
          for (const m of rd.messages) this.inbox.push(m);
          if (id === 1) this.appliedOnLeader += rd.committedEntries.length;
          rn.advance(rd);
        }
      }
      if (this.inbox.length > 0) {
        busy = true;
        const batch = this.inbox;
        this.inbox = [];
        for (const m of batch) {
          const rn = this.nodes.get(m.to);
          if (rn && m.type !== MessageType.Hup) rn.step(m);
        }
      }
      if (!busy) return;
    }
  }
}
