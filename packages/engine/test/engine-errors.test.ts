/**
 * Opening and reading a data directory that is not in a usable state: held by this or another
 * process, missing or damaged files, a schema from another version, undecodable state rows.
 * Every failure is an EngineError with a stable code whose message names the directory or file.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { raft_serverpb } from "@regionkv/proto";
import { DB_FILE, Engine, MARKER_FILE, SCHEMA_VERSION, WriteBatch } from "../src/index.js";
import { HAS_PROC_FD, b, killIfRunning, mustThrowEngineError, openFdCount, spawnFixture, tempDir } from "./helpers.js";

/** Generous bounds for a child process to start under tsx and answer. */
const CHILD_TIMEOUT_MS = 15_000;

/** A dir holding an initialized, closed store with default/"k" = "v". */
function initializedDir(t: { after(fn: () => void): void }): { dir: string; file: string } {
  const dir = tempDir(t);
  const e = Engine.open(dir);
  e.write(new WriteBatch().put("default", b("k"), b("v")));
  e.close();
  return { dir, file: path.join(dir, DB_FILE) };
}

/** Bytes that are not a valid protobuf message (field 1 with the undefined wire type 7). */
const GARBAGE_STATE = Buffer.from([0x0f, 0xde, 0xad]);

describe("directory lock", () => {
  test("a second Engine.open of a dir this process holds fails with Locked naming the dir, and the first engine keeps working", (t) => {
    const dir = tempDir(t);
    const first = Engine.open(dir);
    t.after(() => first.close());
    const err = mustThrowEngineError(() => Engine.open(dir), "Locked");
    assert.ok(err.message.includes(dir), err.message);
    first.write(new WriteBatch().put("default", b("a"), b("1")));
    assert.deepEqual(first.get("default", b("a")), b("1"));
  });

  test("once the holder closes, the dir opens again in the same process", (t) => {
    const dir = tempDir(t);
    const first = Engine.open(dir);
    mustThrowEngineError(() => Engine.open(dir), "Locked");
    first.close();
    const second = Engine.open(dir);
    t.after(() => second.close());
    assert.equal(second.isClosed, false);
  });

  test("another process cannot open a dir this process holds: it fails with Locked naming the dir", async (t) => {
    const dir = tempDir(t);
    const holder = Engine.open(dir);
    t.after(() => holder.close());
    const child = spawnFixture("lock-child.ts", ["try-open", dir]);
    t.after(() => killIfRunning(child));
    const line = await child.waitForLine((l) => l.startsWith("{"), CHILD_TIMEOUT_MS);
    const res = JSON.parse(line) as { ok: boolean; code?: string; message?: string };
    assert.equal(res.ok, false, `the child opened a locked dir: ${line}`);
    assert.equal(res.code, "Locked", line);
    assert.ok(res.message?.includes(dir), line);
    assert.ok(res.message?.includes(String(process.pid)), `the message should name the holder's pid ${process.pid}: ${line}`);
    const exit = await child.exited(CHILD_TIMEOUT_MS);
    assert.equal(exit.code, 0, child.stderr());
  });

  test("a dir whose holder was killed with SIGKILL opens fine afterwards (no stale lock) and keeps the holder's synced write", async (t) => {
    const dir = tempDir(t);
    const child = spawnFixture("lock-child.ts", ["hold", dir]);
    t.after(() => killIfRunning(child));
    const ready = await child.waitForLine((l) => l.startsWith("ready "), CHILD_TIMEOUT_MS);
    const childPid = ready.slice("ready ".length);

    const err = mustThrowEngineError(() => Engine.open(dir), "Locked");
    assert.ok(err.message.includes(dir), err.message);
    assert.ok(err.message.includes(childPid), `the message should name the holder's pid ${childPid}: ${err.message}`);

    child.child.kill("SIGKILL");
    const exit = await child.exited(CHILD_TIMEOUT_MS);
    assert.equal(exit.signal, "SIGKILL");

    const e = Engine.open(dir);
    t.after(() => e.close());
    assert.deepEqual(e.get("default", b("held-by-child")), b("yes"));
  });
});

