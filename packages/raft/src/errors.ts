/**
 * Errors of the raft core. Expected failures (a proposal dropped because there is no leader, a
 * storage that has compacted an index) travel as `RaftError` values with a stable `code`; a broken
 * invariant (a commit index beyond the log, a log that would rewrite committed entries) throws
 * `RaftInvariantError`, and the caller must stop the peer.
 */

export type RaftErrorCode =
  /** Storage: the requested index is at or below the last snapshot (compacted away). */
  | "Compacted"
  /** Storage: the requested index is beyond the last index. */
  | "Unavailable"
  /** Storage: the snapshot is being generated; raft retries on a later heartbeat response. */
  | "SnapshotTemporarilyUnavailable"
  /** Storage: a snapshot older than the current one was offered. */
  | "SnapOutOfDate"
  /** The proposal was not appended: no leader, leader transfer in progress, limits, pending change. */
  | "ProposalDropped"
  /** A local-only message type came in through `step` from the network. */
  | "StepLocalMessage"
  /** A response from a node that is not (or no longer) in the group. */
  | "StepPeerNotFound"
  /** A message that is malformed: bad ids, indexes or entries. */
  | "InvalidMessage"
  /** The config is not usable. */
  | "InvalidConfig"
  /** An entry larger than `maxEntryBytes`. */
  | "EntryTooLarge";

export class RaftError extends Error {
  override readonly name = "RaftError";
  constructor(
    readonly code: RaftErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A broken invariant of the raft core (corrupt log, impossible state). The peer must stop. */
export class RaftInvariantError extends Error {
  override readonly name = "RaftInvariantError";
}

export function invariant(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new RaftInvariantError(message());
}

/** Results of calls that can be refused; `OK` is shared so the success path allocates nothing. */
export type RaftResult = { ok: true } | { ok: false; error: RaftError };
export const OK: RaftResult = Object.freeze({ ok: true }) as RaftResult;
export function fail(code: RaftErrorCode, message: string): RaftResult {
  return { ok: false, error: new RaftError(code, message) };
}

export function isStorageError(e: unknown, code: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && e.code === code;
}
