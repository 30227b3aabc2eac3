/**
 * Applying committed entries of one peer (ARCHITECTURE.md "A write, end to end", step 4).
 * Flow: the raft worker has persisted the Ready → `applyEntries` turns each committed entry into
 * writes on the shared apply batch (effects + the region's applied index, one transaction for
 * all peers of the round, in log order per region) → after that batch commits, the peer settles
 * the proposals matched by (index, term) and runs side effects (log GC, ...).
 *
 * The epoch and key checks made at propose are made again here: a command proposed under an old
 * epoch must not apply to a region whose range has since changed.
 */
import { cfKeyRange, parseColumnFamily, type WriteBatch } from "@regionkv/engine";
import { raft_cmdpb, raft_serverpb, type metapb } from "@regionkv/proto";
import { EntryType, type Entry } from "@regionkv/raft";
import { regionErrorToPb, type RegionError } from "./region-error.js";
import { checkKeysInRegion, checkRegionEpoch, clampToRegion } from "./region-util.js";
import type { PeerStorage } from "./peer-storage.js";
import { batchSplitOf, checkBatchSplit, newRegionAction, splitRegions, writeSplitRegionState } from "./split.js";

/** The outcome of one applied entry, for the proposal waiting on it. */
export interface ApplyResult {
  index: number;
  term: number;
  response: raft_cmdpb.RaftCmdResponse;
}

/** Side effects to run once the apply batch is committed. */
export type ApplySideEffect = { kind: "compactLog"; firstIndex: number; compactIndex: number; compactTerm: number };

export interface ApplyOutput {
  results: ApplyResult[];
  sideEffects: ApplySideEffect[];
  /** Bytes of keys and values written (the split check's size hint). */
  writtenBytes: number;
  /** Keys put or deleted (the split check's key-count hint). */
  writtenKeys: number;
  /** Normal entries skipped because they were at or below the applied index (restart). */
  skipped: number;
  /** A membership change applied (the leader reports the new region at once). */
  confChanged: boolean;
  /** This peer was removed: applying stopped at that entry; the peer destroys itself after the commit. */
  removedSelf: boolean;
  /** Splits applied, in log order (the store creates the new peers once the batch is committed). */
  splits: AppliedSplit[];
}

/** One applied split: every resulting region, and which new ones get a peer on this store. */
export interface AppliedSplit {
  /** All pieces ordered by start key (the parent's id among them). */
  regions: metapb.Region[];
  /** New regions whose initial state was written here: a peer is created for each. */
  created: metapb.Region[];
  /** New regions this store had already removed: their data range here is deleted. */
  tombstoned: metapb.Region[];
}

/** What applying one conf-change entry did. */
export interface ConfChangeOutcome {
  response: raft_cmdpb.RaftCmdResponse;
  changed: boolean;
  removedSelf: boolean;
}

export function errorResponse(e: RegionError, term: number): raft_cmdpb.RaftCmdResponse {
  return { header: { error: regionErrorToPb(e), uuid: Buffer.alloc(0), currentTerm: BigInt(term) }, responses: [], adminResponse: undefined };
}

export function okResponse(term: number): raft_cmdpb.RaftCmdResponse {
  return { header: { error: undefined, uuid: Buffer.alloc(0), currentTerm: BigInt(term) }, responses: [], adminResponse: undefined };
}

/**
 * Apply `entries` (committed, in order) to `wb` for the peer whose storage is `ps`. Entries at or
 * below the applied index were applied before a restart and are skipped. Conf-change entries are
 * handed to `onConfChange` (the peer owns raft and the peer cache; see conf-change.ts); when one
 * removes this peer, applying stops there.
 */
export function applyEntries(
  ps: PeerStorage,
  entries: readonly Entry[],
  wb: WriteBatch,
  onConfChange: (e: Entry, wb: WriteBatch) => ConfChangeOutcome,
): ApplyOutput {
  const out: ApplyOutput = { results: [], sideEffects: [], writtenBytes: 0, writtenKeys: 0, skipped: 0, confChanged: false, removedSelf: false, splits: [] };
  for (const e of entries) {
    if (e.index <= ps.applyState.appliedIndex) {
      out.skipped++;
      continue;
    }
    if (e.type === EntryType.ConfChange) {
      const r = onConfChange(e, wb);
      out.results.push({ index: e.index, term: e.term, response: r.response });
      if (r.changed) out.confChanged = true;
      if (r.removedSelf) {
        ps.setApplied(e.index);
        out.removedSelf = true;
        break;
      }
    } else if (e.data.byteLength > 0) {
      const resp = applyCommand(ps, e, wb, out);
      out.results.push({ index: e.index, term: e.term, response: resp });
    } else {
      // The empty entry a new leader appends: nothing to apply, but it settles stale proposals.
      out.results.push({ index: e.index, term: e.term, response: okResponse(e.term) });
    }
    ps.setApplied(e.index);
  }
  if (entries.length > 0) wb.setApplyState(ps.regionId, ps.applyStatePb());
  return out;
}

