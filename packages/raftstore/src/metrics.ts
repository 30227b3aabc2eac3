/**
 * Prometheus metrics of one store, on a registry of its own (several stores can live in one
 * process in tests). The server exports `registry` on its status port.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class RaftstoreMetrics {
  readonly registry: Registry;
  readonly proposals: Counter<"kind" | "result">;
  readonly applyLatency: Histogram;
  readonly groupCommitBatchPeers: Histogram;
  readonly groupCommitBatchBytes: Histogram;
  readonly groupCommitFsync: Histogram;
  readonly readyHandling: Histogram;
  readonly regionCount: Gauge;
  readonly snapshots: Counter<"kind" | "result">;
  readonly snapshotBytes: Counter<"kind">;
  readonly readIndexBatch: Histogram;
  readonly messagesDropped: Counter;
  readonly fsyncs: Counter;
  readonly splits: Counter;
  readonly leaderRegions: Gauge;

  constructor(labels: Record<string, string> = {}) {
    this.registry = new Registry();
    this.registry.setDefaultLabels(labels);
    const r = [this.registry];
    this.proposals = new Counter({ name: "regionkv_raftstore_proposals_total", help: "Commands handled, by kind (write/read/admin) and result", labelNames: ["kind", "result"], registers: r });
    this.applyLatency = new Histogram({
      name: "regionkv_raftstore_apply_seconds",
      help: "Time from proposing a write to applying it",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers: r,
    });
    this.groupCommitBatchPeers = new Histogram({ name: "regionkv_raftstore_group_commit_peers", help: "Peers whose Readies were persisted in one transaction", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers: r });
    this.groupCommitBatchBytes = new Histogram({ name: "regionkv_raftstore_group_commit_bytes", help: "Bytes persisted per group commit", buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216], registers: r });
    this.groupCommitFsync = new Histogram({ name: "regionkv_raftstore_group_commit_seconds", help: "Time to write and fsync one group commit", buckets: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: r });
    this.readyHandling = new Histogram({ name: "regionkv_raftstore_ready_round_seconds", help: "Time of one raft worker round (step, persist, send, apply)", buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: r });
    this.regionCount = new Gauge({ name: "regionkv_raftstore_regions", help: "Region peers on this store", registers: r });
    this.snapshots = new Counter({ name: "regionkv_raftstore_snapshots_total", help: "Snapshots generated, sent, received and applied", labelNames: ["kind", "result"], registers: r });
    this.snapshotBytes = new Counter({ name: "regionkv_raftstore_snapshot_bytes_total", help: "Bytes of snapshot data generated and applied", labelNames: ["kind"], registers: r });
    this.readIndexBatch = new Histogram({ name: "regionkv_raftstore_read_index_batch", help: "Reads served by one ReadIndex round", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: r });
    this.fsyncs = new Counter({ name: "regionkv_raftstore_fsyncs_total", help: "Group commits that were synced to disk (a Ready needed it)", registers: r });
    this.splits = new Counter({ name: "regionkv_raftstore_splits_total", help: "Region splits applied on this store (each counts once per peer)", registers: r });
    this.leaderRegions = new Gauge({ name: "regionkv_raftstore_leader_regions", help: "Regions whose leader is on this store", registers: r });
    this.messagesDropped = new Counter({ name: "regionkv_raftstore_raft_messages_dropped_total", help: "Raft messages the transport refused (peer reported unreachable)", registers: r });
  }
}
