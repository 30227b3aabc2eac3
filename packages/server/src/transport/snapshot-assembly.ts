/**
 * SnapshotAssembly: the receiving end of one Snapshot stream, as a state machine without I/O.
 *
 * The stream is: one chunk carrying the RaftMessage (a MsgSnapshot whose snapshot.data was
 * emptied by the sender), then the data bytes in order. `add` checks each chunk (the message's
 * envelope is checked as soon as it arrives, so a misaddressed snapshot is refused before its
 * data is sent); `finish`, at the end of the stream, puts the data back into snapshot.data.
 * Invariant: `bytes` = total length of `parts` ≤ `maxBytes`; past it the parts are dropped and the
 * assembly stays failed.
 */
import type { raft_serverpb } from "@regionkv/proto";
import { checkRaftMessage, type Decoded, type InputProblem } from "./message-check.js";

export class SnapshotAssembly {
  private head: raft_serverpb.RaftMessage | undefined;
  private parts: Buffer[] = [];
  private bytes = 0;
  private failed: InputProblem | undefined;

  constructor(
    private readonly myStore: bigint,
    private readonly maxBytes: number,
  ) {}

  /** Region of the snapshot, once the message chunk arrived. */
  get regionId(): bigint | undefined {
    return this.head?.regionId;
  }

  get fromStore(): bigint | undefined {
    return this.head?.fromPeer?.storeId;
  }

  get receivedBytes(): number {
    return this.bytes;
  }

  /** Take one chunk; returns the problem if the stream must be failed. */
  add(chunk: raft_serverpb.SnapshotChunk): InputProblem | undefined {
    if (this.failed) return this.failed;
    const c = chunk.chunk;
    if (!c) return this.fail({ kind: "out_of_order", why: "a chunk with neither message nor data" });
    switch (c.$case) {
      case "message": {
        if (this.head) return this.fail({ kind: "out_of_order", why: "a second message chunk" });
        const problem = checkRaftMessage(c.value, this.myStore, "snapshot");
        if (problem) return this.fail(problem);
        this.head = c.value;
        // The sender empties snapshot.data; should it not, those bytes are the payload's prefix.
        const inline = c.value.message?.snapshot?.data;
        return inline && inline.length > 0 ? this.append(inline) : undefined;
      }
      case "data":
        if (!this.head) return this.fail({ kind: "out_of_order", why: "data before the message chunk" });
        return this.append(c.value);
      default: {
        const never: never = c;
        throw new Error(`unknown snapshot chunk ${JSON.stringify(never)}`);
      }
    }
  }

  /** The stream ended: the complete message, or why there is none. */
  finish(): Decoded<raft_serverpb.RaftMessage> {
    if (this.failed) return { ok: false, problem: this.failed };
    const head = this.head;
    const m = head?.message;
    if (!head || !m?.snapshot) return { ok: false, problem: this.fail({ kind: "out_of_order", why: "the stream ended before the message chunk" }) };
    const data = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    return { ok: true, value: { ...head, message: { ...m, snapshot: { ...m.snapshot, data } } } };
  }

  /** Forget the data received so far (the stream was cancelled). */
  discard(): void {
    this.parts = [];
  }

  private append(b: Buffer): InputProblem | undefined {
    this.bytes += b.length;
    if (this.bytes > this.maxBytes) {
      return this.fail({ kind: "oversize", regionId: this.head?.regionId ?? 0n, bytes: this.bytes, limit: this.maxBytes });
    }
    this.parts.push(b);
    return undefined;
  }

  private fail(p: InputProblem): InputProblem {
    this.failed = p;
    this.parts = [];
    return p;
  }
}