describe("missing and damaged files", () => {
  test("a missing database file in an initialized dir fails with Missing naming the file, and no empty database is created in its place", (t) => {
    const { dir, file } = initializedDir(t);
    const aside = path.join(dir, "moved-away.db");
    fs.renameSync(file, aside);
    const err = mustThrowEngineError(() => Engine.open(dir), "Missing");
    assert.ok(err.message.includes(file), err.message);
    assert.equal(fs.existsSync(file), false, "open must not create a fresh database over lost data");
    // The failed open released the lock: with the file restored the store opens with its data.
    fs.renameSync(aside, file);
    const e = Engine.open(dir);
    t.after(() => e.close());
    assert.deepEqual(e.get("default", b("k")), b("v"));
  });

  test("create:false on a dir that does not exist fails with Missing naming the dir and creates nothing", (t) => {
    const parent = tempDir(t);
    const dir = path.join(parent, "no-such-store");
    const err = mustThrowEngineError(() => Engine.open(dir, { create: false }), "Missing");
    assert.ok(err.message.includes(dir), err.message);
    assert.equal(fs.existsSync(dir), false);
  });

  test("create:false on an empty dir fails with Missing naming the file and leaves the dir uninitialized", (t) => {
    const dir = tempDir(t);
    const err = mustThrowEngineError(() => Engine.open(dir, { create: false }), "Missing");
    assert.ok(err.message.includes(path.join(dir, DB_FILE)), err.message);
    // The dir was never a store: the message must not claim data was lost from an initialized one.
    assert.ok(!err.message.includes("was initialized"), err.message);
    assert.equal(fs.existsSync(path.join(dir, DB_FILE)), false);
    assert.equal(fs.existsSync(path.join(dir, MARKER_FILE)), false);
  });

  test("create:false on an initialized dir opens it", (t) => {
    const { dir } = initializedDir(t);
    const e = Engine.open(dir, { create: false });
    t.after(() => e.close());
    assert.deepEqual(e.get("default", b("k")), b("v"));
  });

  test("a database file full of garbage fails with Corrupt naming the file", (t) => {
    const { dir, file } = initializedDir(t);
    fs.writeFileSync(file, Buffer.alloc(8192, "this is not an sqlite database "));
    const err = mustThrowEngineError(() => Engine.open(dir), "Corrupt");
    assert.ok(err.message.includes(file), err.message);
  });

  test("a garbage file also fails with Corrupt under verify:true, while a healthy store passes verify", (t) => {
    const { dir, file } = initializedDir(t);
    const e = Engine.open(dir, { verify: true });
    assert.deepEqual(e.get("default", b("k")), b("v"));
    e.close();
    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
    mustThrowEngineError(() => Engine.open(dir, { verify: true }), "Corrupt");
  });

  test("a schema version other than this build's fails with SchemaMismatch naming the file and both versions", (t) => {
    const { dir, file } = initializedDir(t);
    const other = String(SCHEMA_VERSION + 1);
    const raw = new Database(file);
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(Buffer.from(other));
    raw.close();
    const err = mustThrowEngineError(() => Engine.open(dir), "SchemaMismatch");
    assert.ok(err.message.includes(file), err.message);
    assert.ok(err.message.includes(other), err.message);
    assert.ok(err.message.includes(String(SCHEMA_VERSION)), err.message);
  });

  test("failed opens (schema mismatch, corrupt file) release the lock and leave no database file open", { skip: !HAS_PROC_FD && "needs /proc/self/fd" }, (t) => {
    const { dir, file } = initializedDir(t);
    const raw = new Database(file);
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(Buffer.from("999"));
    raw.close();
    const before = openFdCount()!;
    mustThrowEngineError(() => Engine.open(dir), "SchemaMismatch");
    assert.equal(openFdCount(), before, "a failed open leaked file descriptors (an unclosed connection)");

    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
    mustThrowEngineError(() => Engine.open(dir), "Corrupt");
    assert.equal(openFdCount(), before, "a failed open leaked file descriptors (an unclosed connection)");

    // The lock was released each time: with a good file back the dir opens in this process.
    fs.rmSync(file);
    for (const f of [`${file}-wal`, `${file}-shm`, path.join(dir, MARKER_FILE)]) fs.rmSync(f, { force: true });
    const e = Engine.open(dir);
    e.close();
  });
});

describe("undecodable state rows", () => {
  test("an undecodable apply, raft or region state read through the engine fails with BadData naming the file and the region", (t) => {
    const dir = tempDir(t);
    const e = Engine.open(dir);
    t.after(() => e.close());
    e.write(new WriteBatch().setApplyState(7, raft_serverpb.RaftApplyState.fromPartial({ appliedIndex: 5n })));
    const batch = new WriteBatch();
    batch.ops.push({ kind: "setApplyState", regionId: 8, state: GARBAGE_STATE });
    batch.ops.push({ kind: "setRaftState", regionId: 8, state: GARBAGE_STATE });
    batch.ops.push({ kind: "setRegionState", regionId: 8, state: GARBAGE_STATE });
    e.write(batch);
    for (const read of [() => e.getApplyState(8), () => e.getRaftState(8), () => e.getRegionState(8), () => e.allRegionStates()]) {
      const err = mustThrowEngineError(read, "BadData");
      assert.ok(err.message.includes(e.file), err.message);
      assert.ok(err.message.includes("region 8"), err.message);
    }
    // A good row next to a bad one still reads.
    assert.equal(e.getApplyState(7)?.appliedIndex, 5n);
  });

  test("an undecodable state row written behind the engine's back is BadData after reopen", (t) => {
    const { dir, file } = initializedDir(t);
    const raw = new Database(file);
    raw.prepare("INSERT INTO region_state (region_id, state) VALUES (?, ?)").run(3, Buffer.from([0x0a, 0x10, 0x01]));
    raw.close();
    const e = Engine.open(dir);
    t.after(() => e.close());
    const err = mustThrowEngineError(() => e.allRegionStates(), "BadData");
    assert.ok(err.message.includes(file), err.message);
  });

  test("an undecodable apply or region state read through a snapshot fails with BadData naming the file", (t) => {
    const dir = tempDir(t);
    const e = Engine.open(dir);
    t.after(() => e.close());
    const batch = new WriteBatch();
    batch.ops.push({ kind: "setApplyState", regionId: 8, state: GARBAGE_STATE });
    batch.ops.push({ kind: "setRegionState", regionId: 8, state: GARBAGE_STATE });
    e.write(batch);
    const snap = e.snapshot();
    t.after(() => snap.release());
    for (const read of [() => snap.applyState(8), () => snap.regionState(8)]) {
      const err = mustThrowEngineError(read, "BadData");
      assert.ok(err.message.includes(e.file), err.message);
    }
  });
});
