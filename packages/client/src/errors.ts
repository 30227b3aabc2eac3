/**
 * The client's errors: small classes with a stable `code` to branch on, and a message that says
 * what happened and what to do. Every rejection of a `RawClient` call is a `RegionkvError`;
 * anything else reaching the caller is a bug in the client.
 *
 * | code               | class                   | retry?                                             |
 * | ------------------ | ----------------------- | -------------------------------------------------- |
 * | INVALID_ARGUMENT   | InvalidArgumentError    | no: fix the input (the message names the limit)   |
 * | DEADLINE_EXCEEDED  | DeadlineExceededError   | yes, later or with a larger `timeoutMs`           |
 * | UNAVAILABLE        | UnavailableError        | yes, once the cluster is reachable again          |
 * | SERVER_ERROR       | ServerError             | depends on the message; usually a store problem   |
 * | UNKNOWN_OUTCOME    | UnknownOutcomeError     | read the key first: the write may have been made  |
 * | ABORTED            | AbortedError            | the caller's AbortSignal fired                     |
 * | CLIENT_CLOSED      | ClientClosedError       | no: `close()` was called                           |
 * | WRITE_CONFLICT     | WriteConflictError      | yes: run the transaction again (`db.run` does)     |
 * | TXN_ABORTED        | TxnAbortedError         | no: the transaction was rolled back; start another |
 * | KEY_LOCKED         | KeyLockedError          | later: another transaction holds the key           |
 * | TXN_TIMEOUT        | TxnTimeoutError         | yes, as a new transaction; keep transactions short |
 */

export type RegionkvErrorCode =
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "UNAVAILABLE"
  | "SERVER_ERROR"
  | "UNKNOWN_OUTCOME"
  | "ABORTED"
  | "CLIENT_CLOSED"
  | "WRITE_CONFLICT"
  | "TXN_ABORTED"
  | "KEY_LOCKED"
  | "TXN_TIMEOUT";

/** Base class of every error the client rejects with. */
export class RegionkvError extends Error {
  readonly code: RegionkvErrorCode;

  constructor(code: RegionkvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The request is malformed or over a limit (key ≤ 8 KiB, value ≤ 4 MiB, scan limit 1..10,000, …),
 * found by the client before sending or reported by a store as gRPC INVALID_ARGUMENT.
 * Nothing was written.
 */
export class InvalidArgumentError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_ARGUMENT", message, options);
  }
}

/**
 * The call's deadline (`timeoutMs`) passed before it could finish, with nothing sent that may
 * have been applied (a write whose request may have reached a store rejects with
 * UnknownOutcomeError instead). Retry later or with a larger `timeoutMs`.
 */
export class DeadlineExceededError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DEADLINE_EXCEEDED", message, options);
  }
}

/**
 * The cluster could not serve the call: no store answered, no region was found for a key, or
 * the retry budget (`maxRetries`) ran out. The `cause` is the last failure seen.
 */
export class UnavailableError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("UNAVAILABLE", message, options);
  }
}

/**
 * A store reported a failure that is not about routing: the response's `error` field, or an
 * unexpected gRPC status (`grpcCode` then holds it).
 */
export class ServerError extends RegionkvError {
  readonly grpcCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; grpcCode?: number }) {
    super("SERVER_ERROR", message, options);
    this.grpcCode = options?.grpcCode;
  }
}

/**
 * A write failed after its request may have reached the region's leader: it may or may not have
 * been applied. Resending it blindly could apply it twice around another client's write (a put)
 * or report a mismatch caused by its own first attempt (a compareAndSwap). Read the key to learn
 * the outcome.
 */
export class UnknownOutcomeError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("UNKNOWN_OUTCOME", message, options);
  }
}

/** The caller's `signal` aborted the call. A write in flight may or may not have been applied. */
export class AbortedError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ABORTED", message, options);
  }
}

/** The client was closed (`close()`), before or during the call. */
export class ClientClosedError extends RegionkvError {
  constructor(message = "the RawClient is closed: create a new one with RawClient.connect()") {
    super("CLIENT_CLOSED", message);
  }
}

/**
 * Another transaction committed a write to a key of this one after this one started (first
 * committer wins). Nothing of this transaction was committed; run it again with a new start
 * timestamp (`db.run` does, up to `maxRetries`).
 */
export class WriteConflictError extends RegionkvError {
  readonly key: Buffer;
  /** Start and commit timestamps of the transaction that won. */
  readonly conflictStartTs: bigint;
  readonly conflictCommitTs: bigint;

  constructor(message: string, details: { key: Buffer; conflictStartTs: bigint; conflictCommitTs: bigint }, options?: { cause?: unknown }) {
    super("WRITE_CONFLICT", message, options);
    this.key = details.key;
    this.conflictStartTs = details.conflictStartTs;
    this.conflictCommitTs = details.conflictCommitTs;
  }
}

/** The transaction was rolled back (by this client, or by another that found its locks expired); nothing of it is visible. */
export class TxnAbortedError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TXN_ABORTED", message, options);
  }
}

/**
 * A key is locked by another transaction that is still alive, and waiting for it (resolving its
 * lock, backing off) did not free it before this call's deadline.
 */
export class KeyLockedError extends RegionkvError {
  readonly key: Buffer;
  /** Start timestamp of the transaction holding the lock. */
  readonly lockTs: bigint;

  constructor(message: string, details: { key: Buffer; lockTs: bigint }, options?: { cause?: unknown }) {
    super("KEY_LOCKED", message, options);
    this.key = details.key;
    this.lockTs = details.lockTs;
  }
}

/** The transaction ran longer than its limit (`maxTxnDurationMs`), or its locks expired before it committed. */
export class TxnTimeoutError extends RegionkvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TXN_TIMEOUT", message, options);
  }
}
