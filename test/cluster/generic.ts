/**
 * TinyKV's GenericTest (tinykv.md §5.3) on driven time. Three iterations of:
 *
 *   1. `nclients` logical clients, each with one request in flight at a time: with probability ½
 *      put key "<cli> <j as %08d>" = "x <cli> <j> y" (then j++), otherwise scan its own keys
 *      ["<cli> 00000000", "<cli> <j>") and require EXACTLY the values it has had acknowledged
 *      (a linearizable read: a stale leader or follower answering would fail this);
 *   2. chaos while they run (`unreliable`: a 10% drop filter added every election timeout and
 *      never cleared, so loss accumulates; `partitions`: the stores re-split at random into two
 *      sides every election timeout);
 *   3. stop the clients (each finishes its request), heal the network for one election timeout;
 *   4. `crash`: stop every store, let an election timeout pass, restart every store on its files;
 *   5. end check: each client's keys are all there, exactly once and in order; then every key is
 *      deleted, so the next iteration reuses the keys from 0;
 *   6. `maxraftlog` > 0 (log GC at that count limit): one second later, on every store,
 *      applied − truncated ≤ 2 × limit;
 *   7. `split`: the region holding "" has a non-empty end key (the key space did split), checked
 *      before the deletes and only once more than RegionMaxSize bytes are acknowledged.
 *
 * With `split` (RegionMaxSize 300, RegionSplitSize 200 bytes) regions split all the time, so a
 * scan walks the regions covering its range: a Snap per region, the region's part of the range
 * from that snapshot, then on at the region's end key; together the parts must still be exactly
 * the acknowledged puts. Before the end checks the scheduler's regions must tile the key space
 * (every split half has reported). Without `split` every Snap must name the one whole-space region.
 *
 * With `confchange`, a background actor keeps changing membership in EVERY iteration (TinyKV's
 * confchanger runs only in the first, a quirk of its stop flag): pick a random region that has a
 * reported leader (region 1 until something splits, as TinyKV's getRandomRegion) and a random
 * store; if the store holds a peer and the region has more than MIN_VOTERS, remove it through a
 * mock-scheduler operator, else if it holds none, add a fresh peer there; wait until the
 * scheduler shows the change (or give up after CONF_CHANGE_BUDGET ticks, e.g. across a
 * partition), pause 0..2 ticks, repeat. End checks then also require, for every region, the
 * replicas of the current members to agree and every store outside it to hold no peer and no data.
 *
 * TinyKV runs clients for 5 s of wall time; here an iteration is `clientTicks` base ticks of
 * 100 ms simulated time, and everything random comes from the seed.
 */
import type { KvPair } from "@regionkv/engine";
import { Cluster, ClusterError, nextScanKey, scanSnapshotInRegion, snapRegion, type Actor } from "./cluster.js";
import { putCmd, snapCmd, deleteCmd, type ClusterRequest } from "./cluster-request.js";
import { dropPercent, partition } from "./filters.js";

export interface GenericParams {
  nclients: number;
  unreliable: boolean;
  crash: boolean;
  partitions: boolean;
  /** Raft log GC count limit, or -1 for none (TinyKV's 128000 default). */
  maxraftlog: number;
  /** Change the membership of random regions all the time (add/remove peers through operators). */
  confchange?: boolean;
  /** Tiny regions (RegionMaxSize 300, RegionSplitSize 200 bytes): the key space splits all the time. */
  split?: boolean;
}

/** TinyKV's GenericTest sizes with `split` (bytes of key + value in the default CF). */
export const SPLIT_CONFIG = { regionMaxSize: 300, regionSplitSize: 200 } as const;

export interface GenericOptions {
  seed: number;
  /** Base ticks the clients run per iteration (default 60). */
  clientTicks?: number;
  /** Iterations (default 3, as TinyKV). */
  iterations?: number;
  trace?: (line: string) => void;
}

