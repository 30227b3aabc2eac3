/**
 * TinyKV's custom 3B membership scenarios (tinykv.md §5.5) on the cluster harness:
 *
 * - TransferLeader3B: leadership of region 1 moves to each of the five peers in turn.
 * - BasicConfChange3B: shrink to one peer, grow back, re-add a store with the same and with a new
 *   peer id; a removed peer's data is deleted, an added one is caught up by snapshot.
 * - ConfChangeRemoveLeader3B: remove the leader, also of a two-peer group; the region keeps
 *   serving and the removed store never sees later writes.
 *
 * Every membership change goes through the mock scheduler's operators, re-sent on each heartbeat
 * until done, so each step also proves that re-sent steps are harmless; the conf_ver rule of §1.9
 * is asserted on every heartbeat.
 */
import type { metapb } from "@regionkv/proto";
import { Cluster, ClusterError } from "./cluster.js";

function mustBeTrue(cond: boolean, message: string, c: Cluster): void {
  if (!cond) throw new ClusterError(`${message}\n${c.describeState()}`);
}

const peer = (id: number, storeId: number): metapb.Peer => ({ id: BigInt(id), storeId: BigInt(storeId), role: 0 });

export async function transferLeader(seed: number, trace?: (line: string) => void): Promise<string> {
  const c = Cluster.start({ seed, stores: 5, ...(trace ? { trace } : {}) });
  try {
    await c.tick(20);
    for (const id of [1, 2, 3, 4, 5]) {
      await c.mustTransferLeader(1, peer(id, id));
      await c.mustPut(`k${id}`, `v${id}`);
      mustBeTrue(c.currentLeader(1)?.id === BigInt(id) || c.scheduler.leader(1)?.id === BigInt(id), `peer ${id} should lead region 1`, c);
    }
    return `${c.ticks} ticks, ${c.network.stats.sent} messages`;
  } finally {
    c.close();
  }
}

export async function basicConfChange(seed: number, trace?: (line: string) => void): Promise<string> {
  const c = Cluster.start({ seed, stores: 5, ...(trace ? { trace } : {}) });
  try {
    await c.tick(20);
    await c.mustTransferLeader(1, peer(1, 1));
    for (const id of [2, 3, 4, 5]) await c.mustRemovePeer(1, peer(id, id));
    await c.mustPut("k1", "v1");
    await c.mustGetNone(2, "k1");

    await c.mustAddPeer(1, peer(2, 2));
    await c.mustPut("k2", "v2");
    mustBeTrue((await c.mustGet("k2"))?.toString() === "v2", "get k2", c);
    await c.mustGetEqual(2, "k1", "v1");
    await c.mustGetEqual(2, "k2", "v2");
    mustBeTrue((c.scheduler.region(1)?.regionEpoch?.confVer ?? 0n) > 1n, "conf_ver did not grow", c);
    await c.mustGetNone(5, "k1");

    await c.mustAddPeer(1, peer(3, 3));
    await c.mustRemovePeer(1, peer(2, 2));
    await c.mustPut("k3", "v3");
    for (const k of ["k1", "k2", "k3"]) await c.mustGetEqual(3, k, `v${k.slice(1)}`);
    // A removed peer's data is deleted.
    await c.mustGetNone(2, "k1");
    await c.mustGetNone(2, "k2");

    // The same peer id on the same store again: the tombstone does not keep it out.
    await c.mustAddPeer(1, peer(2, 2));
    for (const k of ["k1", "k2", "k3"]) await c.mustGetEqual(2, k, `v${k.slice(1)}`);

    // A new peer id on the same store.
    await c.mustRemovePeer(1, peer(2, 2));
    const newPeer = c.allocPeer(2);
    await c.mustAddPeer(1, newPeer);
    await c.mustRemovePeer(1, peer(3, 3));
    await c.mustPut("k4", "v4");
    await c.mustGetEqual(2, "k1", "v1");
    await c.mustGetEqual(2, "k4", "v4");
    await c.mustGetNone(3, "k1");
    await c.mustGetNone(3, "k4");
    await c.mustReplicasConverge(1);
    return `conf_ver ${c.scheduler.region(1)?.regionEpoch?.confVer}; ${c.scheduler.stepsSent} operator steps sent; ${c.ticks} ticks`;
  } finally {
    c.close();
  }
}

export async function confChangeRemoveLeader(seed: number, trace?: (line: string) => void): Promise<string> {
  const c = Cluster.start({ seed, stores: 5, ...(trace ? { trace } : {}) });
  try {
    await c.tick(20);
    await c.mustTransferLeader(1, peer(1, 1));
    await c.mustRemovePeer(1, peer(1, 1));
    await c.mustPut("k0", "v0");
    await c.mustGetNone(1, "k0");

    await c.mustAddPeer(1, peer(1, 1));
    await c.mustTransferLeader(1, peer(1, 1));
    await c.mustPut("k1", "v1");
    await c.mustGetEqual(1, "k0", "v0");
    await c.mustGetEqual(1, "k1", "v1");

    for (const id of [2, 3, 4]) await c.mustRemovePeer(1, peer(id, id));
    // A two-peer group {1, 5} led by 1: remove the leader.
    await c.mustTransferLeader(1, peer(1, 1));
    await c.mustRemovePeer(1, peer(1, 1));
    await c.mustPut("k2", "v2");
    await c.mustGetNone(1, "k2");

    await c.mustAddPeer(1, peer(1, 1));
    await c.mustPut("k3", "v3");
    await c.mustGetNone(3, "k3");
    await c.mustGetEqual(1, "k3", "v3");
    await c.mustReplicasConverge(1);
    return `conf_ver ${c.scheduler.region(1)?.regionEpoch?.confVer}; ${c.scheduler.stepsSent} operator steps sent; ${c.ticks} ticks`;
  } finally {
    c.close();
  }
}
