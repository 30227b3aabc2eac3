/**
 * Region range and epoch rules (tinykv.md §1.12): which epoch fields each command type checks
 * (exact equality), a missing epoch, keys in [start, end) with empty bounds meaning infinity, and
 * isEpochStale.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { raft_cmdpb, type metapb } from "@regionkv/proto";
import { encodeBytes } from "@regionkv/engine";
import { checkKeyInRegion, checkKeysInRegion, checkRegionEpoch, epochChecksOf, isEpochStale, keyInRegion, keysOf } from "../src/region-util.js";
import { b, deleteRangeReq, deleteReq, getReq, makeRegion, putReq } from "./helpers.js";

const region = makeRegion([1, 2, 3], { start: "b", end: "m", confVer: 4n, version: 7n });

function withEpoch(req: raft_cmdpb.RaftCmdRequest, epoch: metapb.RegionEpoch | undefined): raft_cmdpb.RaftCmdRequest {
  return { ...req, header: { ...req.header!, regionEpoch: epoch } };
}

function admin(cmdType: raft_cmdpb.AdminCmdType): raft_cmdpb.RaftCmdRequest {
  return { header: putReq(region, undefined, "c", "v").header, requests: [], adminRequest: { cmdType } };
}

const { AdminCmdType } = raft_cmdpb;
const current = { confVer: 4n, version: 7n };
const staleVersion = { confVer: 4n, version: 6n };
const staleConfVer = { confVer: 3n, version: 7n };
const newerVersion = { confVer: 4n, version: 8n };

/** [command, checks version, checks conf_ver] — the table of tinykv.md §1.12. */
const table: Array<[string, raft_cmdpb.RaftCmdRequest, boolean, boolean]> = [
  ["Put", putReq(region, undefined, "c", "v"), true, false],
  ["Get", getReq(region, undefined, "c"), true, false],
  ["Delete", deleteReq(region, undefined, "c"), true, false],
  ["DeleteRange", deleteRangeReq(region, undefined, "c", "d"), true, false],
  ["ChangePeer", admin(AdminCmdType.ChangePeer), false, true],
  ["Split", admin(AdminCmdType.Split), true, true],
  ["BatchSplit", admin(AdminCmdType.BatchSplit), true, true],
  ["TransferLeader", admin(AdminCmdType.TransferLeader), true, true],
  ["CompactLog", admin(AdminCmdType.CompactLog), false, false],
  ["InvalidAdmin", admin(AdminCmdType.InvalidAdmin), false, false],
];

describe("region epoch checks per command type", () => {
  for (const [name, req, version, confVer] of table) {
    test(`${name} checks ${version && confVer ? "version and conf_ver" : version ? "version only" : confVer ? "conf_ver only" : "nothing"}`, () => {
      assert.deepEqual(epochChecksOf(req), { version, confVer });
      assert.equal(checkRegionEpoch(withEpoch(req, current), region), undefined, "the current epoch passes");
      const kind = (r: ReturnType<typeof checkRegionEpoch>) => r?.kind;
      assert.equal(kind(checkRegionEpoch(withEpoch(req, staleVersion), region)), version ? "EpochNotMatch" : undefined, "a stale version");
      assert.equal(kind(checkRegionEpoch(withEpoch(req, newerVersion), region)), version ? "EpochNotMatch" : undefined, "a newer version (exact equality)");
      assert.equal(kind(checkRegionEpoch(withEpoch(req, staleConfVer), region)), confVer ? "EpochNotMatch" : undefined, "a stale conf_ver");
      assert.equal(kind(checkRegionEpoch(withEpoch(req, undefined), region)), version || confVer ? "EpochNotMatch" : undefined, "no epoch");
    });
  }

  test("EpochNotMatch carries the current region and the given siblings, and a message that says what to do", () => {
    const sibling = makeRegion([1, 2, 3], { id: 2, start: "m", end: "", version: 7n });
    const err = checkRegionEpoch(withEpoch(putReq(region, undefined, "c", "v"), staleVersion), region, [sibling]);
    assert.equal(err?.kind, "EpochNotMatch");
    if (err?.kind !== "EpochNotMatch") return;
    assert.deepEqual(err.currentRegions, [region, sibling]);
    assert.match(err.message, /version 6/);
    assert.match(err.message, /version 7/);
    assert.match(err.message, /refresh the region/);
  });

  test("a request without a header has no epoch and fails a checked command", () => {
    const req: raft_cmdpb.RaftCmdRequest = { header: undefined, requests: putReq(region, undefined, "c", "v").requests, adminRequest: undefined };
    assert.equal(checkRegionEpoch(req, region)?.kind, "EpochNotMatch");
  });
});

