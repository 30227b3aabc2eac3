import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration, parseKvOptions } from "../../tools/bench/kv-options.js";

describe("kv bench options", () => {
  it("defaults: both targets, put and get, 1/16/64/256, 10 s (3 s quick), 100k keys, 256 B", () => {
    const o = parseKvOptions([], false);
    assert.deepEqual(o.targets, ["regionkv", "etcd"]);
    assert.deepEqual(o.ops, ["put", "get"]);
    assert.deepEqual(o.concurrency, [1, 16, 64, 256]);
    assert.equal(o.durationSec, 10);
    assert.equal(o.warmupSec, 1);
    assert.equal(o.keys, 100_000);
    assert.equal(o.valueSize, 256);
    assert.equal(o.scheduler, undefined);
    assert.equal(o.etcdBin, "etcd");
    const q = parseKvOptions([], true);
    assert.equal(q.durationSec, 3);
    assert.ok(Math.abs(q.warmupSec - 0.3) < 1e-9);
  });

  it("both flag forms, lists de-duplicated in order", () => {
    const o = parseKvOptions(["--targets", "etcd", "--ops=get,put,get", "--concurrency", "64,1,64", "--duration=2500ms", "--keys", "1000", "--value-size=16", "--seed", "9", "--scheduler", "127.0.0.1:2379"], true);
    assert.deepEqual(o.targets, ["etcd"]);
    assert.deepEqual(o.ops, ["get", "put"]);
    assert.deepEqual(o.concurrency, [64, 1]);
    assert.equal(o.durationSec, 2.5);
    assert.equal(o.keys, 1000);
    assert.equal(o.valueSize, 16);
    assert.equal(o.seed, 9);
    assert.equal(o.scheduler, "127.0.0.1:2379");
  });

  it("durations: seconds, s and ms suffixes; warm-up may be 0", () => {
    assert.equal(parseDuration("--duration", "10"), 10);
    assert.equal(parseDuration("--duration", "1.5s"), 1.5);
    assert.equal(parseDuration("--duration", "250ms"), 0.25);
    assert.equal(parseKvOptions(["--warmup", "0"], false).warmupSec, 0);
    assert.throws(() => parseDuration("--duration", "0"), /at least 100 ms/);
    assert.throws(() => parseDuration("--duration", "5m"), /expected a duration/);
  });

  it("rejects unknown flags, values and malformed input", () => {
    assert.throws(() => parseKvOptions(["--bogus", "1"], false), /unknown flag --bogus/);
    assert.throws(() => parseKvOptions(["--targets", "redis"], false), /unknown value 'redis'/);
    assert.throws(() => parseKvOptions(["--ops", "scan"], false), /unknown value 'scan'/);
    assert.throws(() => parseKvOptions(["--concurrency", "0"], false), /out of range/);
    assert.throws(() => parseKvOptions(["--concurrency", "1,x"], false), /positive whole number/);
    assert.throws(() => parseKvOptions(["--keys"], false), /needs a value/);
    assert.throws(() => parseKvOptions(["--keys", "--quick"], false), /needs a value/);
    assert.throws(() => parseKvOptions(["--keys", "1", "--keys", "2"], false), /given twice/);
    assert.throws(() => parseKvOptions(["--scheduler", "localhost"], false), /HOST:PORT/);
    assert.throws(() => parseKvOptions(["stray"], false), /unexpected argument/);
  });
});