/** What a run did, for the test's log and the README's figures. */
export interface GenericReport {
  puts: number;
  scans: number;
  ticks: number;
  elections: number;
  snapshotsSent: number;
  messages: number;
  dropped: number;
  /** Membership changes completed / given up (confchange only). */
  confChanges: number;
  confChangesAbandoned: number;
  /** Regions the scheduler knows at the end (1 unless something split). */
  regions: number;
  /** `split`: whether some iteration acknowledged enough data to require a split (else the check did not apply). */
  splitChecked: boolean;
}

export class LinearizabilityViolation extends ClusterError {
  override readonly name = "LinearizabilityViolation";
}

const pad = (j: number) => String(j).padStart(8, "0");
const keyOf = (cli: number, j: number) => `${cli} ${pad(j)}`;
const valueOf = (cli: number, j: number) => `x ${cli} ${j} y`;

/** A scan is one Snap per region it covers: `from` is where this region's part starts, `got` what came before. */
type ClientOp =
  | { kind: "put"; j: number; req: ClusterRequest }
  | { kind: "scan"; upTo: number; from: Buffer; got: KvPair[]; req: ClusterRequest }
  | { kind: "delete"; j: number; req: ClusterRequest };

/** One logical client: at most one request in flight; its own keys only. */
class Client implements Actor {
  /** Keys 0..acked-1 are acknowledged. */
  acked = 0;
  stopping = false;
  puts = 0;
  scans = 0;
  private op: ClientOp | undefined;
  /** While deleting: the next key to delete. */
  private deleteNext: number | undefined;

  constructor(
    private readonly c: Cluster,
    readonly id: number,
    /** Whether regions may split (else every Snap must name the one whole-space region). */
    private readonly split: boolean,
  ) {}

  /** Whether no request is in flight (a finished one is checked first). */
  isIdle(): boolean {
    this.settleOp();
    return this.op === undefined;
  }

  act(): boolean {
    this.settleOp();
    if (!this.op) this.op = this.next();
    return this.op ? this.op.req.act() : false;
  }

  private settleOp(): void {
    if (this.op?.req.finished) {
      const op = this.op;
      this.op = undefined;
      this.finish(op);
    }
  }

  private next(): ClientOp | undefined {
    if (this.deleteNext !== undefined) {
      if (this.deleteNext >= this.acked) return undefined;
      const j = this.deleteNext;
      const k = Buffer.from(keyOf(this.id, j));
      return { kind: "delete", j, req: this.c.request(k, deleteCmd("default", k), `client ${this.id}: delete ${keyOf(this.id, j)}`) };
    }
    if (this.stopping) return undefined;
    if (this.c.random() < 0.5) {
      const j = this.acked;
      const k = Buffer.from(keyOf(this.id, j));
      return { kind: "put", j, req: this.c.request(k, putCmd("default", k, Buffer.from(valueOf(this.id, j))), `client ${this.id}: put ${keyOf(this.id, j)}`) };
    }
    return this.scanFrom(this.acked, Buffer.from(keyOf(this.id, 0)), []);
  }

  private scanFrom(upTo: number, from: Buffer, got: KvPair[]): ClientOp {
    const what = `client ${this.id}: scan [${keyOf(this.id, 0)}, ${keyOf(this.id, upTo)}) from ${JSON.stringify(from.toString())}`;
    return { kind: "scan", upTo, from, got, req: this.c.request(from, snapCmd(), what) };
  }