function applyCommand(ps: PeerStorage, e: Entry, wb: WriteBatch, out: ApplyOutput): raft_cmdpb.RaftCmdResponse {
  let req: raft_cmdpb.RaftCmdRequest;
  try {
    req = raft_cmdpb.RaftCmdRequest.decode(e.data);
  } catch (err) {
    // A committed entry that does not decode is a broken invariant: it was checked at propose.
    throw new Error(`region ${ps.regionId}: committed entry ${e.index} does not decode: ${String(err)}`, { cause: err });
  }
  const epochErr = checkRegionEpoch(req, ps.region);
  if (epochErr) return errorResponse(epochErr, e.term);
  if (req.adminRequest) return applyAdmin(ps, req.adminRequest, e, wb, out);
  const keyErr = checkKeysInRegion(req, ps.region);
  if (keyErr) return errorResponse(keyErr, e.term);
  const resp = okResponse(e.term);
  for (const r of req.requests) {
    switch (r.cmdType) {
      case raft_cmdpb.CmdType.Put: {
        const p = r.put!;
        wb.put(parseColumnFamily(p.cf) ?? "default", p.key, p.value);
        out.writtenBytes += p.key.byteLength + p.value.byteLength;
        out.writtenKeys++;
        resp.responses.push({ cmdType: r.cmdType, put: {} });
        break;
      }
      case raft_cmdpb.CmdType.Delete: {
        const d = r.delete!;
        wb.delete(parseColumnFamily(d.cf) ?? "default", d.key);
        out.writtenBytes += d.key.byteLength;
        out.writtenKeys++;
        resp.responses.push({ cmdType: r.cmdType, delete: {} });
        break;
      }
      case raft_cmdpb.CmdType.DeleteRange: {
        const d = r.deleteRange!;
        // Clamped to the region: a range delete never reaches another region's data.
        const clamped = clampToRegion(d.startKey, d.endKey, ps.region);
        if (clamped) {
          const cf = parseColumnFamily(d.cf) ?? "default";
          const range = cfKeyRange(cf, clamped.start, clamped.end);
          wb.deleteRange(cf, range.start, range.end);
        }
        resp.responses.push({ cmdType: r.cmdType, deleteRange: {} });
        break;
      }
      case raft_cmdpb.CmdType.CompareAndSwap: {
        // Decided here, in log order, against the value every earlier entry left (including the
        // writes of this same apply batch): linearizable with all other writes of the region.
        const c = r.compareAndSwap!;
        const cf = parseColumnFamily(c.cf) ?? "default";
        const pending = wb.lookup(cf, c.key);
        const current = pending ? pending.value : ps.engine.get(cf, c.key);
        const holds = c.previousNotExist ? current === undefined : current !== undefined && Buffer.compare(current, c.previousValue) === 0;
        if (holds && c.delete) {
          wb.delete(cf, c.key);
          out.writtenBytes += c.key.byteLength;
        } else if (holds) {
          wb.put(cf, c.key, c.value);
          out.writtenBytes += c.key.byteLength + c.value.byteLength;
        }
        if (holds) out.writtenKeys++;
        resp.responses.push({
          cmdType: r.cmdType,
          compareAndSwap: { succeed: holds, previousNotExist: current === undefined, previousValue: Buffer.from(current ?? Buffer.alloc(0)) },
        });
        break;
      }
      default:
        // Reads never reach the log (ReadIndex); propose refuses anything else.
        throw new Error(`region ${ps.regionId}: committed entry ${e.index} holds a command of type ${r.cmdType}, which is never proposed`);
    }
  }
  return resp;
}

function applyAdmin(ps: PeerStorage, admin: raft_cmdpb.AdminRequest, e: Entry, wb: WriteBatch, out: ApplyOutput): raft_cmdpb.RaftCmdResponse {
  const resp = okResponse(e.term);
  switch (admin.cmdType) {
    case raft_cmdpb.AdminCmdType.Split:
    case raft_cmdpb.AdminCmdType.BatchSplit: {
      // The epoch (both counters) was checked by the caller; the keys are checked again against
      // the region as it is now. A refused split changes nothing and tells the proposer why.
      const bs = batchSplitOf(admin);
      const err = checkBatchSplit(ps.region, bs, Number.MAX_SAFE_INTEGER);
      if (err) return errorResponse({ kind: "EpochNotMatch", message: err.kind === "InvalidRequest" ? err.message : err.kind, currentRegions: [ps.region] }, e.term);
      const { derived, created, all } = splitRegions(ps.region, bs!);
      const applied: AppliedSplit = { regions: all, created: [], tombstoned: [] };
      for (const r of created) {
        const action = newRegionAction(ps.engine, r);
        if (action.kind === "create") {
          writeSplitRegionState(ps.engine, wb, r);
          applied.created.push(r);
        } else if (action.kind === "tombstone") {
          applied.tombstoned.push(r);
        }
      }
      ps.region = derived;
      wb.setRegionState(ps.regionId, { state: raft_serverpb.PeerState.Normal, region: derived });
      out.splits.push(applied);
      if (admin.cmdType === raft_cmdpb.AdminCmdType.Split) {
        resp.adminResponse = { cmdType: admin.cmdType, split: { left: all[0], right: all[1] } };
      } else {
        resp.adminResponse = { cmdType: admin.cmdType, splits: { regions: all } };
      }
      return resp;
    }
    case raft_cmdpb.AdminCmdType.CompactLog: {
      const c = admin.compactLog!;
      const compactIndex = Number(c.compactIndex);
      const compactTerm = Number(c.compactTerm);
      const firstIndex = ps.firstIndex();
      // Compacting at or below what is already truncated, or past what is applied, is a no-op.
      if (compactIndex > ps.applyState.truncatedIndex && compactIndex <= e.index) {
        ps.compactTo(compactIndex, compactTerm);
        out.sideEffects.push({ kind: "compactLog", firstIndex, compactIndex, compactTerm });
      }
      resp.adminResponse = { cmdType: admin.cmdType, compactLog: {} };
      return resp;
    }
    default:
      throw new Error(`region ${ps.regionId}: committed admin command of type ${admin.cmdType} is not supported by this version`);
  }
}
