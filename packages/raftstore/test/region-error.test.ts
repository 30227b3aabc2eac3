/**
 * Region errors mirror errorpb one-to-one: every kind converts to the wire error and back
 * unchanged (also through the binary encoding), and carries a message that says what happened.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { errorpb } from "@regionkv/proto";
import { describeRegionError, regionErrorFromPb, regionErrorToPb, type ProposalFailure, type RegionError } from "../src/region-error.js";
import { b, makeRegion } from "./helpers.js";

const samples: Record<RegionError["kind"], RegionError> = {
  NotLeader: { kind: "NotLeader", regionId: 3n, leader: { id: 12n, storeId: 2n, role: 0 } },
  RegionNotFound: { kind: "RegionNotFound", regionId: 4n },
  KeyNotInRegion: { kind: "KeyNotInRegion", key: b("zz"), regionId: 5n, startKey: b("a"), endKey: b("m") },
  EpochNotMatch: { kind: "EpochNotMatch", message: "epoch of region 1 does not match; refresh the region", currentRegions: [makeRegion([1, 2]), makeRegion([1, 2], { id: 2, start: "m" })] },
  ServerIsBusy: { kind: "ServerIsBusy", reason: "too many proposals", backoffMs: 50n },
  StaleCommand: { kind: "StaleCommand" },
  StoreNotMatch: { kind: "StoreNotMatch", requestStoreId: 7n, actualStoreId: 8n },
  RaftEntryTooLarge: { kind: "RaftEntryTooLarge", regionId: 9n, entrySize: 9_000_000n },
};

const expectedCase: Record<RegionError["kind"], string> = {
  NotLeader: "notLeader",
  RegionNotFound: "regionNotFound",
  KeyNotInRegion: "keyNotInRegion",
  EpochNotMatch: "epochNotMatch",
  ServerIsBusy: "serverIsBusy",
  StaleCommand: "staleCommand",
  StoreNotMatch: "storeNotMatch",
  RaftEntryTooLarge: "raftEntryTooLarge",
};

describe("region errors round trip through errorpb", () => {
  for (const [kind, err] of Object.entries(samples)) {
    test(`${kind} converts to errorpb.${expectedCase[kind as RegionError["kind"]]} and back unchanged, also through the wire encoding`, () => {
      const pb = regionErrorToPb(err);
      assert.equal(pb.kind?.$case, expectedCase[err.kind]);
      assert.equal(pb.message, describeRegionError(err));
      assert.ok(pb.message.length > 0);
      assert.deepEqual(regionErrorFromPb(pb), err);
      const wire = errorpb.Error.decode(errorpb.Error.encode(pb).finish());
      assert.deepEqual(regionErrorFromPb(wire), err);
    });
  }

  test("a NotLeader without a known leader round trips with the leader unset and says so", () => {
    const err: RegionError = { kind: "NotLeader", regionId: 1n, leader: undefined };
    const wire = errorpb.Error.decode(errorpb.Error.encode(regionErrorToPb(err)).finish());
    assert.deepEqual(regionErrorFromPb(wire), err);
    assert.match(describeRegionError(err), /leader unknown/);
  });

  test("a wire error with no kind (message only) is not a region error", () => {
    assert.equal(regionErrorFromPb({ message: "something else", kind: undefined }), undefined);
  });

  test("messages name what to act on: the leader hint, the key and range, the limit", () => {
    assert.match(describeRegionError(samples.NotLeader), /peer 12 on store 2/);
    assert.match(describeRegionError(samples.KeyNotInRegion), new RegExp(b("zz").toString("hex")));
    assert.match(describeRegionError(samples.RaftEntryTooLarge), /9000000 bytes.*split the write/);
    const failures: ProposalFailure[] = [
      { kind: "Timeout", message: "deadline passed" },
      { kind: "Aborted", message: "cancelled" },
      { kind: "InvalidRequest", message: "bad" },
    ];
    assert.deepEqual(failures.map(describeRegionError), ["deadline passed", "cancelled", "bad"]);
  });
});
