/**
 * Cluster-unique ids (stores, regions, peers). Ids are handed out from a window (base, end];
 * before a new window is used its end is persisted, so after a restart allocation resumes above
 * every id ever handed out (at most one window is skipped).
 */

/** Where the allocator keeps its high-water mark. */
export interface IdMarkStorage {
  loadIdMark(): bigint;
  /** Must be durable when it returns. */
  saveIdMark(mark: bigint): void;
}

export const ID_STEP = 1000n;

export class IdAllocator {
  private base: bigint;
  private end: bigint;

  constructor(
    private readonly storage: IdMarkStorage,
    private readonly step: bigint = ID_STEP,
  ) {
    this.base = storage.loadIdMark();
    this.end = this.base;
  }

  /** The next id; never 0, never repeated (also across restarts). */
  alloc(): bigint {
    if (this.base === this.end) {
      const end = this.end + this.step;
      this.storage.saveIdMark(end);
      this.end = end;
    }
    this.base += 1n;
    return this.base;
  }
}
