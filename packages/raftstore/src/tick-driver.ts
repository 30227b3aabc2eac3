/**
 * The tick driver: one base tick drives everything time-based. Each tick kind fires every N base
 * ticks (N from the config). In production one timer calls `tick()` every raftBaseTickMs; tests
 * call `tick()` themselves, so nothing in the raftstore sleeps.
 */
import type { RaftstoreConfig } from "./config.js";
import { PeerTick, StoreTick } from "./messages.js";
import type { Router } from "./router.js";

export class TickDriver {
  /** Base ticks so far. */
  ticks = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly cfg: RaftstoreConfig,
    private readonly router: Router,
  ) {}

  /** One base tick: post every tick kind that is due. */
  tick(): void {
    this.ticks++;
    const t = this.ticks;
    const due = (every: number) => t % every === 0;
    this.router.broadcast({ type: "tick", tick: PeerTick.Raft });
    if (due(this.cfg.raftLogGcTickInterval)) this.router.broadcast({ type: "tick", tick: PeerTick.RaftLogGc });
    if (due(this.cfg.splitCheckTickInterval)) this.router.broadcast({ type: "tick", tick: PeerTick.SplitCheck });
    if (due(this.cfg.regionHeartbeatTickInterval)) this.router.broadcast({ type: "tick", tick: PeerTick.SchedulerHeartbeat });
    if (due(this.cfg.storeHeartbeatTickInterval)) this.router.sendStore({ type: "tick", tick: StoreTick.SchedulerStoreHeartbeat });
    if (due(this.cfg.snapGcTickInterval)) this.router.sendStore({ type: "tick", tick: StoreTick.SnapGc });
  }

  /** Production: tick on a timer. The timer does not keep the process alive by itself. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.cfg.raftBaseTickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