  private finish(op: ClientOp): void {
    const st = op.req.state;
    if (st.kind === "failed") throw new ClusterError(`${st.message}\n${this.c.describeState()}`);
    if (st.kind !== "done") throw new ClusterError(`client ${this.id}: ${op.req.what} settled in state ${st.kind}`);
    switch (op.kind) {
      case "put":
        this.acked = op.j + 1;
        this.puts++;
        return;
      case "delete":
        this.deleteNext = op.j + 1;
        return;
      case "scan": {
        const end = Buffer.from(keyOf(this.id, op.upTo));
        const region = snapRegion(st);
        try {
          op.got.push(...scanSnapshotInRegion(st.snapshot, region, "default", op.from, end));
        } finally {
          st.snapshot?.release();
        }
        if (!this.split && (region.startKey.length > 0 || region.endKey.length > 0)) {
          throw new ClusterError(`client ${this.id}: region ${region.id} does not cover the whole key space, but GenericTest without split never asks for a split`);
        }
        const next = nextScanKey(region, end);
        if (next) {
          // The rest of the range is in later regions: continue at this one's end key.
          this.op = this.scanFrom(op.upTo, next, op.got);
          return;
        }
        this.scans++;
        mustHoldClientKeys(this.id, op.upTo, op.got, `client ${this.id}: scan at tick ${this.c.ticks}`);
        return;
      }
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Delete every acknowledged key, one at a time. */
  startDeleting(): void {
    this.deleteNext = 0;
  }

  get deleted(): boolean {
    return this.isIdle() && this.deleteNext !== undefined && this.deleteNext >= this.acked;
  }

  resetAfterDelete(): void {
    this.acked = 0;
    this.deleteNext = undefined;
    this.stopping = false;
  }
}

/** Exactly keys 0..upTo-1 of client `cli`, each once, in order, with its value. */
export function mustHoldClientKeys(cli: number, upTo: number, got: readonly KvPair[], where: string): void {
  const want = Array.from({ length: upTo }, (_, j) => `${keyOf(cli, j)}=${valueOf(cli, j)}`);
  const have = got.map((p) => `${p.key.toString()}=${p.value.toString()}`);
  if (want.length === have.length && want.every((w, i) => w === have[i])) return;
  let i = 0;
  while (i < want.length && i < have.length && want[i] === have[i]) i++;
  throw new LinearizabilityViolation(
    `${where}: expected the ${upTo} acknowledged puts of client ${cli} exactly once and in order, got ${have.length} pairs; first difference at #${i}: expected ${want[i] ?? "(end)"}, got ${have[i] ?? "(end)"}`,
  );
}

/** The network chaos of TinyKV's `networkchaos`, re-drawn every election timeout + 0..2 ticks. */
class Chaos implements Actor {
  private nextAt: number;
  active = true;

  constructor(
    private readonly c: Cluster,
    private readonly p: GenericParams,
    private readonly electionTicks: number,
  ) {
    this.nextAt = c.ticks + 3;
  }

  act(): boolean {
    if (!this.active || this.c.ticks < this.nextAt) return false;
    if (this.p.partitions) {
      const a: number[] = [];
      const b: number[] = [];
      for (const id of this.c.storeIds) (this.c.random() < 0.5 ? a : b).push(id);
      this.c.clearFilters();
      this.c.addFilter(partition(a, b));
    }
    if (this.p.unreliable) this.c.addFilter(dropPercent(10, this.c.random));
    this.nextAt = this.c.ticks + this.electionTicks + Math.floor(this.c.random() * 3);
    return false;
  }
}

/** Voters the conf changer keeps at least (TinyKV removes down to one; two keeps quorum loss interesting). */
const MIN_VOTERS = 2;
/** Ticks an operator may take before the conf changer moves on (a partition can stall it). */
const CONF_CHANGE_BUDGET = 100;

/** TinyKV's confchanger: random adds and removes of peers of a random region, one at a time, via operators. */
class ConfChanger implements Actor {
  active = true;
  done = 0;
  abandoned = 0;
  private nextAt: number;
  private waiting: { regionId: number; peerId: bigint; storeId: bigint; add: boolean; until: number } | undefined;

  constructor(private readonly c: Cluster) {
    this.nextAt = c.ticks + 1;
  }

  act(): boolean {
    if (!this.active) return false;
    const c = this.c;
    if (this.waiting) {
      const w = this.waiting;
      const region = c.scheduler.region(w.regionId);
      const present = region?.peers.some((p) => p.id === w.peerId && p.storeId === w.storeId) === true;
      // A region missing from the scheduler's view (its range re-reported by a split piece first) shows nothing yet.
      if (region && present === w.add) {
        this.done++;
      } else if (c.ticks < w.until) {
        return false;
      } else {
        this.abandoned++;
        c.scheduler.cancelOperator(w.regionId);
        c.note(`confchanger: gave up on ${w.add ? "adding" : "removing"} peer ${w.peerId} on store ${w.storeId} (region ${w.regionId})`);
      }
      this.waiting = undefined;
      this.nextAt = c.ticks + Math.floor(c.random() * 3);
      return false;
    }
    if (c.ticks < this.nextAt) return false;
    // TinyKV's getRandomRegion: any region with a reported leader. No draw while there is one
    // candidate, so runs without split replay as before.
    const candidates = c.scheduler.regionIds().filter((id) => c.scheduler.leader(id) !== undefined);
    if (candidates.length === 0) return false;
    const regionId = candidates.length === 1 ? candidates[0]! : candidates[Math.floor(c.random() * candidates.length)]!;
    const region = c.scheduler.region(regionId)!;
    const storeId = c.storeIds[Math.floor(c.random() * c.storeIds.length)]!;
    const existing = region.peers.find((p) => Number(p.storeId) === storeId);
    if (existing && region.peers.length > MIN_VOTERS) {
      this.waiting = { regionId, peerId: existing.id, storeId: existing.storeId, add: false, until: c.ticks + CONF_CHANGE_BUDGET };
      c.note(`confchanger: remove peer ${existing.id} on store ${storeId} from region ${regionId}`);
      c.scheduler.addOperator(regionId, { kind: "removePeer", peer: existing });
    } else if (!existing) {
      const peer = c.allocPeer(storeId);
      this.waiting = { regionId, peerId: peer.id, storeId: peer.storeId, add: true, until: c.ticks + CONF_CHANGE_BUDGET };
      c.note(`confchanger: add peer ${peer.id} on store ${storeId} to region ${regionId}`);
      c.scheduler.addOperator(regionId, { kind: "addPeer", peer });
    } else {
      this.nextAt = c.ticks + Math.floor(c.random() * 3);
    }
    return false;
  }

  stop(): void {
    this.active = false;
    if (this.waiting) this.c.scheduler.cancelOperator(this.waiting.regionId);
    this.waiting = undefined;
  }
}

/**
 * Every running store outside the region (as its leader sees it) eventually holds no peer of it
 * and none of its data: removed peers destroy themselves and their data is deleted.
 */
export async function mustHaveNoStrayPeers(c: Cluster, regionId: number): Promise<void> {
  const stray = (): string | undefined => {
    const lead = c.currentLeader(regionId);
    if (!lead) return "no leader";
    const region = c.runningStore(Number(lead.storeId))!.peers.get(regionId)!.region;
    for (const id of c.storeIds) {
      if (!c.runningStore(id) || region.peers.some((p) => Number(p.storeId) === id)) continue;
      if (c.runningStore(id)!.peers.has(regionId)) return `store ${id} still has a peer of region ${regionId}, which no longer includes it`;
      const left = c.withEngine(id, (e) => e.scan("default", region.startKey, region.endKey, { limit: 1 }));
      if (left.length > 0) return `store ${id} still holds data of region ${regionId} (e.g. ${left[0]!.key.toString()}) after its peer was removed`;
    }
    return undefined;
  };
  let why: string | undefined;
  await c.drive([], () => (why = stray()) === undefined, 150, `waiting for removed peers of region ${regionId} to go`).catch((e: unknown) => {
    throw new ClusterError(`${why ?? ""}: ${e instanceof Error ? e.message : String(e)}`);
  });
}

/**
 * Run GenericTest on a fresh 5-store cluster. Throws (ClusterError, LinearizabilityViolation) on
 * any violated check; the caller adds the replay command.
 */
export async function genericTest(p: GenericParams, o: GenericOptions): Promise<GenericReport> {
  const clientTicks = o.clientTicks ?? 60;
  const iterations = o.iterations ?? 3;
  const config = { ...(p.maxraftlog > 0 ? { raftLogGcCountLimit: p.maxraftlog } : {}), ...(p.split ? SPLIT_CONFIG : {}) };
  const c = Cluster.start({ seed: o.seed, stores: 5, config, ...(o.trace ? { trace: o.trace } : {}) });
  const electionTicks = c.config.raftElectionTimeoutTicks!;
  const report: GenericReport = { puts: 0, scans: 0, ticks: 0, elections: 0, snapshotsSent: 0, messages: 0, dropped: 0, confChanges: 0, confChangesAbandoned: 0, regions: 0, splitChecked: false };
  try {
    // TinyKV waits two election timeouts for a first leader.
    await c.tick(2 * electionTicks);
    const clients = Array.from({ length: p.nclients }, (_, i) => new Client(c, i, p.split === true));
    let splitChecked = false;
    for (let it = 0; it < iterations; it++) {
      c.note(`---- iteration ${it}: ${p.nclients} client(s) for ${clientTicks} ticks`);
      const chaos = new Chaos(c, p, electionTicks);
      const actors: Actor[] = [...clients];
      if (p.unreliable || p.partitions) actors.push(chaos);
      const confChanger = new ConfChanger(c);
      if (p.confchange) actors.push(confChanger);
      await c.runFor(clientTicks, actors);

      // Stop the clients, the conf changer and the chaos; heal; let the clients finish their last request.
      confChanger.stop();
      report.confChanges += confChanger.done;
      report.confChangesAbandoned += confChanger.abandoned;
      chaos.active = false;
      for (const cl of clients) cl.stopping = true;
      if (p.unreliable || p.partitions) {
        c.clearFilters();
        await c.runFor(electionTicks, clients);
      }
      await c.drive(clients, () => clients.every((cl) => cl.isIdle()), 400, "waiting for the clients to finish their last request");

      if (p.crash) {
        c.note("crash: stopping every store");
        c.stopAll();
        await c.tick(electionTicks);
        c.startAll();
      }

      // End check: each client's keys exactly once and in order (a fresh linearizable scan).
      for (const cl of clients) {
        const got = await c.scan(keyOf(cl.id, 0), keyOf(cl.id, cl.acked));
        mustHoldClientKeys(cl.id, cl.acked, got, `iteration ${it} end check`);
      }
      if (p.split) {
        // Before the deletes: while the data is there a split that is due can still happen.
        const bytes = clients.reduce((n, cl) => n + ackedBytes(cl.id, cl.acked), 0);
        if (bytes > SPLIT_CONFIG.regionMaxSize) await mustHaveSplit(c, `iteration ${it} (${bytes} bytes acknowledged)`);
        else c.note(`iteration ${it}: only ${bytes} bytes acknowledged, not past RegionMaxSize; no split required yet`);
        splitChecked ||= bytes > SPLIT_CONFIG.regionMaxSize;
        await mustCoverKeySpace(c, `iteration ${it}`);
      }
      else if (c.scheduler.regionIds().length !== 1) throw new ClusterError(`iteration ${it}: regions ${c.scheduler.regionIds().join(", ")} exist, but GenericTest without split never asks for a split`);
      for (const regionId of c.scheduler.regionIds()) {
        await c.mustReplicasConverge(regionId);
        if (p.confchange) await mustHaveNoStrayPeers(c, regionId);
      }
      for (const cl of clients) {
        report.puts += cl.puts;
        report.scans += cl.scans;
        cl.puts = 0;
        cl.scans = 0;
        cl.startDeleting();
      }
      await c.drive(clients, () => clients.every((cl) => cl.deleted), 600, "deleting every client's keys");
      for (const cl of clients) cl.resetAfterDelete();

      if (p.maxraftlog > 0) {
        await c.tick(10);
        mustHaveTruncatedLogs(c, p.maxraftlog, `iteration ${it}`);
      }
    }
    report.regions = c.scheduler.regionIds().length;
    report.splitChecked = splitChecked;
    report.ticks = c.ticks;
    report.messages = c.network.stats.sent;
    report.dropped = c.network.stats.dropped;
    report.snapshotsSent = c.network.stats.snapshotsDelivered + c.network.stats.snapshotsFailed;
    return report;
  } catch (e) {
    if (e instanceof Error && !e.message.includes("\nseed ")) e.message += `\n${c.describeState()}`;
    throw e;
  } finally {
    c.close();
  }
}

/**
 * The scheduler's regions tile ["", "") once every split piece has reported (leaders heartbeat
 * every 2 ticks): a range left uncovered means a region that never elected a leader or never
 * reported, e.g. a split piece whose peers were not created.
 */
export async function mustCoverKeySpace(c: Cluster, where: string): Promise<void> {
  let gap: string | undefined;
  await c.drive([], () => (gap = c.scheduler.describeCoverageGap()) === undefined, 150, `${where}: waiting for the scheduler's regions to cover the key space`).catch((e: unknown) => {
    throw new ClusterError(`${where}: ${gap ?? ""}: ${e instanceof Error ? e.message : String(e)}`);
  });
}

/** Bytes (key + value) of client `cli`'s first `n` puts. */
function ackedBytes(cli: number, n: number): number {
  let bytes = 0;
  for (let j = 0; j < n; j++) bytes += Buffer.byteLength(keyOf(cli, j)) + Buffer.byteLength(valueOf(cli, j));
  return bytes;
}

/** Ticks a due split may take to show: a few split-check intervals, a restart's election included. */
const SPLIT_DUE_TICKS = 50;

/**
 * TinyKV's split end check: the region holding "" has a non-empty end key. Asked only once more
 * than RegionMaxSize bytes are stored (TinyKV's 5 s of clients always write that much; here a seed
 * whose partitions leave no quorum for most of an iteration may not), and given SPLIT_DUE_TICKS.
 */
export async function mustHaveSplit(c: Cluster, where: string): Promise<void> {
  const split = () => (c.regionByKey(Buffer.alloc(0))?.endKey.length ?? 0) > 0;
  await c.drive([], split, SPLIT_DUE_TICKS, "waiting for the first region to split").catch(() => {});
  const first = await c.regionOf("");
  if (first.endKey.length === 0) {
    throw new ClusterError(
      `${where}: region ${first.id} still covers the whole key space (regions: ${c.scheduler.regionIds().join(", ")}) ${SPLIT_DUE_TICKS} ticks after the clients stopped; nothing split at RegionMaxSize ${SPLIT_CONFIG.regionMaxSize}`,
    );
  }
}

/** On every store holding the region: applied − truncated ≤ 2 × limit (TinyKV's log GC check). */
export function mustHaveTruncatedLogs(c: Cluster, limit: number, where: string): void {
  for (const regionId of c.scheduler.regionIds()) {
    for (const storeId of c.storeIds) {
      const as = c.applyState(storeId, regionId);
      if (!as) continue;
      const applied = Number(as.appliedIndex);
      const truncated = Number(as.truncatedState?.index ?? 0n);
      if (applied - truncated > 2 * limit) {
        throw new ClusterError(
          `${where}: store ${storeId} region ${regionId}: applied ${applied} − truncated ${truncated} = ${applied - truncated} > 2 × raftLogGcCountLimit (${2 * limit}): the raft log is not being compacted`,
        );
      }
    }
  }
}