describe("keys in a region", () => {
  test("the start key is inside, the end key is outside", () => {
    assert.equal(keyInRegion(b("b"), region), true);
    assert.equal(keyInRegion(b("lzzz"), region), true);
    assert.equal(keyInRegion(b("m"), region), false);
    assert.equal(keyInRegion(b("a"), region), false);
    assert.equal(keyInRegion(b("azzz"), region), false);
    assert.equal(keyInRegion(b(""), region), false);
  });

  test("an empty start or end key is unbounded", () => {
    const all = makeRegion([1]);
    assert.equal(keyInRegion(b(""), all), true);
    assert.equal(keyInRegion(Buffer.from([0xff, 0xff, 0xff]), all), true);
    const right = makeRegion([1], { start: "m" });
    assert.equal(keyInRegion(Buffer.from([0xff]), right), true);
    assert.equal(keyInRegion(b("l"), right), false);
    const left = makeRegion([1], { end: "m" });
    assert.equal(keyInRegion(b(""), left), true);
    assert.equal(keyInRegion(b("m"), left), false);
  });

  test("KeyNotInRegion names the key, the region and its range", () => {
    assert.equal(checkKeyInRegion(b("c"), region), undefined);
    const err = checkKeyInRegion(b("x"), region);
    assert.deepEqual(err, { kind: "KeyNotInRegion", key: b("x"), regionId: 1n, startKey: b("b"), endKey: b("m") });
  });

  test("keysOf lists the keys of gets, puts and deletes (not range bounds)", () => {
    const req: raft_cmdpb.RaftCmdRequest = {
      header: undefined,
      requests: [...putReq(region, undefined, "p", "v").requests, ...getReq(region, undefined, "g").requests, ...deleteReq(region, undefined, "d").requests, ...deleteRangeReq(region, undefined, "a", "z").requests],
      adminRequest: undefined,
    };
    assert.deepEqual(keysOf(req).keys.map((k) => k.toString()), ["p", "g", "d"]);
  });

  test("keysOf decodes the keys of versioned column families to user keys, and names a malformed one", () => {
    const versioned = Buffer.concat([encodeBytes(b("user")), Buffer.alloc(8, 1)]);
    const req: raft_cmdpb.RaftCmdRequest = {
      header: undefined,
      requests: [
        { cmdType: raft_cmdpb.CmdType.Put, put: { cf: "write", key: versioned, value: b("w") } },
        { cmdType: raft_cmdpb.CmdType.Put, put: { cf: "txn_default", key: versioned, value: b("v") } },
        { cmdType: raft_cmdpb.CmdType.Put, put: { cf: "lock", key: b("locked"), value: b("l") } },
      ],
      adminRequest: undefined,
    };
    const out = keysOf(req);
    assert.deepEqual(out.keys.map((k) => k.toString()), ["user", "user", "locked"]);
    assert.equal(out.malformed, undefined);
    assert.equal(checkKeysInRegion(req, { ...region, startKey: b("l"), endKey: b("v") }), undefined);
    const bad = { ...req, requests: [{ cmdType: raft_cmdpb.CmdType.Put, put: { cf: "write", key: b("raw-key"), value: b("w") } }] };
    assert.match(keysOf(bad).malformed ?? "", /column family "write"/);
  });

  test("a user key that is a prefix of the region end is inside although its versioned key sorts after the end", () => {
    // enc("ab") ++ version > "ab\x00" byte-wise, but the user key "ab" < "ab\x00": decoding decides.
    const key = Buffer.concat([encodeBytes(b("ab")), Buffer.alloc(8, 0)]);
    assert.ok(Buffer.compare(key, Buffer.from("ab\0")) > 0);
    const req: raft_cmdpb.RaftCmdRequest = { header: undefined, requests: [{ cmdType: raft_cmdpb.CmdType.Delete, delete: { cf: "write", key } }], adminRequest: undefined };
    assert.equal(checkKeysInRegion(req, { ...region, startKey: b("a"), endKey: Buffer.from("ab\0") }), undefined);
    assert.equal(checkKeysInRegion(req, { ...region, startKey: Buffer.from("ab\0"), endKey: b("z") })?.kind, "KeyNotInRegion");
  });
});

describe("isEpochStale", () => {
  test("an epoch is stale when either counter is behind, and not when both are equal or ahead", () => {
    const e = (confVer: bigint, version: bigint) => ({ confVer, version });
    assert.equal(isEpochStale(e(1n, 1n), e(1n, 1n)), false);
    assert.equal(isEpochStale(e(1n, 1n), e(1n, 2n)), true);
    assert.equal(isEpochStale(e(1n, 1n), e(2n, 1n)), true);
    assert.equal(isEpochStale(e(2n, 1n), e(1n, 2n)), true, "ahead in one, behind in the other is still stale");
    assert.equal(isEpochStale(e(2n, 3n), e(1n, 2n)), false);
  });
});
