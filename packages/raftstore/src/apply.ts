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
import { parseColumnFamily, type WriteBatch } from "@regionkv/engine";
import { raft_cmdpb } from "@regionkv/proto";
import { EntryType, type Entry } from "@regionkv/raft";
import { regionErrorToPb, type RegionError } from "./region-error.js";
import { checkKeyInRegion, checkRegionEpoch, keysOf } from "./region-util.js";
import type { PeerStorage } from "./peer-storage.js";

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
  /** Normal entries skipped because they were at or below the applied index (restart). */
  skipped: number;
  /** A membership change applied (the leader reports the new region at once). */
  confChanged: boolean;
  /** This peer was removed: applying stopped at that entry; the peer destroys itself after the commit. */
  removedSelf: boolean;
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
  const out: ApplyOutput = { results: [], sideEffects: [], writtenBytes: 0, skipped: 0, confChanged: false, removedSelf: false };
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
  if (req.adminRequest) return applyAdmin(ps, req.adminRequest, e, out);
  for (const key of keysOf(req)) {
    const keyErr = checkKeyInRegion(key, ps.region);
    if (keyErr) return errorResponse(keyErr, e.term);
  }
  const resp = okResponse(e.term);
  for (const r of req.requests) {
    switch (r.cmdType) {
      case raft_cmdpb.CmdType.Put: {
        const p = r.put!;
        wb.put(parseColumnFamily(p.cf) ?? "default", p.key, p.value);
        out.writtenBytes += p.key.byteLength + p.value.byteLength;
        resp.responses.push({ cmdType: r.cmdType, put: {} });
        break;
      }
      case raft_cmdpb.CmdType.Delete: {
        const d = r.delete!;
        wb.delete(parseColumnFamily(d.cf) ?? "default", d.key);
        out.writtenBytes += d.key.byteLength;
        resp.responses.push({ cmdType: r.cmdType, delete: {} });
        break;
      }
      case raft_cmdpb.CmdType.DeleteRange: {
        const d = r.deleteRange!;
        // Clamp to the region: a range delete never reaches another region's data.
        const start = Buffer.compare(d.startKey, ps.region.startKey) < 0 ? ps.region.startKey : d.startKey;
        let end = d.endKey;
        if (ps.region.endKey.length > 0 && (end.length === 0 || Buffer.compare(end, ps.region.endKey) > 0)) end = ps.region.endKey;
        wb.deleteRange(parseColumnFamily(d.cf) ?? "default", start, end);
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

function applyAdmin(ps: PeerStorage, admin: raft_cmdpb.AdminRequest, e: Entry, out: ApplyOutput): raft_cmdpb.RaftCmdResponse {
  const resp = okResponse(e.term);
  switch (admin.cmdType) {
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
