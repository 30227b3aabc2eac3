/**
 * BatchCommandsStream over a fake call and a fake channel (no gRPC): what goes out in which
 * message, how answers find their requests, and what each request's outcome is when the stream
 * breaks, the store answers UNIMPLEMENTED, the caller gives up, or the channel leaves READY.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { connectivityState, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { regionkvpb } from "@regionkv/proto";
import { BatchCommandsStream, MAX_BATCH_REQUESTS, type BatchCommand, type BatchOutcome, type WatchableChannel } from "../src/batch-commands-stream.js";
import { silentLogger } from "../src/logger.js";

/** One turn of the event loop (the stream flushes on the next one). */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A BatchCommands call: records writes; the test answers, fails or ends it. */
class FakeCall extends EventEmitter {
  readonly written: regionkvpb.BatchCommandsRequest[] = [];
  /** What write() returns (false: the stream takes no more until 'drain'). */
  accepting = true;
  ended = false;
  cancelled = false;

  write(m: regionkvpb.BatchCommandsRequest): boolean {
    this.written.push(m);
    return this.accepting;
  }

  end(): void {
    this.ended = true;
  }

  cancel(): void {
    this.cancelled = true;
  }

  /** Every id written so far. */
  ids(): bigint[] {
    return this.written.flatMap((m) => m.requestIds);
  }

  answer(ids: bigint[], value = "ok"): void {
    this.emit("data", {
      requestIds: ids,
      responses: ids.map(() => ({ status: undefined, cmd: { $case: "rawGet", value: { regionError: undefined, error: "", value: Buffer.from(value), notFound: false } } })),
    } satisfies regionkvpb.BatchCommandsResponse);
  }

  fail(code: GrpcStatus, details: string): void {
    const err: ServiceError = Object.assign(new Error(details), { code, details, metadata: new Metadata() });
    this.emit("error", err);
  }
}

class FakeChannel implements WatchableChannel {
  state = connectivityState.READY;
  private watchers: Array<{ from: connectivityState; cb: () => void }> = [];

  getConnectivityState(): connectivityState {
    return this.state;
  }

  watchConnectivityState(from: connectivityState, _deadline: Date | number, cb: () => void): void {
    if (this.state === connectivityState.SHUTDOWN) throw new Error("Channel has been shut down");
    this.watchers.push({ from, cb });
  }

  set(state: connectivityState): void {
    this.state = state;
    const ws = this.watchers.filter((w) => w.from !== state);
    this.watchers = this.watchers.filter((w) => w.from === state);
    for (const w of ws) w.cb();
  }
}

interface Harness {
  stream: BatchCommandsStream;
  calls: FakeCall[];
  channel: FakeChannel;
  /** The most recently opened call. */
  call(): FakeCall;
}

function harness(): Harness {
  const calls: FakeCall[] = [];
  const channel = new FakeChannel();
  const stream = new BatchCommandsStream({
    address: "127.0.0.1:1",
    open: () => {
      const c = new FakeCall();
      calls.push(c);
      return c as unknown as ReturnType<regionkvpb.KvClient["batchCommands"]>;
    },
    channel,
    logger: silentLogger,
    backoff: { baseMs: 40, capMs: 40 },
    random: () => 0.5,
  });
  return { stream, calls, channel, call: () => calls.at(-1)! };
}

const get = (key: string): BatchCommand => ({ $case: "rawGet", value: { context: undefined, key: Buffer.from(key), cf: "" } });
const put = (key: string, bytes: number): BatchCommand => ({ $case: "rawPut", value: { context: undefined, key: Buffer.from(key), value: Buffer.alloc(bytes), cf: "", ttl: 0n } });

/** A send whose outcome can be checked synchronously once settled. */
function track(p: Promise<BatchOutcome>): { outcome: BatchOutcome | undefined } {
  const t: { outcome: BatchOutcome | undefined } = { outcome: undefined };
  void p.then((o) => (t.outcome = o));
  return t;
}

const never = new AbortController().signal;
const later = () => Date.now() + 5_000;

