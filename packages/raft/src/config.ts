import { RaftError } from "./errors.js";
import { ReadOnlyOption } from "./read-only.js";
import type { Storage } from "./storage.js";

/** Structured logging, injected; the core never writes anywhere by itself. */
export interface RaftLogger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export const silentLogger: RaftLogger = { debug() {}, info() {}, warn() {} };

export interface RaftConfig {
  /** This node's id; > 0. */
  id: number;
  /** Ticks without hearing from a leader before a follower campaigns. Randomized in [et, 2·et). */
  electionTick: number;
  /** Ticks between the leader's heartbeats. Must be < electionTick. */
  heartbeatTick: number;
  storage: Storage;
  /** The last index the state machine applied (on restart). Entries up to it are not handed out again. */
  applied?: number;
  /** Bytes of entries per append message (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Bytes of committed entries per Ready. Default 16 MiB. */
  maxCommittedSizePerReady?: number;
  /** Bytes of proposed but uncommitted payload the leader accepts before dropping proposals. Default unlimited. */
  maxUncommittedEntriesSize?: number;
  /** Append messages in flight per follower in Replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Largest single entry payload accepted by propose. Default 8 MiB. */
  maxEntryBytes?: number;
  /** The leader steps down when it has not heard from a quorum within an election timeout. Default true. */
  checkQuorum?: boolean;
  /** Run a pre-election before campaigning, so a partitioned node cannot disrupt the group. Default true. */
  preVote?: boolean;
  /** How ReadIndex is served. Default Safe. LeaseBased requires checkQuorum. */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
  /**
   * Uniform random number in [0, 1): the only source of randomness (election timeouts). Inject a
   * seeded generator for deterministic runs. Default: `seededRandom(id)`.
   */
  random?: () => number;
  logger?: RaftLogger;
}

/** A config with every default filled in. */
export type ResolvedRaftConfig = Required<Omit<RaftConfig, "applied">> & { applied: number };

export const RAFT_DEFAULTS = {
  maxSizePerMsg: 1024 * 1024,
  maxCommittedSizePerReady: 16 * 1024 * 1024,
  maxUncommittedEntriesSize: Number.POSITIVE_INFINITY,
  maxInflightMsgs: 256,
  maxEntryBytes: 8 * 1024 * 1024,
  checkQuorum: true,
  preVote: true,
  readOnlyOption: ReadOnlyOption.Safe,
  disableProposalForwarding: false,
} as const;

/**
 * Fill in defaults and check every field; throws RaftError("InvalidConfig") naming the field and
 * the rule it breaks.
 */
export function resolveConfig(c: RaftConfig): ResolvedRaftConfig {
  const bad = (msg: string): never => {
    throw new RaftError("InvalidConfig", `invalid raft config: ${msg}`);
  };
  const positiveInt = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v <= 0) bad(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt("id", c.id);
  positiveInt("heartbeatTick", c.heartbeatTick);
  positiveInt("electionTick", c.electionTick);
  if (c.electionTick <= c.heartbeatTick) {
    bad(`electionTick (${c.electionTick}) must be greater than heartbeatTick (${c.heartbeatTick}), or followers campaign between heartbeats`);
  }
  if (!c.storage) bad("storage is required");
  const r: ResolvedRaftConfig = {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied: c.applied ?? 0,
    maxSizePerMsg: c.maxSizePerMsg ?? RAFT_DEFAULTS.maxSizePerMsg,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? RAFT_DEFAULTS.maxCommittedSizePerReady,
    maxUncommittedEntriesSize: c.maxUncommittedEntriesSize ?? RAFT_DEFAULTS.maxUncommittedEntriesSize,
    maxInflightMsgs: c.maxInflightMsgs ?? RAFT_DEFAULTS.maxInflightMsgs,
    maxEntryBytes: c.maxEntryBytes ?? RAFT_DEFAULTS.maxEntryBytes,
    checkQuorum: c.checkQuorum ?? RAFT_DEFAULTS.checkQuorum,
    preVote: c.preVote ?? RAFT_DEFAULTS.preVote,
    readOnlyOption: c.readOnlyOption ?? RAFT_DEFAULTS.readOnlyOption,
    disableProposalForwarding: c.disableProposalForwarding ?? RAFT_DEFAULTS.disableProposalForwarding,
    random: c.random ?? seededRandom(c.id),
    logger: c.logger ?? silentLogger,
  };
  if (!Number.isSafeInteger(r.applied) || r.applied < 0) bad(`applied must be a non-negative integer, got ${r.applied}`);
  positiveInt("maxSizePerMsg", r.maxSizePerMsg);
  positiveInt("maxCommittedSizePerReady", r.maxCommittedSizePerReady);
  positiveInt("maxInflightMsgs", r.maxInflightMsgs);
  positiveInt("maxEntryBytes", r.maxEntryBytes);
  if (!(r.maxUncommittedEntriesSize > 0)) bad(`maxUncommittedEntriesSize must be positive, got ${r.maxUncommittedEntriesSize}`);
  if (r.readOnlyOption === ReadOnlyOption.LeaseBased && !r.checkQuorum) {
    bad("readOnlyOption LeaseBased requires checkQuorum: true (the lease is only valid while the leader checks its quorum)");
  }
  return r;
}

/**
 * A small, fast, seeded PRNG (mulberry32) returning numbers in [0, 1). Same seed, same sequence:
 * the default randomness of the core and the generator simulations use.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