describe("BatchCommandsStream", () => {
  test("sends of one turn go out as one message, each with its own id and its remaining time; answers find their requests in any order", async () => {
    const h = harness();
    const a = h.stream.send(get("a"), Date.now() + 1_000, never);
    const b = h.stream.send(get("b"), Date.now() + 3_000, never);
    const c = h.stream.send(get("c"), later(), never);
    assert.equal(h.calls.length, 0, "nothing before the flush");
    await turn();
    assert.equal(h.calls.length, 1);
    const [m] = h.call().written;
    assert.equal(h.call().written.length, 1);
    assert.deepEqual(m!.requests.map((r) => (r.cmd as Extract<BatchCommand, { $case: "rawGet" }>).value.key.toString()), ["a", "b", "c"]);
    assert.equal(new Set(m!.requestIds).size, 3);
    assert.ok(m!.requests[0]!.timeoutMs > 900 && m!.requests[0]!.timeoutMs <= 1_000, String(m!.requests[0]!.timeoutMs));
    assert.ok(m!.requests[1]!.timeoutMs > 2_900 && m!.requests[1]!.timeoutMs <= 3_000);
    const [ia, ib, ic] = m!.requestIds;
    h.call().answer([ic!, ia!], "first");
    h.call().answer([999n], "unknown id: ignored");
    h.call().answer([ib!], "second");
    for (const [p, want] of [
      [a, "first"],
      [b, "second"],
      [c, "first"],
    ] as const) {
      const o = await p;
      assert.equal(o.kind, "response");
      assert.equal(o.kind === "response" && o.response.cmd?.$case === "rawGet" ? o.response.cmd.value.value.toString() : "", want);
    }
    // The stream stays open for later requests.
    const d = h.stream.send(get("d"), later(), never);
    await turn();
    assert.equal(h.calls.length, 1);
    h.call().answer([h.call().written[1]!.requestIds[0]!]);
    assert.equal((await d).kind, "response");
  });

  test("a message holds at most MAX_BATCH_REQUESTS requests and about 4 MiB; a larger request goes alone", async () => {
    const h = harness();
    for (let i = 0; i < MAX_BATCH_REQUESTS + 10; i++) void h.stream.send(get(`k${i}`), later(), never);
    await turn();
    assert.deepEqual(h.call().written.map((m) => m.requests.length), [MAX_BATCH_REQUESTS, 10]);
    for (let i = 0; i < 3; i++) void h.stream.send(put(`big${i}`, 1.5 * 1024 * 1024), later(), never);
    void h.stream.send(put("huge", 5 * 1024 * 1024), later(), never);
    void h.stream.send(get("small"), later(), never);
    await turn();
    assert.deepEqual(h.call().written.slice(2).map((m) => m.requests.length), [2, 1, 1, 1]);
  });

  test("the caller giving up: a queued request is never written (unsent); a written one is settled as sent and its late answer ignored", async () => {
    const h = harness();
    const queued = new AbortController();
    const q = h.stream.send(get("q"), later(), queued.signal);
    queued.abort();
    assert.deepEqual(await q, { kind: "aborted", sent: false });
    const sent = new AbortController();
    const s = h.stream.send(get("s"), later(), sent.signal);
    await turn();
    assert.deepEqual(h.call().written.map((m) => m.requests.length), [1], "only the second was written");
    sent.abort();
    assert.deepEqual(await s, { kind: "aborted", sent: true });
    h.call().answer(h.call().ids()); // too late: nothing happens
    assert.deepEqual(await h.stream.send(get("x"), later(), AbortSignal.abort()), { kind: "aborted", sent: false });
  });

  test("backpressure: while the stream takes no more writes requests wait unsent, then go out together on 'drain'", async () => {
    const h = harness();
    void h.stream.send(get("a"), later(), never);
    await turn();
    h.call().accepting = false;
    void h.stream.send(get("b"), later(), never);
    await turn();
    assert.equal(h.call().written.length, 2, "the write that filled the buffer");
    void h.stream.send(get("c"), later(), never);
    void h.stream.send(get("d"), later(), never);
    await turn();
    assert.equal(h.call().written.length, 2, "held back");
    h.call().accepting = true;
    h.call().emit("drain");
    assert.deepEqual(h.call().written.map((m) => m.requests.length), [1, 1, 2]);
  });

  test("the stream breaking: written requests fail as sent (with the stream's status), held ones as unsent; the next send opens a new stream", async () => {
    const h = harness();
    const a = track(h.stream.send(get("a"), later(), never));
    await turn();
    h.call().accepting = false;
    const b = track(h.stream.send(get("b"), later(), never));
    await turn();
    const c = track(h.stream.send(get("c"), later(), never));
    await turn();
    h.call().fail(GrpcStatus.UNAVAILABLE, "connection reset");
    h.call().emit("end"); // grpc-js may end it too: handled once
    await turn();
    for (const [t, sent] of [
      [a, true],
      [b, true],
      [c, false],
    ] as const) {
      assert.equal(t.outcome?.kind, "failed");
      assert.ok(t.outcome?.kind === "failed" && t.outcome.sent === sent && t.outcome.error.code === GrpcStatus.UNAVAILABLE && t.outcome.error.details === "connection reset");
    }
    const d = h.stream.send(get("d"), later(), never);
    await turn();
    assert.equal(h.calls.length, 2, "reopened at once after one failure");
    h.call().answer(h.call().ids());
    assert.equal((await d).kind, "response");
  });

  test("a stream that keeps failing without answering is reopened after a backoff; an answer resets it", async () => {
    const h = harness();
    void h.stream.send(get("a"), later(), never);
    await turn();
    h.call().fail(GrpcStatus.INTERNAL, "boom");
    void h.stream.send(get("b"), later(), never);
    await turn();
    assert.equal(h.calls.length, 2);
    const t0 = Date.now();
    h.call().fail(GrpcStatus.INTERNAL, "boom again");
    const c = h.stream.send(get("c"), later(), never);
    await turn();
    assert.equal(h.calls.length, 2, "backing off");
    while (h.calls.length < 3) await new Promise((r) => setTimeout(r, 2));
    assert.ok(Date.now() - t0 >= 25, `waited for the backoff (30 ms): ${Date.now() - t0} ms`);
    h.call().answer(h.call().ids());
    assert.equal((await c).kind, "response");
    h.call().fail(GrpcStatus.INTERNAL, "after an answer");
    void h.stream.send(get("d"), later(), never);
    await turn();
    assert.equal(h.calls.length, 4, "an answer in between: no backoff");
  });

  test("UNIMPLEMENTED: everything on the stream and everything later answers 'unimplemented' (nothing reached a handler)", async () => {
    const h = harness();
    const a = h.stream.send(get("a"), later(), never);
    await turn();
    h.call().accepting = false;
    void h.stream.send(get("b"), later(), never);
    await turn();
    const c = h.stream.send(get("c"), later(), never);
    await turn();
    h.call().fail(GrpcStatus.UNIMPLEMENTED, "The server does not implement the method /regionkvpb.Kv/BatchCommands");
    assert.deepEqual(await a, { kind: "unimplemented" });
    assert.deepEqual(await c, { kind: "unimplemented" });
    assert.equal(h.stream.isUnimplemented, true);
    assert.deepEqual(await h.stream.send(get("d"), later(), never), { kind: "unimplemented" });
    assert.equal(h.calls.length, 1);
  });

  test("the channel leaving READY (GOAWAY): the stream is half-closed but still delivers its answers; new requests go on a new stream", async () => {
    const h = harness();
    const a = h.stream.send(get("a"), later(), never);
    await turn();
    const first = h.call();
    h.channel.set(connectivityState.IDLE);
    assert.equal(first.ended, true, "half-closed");
    const b = h.stream.send(get("b"), later(), never);
    await turn();
    assert.equal(h.calls.length, 2);
    first.answer(first.ids());
    first.emit("end");
    assert.equal((await a).kind, "response");
    h.call().answer(h.call().ids());
    assert.equal((await b).kind, "response");
    // An idle stream is simply ended; the watch goes on over later changes.
    h.channel.set(connectivityState.READY);
    h.channel.set(connectivityState.CONNECTING);
    assert.equal(h.call().ended, true);
  });

  test("a half-closed stream that ends with requests unanswered fails them as sent", async () => {
    const h = harness();
    const a = h.stream.send(get("a"), later(), never);
    await turn();
    h.channel.set(connectivityState.IDLE);
    h.calls[0]!.emit("end");
    const o = await a;
    assert.ok(o.kind === "failed" && o.sent && o.error.code === GrpcStatus.UNAVAILABLE);
  });

  test("close: queued requests fail unsent, written ones sent; streams are cancelled; later sends fail unsent", async () => {
    const h = harness();
    const a = h.stream.send(get("a"), later(), never);
    await turn();
    const b = h.stream.send(get("b"), later(), never);
    h.stream.close();
    const oa = await a;
    const ob = await b;
    assert.ok(oa.kind === "failed" && oa.sent);
    assert.ok(ob.kind === "failed" && !ob.sent);
    assert.equal(h.call().cancelled, true);
    const oc = await h.stream.send(get("c"), later(), never);
    assert.ok(oc.kind === "failed" && !oc.sent);
  });
});
